/* global Buffer, URL, performance */
/**
 * A tiny browser for the benchmark: node:http with keep-alive, a cookie jar per virtual user,
 * redirects followed by hand (`redirect: 'manual'`). Loopback only.
 */
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });

function assertLoopback(url) {
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost')
    throw new Error(`refusing a non-loopback URL: ${url.origin}`);
}

/** GET `url` with `headers`; resolves with status and headers once the body is drained. */
export function get(url, headers = {}, timeoutMs = 10_000) {
  const u = typeof url === 'string' ? new URL(url) : url;
  assertLoopback(u);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: 'GET',
        headers,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: GET ${u.href}`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * A cookie jar for one virtual user (one host): a cookie goes to the paths under its `Path`, as
 * a browser sends it (express-oidc-login's pending-login cookies go to /callback only).
 */
export class Jar {
  #cookies = new Map();

  take(setCookie) {
    for (const line of setCookie ?? []) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = '/';
      let expired = false;
      for (const a of attrs) {
        const [k, v = ''] = a.trim().split('=');
        const key = k.toLowerCase();
        if (key === 'path' && v.startsWith('/')) path = v;
        if ((key === 'max-age' && Number(v) <= 0) || (key === 'expires' && Date.parse(v) < Date.now())) expired = true;
      }
      const id = `${name};${path}`;
      if (expired || value === '') this.#cookies.delete(id);
      else this.#cookies.set(id, { name, value, path });
    }
  }

  /** The Cookie header for a request to `path`. */
  header(path = '/') {
    return [...this.#cookies.values()]
      .filter((c) => c.path === '/' || path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  get size() {
    return this.#cookies.size;
  }
}

function cookieHeaders(jar, url) {
  const cookie = jar.header(new URL(url).pathname);
  return cookie ? { cookie } : {};
}

/**
 * One complete login: GET /login -> provider /authorize -> GET /callback, each answering a 302.
 * Returns the jar (now holding the logged-in session cookie). Throws on anything unexpected.
 */
export async function login(appBase, issuer) {
  const jar = new Jar();
  const start = await get(`${appBase}/login`, { accept: 'text/html' });
  jar.take(start.headers['set-cookie']);
  if (start.status !== 302 || !start.headers.location?.startsWith(`${issuer}/authorize`)) {
    throw new Error(`/login answered ${start.status} ${start.headers.location ?? ''} ${start.body.slice(0, 200)}`);
  }
  const authz = await get(start.headers.location);
  if (authz.status !== 302 || !authz.headers.location?.startsWith(`${appBase}/callback`)) {
    throw new Error(`/authorize answered ${authz.status} ${authz.body.slice(0, 200)}`);
  }
  const done = await get(authz.headers.location, {
    ...cookieHeaders(jar, authz.headers.location),
    accept: 'text/html',
  });
  jar.take(done.headers['set-cookie']);
  const home = done.headers.location;
  if (done.status !== 302 || !(home === '/' || home === appBase || home === `${appBase}/`)) {
    throw new Error(`/callback answered ${done.status} ${done.headers.location ?? ''} ${done.body.slice(0, 300)}`);
  }
  return jar;
}

/** A `/login` that nobody follows: a visitor who clicked "Log in" and went away. */
export async function abandon(appBase) {
  const res = await get(`${appBase}/login`, { accept: 'text/html' });
  if (res.status !== 302) throw new Error(`/login answered ${res.status}`);
}

/** GET the protected route with the jar's cookies. */
export function whoami(appBase, jar) {
  return get(`${appBase}/api/me`, { ...cookieHeaders(jar, `${appBase}/api/me`), accept: 'application/json' });
}

/**
 * Runs `task` `count` times with `concurrency` workers, stopping early at `deadlineMs` (wall time
 * from now). Returns { done, failed, ms, firstError }.
 */
export async function pool(count, concurrency, deadlineMs, task, onProgress) {
  const t0 = performance.now();
  const deadline = t0 + deadlineMs;
  let next = 0;
  let done = 0;
  let failed = 0;
  let firstError;
  async function worker() {
    while (next < count && performance.now() < deadline) {
      next++;
      try {
        await task();
        done++;
      } catch (err) {
        failed++;
        firstError ??= err;
        if (failed > 20 && failed > done) return; // a broken contender: stop hammering it
      }
      onProgress?.(done + failed);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { done, failed, ms: performance.now() - t0, firstError, timedOut: next < count };
}
