/* global console, process, setTimeout */
/**
 * A paired A/B benchmark of two builds of this package (two dist/ folders, e.g. before and after a
 * refactor). Each build runs bench/apps/ours.mjs (loaded with BENCH_DIST=<dist>) in processes of
 * its own (BENCH_AB_PROCS, 2 each), against the bench's fast provider (provider.mjs, one process,
 * shared); each app reports its own process.cpuUsage() over IPC (lib/procs.mjs), so the figures are
 * the app's CPU alone.
 *
 * 1. Login: app CPU ms per completed login (/login → provider /authorize → /callback, lib/client.mjs
 *    login() through pool() at concurrency 8). After a warm-up (600 logins each), batches of
 *    BENCH_AB_LOGINS logins go to every process in turn, round after round (A1 B1 A2 B2, then
 *    B1 A2 B2 A1, ...: BENCH_AB_ROUNDS rounds).
 * 2. Authenticated request: app CPU µs per GET /api/me with a logged-in cookie, keep-alive requests
 *    (lib/client.mjs get(), 4 in flight), blocks of BENCH_AB_REQUESTS alternated the same way.
 *
 * B÷A (lib/paired.mjs replicatedRatio): each process's level is the median over rounds of its
 * cost ÷ that round's median over all processes (neighbouring batches see the same machine, so
 * this takes out the load of the moment); B÷A is B's mean level ÷ A's, and its seeded bootstrap
 * 95% interval resamples each build's processes, so it is as wide as processes running the same
 * code differ (JIT, heap layout: several percent here). With BENCH_AB_PROCS=1 it is pairedRatio
 * instead: the median of the per-round B÷A, whose interval does not take that in (an A/A run at
 * 1 process each read 1.084, 1.004–1.097, for /api/me). Run A against A to see the noise floor.
 * Two processes are few to judge a spread from: on a loaded 2-core machine (load average 2-5),
 * three default-size runs of the same two builds read login B÷A 1.07, 0.93 (0.90–0.96) and 1.04
 * (1.03–1.05), and an A/A run read 1.07 (0.97–1.19) for /api/me. There, a difference under ~8% is
 * not shown by one run; take several runs, BENCH_AB_PROCS=4 or a quiet machine.
 *
 *   npm run build && node bench/ab.mjs <distA> <distB>      # about 3 minutes on 2 cores
 *   BENCH_AB_ROUNDS=3 BENCH_AB_LOGINS=100 BENCH_AB_REQUESTS=1000 node bench/ab.mjs ../old/dist dist   # a check, 40 s
 *
 * Knobs (environment, defaults in brackets): BENCH_AB_ROUNDS [16] (rounds per phase),
 * BENCH_AB_LOGINS [250] (logins per batch), BENCH_AB_REQUESTS [3000] (requests per block),
 * BENCH_AB_PROCS [2] (app processes per build),
 * BENCH_AB_MAX_MINUTES [10] (rounds not started by then are skipped; every batch also has its own
 * deadline). All traffic is on 127.0.0.1; every child process is stopped at the end, also on error.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { get, login, pool, whoami } from './lib/client.mjs';
import { median, pairedRatio, processLevels, replicaMedian, replicatedRatio } from './lib/paired.mjs';
import { cpuDelta, start } from './lib/procs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const num = (name, dflt) => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, not ${v}`);
  return n;
};

const ROUNDS = num('BENCH_AB_ROUNDS', 16);
const LOGINS = num('BENCH_AB_LOGINS', 250);
const REQUESTS = num('BENCH_AB_REQUESTS', 3000);
/**
 * App processes per build. With one each, an A/A run (the same dist twice) at the defaults read
 * 1.084 (1.004–1.097) for /api/me: one process can be some percent slower than another running the
 * same code, and per-round ratios of one pair of processes cannot show it.
 */
const PROCS = num('BENCH_AB_PROCS', 2);
const MAX_MS = num('BENCH_AB_MAX_MINUTES', 10) * 60_000;
const LOGIN_CONCURRENCY = 8;
const REQUEST_CONCURRENCY = 4;
/**
 * Logins per process before the first measured batch. With 200 (one process per build), the first
 * 5 or 6 batches of 200 still fell from 4.4 to 1.8 ms/login, the JIT settling and the machine's
 * load moving at once.
 */
const WARM_LOGINS = 600;
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

/** The order of round r: the processes (A1 B1 A2 B2 ...) turned by r, so that no one always runs first. */
const order = (procs, r) => procs.map((_, i) => procs[(i + r) % procs.length]);

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
 * Alternated batches: `runOne(proc)` per app process per round, the order turned each round.
 * Returns, per process, the µs per task of each round (all have the same number of rounds).
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
  for (let i = 0; i < PROCS; i++)
    for (const [build, dist] of [
      ['A', distA],
      ['B', distB],
    ]) {
      const name = PROCS > 1 ? `${build}${i + 1}` : build;
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
      builds.push({ name, build, dist, app, base: app.info.baseUrl });
    }

  // 1. Logins. Warm-up (JIT, JWKS and connection caches), each process in turn, not measured.
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

  // 2. Authenticated requests: one logged-in cookie per process, checked (200 with a sub; 401/302 without).
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

  // One process per build: pairedRatio(b, a), the median of the per-round b[i] / a[i] with its
  // interval. More: replicatedRatio, B's processes' mean level ÷ A's (each process's level: the
  // median over rounds of its cost ÷ the round's median), the interval resampling the processes.
  const split = (perProc) => ['A', 'B'].map((x) => perProc.filter((_, i) => builds[i].build === x));
  const rows = [
    ['login: app CPU ms/login', loginUs, (us) => (us / 1000).toFixed(3)],
    ['GET /api/me: app CPU µs/request', reqUs, (us) => us.toFixed(1)],
  ];
  const out = [
    '',
    `A = ${distA}`,
    `B = ${distB}`,
    `${PROCS} app process${PROCS > 1 ? 'es' : ''} per build; ` +
      `${loginUs[0].length} login rounds × ${LOGINS} logins (concurrency ${LOGIN_CONCURRENCY}), ` +
      `${reqUs[0].length} request rounds × ${REQUESTS} requests (${REQUEST_CONCURRENCY} in flight); ` +
      `${((Date.now() - t0) / 1000).toFixed(0)} s, load average at end ${loadavg()}`,
    '',
    PROCS > 1
      ? '| measure | A (median) | B (median) | B÷A | 95% interval | process levels A · B |'
      : '| measure | A (median) | B (median) | B÷A median | 95% interval | rounds min–max |',
    '| --- | ---: | ---: | ---: | :---: | :---: |',
  ];
  const f3 = (x) => x.toFixed(3);
  for (const [label, perProc, fmt] of rows) {
    const [a, b] = split(perProc);
    if (!a[0].length) {
      out.push(`| ${label} | – | – | – | – | – |`);
      continue;
    }
    if (PROCS > 1) {
      const r = replicatedRatio(b, a);
      const [la, lb] = processLevels([a, b]);
      out.push(
        `| ${label} | ${fmt(replicaMedian(a))} | ${fmt(replicaMedian(b))} | ${f3(r.median)} | ` +
          `${f3(r.low)}–${f3(r.high)} | ${la.map(f3).join(' ')} · ${lb.map(f3).join(' ')} |`,
      );
    } else {
      const r = pairedRatio(b[0], a[0]);
      out.push(
        `| ${label} | ${fmt(median(a[0]))} | ${fmt(median(b[0]))} | ${f3(r.median)} | ` +
          `${f3(r.low)}–${f3(r.high)} | ${f3(r.min)}–${f3(r.max)} |`,
      );
    }
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
