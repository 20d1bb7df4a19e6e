/* global console, process */
/**
 * The whole authenticated request in process, paired: express 5 + express-session (MemoryStore,
 * the bench's settings) + the protected route, for the floor (a hand-written check in the route)
 * and for express-oidc-login (`app.use(oidcLogin())`, then `requireAuth()` on the route), driven by
 * light-my-request (no sockets, no scheduler, no second process), in alternating blocks.
 *
 * Where the HTTP benchmark's per-round ratios span 0.6–1.8× on a shared machine, this one pairs
 * blocks a few milliseconds apart in one process (same JIT, same heap, same machine load) and
 * gives the ratio's median with a bootstrap 95% confidence interval: it says whether the
 * difference is measurable at all, and how large it is at most. A third arm, the floor with two
 * empty middleware layers in the same places as ours, tells what being middleware costs.
 *
 *   npm run build && node bench/micro/stack.mjs      (about 70 s)
 *   BENCH_STACK_BLOCKS=60 BENCH_STACK_N=2000 node bench/micro/stack.mjs
 *   BENCH_STACK_ARMS=ours node --cpu-prof bench/micro/stack.mjs   (one arm, profiled)
 */
import express from 'express';
import session from 'express-session';
import signature from 'cookie-signature';
import inject from 'light-my-request';
import { oidcLogin, requireAuth } from '../../dist/index.js';

const BLOCKS = Number(process.env.BENCH_STACK_BLOCKS ?? 300);
const N = Number(process.env.BENCH_STACK_N ?? 200);
const DEADLINE = Date.now() + Number(process.env.BENCH_STACK_MAX_SECONDS ?? 300) * 1000;
const SECRET = 'bench-session-secret-0123456789abcdef0123456789';
const ISSUER = 'https://idp.example.com';

/** The stored login in express-oidc-login's shape, the same bytes for every arm. */
function storedLogin(sub) {
  const now = Date.now();
  return {
    idToken: `eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.${'x'.repeat(700)}.${'s'.repeat(342)}`,
    accessToken: 'y'.repeat(43),
    tokenType: 'bearer',
    claims: { iss: ISSUER, sub, aud: 'bench-client', exp: Math.floor(now / 1000) + 3600, iat: Math.floor(now / 1000), name: 'Bench User', email: `${sub}@bench.example` },
    loggedInAt: now,
    activeAt: now,
    expiresAt: Math.floor(now / 1000) + 3600,
    scope: 'openid profile email',
  };
}

let ok = 0;

/** An app with its own store holding one logged-in session; returns the app and that session's cookie. */
function build(kind) {
  const store = new session.MemoryStore();
  const app = express();
  app.disable('x-powered-by');
  app.use(
    session({
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      store,
      cookie: { httpOnly: true, sameSite: 'lax', secure: false, maxAge: 24 * 60 * 60 * 1000 },
    }),
  );
  const pass = (_req, _res, next) => next();
  if (kind === 'ours') {
    app.use(oidcLogin({ issuer: ISSUER, clientId: 'bench-client', clientSecret: 'bench-client-secret-0123456789abcdef', baseUrl: 'http://127.0.0.1:3000', logger: false }));
    app.get('/api/me', requireAuth(), (req, res) => {
      ok++;
      res.json({ sub: req.oidc.claims.sub });
    });
  } else {
    if (kind === 'layers') app.use(pass);
    const check = (req, res) => {
      const login = req.session.oidc?.login;
      if (!login) {
        res.status(401).json({ error: 'unauthenticated' });
        return;
      }
      ok++;
      res.json({ sub: login.claims.sub });
    };
    if (kind === 'layers') app.get('/api/me', pass, check);
    else app.get('/api/me', check);
  }
  const sid = `sid-${kind}-0123456789abcdef012345`;
  const expires = new Date(Date.now() + 24 * 60 * 60 * 1000);
  store.set(sid, { cookie: { originalMaxAge: 24 * 60 * 60 * 1000, expires, httpOnly: true, path: '/', sameSite: 'lax', secure: false }, oidc: { login: storedLogin('u1') } }, () => {});
  const cookie = `connect.sid=${encodeURIComponent(`s:${signature.sign(sid, SECRET)}`)}`;
  return { app, cookie };
}

