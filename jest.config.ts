import type { Config } from 'jest';

const config: Config = {
  // jest's Node environment; its workers exit promptly (see the file, and workerIdleMemoryLimit below).
  testEnvironment: '<rootDir>/test/support/environment.mjs',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'test/tsconfig.json', diagnostics: { ignoreCodes: [151002] } }],
  },
  setupFiles: ['<rootDir>/test/support/quiet.ts', '<rootDir>/test/support/keep-alive.ts'],
  testTimeout: 30_000,
  // Each test file starts its own providers on random loopback ports; two workers fit a 2-core CI box.
  maxWorkers: 2,
  // jest's ESM mode keeps every test file's modules alive in its worker (jestjs/jest#14605): ~6-10 MB a
  // file, ~1 GB by the end, which takes a busy machine longer to tear down than the 500 ms jest waits
  // before force-killing a worker. A worker past this heap is replaced between files instead.
  // See docs/development.md#the-test-workers.
  workerIdleMemoryLimit: '256MB',
};

export default config;
