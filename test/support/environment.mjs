/**
 * The suite's test environment: jest's own Node environment, and a jest worker that exits promptly.
 *
 * A jest worker exits once its last test file is done and nothing is left to run ('beforeExit').
 * Exiting there with process.exit() skips freeing, object by object, the heap that jest's ESM mode
 * keeps (each test file's module graph, jestjs/jest#14605): that halves the exit of a worker holding
 * ~350 MB on a loaded machine, where jest kills a worker that takes over 500 ms and prints "A worker
 * process has failed to exit gracefully". See docs/development.md#the-test-workers.
 */
import process from 'node:process';
import { TestEnvironment } from 'jest-environment-node';

// Only in a worker (a forked process, with an IPC channel), and once however often jest loads this file.
const promptExit = Symbol.for('express-oidc-login.test.promptExit');
if (process.send && !process[promptExit]) {
  process[promptExit] = true;
  process.once('beforeExit', (code) => process.exit(code));
}

export default TestEnvironment;
