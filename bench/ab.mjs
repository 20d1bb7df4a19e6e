/* global console, process, setTimeout */
/**
 * A paired A/B benchmark of two builds of this package (two dist/ folders, e.g. before and after a
 * refactor). Each build runs bench/apps/ours.mjs (loaded with BENCH_DIST=<dist>) in a process of
 * its own, against the bench's fast provider (provider.mjs, one process, shared); each app reports
 * its own process.cpuUsage() over IPC (lib/procs.mjs), so the figures are the app's CPU alone.
 *
 * 1. Login: app CPU ms per completed login (/login → provider /authorize → /callback, lib/client.mjs
 *    login() through pool() at concurrency 8). After a warm-up (1,000 logins each), batches of
 *    BENCH_AB_LOGINS logins alternate A B, B A, A B, ... (BENCH_AB_ROUNDS pairs); each pair gives
 *    one B÷A ratio.
 * 2. Authenticated request: app CPU µs per GET /api/me with a logged-in cookie, keep-alive requests
 *    (lib/client.mjs get(), 4 in flight), blocks of BENCH_AB_REQUESTS alternated the same way.
 *
 * B÷A is the median of the per-pair ratios with a seeded bootstrap 95% interval (lib/paired.mjs
 * pairedRatio). Neighbouring batches see the same machine, so the ratio is steadier than either
 * figure; still, one process per build: processes running the same code can differ by a percent
 * or so (JIT, heap layout), which this interval does not take in. Run A against A to see it.
 *
 *   npm run build && node bench/ab.mjs <distA> <distB>      # about 3 minutes on 2 cores
 *   BENCH_AB_ROUNDS=4 BENCH_AB_LOGINS=100 BENCH_AB_REQUESTS=2000 node bench/ab.mjs /path/to/old/dist dist
 *
 * Knobs (environment, defaults in brackets): BENCH_AB_ROUNDS [20] (pairs of batches, per phase),
 * BENCH_AB_LOGINS [500] (logins per batch), BENCH_AB_REQUESTS [6000] (requests per block),
 * BENCH_AB_MAX_MINUTES [10] (rounds not started by then are skipped; every batch also has its own
 * deadline). All traffic is on 127.0.0.1; every child process is stopped at the end, also on error.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { get, login, pool, whoami } from './lib/client.mjs';
import { median, pairedRatio } from './lib/paired.mjs';
import { cpuDelta, start } from './lib/procs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const num = (name, dflt) => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, not ${v}`);
  return n;
};

const ROUNDS = num('BENCH_AB_ROUNDS', 20);
const LOGINS = num('BENCH_AB_LOGINS', 500);
const REQUESTS = num('BENCH_AB_REQUESTS', 6000);
const MAX_MS = num('BENCH_AB_MAX_MINUTES', 10) * 60_000;
const LOGIN_CONCURRENCY = 8;
const REQUEST_CONCURRENCY = 4;
/**
 * Logins per build before the first measured batch. 200 were too few: in a run with them, the
 * first 5 or 6 batches of 200 still fell from 4.4 to 1.8 ms/login while the JIT settled.
 */
const WARM_LOGINS = 1000;
/** Wall-time limit of one batch (pool() stops starting new tasks after it). */
const BATCH_MS = 120_000;