// BENCH_STACK_ARMS=ours runs one arm alone (for --cpu-prof); the ratios need all three.
const ARM_NAMES = (process.env.BENCH_STACK_ARMS ?? 'floor,ours,layers').split(',');
const arms = ARM_NAMES.map((name) => ({ name, ...build(name), perRequest: [] }));

async function block(arm, n) {
  // BENCH_STACK_GC=1 (with --expose-gc) starts each block from a collected heap. Off by default:
  // a forced full GC also throws away optimised code that holds weak references (--trace-deopt:
  // "weak objects"), which every arm then re-optimises, and the requests cost almost twice as much.
  if (process.env.BENCH_STACK_GC === '1') globalThis.gc?.();
  const before = ok;
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const res = await inject(arm.app, { method: 'GET', url: '/api/me', headers: { cookie: arm.cookie, accept: 'application/json' } });
    if (res.statusCode !== 200) throw new Error(`${arm.name}: HTTP ${res.statusCode} ${res.payload}`);
  }
  const c = process.cpuUsage(c0);
  if (ok - before !== n) throw new Error(`${arm.name}: ${ok - before} of ${n} requests reached the handler`);
  return (c.user + c.system) / n;
}

// Warm-up: every arm's code paths optimised before anything counts.
for (const arm of arms) await block(arm, 3000);

for (let b = 0; b < BLOCKS && Date.now() < DEADLINE; b++) {
  // Rotate the order each block so that no arm always runs first (or right after a GC of another's garbage).
  const order = arms.map((_, i) => arms[(i + b) % arms.length]);
  for (const arm of order) arm.perRequest.push(await block(arm, N));
  if ((b + 1) % 10 === 0) console.error(`stack: block ${b + 1}/${BLOCKS}`);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** Median of the per-block ratios and its bootstrap 95% interval (2,000 resamples, seeded). */
function ratio(a, b) {
  const ratios = a.map((x, i) => x / b[i]);
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const boots = [];
  for (let r = 0; r < 2000; r++) boots.push(median(ratios.map(() => ratios[Math.floor(rand() * ratios.length)])));
  boots.sort((x, y) => x - y);
  return { median: median(ratios), low: boots[Math.floor(0.025 * boots.length)], high: boots[Math.floor(0.975 * boots.length)], min: Math.min(...ratios), max: Math.max(...ratios) };
}

if (arms.length !== 3) {
  for (const arm of arms) console.log(`${arm.name}: ${median(arm.perRequest).toFixed(2)} µs CPU per request (median of ${arm.perRequest.length} blocks)`);
  process.exit(0);
}
const [floor, ours, layers] = arms;
const blocks = floor.perRequest.length;
console.log(`${blocks} blocks of ${N} requests per arm, order rotated; CPU µs per request (median over blocks):`);
for (const arm of arms) console.log(`  ${arm.name.padEnd(7)} ${median(arm.perRequest).toFixed(2).padStart(7)} µs`);
for (const [label, a, b] of [
  ['ours ÷ floor', ours, floor],
  ['floor+2 empty layers ÷ floor', layers, floor],
  ['ours ÷ floor+2 empty layers', ours, layers],
]) {
  const r = ratio(a.perRequest, b.perRequest);
  console.log(`${label.padEnd(30)} ${r.median.toFixed(4)}× (95% CI ${r.low.toFixed(4)}–${r.high.toFixed(4)}; blocks ${r.min.toFixed(3)}–${r.max.toFixed(3)})`);
}
const added = median(ours.perRequest.map((x, i) => x - floor.perRequest[i]));
console.log(`express-oidc-login adds ${added.toFixed(2)} µs per authenticated request in the whole stack (median of paired blocks).`);
