/* global Buffer, process, setTimeout, clearTimeout */
/**
 * Redis for the benchmark: Debian's redis-server started on a free loopback port (no persistence, a
 * temporary directory), a minimal RESP connection for the harness's own commands (INFO, ECHO), a
 * MONITOR that records every command an app sends, and the connect-redis store every app uses with
 * BENCH_STORE=redis. Every wait is bounded.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REDIS_SERVER = process.env.REDIS_SERVER_PATH ?? '/usr/bin/redis-server';
/** connect-redis's default key prefix, given explicitly to every store; the coordinator's keys go under it. */
export const REDIS_PREFIX = 'sess:';
/** The coordinator's keys (express-oidc-login's default: the store's prefix + `oidc:`). */
export const COORDINATOR_PREFIX = `${REDIS_PREFIX}oidc:`;

export const redisAvailable = () => existsSync(REDIS_SERVER);

/** connect-redis (prefix `sess:`, TTL from the cookie, touch on: its defaults) on a connected node-redis client. */
export async function newRedisStore(url) {
  const [{ createClient }, { RedisStore }] = await Promise.all([import('redis'), import('connect-redis')]);
  const client = createClient({ url, socket: { connectTimeout: 2000, reconnectStrategy: false } });
  client.on('error', (err) => process.stderr.write(`redis client: ${err?.message ?? err}\n`));
  await client.connect();
  return new RedisStore({ client, prefix: REDIS_PREFIX });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts redis-server; resolves once it accepts connections (at most 10 s). */
export async function startRedisServer() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-redis-'));
  const child = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (d) => (log = (log + d).slice(-20_000)));
  child.stderr.on('data', (d) => (log = (log + d).slice(-20_000)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!log.includes('Ready to accept connections')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { url: `redis://127.0.0.1:${port}`, port, pid: child.pid, stop };
}

/** The RESP encoding of one command. */
function encode(args) {
  return Buffer.concat([
    Buffer.from(`*${args.length}\r\n`),
    ...args.map((a) => {
      const b = Buffer.from(String(a));
      return Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n')]);
    }),
  ]);
}

/**
 * One reply parsed from the start of `buf` (simple string, error, integer, bulk string; arrays are
 * not needed here): `{ value, rest }`, or undefined when `buf` holds no whole reply yet.
 */
function parseReply(buf) {
  const eol = buf.indexOf('\r\n');
  if (eol === -1) return undefined;
  const type = String.fromCharCode(buf[0]);
  const line = buf.subarray(1, eol).toString('utf8');
  if (type === '+' || type === ':') return { value: line, rest: buf.subarray(eol + 2) };
  if (type === '-') return { value: new Error(line), rest: buf.subarray(eol + 2) };
  if (type === '$') {
    const len = Number(line);
    if (len < 0) return { value: null, rest: buf.subarray(eol + 2) };
    if (buf.length < eol + 2 + len + 2) return undefined;
    return { value: buf.subarray(eol + 2, eol + 2 + len).toString('utf8'), rest: buf.subarray(eol + 4 + len) };
  }
  throw new Error(`unexpected RESP reply type ${type}`);
}

function connect(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => socket.destroy(new Error('redis: connect timeout')), 5000);
    socket.once('connect', () => (clearTimeout(timer), resolve(socket)));
    socket.once('error', (err) => (clearTimeout(timer), reject(err)));
  });
}

