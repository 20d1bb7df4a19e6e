/* global console, process */
/**
 * The whole authenticated request in process, paired: express 5 + express-session (MemoryStore,
 * the bench's settings) + the protected route, for the floor (a hand-written check in the route)
 * and for express-oidc-login (`app.use(oidcLogin())`, then `requireAuth()` on the route; "inside":
 * express-session given as `oidcLogin({ session })`, one `app.use()` for both), driven by
 * light-my-request (no sockets, no scheduler, no second process), in alternating blocks.
 *
 * Where the HTTP benchmark's per-round ratios span 0.6–1.8× on a shared machine, this one pairs
 * blocks a few milliseconds apart in one process (same JIT, same heap, same machine load) and
 * gives the ratio's median with a bootstrap 95% confidence interval: it says whether the
 * difference is measurable at all, and how large it is at most. More arms tell where a difference
 * comes from:
 *   layers     the floor with two empty middleware layers in the same places as ours (what being
 *              middleware costs);
 *   packed     the floor storing its login as one JSON string, claims included (what one string
 *              is worth: express-session hashes a session 3–4 times per request);
 *   slim       the floor storing exactly ours' string (no claims: they are the ID token's payload),
 *              so that ours ÷ slim is what our code costs on the same bytes;
 *   floormiss, oursmiss   600 sessions taking turns, more than ours keeps parsed logins of (500),
 *              so that every one of our requests parses its login.
 *
 * Ours and "slim" hold the login as ours stores it (one JSON string without the claims, which ours
 * reads from the ID token, lib/session/stored-login.ts), the floor and "layers" as a hand-written app would
 * (an object, the claims beside the token): the same login. No arm may write
 * its session during the measured requests, except ours noting activity once a minute (checked).
 *
 *   npm run build && node bench/micro/stack.mjs      (about 60 s)
 *   BENCH_STACK_BLOCKS=300 BENCH_STACK_N=200 BENCH_STACK_ARMS=floor,ours node bench/micro/stack.mjs
 *   BENCH_STACK_ARMS=ours node --cpu-prof bench/micro/stack.mjs   (one arm, profiled)
 */
import express from 'express';
import session from 'express-session';
import signature from 'cookie-signature';
import inject from 'light-my-request';
import { oidcLogin, requireAuth } from '../../dist/index.js';
import { packLogin } from '../../dist/session/stored-login.js';
import { fileURLToPath } from 'node:url';
import { benchLogin, median, pairedRatio, replicaMedian, replicatedRatio, runArms, serveArm } from '../lib/paired.mjs';

/** The ratios printed: [label, arm, arm it is divided by]. */
const RATIOS = [
  ['ours ÷ floor', 'ours', 'floor'],
  ['ours, session option ÷ floor', 'inside', 'floor'],
  ['ours, session option ÷ ours', 'inside', 'ours'],
  ['600 sessions in turn: ours ÷ floor', 'oursmiss', 'floormiss'],
  ['floor+2 empty layers ÷ floor', 'layers', 'floor'],
  ['ours ÷ floor+2 empty layers', 'ours', 'layers'],
  ['floor, login as a string ÷ floor', 'packed', 'floor'],
  ['ours ÷ floor, login as a string', 'ours', 'packed'],
  ["floor, ours' string (no claims) ÷ floor", 'slim', 'floor'],
  ["ours ÷ floor with ours' string", 'ours', 'slim'],
];

// Short blocks, many of them: arms a few milliseconds apart see the same machine.
const BLOCKS = Number(process.env.BENCH_STACK_BLOCKS ?? 1500);
const N = Number(process.env.BENCH_STACK_N ?? 20);
const DEADLINE = Date.now() + Number(process.env.BENCH_STACK_MAX_SECONDS ?? 300) * 1000;
const SECRET = 'bench-session-secret-0123456789abcdef0123456789';
/**
 * "oursmiss" takes turns among more sessions than ours keeps parsed logins of (500), so that every
 * request parses its login; "floormiss" is the floor taking turns among as many sessions.
 */
const MISS_SESSIONS = 600;
const ISSUER = 'https://idp.example.com';

let ok = 0;