const t0 = Date.now();
const log = (msg) => console.error(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}`);
const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

function distArg(arg, name) {
  if (!arg) {
    console.error('usage: node bench/ab.mjs <distA> <distB>   (two dist/ folders; `npm run build` first)');
    process.exit(2);
  }
  const dir = path.resolve(arg);
  if (!existsSync(path.join(dir, 'index.js'))) throw new Error(`${name}: no index.js in ${dir}`);
  return dir;
}

const running = new Set();

async function stopAll() {
  await Promise.all([...running].map((p) => p.stop().catch(() => {})));
  running.clear();
}

process.on('SIGINT', () => {
  stopAll().finally(() => process.exit(130));
});

/** The order of round r: A B, then B A, ... */
const order = (builds, r) => (r % 2 === 0 ? builds : [...builds].reverse());

/** One batch against `build`: `run()` is its traffic; returns app CPU µs per completed task. */
async function batch(build, count, run) {
  const before = await build.app.stats();
  const res = await run();
  const after = await build.app.stats();
  if (res.failed) throw new Error(`${build.name}: ${res.failed} of ${count} failed: ${res.firstError?.message}`);
  if (res.done < count) throw new Error(`${build.name}: only ${res.done} of ${count} done within ${BATCH_MS} ms`);
  return { us: cpuDelta(before, after) / res.done, perSec: res.done / (res.ms / 1000) };
}

/**
 * Alternated batches: `runOne(build)` per build per round, the order turned each round. Returns,
 * per build, the µs per task of each round (both builds have the same number of rounds).
 */
async function alternate(label, builds, deadline, runOne, unit) {
  const per = new Map(builds.map((b) => [b, []]));
  for (let r = 0; r < ROUNDS; r++) {
    if (Date.now() > deadline) {
      log(`${label}: deadline reached after ${r} rounds`);
      break;
    }
    const line = [];
    for (const b of order(builds, r)) {
      const res = await batch(b, ...runOne(b));
      per.get(b).push(res.us);
      line.push(`${b.name} ${unit(res.us)} (${res.perSec.toFixed(0)}/s)`);
    }
    log(`${label} round ${r + 1}/${ROUNDS}: ${line.join('  ')}`);
  }
  return builds.map((b) => per.get(b));
}

async function main() {
  const distA = distArg(process.argv[2], 'A');
  const distB = distArg(process.argv[3], 'B');
  const deadline = t0 + MAX_MS;
  log(
    `A = ${distA}\n        B = ${distB}\n        ${os.cpus().length} cores, Node ${process.version}, ` +
      `load average ${loadavg()}; ${ROUNDS} rounds, ${LOGINS} logins/batch, ${REQUESTS} requests/block`,
  );

  const provider = await start(path.join(here, 'provider.mjs'), { name: 'provider' });
  running.add(provider);
  const { issuer, clientId, clientSecret } = provider.info;
  const builds = [];
  for (const [name, dist] of [
    ['A', distA],
    ['B', distB],
  ]) {
    const app = await start(path.join(here, 'apps', 'ours.mjs'), {
      name,
      env: {
        BENCH_DIST: dist,
        BENCH_ISSUER: issuer,
        BENCH_CLIENT_ID: clientId,
        BENCH_CLIENT_SECRET: clientSecret,
        NODE_ENV: 'production',
      },
    });
    running.add(app);
    builds.push({ name, dist, app, base: app.info.baseUrl });
  }

  // 1. Logins. Warm-up (JIT, JWKS and connection caches), each build in turn, not measured.
  const loginOnce = (b) => () => login(b.base, issuer);
  for (const b of builds) {
    const warm = await pool(WARM_LOGINS, LOGIN_CONCURRENCY, BATCH_MS, loginOnce(b));
    if (warm.failed || warm.done < WARM_LOGINS)
      throw new Error(`${b.name}: warm-up logins failed: ${warm.firstError?.message}`);
  }
  log('logins warmed up');
  const loginUs = await alternate(
    'login',
    builds,
    deadline,
    (b) => [LOGINS, () => pool(LOGINS, LOGIN_CONCURRENCY, BATCH_MS, loginOnce(b))],
    (us) => `${(us / 1000).toFixed(2)} ms`,
  );

  // 2. Authenticated requests: one logged-in cookie per build, checked (200 with a sub; 401/302 without).
  for (const b of builds) {
    const jar = await login(b.base, issuer);
    const me = await whoami(b.base, jar);
    if (me.status !== 200 || !/"sub":"u\d+"/.test(me.body))
      throw new Error(`${b.name}: /api/me answered ${me.status} ${me.body.slice(0, 200)}`);
    const anonymous = await get(`${b.base}/api/me`, { accept: 'application/json' });
    if (anonymous.status === 200) throw new Error(`${b.name}: /api/me answered 200 without a cookie`);
    b.headers = { cookie: jar.header('/api/me'), accept: 'application/json' };
  }
  const meOnce = (b) => async () => {
    const res = await get(`${b.base}/api/me`, b.headers);
    if (res.status !== 200) throw new Error(`/api/me answered ${res.status}`);
  };
  for (const b of builds) {
    const warm = await pool(REQUESTS, REQUEST_CONCURRENCY, BATCH_MS, meOnce(b));
    if (warm.failed) throw new Error(`${b.name}: warm-up requests failed: ${warm.firstError?.message}`);
  }
  log('requests warmed up');
  const reqUs = await alternate(
    'request',
    builds,
    deadline,
    (b) => [REQUESTS, () => pool(REQUESTS, REQUEST_CONCURRENCY, BATCH_MS, meOnce(b))],
    (us) => `${us.toFixed(1)} µs`,
  );

  await stopAll();

  // Per-round ratios B÷A: pairedRatio(b, a) is the median of b[i] / a[i] with its interval.
  const rows = [
    ['login: app CPU ms/login', loginUs, (us) => (us / 1000).toFixed(3)],
    ['GET /api/me: app CPU µs/request', reqUs, (us) => us.toFixed(1)],
  ];
  const out = [
    '',
    `A = ${distA}`,
    `B = ${distB}`,
    `${loginUs[0].length} login rounds × ${LOGINS} logins (concurrency ${LOGIN_CONCURRENCY}), ` +
      `${reqUs[0].length} request rounds × ${REQUESTS} requests (${REQUEST_CONCURRENCY} in flight); ` +
      `${((Date.now() - t0) / 1000).toFixed(0)} s, load average at end ${loadavg()}`,
    '',
    '| measure | A (median) | B (median) | B÷A median | 95% interval | rounds min–max |',
    '| --- | ---: | ---: | ---: | :---: | :---: |',
  ];
  for (const [label, [a, b], fmt] of rows) {
    if (!a.length) {
      out.push(`| ${label} | – | – | – | – | – |`);
      continue;
    }
    const r = pairedRatio(b, a);
    out.push(
      `| ${label} | ${fmt(median(a))} | ${fmt(median(b))} | ${r.median.toFixed(3)} | ` +
        `${r.low.toFixed(3)}–${r.high.toFixed(3)} | ${r.min.toFixed(3)}–${r.max.toFixed(3)} |`,
    );
  }
  console.log(out.join('\n'));
}

// A last resort: whatever hangs, the run ends (children exit when their IPC channel closes).
setTimeout(
  () => {
    console.error('bench/ab.mjs: hard time limit reached');
    stopAll().finally(() => process.exit(1));
  },
  MAX_MS + 5 * 60_000,
).unref();

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