/** A connection for the harness's own commands, one at a time: `command(args)` resolves with the reply. */
export async function redisConnection(port) {
  const socket = await connect(port);
  let buf = Buffer.alloc(0);
  const waiting = [];
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (let r = parseReply(buf); r; r = parseReply(buf)) {
      buf = r.rest;
      const w = waiting.shift();
      if (!w) continue;
      if (r.value instanceof Error) w.reject(r.value);
      else w.resolve(r.value);
    }
  });
  socket.on('error', (err) => {
    for (const w of waiting.splice(0)) w.reject(err);
  });
  return {
    command(args, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`redis: no reply to ${args[0]} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiting.push({
          resolve: (v) => (clearTimeout(timer), resolve(v)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
        socket.write(encode(args));
      });
    },
    close() {
      socket.destroy();
    },
  };
}

/** CPU seconds (user + system) redis-server has used, from its `INFO cpu` (getrusage: microseconds). */
export async function redisCpuSeconds(conn) {
  const info = await conn.command(['INFO', 'cpu']);
  const field = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1]);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/** The arguments of one MONITOR line's command (`"GET" "sess:abc"`), unescaped. */
function monitorArgs(text) {
  const args = [];
  for (const m of text.matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
    args.push(
      m[1].replace(/\\x([0-9a-f]{2})|\\(.)/gi, (_, hex, ch) =>
        hex ? String.fromCharCode(parseInt(hex, 16)) : ({ n: '\n', r: '\r', t: '\t' }[ch] ?? ch),
      ),
    );
  }
  return args;
}

/**
 * A MONITOR connection: every command any client sends, in the order Redis runs them, with the
 * client's address (`lua` for the commands a script runs: not round trips). `mark()` sends an ECHO
 * on a connection of its own and resolves with the commands seen since the previous mark, once
 * that ECHO has come through the monitor: exact windows, whatever the timing.
 */
export async function redisMonitor(port) {
  const socket = await connect(port);
  const control = await redisConnection(port);
  let buf = '';
  let seen = [];
  let onMark;
  let marks = 0;
  socket.setEncoding('utf8');
  socket.on('data', (d) => {
    buf += d;
    let eol;
    while ((eol = buf.indexOf('\r\n')) !== -1) {
      const line = buf.slice(0, eol);
      buf = buf.slice(eol + 2);
      // +1733480000.123456 [0 127.0.0.1:51234] "GET" "sess:abc"
      const m = /^\+[\d.]+ \[\d+ ([^\]]+)\] (.*)$/.exec(line);
      if (!m) continue;
      const args = monitorArgs(m[2]);
      if (args[0]?.toUpperCase() === 'ECHO' && args[1]?.startsWith('bench-mark-')) {
        const w = onMark;
        onMark = undefined;
        const window = seen;
        seen = [];
        w?.(window);
        continue;
      }
      seen.push({ client: m[1], args });
    }
  });
  await new Promise((resolve, reject) => {
    socket.write(encode(['MONITOR']));
    const timer = setTimeout(() => reject(new Error('redis: MONITOR not acknowledged')), 5000);
    socket.once('data', () => (clearTimeout(timer), resolve()));
  });
  return {
    /** The commands seen since the previous mark (or since MONITOR began). */
    mark(timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('redis: the mark did not come through MONITOR')), timeoutMs);
        onMark = (window) => (clearTimeout(timer), resolve(window));
        control.command(['ECHO', `bench-mark-${++marks}`]).catch(reject);
      });
    },
    close() {
      socket.destroy();
      control.close();
    },
  };
}

/** The key a command acts on (its first key; an EVAL's first key after numkeys), or undefined. */
export function commandKey(args) {
  const name = args[0]?.toUpperCase();
  if (name === 'EVAL' || name === 'EVALSHA') return Number(args[2]) > 0 ? args[3] : undefined;
  if (['INFO', 'ECHO', 'PING', 'HELLO', 'CLIENT', 'SELECT', 'AUTH', 'COMMAND'].includes(name)) return undefined;
  return args[1];
}

/**
 * Whose a command is: `coordinator` (keys under `sess:oidc:`), `session` (a session, `sess:<id>`:
 * express-session's load, save and touch, or ours reading or saving it), `records` (ours' other
 * records in the session store, `sess:oidc-…:<id>`, through the store's own API), or `other`.
 */
export function commandOwner(args) {
  const key = commandKey(args);
  if (key?.startsWith(COORDINATOR_PREFIX)) return 'coordinator';
  if (key?.startsWith(REDIS_PREFIX)) return key.includes(':', REDIS_PREFIX.length) ? 'records' : 'session';
  return 'other';
}

/** A command for the report: its name and the options that tell it apart (`SET NX PX`, `SET EX`). */
export function commandLabel(args) {
  const name = args[0].toUpperCase();
  if (name !== 'SET') return name;
  const opts = args.slice(3).filter((a) => /^(NX|XX|PX|EX|PXAT|EXAT|KEEPTTL|GET)$/i.test(a));
  return [name, ...opts.map((o) => o.toUpperCase())].join(' ');
}