/** An app with its own store holding one logged-in session; returns the app and that session's cookie. */
function build(kind) {
  const store = new session.MemoryStore();
  const app = express();
  app.disable('x-powered-by');
  const sessionMiddleware = session({
    secret: SECRET,
    resave: false,
    saveUninitialized: false,
    store,
    cookie: { httpOnly: true, sameSite: 'lax', secure: false, maxAge: 24 * 60 * 60 * 1000 },
  });
  if (kind !== 'inside') app.use(sessionMiddleware);
  const pass = (_req, _res, next) => next();
  if (kind === 'ours' || kind === 'oursmiss' || kind === 'inside') {
    const options = {
      issuer: ISSUER,
      clientId: 'bench-client',
      clientSecret: 'bench-client-secret-0123456789abcdef',
      baseUrl: 'http://127.0.0.1:3000',
      logger: false,
    };
    app.use(oidcLogin(kind === 'inside' ? { ...options, session: sessionMiddleware } : options));
    app.get('/api/me', requireAuth(), (req, res) => {
      ok++;
      res.json({ sub: req.oidc.claims.sub });
    });
  } else {
    if (kind === 'layers') app.use(pass);
    const check = (req, res) => {
      const stored = req.session.oidc?.login;
      const login = kind === 'packed' || kind === 'slim' ? stored && JSON.parse(stored) : stored;
      if (!login) {
        res.status(401).json({ error: 'unauthenticated' });
        return;
      }
      ok++;
      // "slim" holds no claims: it answers its one user's sub without reading the ID token, so
      // that it costs the floor's work on ours' bytes and nothing more.
      res.json({ sub: kind === 'slim' ? 'u0' : login.claims.sub });
    };
    if (kind === 'layers') app.get('/api/me', pass, check);
    else app.get('/api/me', check);
  }
  const expires = new Date(Date.now() + 24 * 60 * 60 * 1000);
  const cookies = [];
  for (let i = 0; i < (kind === 'oursmiss' || kind === 'floormiss' ? MISS_SESSIONS : 1); i++) {
    const sid = `sid-${kind}-${i}-0123456789abcdef012345`;
    const data = benchLogin(ISSUER, `u${i}`);
    // The floor's arms: an object (as a hand-written app); "packed": one string of the same data;
    // ours and "slim": what ours stores (one string, without the claims: see lib/session/stored-login.ts).
    const login =
      kind === 'packed'
        ? JSON.stringify(data)
        : kind === 'floor' || kind === 'layers' || kind === 'floormiss'
          ? data
          : packLogin(data);
    store.set(
      sid,
      {
        cookie: {
          originalMaxAge: 24 * 60 * 60 * 1000,
          expires,
          httpOnly: true,
          path: '/',
          sameSite: 'lax',
          secure: false,
        },
        oidc: { login },
      },
      () => {},
    );
    cookies.push(`connect.sid=${encodeURIComponent(`s:${signature.sign(sid, SECRET)}`)}`);
  }
  // From here on a write is a difference between the arms: counted, and checked at the end.
  const arm = { app, cookies, turn: 0, writes: 0 };
  const set = store.set.bind(store);
  store.set = (...args) => {
    arm.writes++;
    return set(...args);
  };
  return arm;
}

async function block(arm, n) {
  // BENCH_STACK_GC=1 (with --expose-gc) starts each block from a collected heap. Off by default:
  // a forced full GC also throws away optimised code that holds weak references (--trace-deopt:
  // "weak objects"), which every arm then re-optimises, and the requests cost almost twice as much.
  if (process.env.BENCH_STACK_GC === '1') globalThis.gc?.();
  const before = ok;
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const res = await inject(arm.app, {
      method: 'GET',
      url: '/api/me',
      headers: { cookie: arm.cookies[arm.turn++ % arm.cookies.length], accept: 'application/json' },
    });
    if (res.statusCode !== 200) throw new Error(`${arm.name}: HTTP ${res.statusCode} ${res.payload}`);
  }
  const c = process.cpuUsage(c0);
  if (ok - before !== n) throw new Error(`${arm.name}: ${ok - before} of ${n} requests reached the handler`);
  return (c.user + c.system) / n;
}

/** Ours notes the user's activity once a minute (idleDuration), a write the others do not make. */
function checkWrites(name, writes, cookies, since) {
  const activityWrites = Math.ceil((Date.now() - since) / 60_000);
  const allowed =
    name === 'ours' || name === 'inside' || name === 'oursmiss' || name === 'floormiss' ? activityWrites * cookies : 0;
  if (writes > allowed)
    throw new Error(
      `${name}: the session was written ${writes} times during the measured requests (${allowed} expected at most)`,
    );
}

