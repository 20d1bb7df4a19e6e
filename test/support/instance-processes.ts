import { fork } from 'node:child_process';
import { join } from 'node:path';
import type { OidcLoginOptions } from '../../lib/index.js';

/**
 * App instances as separate Node processes (test/support/instance-process.mjs), each with its own
 * connect-redis store on one Redis: what several servers behind a load balancer are. The test talks
 * to each over HTTP (its `url`) and over IPC (what it reports, and the hooks it steers).
 */

const SCRIPT = join(import.meta.dirname, 'instance-process.mjs');

/** What an instance process reports over IPC. */
export type InstanceMessage =
  | { type: 'listening'; port: number }
  | { type: 'ok' }
  | { type: 'lockWait'; key: string }
  | { type: 'read'; key: string }
  | { type: 'backchannelLogout'; sub: string };

/** The hooks of instance-process.mjs; each is answered `{ type: 'ok' }` once in place. */
export type InstanceCommand =
  { type: 'reportLockWaits' } | { type: 'holdReads'; prefix: string } | { type: 'releaseReads' } | { type: 'sync' };

export interface InstanceProcess {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Every message it sent so far. */
  readonly messages: readonly InstanceMessage[];
  onMessage(listener: (message: InstanceMessage) => void): () => void;
  /** Resolves once `test(messages)` holds; rejects when the process exits first. */
  waitFor(test: (messages: readonly InstanceMessage[]) => boolean): Promise<void>;
  /** Resolves at its next message of `type` (sent after this call). */
  next(type: InstanceMessage['type']): Promise<void>;
  /** Sends a hook command and resolves when it is in place; the messages sent before have then arrived. */
  command(command: InstanceCommand): Promise<void>;
  /** Kills the process and resolves when it has exited. */
  close(): Promise<void>;
}

/** One instance process: `oidcLogin(options)` with connect-redis on `redisUrl`. Resolves once it listens. */
export async function startInstanceProcess(redisUrl: string, options: OidcLoginOptions): Promise<InstanceProcess> {
  const child = fork(SCRIPT, [], {
    env: { ...process.env, REDIS_URL: redisUrl, OIDC_OPTIONS: JSON.stringify(options) },
    // Not jest's --experimental-vm-modules: a plain Node app.
    execArgv: [],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const collect = (data: Buffer) => (output += data.toString());
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const messages: InstanceMessage[] = [];
  const listeners = new Set<(message: InstanceMessage) => void>();
  child.on('message', (message: InstanceMessage) => {
    messages.push(message);
    for (const listener of [...listeners]) listener(message);
  });

  const waitFor = (test: (messages: readonly InstanceMessage[]) => boolean) =>
    new Promise<void>((resolve, reject) => {
      if (test(messages)) return resolve();
      if (child.exitCode !== null || child.signalCode !== null) return reject(gone());
      const onMessage = () => {
        if (!test(messages)) return;
        done();
        resolve();
      };
      const onExit = () => {
        done();
        reject(gone());
      };
      const done = () => {
        listeners.delete(onMessage);
        child.off('exit', onExit);
      };
      listeners.add(onMessage);
      child.once('exit', onExit);
    });
  const gone = () => new Error(`the instance process exited (${child.exitCode ?? child.signalCode}):\n${output}`);
  const next = (type: InstanceMessage['type']) => {
    const from = messages.length;
    return waitFor((all) => all.slice(from).some((m) => m.type === type));
  };

  await next('listening');
  const { port } = messages.find((m) => m.type === 'listening') as { port: number };
  // Commands are answered in order: the n-th `ok` answers the n-th command.
  let sent = 0;
  return {
    url: `http://127.0.0.1:${port}`,
    messages,
    onMessage(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    waitFor,
    next,
    command(command) {
      const nth = ++sent;
      child.send(command);
      return waitFor((all) => all.filter((m) => m.type === 'ok').length >= nth);
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** `count` instance processes (all closed again if one fails to start). */
export async function startInstanceProcesses(
  redisUrl: string,
  options: OidcLoginOptions,
  count = 2,
): Promise<InstanceProcess[]> {
  const started = await Promise.allSettled(
    Array.from({ length: count }, () => startInstanceProcess(redisUrl, options)),
  );
  const instances = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(instances.map((i) => i.close()));
    throw failed.reason;
  }
  return instances;
}

/**
 * The next `n` session store reads of keys starting with `prefix`, over all `instances`, are
 * answered only once all `n` have been read from Redis: every instance reads before any of them
 * writes (the lost update, if there is one). Reads that never come (Redis as the coordinator does
 * not read such keys) hold nothing. `release()` ends the hold either way (call it in `finally`).
 */
export async function raceReads(
  instances: InstanceProcess[],
  prefix: string,
  n: number,
): Promise<{ release(): Promise<void> }> {
  let reads = 0;
  const release = async () => {
    for (const stop of unsubscribe) stop();
    await Promise.all(instances.map((i) => i.command({ type: 'releaseReads' })));
  };
  const unsubscribe = instances.map((i) =>
    i.onMessage((message) => {
      // (An instance that exited fails the test where it is waited for.)
      if (message.type === 'read' && ++reads === n) release().catch(() => {});
    }),
  );
  await Promise.all(instances.map((i) => i.command({ type: 'holdReads', prefix })));
  return { release };
}
