import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { freePort } from './net.js';

export const REDIS_SERVER = process.env.REDIS_SERVER_PATH ?? '/usr/bin/redis-server';
export const redisAvailable = existsSync(REDIS_SERVER);
if (!redisAvailable)
  console.warn(`Redis tests skipped: no redis-server at ${REDIS_SERVER} (apt-get install redis-server).`);

export interface TestRedis {
  url: string;
  /** A connected connect-redis store (its client is closed by close()). */
  store(): Promise<RedisStore>;
  /** Pauses the server (SIGSTOP): connections hang, data is kept. */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

/** A real redis-server on a free loopback port, in a temporary directory, without persistence. */
export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'oidc-redis-'));
  const server: ChildProcess = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  server.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  const deadline = Date.now() + 10_000;
  while (!log.includes('Ready to accept connections')) {
    if (server.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const url = `redis://127.0.0.1:${port}`;
  const clients: { destroy(): void }[] = [];
  return {
    url,
    async store() {
      const client = createClient({ url, socket: { reconnectStrategy: () => 100, connectTimeout: 1000 } });
      client.on('error', () => {}); // reconnects are expected while a test pauses the server
      await client.connect();
      clients.push(client);
      return new RedisStore({ client, prefix: 'sess:' });
    },
    pause() {
      server.kill('SIGSTOP');
    },
    resume() {
      server.kill('SIGCONT');
    },
    async close() {
      server.kill('SIGCONT');
      await Promise.all(clients.map((c) => c.destroy()));
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