// BENCH_STACK_ARMS=ours runs one arm alone (for --cpu-prof); the ratios need the floor and ours.
const ARM_NAMES = (process.env.BENCH_STACK_ARMS ?? 'floor,ours,inside,layers,packed,slim,floormiss,oursmiss').split(
  ',',
);
// Processes per arm; 0: every arm in this one process (as until 2026-12-02, which moves the arms'
// costs towards each other: see runArms() in ../lib/paired.mjs).
const PROCESSES = Number(process.env.BENCH_STACK_PROCESSES ?? 3);

if (process.argv[2] === 'arm') {
  const name = process.argv[3];
  await serveArm(async () => {
    const arm = Object.assign(build(name), { name });
    await block(arm, 3000);
    const since = Date.now();
    arm.writes = 0;
    return {
      block: (n) => block(arm, n),
      stats: () => {
        checkWrites(name, arm.writes, arm.cookies.length, since);
        return { writes: arm.writes };
      },
    };
  });
} else if (PROCESSES > 0) {
  const result = await runArms(fileURLToPath(import.meta.url), ARM_NAMES, {
    blocks: Math.round(BLOCKS / 2),
    n: N,
    replicas: PROCESSES,
    maxSeconds: (DEADLINE - Date.now()) / 1000,
    label: 'stack',
  });
  const arm = (name) => result.arms[name]?.perRequest;
  console.log(
    `${result.blocks} blocks of ${N} requests per process, ${PROCESSES} processes per arm, order rotated; CPU µs per request (median over blocks of the mean over an arm's processes):`,
  );
  for (const name of ARM_NAMES)
    console.log(`  ${name.padEnd(9)} ${replicaMedian(arm(name)).toFixed(2).padStart(7)} µs`);
  for (const [label, a, b] of RATIOS) {
    if (!arm(a) || !arm(b)) continue;
    const r = replicatedRatio(arm(a), arm(b));
    console.log(
      `${label.padEnd(36)} ${r.median.toFixed(4)}× (95% CI ${r.low.toFixed(4)}–${r.high.toFixed(4)}; each process: ${r.perProcess.map((v) => v.toFixed(3)).join(', ')})`,
    );
  }
  if (arm('ours') && arm('floor')) {
    const ours = replicaMedian(arm('ours'));
    const floor = replicaMedian(arm('floor'));
    console.log(
      `express-oidc-login adds ${(ours - floor).toFixed(2)} µs per authenticated request in the whole stack (medians of the arms; negative: it saves).`,
    );
  }
  process.exit(0);
} else {
  const started = Date.now();
  const arms = ARM_NAMES.map((name) => Object.assign(build(name), { name, perRequest: [] }));

  // Warm-up: every arm's code paths optimised before anything counts.
  for (const arm of arms) await block(arm, 3000);

  for (let b = 0; b < BLOCKS && Date.now() < DEADLINE; b++) {
    // Rotate the order each block so that no arm always runs first (or right after a GC of another's garbage).
    const order = arms.map((_, i) => arms[(i + b) % arms.length]);
    for (const arm of order) arm.perRequest.push(await block(arm, N));
    if ((b + 1) % 100 === 0) console.error(`stack: block ${b + 1}/${BLOCKS}`);
  }
  sharedReport(arms, started);
}

function sharedReport(arms, started) {
  const byName = Object.fromEntries(arms.map((arm) => [arm.name, arm]));
  for (const arm of arms) checkWrites(arm.name, arm.writes, arm.cookies.length, started);
  const { floor, ours } = byName;
  if (!floor || !ours) {
    for (const arm of arms)
      console.log(
        `${arm.name}: ${median(arm.perRequest).toFixed(2)} µs CPU per request (median of ${arm.perRequest.length} blocks)`,
      );
    return;
  }
  const blocks = floor.perRequest.length;
  console.log(`${blocks} blocks of ${N} requests per arm, order rotated; CPU µs per request (median over blocks):`);
  for (const arm of arms) console.log(`  ${arm.name.padEnd(9)} ${median(arm.perRequest).toFixed(2).padStart(7)} µs`);
  for (const [label, x, y] of RATIOS) {
    const a = byName[x];
    const b = byName[y];
    if (!a || !b) continue;
    const r = pairedRatio(a.perRequest, b.perRequest);
    console.log(
      `${label.padEnd(36)} ${r.median.toFixed(4)}× (95% CI ${r.low.toFixed(4)}–${r.high.toFixed(4)}; blocks ${r.min.toFixed(3)}–${r.max.toFixed(3)})`,
    );
  }
  const added = median(ours.perRequest.map((x, i) => x - floor.perRequest[i]));
  console.log(
    `express-oidc-login adds ${added.toFixed(2)} µs per authenticated request in the whole stack (median of paired blocks; negative: it saves).`,
  );
}
