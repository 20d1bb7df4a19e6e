/* global process, setTimeout, clearTimeout */
/** Child processes of the benchmark (provider, apps): start, ask for stats over IPC, stop. */
import { fork } from 'node:child_process';

let nextId = 1;

/**
 * Forks `script` with `env` and `execArgv`, waits for its `{ type: 'ready' }` message.
 * Returns { child, info, stats(options), stop() }.
 */
export async function start(script, { env = {}, execArgv = [], name = script, readyTimeoutMs = 20_000 } = {}) {
  const child = fork(script, [], {
    env: { ...process.env, ...env },
    execArgv,
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
  });
  const pending = new Map();
  let exited = false;
  child.on('message', (msg) => {
    const waiter = msg?.id !== undefined && pending.get(msg.id);
    if (waiter) {
      pending.delete(msg.id);
      waiter.resolve(msg);
    }
  });
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = true;
      for (const w of pending.values())
        w.reject(new Error(`${name} exited (${code ?? signal}): ${stderr.slice(-2000)}`));
      pending.clear();
      resolve({ code, signal });
    });
  });

  const info = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} was not ready within ${readyTimeoutMs} ms: ${stderr.slice(-2000)}`)),
      readyTimeoutMs,
    );
    child.on('message', function onReady(msg) {
      if (msg?.type !== 'ready') return;
      clearTimeout(timer);
      child.off('message', onReady);
      resolve(msg);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before it was ready: ${stderr.slice(-2000)}`));
    });
  });

  return {
    child,
    info,
    name,
    get stderr() {
      return stderr;
    },
    /** { cpu: { user, system } (µs), mem, counters, store? } from the child itself. */
    stats(options = {}, timeoutMs = 30_000) {
      if (exited) return Promise.reject(new Error(`${name} has exited: ${stderr.slice(-2000)}`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${name}: no stats within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.send({ cmd: 'stats', id, ...options });
      });
    },
    /** SIGTERM (the child exits cleanly, writing a --cpu-prof profile), SIGKILL after 5 s. */
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exitPromise;
      clearTimeout(timer);
    },
  };
}

/** CPU microseconds (user + system) between two stats replies. */
export function cpuDelta(before, after) {
  return after.cpu.user - before.cpu.user + (after.cpu.system - before.cpu.system);
}
