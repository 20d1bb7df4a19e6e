/* global process, setTimeout */
/**
 * What every benchmark app shares: the express-session settings, the HTTP server, the request
 * counters and the IPC channel through which the harness (bench/run.mjs) reads the app's own CPU
 * time, heap and session store. Stats travel over IPC, not HTTP, so that reading them adds no
 * request to the measured ones.
 *
 * Environment (set by the harness): BENCH_ISSUER, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET.
 */
import { createServer } from 'node:http';
import session from 'express-session';
import { newRedisStore } from '../lib/redis.mjs';

export const ISSUER = required('BENCH_ISSUER');
export const CLIENT_ID = required('BENCH_CLIENT_ID');
export const CLIENT_SECRET = required('BENCH_CLIENT_SECRET');
export const SESSION_SECRET = 'bench-session-secret-0123456789abcdef0123456789';
export const SCOPE = 'openid profile email';
/**
 * BENCH_REFRESH=1 (only the Redis round-trip count sets it): the login asks for `offline_access`
 * (a refresh token) and the app has `GET /bench/refresh`, which refreshes the login's tokens at once.
 */
export const REFRESH_ROUTE = process.env.BENCH_REFRESH === '1';
/** The scope the login asks for. */
export const LOGIN_SCOPE = REFRESH_ROUTE ? `${SCOPE} offline_access` : SCOPE;
/** The session cookie's age on every express-session stack (and express-openid-connect's rolling duration). */
export const COOKIE_MAX_AGE_MS = 24 * 60 * 60 * 1000;

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: bench apps are started by bench/run.mjs`);
  return value;
}

/** Requests seen (all), and requests answered by the protected route's handler (authorized). */
export const counters = { requests: 0, ok: 0 };

/**
 * The one store every express-session stack uses: express-session's own MemoryStore, or with
 * BENCH_STORE=redis connect-redis on a node-redis client to BENCH_REDIS_URL (the harness starts
 * that redis-server), with the same prefix and settings for every contender.
 */
export async function newStore() {
  if (process.env.BENCH_STORE !== 'redis') return new session.MemoryStore();
  return newRedisStore(required('BENCH_REDIS_URL'));
}

/** The same express-session middleware settings for every contender that uses express-session. */
export function sessionMiddleware(store) {
  return session({
    secret: SESSION_SECRET,
    resave: false,
    saveUninitialized: false,
    store,
    cookie: { httpOnly: true, sameSite: 'lax', secure: false, maxAge: COOKIE_MAX_AGE_MS },
  });
}

/** First middleware of every app: counts requests. */
export function countRequests(_req, _res, next) {
  counters.requests++;
  next();
}

/** The stored login in the same shape as express-oidc-login's (`StoredLogin`), for equal session sizes. */
export function storedLogin(tokens, claims, now = Date.now()) {
  const login = {
    idToken: tokens.id_token,
    accessToken: tokens.access_token,
    tokenType: tokens.token_type,
    claims,
    loggedInAt: now,
    activeAt: now,
  };
  if (typeof tokens.refresh_token === 'string') login.refreshToken = tokens.refresh_token;
  if (typeof tokens.expires_in === 'number') login.expiresAt = Math.floor(now / 1000) + tokens.expires_in;
  if (typeof tokens.scope === 'string') login.scope = tokens.scope;
  return login;
}

/**
 * What is in an express-session MemoryStore (or anything keeping `{ id: json }` in `.sessions`):
 * entries, bytes (id + JSON, UTF-16 length ~ bytes for ASCII), and how many expire within 15
 * minutes of now (by the stored cookie's `expires`).
 */
function storeStats(store) {
  if (!store?.sessions) return undefined;
  const now = Date.now();
  const soon = now + 15 * 60 * 1000;
  const total = newTally();
  /** By kind: `pending` (a session holding only a login in progress), `login`, or an index record's prefix. */
  const kinds = {};
  /** One entry of each kind, as stored (for the README: what an abandoned login leaves). */
  const samples = {};
  for (const [id, json] of Object.entries(store.sessions)) {
    let data;
    try {
      data = JSON.parse(json);
    } catch {
      data = undefined;
    }
    // express-session writes an ISO date; express-openid-connect's store records a number (ms).
    const raw = data?.cookie?.expires;
    const expires = typeof raw === 'number' ? raw : typeof raw === 'string' ? Date.parse(raw) : NaN;
    const kind = id.includes(':')
      ? id.slice(0, id.indexOf(':'))
      : data?.oidc?.login || data?.passport || data?.data
        ? 'login'
        : 'pending';
    for (const t of [total, (kinds[kind] ??= newTally())]) {
      t.entries++;
      t.bytes += id.length + json.length;
      if (Number.isNaN(expires)) t.noExpiry++;
      else {
        if (expires <= soon) t.expiringWithin15Min++;
        t.latestExpiry = Math.max(t.latestExpiry, expires);
      }
    }
    samples[kind] ??= { id, json };
  }
  const finish = (t) => ({
    ...t,
    latestExpiry: undefined,
    latestExpiryInMin: t.latestExpiry ? Math.round((t.latestExpiry - now) / 60000) : null,
  });
  return {
    ...finish(total),
    kinds: Object.fromEntries(Object.entries(kinds).map(([k, t]) => [k, finish(t)])),
    samples,
  };
}

function newTally() {
  return { entries: 0, bytes: 0, expiringWithin15Min: 0, noExpiry: 0, latestExpiry: 0 };
}

/**
 * Listens on a random loopback port, then builds the app with its own base URL (the redirect URI
 * needs the port), reports `{ type: 'ready', port }` to the harness, and answers stats requests.
 *
 * @param {(baseUrl: string) => Promise<{ handler: Function, store?: object, describe?: string }>} build
 */
export async function serve(build) {
  const server = createServer();
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const { handler, store } = await build(baseUrl);
  server.on('request', handler);

  process.on('message', (msg) => {
    if (msg?.cmd !== 'stats') return;
    if (msg.gc && typeof globalThis.gc === 'function') {
      globalThis.gc();
      globalThis.gc();
    }
    const mem = process.memoryUsage();
    const cpu = process.cpuUsage();
    const reply = { id: msg.id, cpu, mem, counters: { ...counters }, now: Date.now() };
    if (msg.store) reply.store = storeStats(store);
    process.send(reply);
  });
  const stop = () => {
    server.closeAllConnections();
    // process.exit (not a signal death) so that --cpu-prof writes its profile.
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
  process.send?.({ type: 'ready', port, baseUrl });
}
