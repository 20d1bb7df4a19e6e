/* global process, console, setTimeout, clearTimeout */
/**
 * The benchmark: express-oidc-login vs bare express-session (the floor), express-openid-connect
 * (cookie session, and a server-side store) and passport + openid-client/passport.
 *
 *   npm run bench            # builds dist/, then runs everything (about 33 minutes on 2 cores, bench/README.md)
 *   node bench/run.mjs --quick --no-readme
 *
 * Every app and the fast OpenID Provider run in their own processes on loopback ports; each app
 * reports its own CPU time and heap over IPC. See bench/README.md for what is measured and how.
 *
 * Environment knobs (defaults in brackets): BENCH_ROUNDS [16], BENCH_DURATION seconds per
 * authenticated-request trial [2], BENCH_CONNECTIONS [16], BENCH_LOGIN_ROUNDS [12], BENCH_LOGINS per
 * login trial [200],
 * BENCH_LOGIN_CONCURRENCY [8], BENCH_MEMORY_N [10000], BENCH_ONLY=ours,bare,... (contenders; also
 * `bare-small`, the floor with a session holding only the user's sub, not run by default),
 * BENCH_PHASES=micro,redis,auth,login,profile,memory (`redis`: connect-redis as the store, see redisPhase;
 * skipped without /usr/bin/redis-server), BENCH_REDIS_PAIR=c1,c8,ir (its paired CPU runs, and `ir`:
 * instructions counted by micro/instructions.mjs, skipped without /usr/bin/valgrind), BENCH_REDIS_ARMS
 * [floor,ours] (their arms: any of micro/http-pair.mjs's),
 * BENCH_LOADGEN=wrk|autocannon [wrk when installed],
 * BENCH_MAX_MINUTES [45] (phases not started by then are skipped).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { abandon, get, login, pool, whoami } from './lib/client.mjs';
import { cpuDelta, start } from './lib/procs.mjs';
import {
  REDIS_SERVER,
  commandLabel,
  commandOwner,
  redisAvailable,
  redisMonitor,
  startRedisServer,
} from './lib/redis.mjs';
import { summarise } from './lib/profile.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const num = (name, dflt, quickValue) => {
  const v = process.env[name];
  if (v !== undefined && v !== '') return Number(v);
  return quick ? quickValue : dflt;
};

const ROUNDS = num('BENCH_ROUNDS', 16, 2);
const DURATION_S = num('BENCH_DURATION', 2, 2);
const CONNECTIONS = num('BENCH_CONNECTIONS', 16, 16);
const LOGIN_ROUNDS = num('BENCH_LOGIN_ROUNDS', 12, 2);
const LOGINS = num('BENCH_LOGINS', 200, 60);
const LOGIN_CONCURRENCY = num('BENCH_LOGIN_CONCURRENCY', 8, 8);
const MEMORY_N = num('BENCH_MEMORY_N', 10_000, 1000);
const MAX_MS = num('BENCH_MAX_MINUTES', 45, 25) * 60_000;
const PHASES = new Set((process.env.BENCH_PHASES ?? 'micro,redis,auth,login,profile,memory').split(','));
// A quick run leaves out the instruction count (about 13 minutes under Valgrind) unless asked for.
const REDIS_PAIR = new Set((process.env.BENCH_REDIS_PAIR ?? (quick ? 'c1,c8' : 'c1,c8,ir')).split(','));
/** The arms of the Redis phase's paired runs and instruction count (any of micro/http-pair.mjs's). */
const REDIS_ARMS = (process.env.BENCH_REDIS_ARMS ?? 'floor,ours').split(',');
const WRITE_README = !args.has('--no-readme');

const CONTENDERS = [
  { id: 'bare', label: 'bare express-session + hand-written check (floor)', script: 'bare.mjs', env: {} },
  { id: 'ours', label: 'express-oidc-login', script: 'ours.mjs', env: {} },
  { id: 'eoc-cookie', label: 'express-openid-connect, default cookie session', script: 'eoc.mjs', env: {} },
  {
    id: 'eoc-store',
    label: 'express-openid-connect, server-side store (MemoryStore)',
    script: 'eoc.mjs',
    env: { BENCH_EOC_STORE: '1' },
  },
  { id: 'passport', label: 'passport + openid-client/passport', script: 'passport.mjs', env: {} },
  {
    id: 'bare-small',
    label: 'the floor with a minimal session ({ sub } only)',
    script: 'bare.mjs',
    env: { BENCH_BARE_SESSION: 'small' },
    optional: true,
  },
].filter((c) =>
  process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').includes(c.id) || c.id === 'bare' : !c.optional,
);

const SIGNATURE = {
  bare: 'yes: openid-client `enableNonRepudiationChecks` (JWKS)',
  ours: 'yes: always (node:crypto `verify`, a KeyObject cached per JWKS key)',
  'eoc-cookie': 'only via our `afterCallback` (jose `jwtVerify`): its code flow does not',
  'eoc-store': 'only via our `afterCallback` (jose `jwtVerify`): its code flow does not',
  passport: 'yes: openid-client `enableNonRepudiationChecks` (JWKS)',
  'bare-small': 'yes: openid-client `enableNonRepudiationChecks` (JWKS)',
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s`;
const log = (...a) => console.log(`[bench ${elapsed()}]`, ...a);
const timeLeft = () => MAX_MS - (Date.now() - t0);

// ---------------------------------------------------------------------------------------------
// Statistics

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function describe(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return {
    median: quantile(v, 0.5),
    min: v[0],
    max: v[v.length - 1],
    q1: quantile(v, 0.25),
    q3: quantile(v, 0.75),
    n: v.length,
    values,
  };
}

const fmt = (x, digits = 0) =>
  Number.isFinite(x)
    ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '–';
const range = (d, digits = 0) => `${fmt(d.median, digits)} (${fmt(d.min, digits)}–${fmt(d.max, digits)})`;
const ratio = (d) => (Number.isFinite(d?.median) ? `${fmt(d.median, 2)}× (${fmt(d.min, 2)}–${fmt(d.max, 2)})` : '–');

// ---------------------------------------------------------------------------------------------
// Load generators

function hasWrk() {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // wrk --version exits 1 after printing its banner.
    return err.status === 1;
  }
}

const LOADGEN = process.env.BENCH_LOADGEN ?? (hasWrk() ? 'wrk' : 'autocannon');

function run(cmd, argv, timeoutMs, env = process.env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} exited ${code}: ${err || out}`));
    });
  });
}

function wrkMs(value, unit) {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : NaN;
}

/** { rps, p50, p99 (ms), requests, errors } for `seconds` of GETs with `headers` at CONNECTIONS. */
async function loadgen(url, headers, seconds) {
  if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(url)) throw new Error(`loopback only: ${url}`);
  if (LOADGEN === 'wrk') {
    const argv = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '--timeout', '5s'];
    for (const [k, v] of Object.entries(headers)) argv.push('-H', `${k}: ${v}`);
    argv.push(url);
    const out = await run('wrk', argv, (seconds + 30) * 1000);
    const pct = (p) => {
      const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
      return m ? wrkMs(m[1], m[2]) : NaN;
    };
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    const socketErrors = /Socket errors: (.*)/.exec(out)?.[1];
    return {
      rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
      p50: pct(50),
      p99: pct(99),
      requests: Number(/(\d+) requests in/.exec(out)?.[1]),
      errors: non2xx + (socketErrors ? 1 : 0),
      detail: socketErrors,
    };
  }
  const argv = [
    path.join(here, 'node_modules/autocannon/autocannon.js'),
    '-c',
    String(CONNECTIONS),
    '-d',
    String(seconds),
    '-j',
  ];
  for (const [k, v] of Object.entries(headers)) argv.push('-H', `${k}=${v}`);
  argv.push(url);
  const out = JSON.parse(await run(process.execPath, argv, (seconds + 30) * 1000));
  return {
    rps: out.requests.average,
    p50: out.latency.p50,
    p99: out.latency.p99,
    requests: out.requests.total,
    errors: (out.non2xx ?? 0) + (out.errors ?? 0) + (out.timeouts ?? 0),
  };
}

// ---------------------------------------------------------------------------------------------
// Processes

let provider;
const running = new Set();

async function startProvider() {
  provider = await start(path.join(here, 'provider.mjs'), { name: 'provider' });
  running.add(provider);
  return provider;
}

async function startApp(c, execArgv = [], extraEnv = {}) {
  const app = await start(path.join(here, 'apps', c.script), {
    name: c.id,
    execArgv,
    env: {
      ...c.env,
      ...extraEnv,
      BENCH_ISSUER: provider.info.issuer,
      BENCH_CLIENT_ID: provider.info.clientId,
      BENCH_CLIENT_SECRET: provider.info.clientSecret,
      NODE_ENV: 'production',
    },
  });
  running.add(app);
  return app;
}

async function stop(p) {
  running.delete(p);
  await p.stop();
}

async function stopAll() {
  await Promise.all([...running].map((p) => p.stop().catch(() => {})));
  running.clear();
}

process.on('SIGINT', () => {
  stopAll().finally(() => process.exit(130));
});

// ---------------------------------------------------------------------------------------------
// Phases

const results = {
  micro: {},
  contenders: CONTENDERS.map(({ id, label }) => ({ id, label, signature: SIGNATURE[id] })),
  auth: {},
  login: {},
  memory: {},
  profile: {},
  redis: {},
};

/** A logged-in cookie for each app, checked against the protected route. */
async function authenticate(c, app) {
  const base = app.info.baseUrl;
  const jar = await login(base, provider.info.issuer);
  const me = await whoami(base, jar);
  if (me.status !== 200 || !/"sub":"u\d+"/.test(me.body))
    throw new Error(`${c.id}: /api/me answered ${me.status} ${me.body.slice(0, 200)}`);
  const unauth = await get(`${base}/api/me`, { accept: 'application/json' });
  if (unauth.status === 200) throw new Error(`${c.id}: /api/me answered 200 without a cookie`);
  return {
    cookie: jar.header('/api/me'),
    setCookieOnResponse: (me.headers['set-cookie'] ?? []).reduce((n, l) => n + l.length, 0),
  };
}

async function authPhase(apps) {
  log(
    `authenticated requests: ${ROUNDS} rounds × ${apps.length} contenders × ${DURATION_S}s, ${CONNECTIONS} connections, ${LOADGEN}`,
  );
  const cookies = new Map();
  for (const { c, app } of apps) {
    const a = await authenticate(c, app);
    cookies.set(c.id, a);
    results.auth[c.id] = { cookieBytes: a.cookie.length, setCookieBytesPerResponse: a.setCookieOnResponse, trials: [] };
    // Warm-up (JIT, connection pools), not measured.
    await loadgen(`${app.info.baseUrl}/api/me`, { cookie: a.cookie, accept: 'application/json' }, 2);
  }
  for (let r = 0; r < ROUNDS; r++) {
    const order = apps.map((_, i) => apps[(i + r) % apps.length]);
    for (const { c, app } of order) {
      const before = await app.stats();
      const lg = await loadgen(
        `${app.info.baseUrl}/api/me`,
        { cookie: cookies.get(c.id).cookie, accept: 'application/json' },
        DURATION_S,
      );
      await sleep(200); // requests still in flight when the load generator stopped finish first
      const after = await app.stats();
      const requests = after.counters.requests - before.counters.requests;
      const ok = after.counters.ok - before.counters.ok;
      const trial = {
        round: r + 1,
        rps: lg.rps,
        p50: lg.p50,
        p99: lg.p99,
        cpuUsPerReq: cpuDelta(before, after) / requests,
        requests,
        ok,
        loadgenErrors: lg.errors,
      };
      results.auth[c.id].trials.push(trial);
      trial.valid = Math.abs(requests - ok) <= CONNECTIONS && lg.errors === 0;
      const bad = !trial.valid ? `  !! ${requests - ok} unauthorized, ${lg.errors} load generator errors` : '';
      log(
        `auth  round ${r + 1}/${ROUNDS} ${c.id.padEnd(10)} ${fmt(trial.rps).padStart(6)} req/s  p99 ${fmt(trial.p99, 2).padStart(6)} ms  ` +
          `CPU ${fmt(trial.cpuUsPerReq).padStart(4)} µs/req${bad}`,
      );
    }
  }
}

async function loginPhase(apps) {
  log(
    `logins: ${LOGIN_ROUNDS} rounds × ${apps.length} contenders × ${LOGINS} logins at concurrency ${LOGIN_CONCURRENCY}`,
  );
  for (const { c, app } of apps) {
    results.login[c.id] = { trials: [] };
    // Warm-up (JIT, JWKS and connection caches), not measured.
    const warm = await pool(quick ? 50 : 200, LOGIN_CONCURRENCY, 60_000, () =>
      login(app.info.baseUrl, provider.info.issuer),
    );
    if (warm.failed) throw new Error(`${c.id}: warm-up logins failed: ${warm.firstError?.message}`);
  }
  for (let r = 0; r < LOGIN_ROUNDS; r++) {
    const order = apps.map((_, i) => apps[(i + r) % apps.length]);
    for (const { c, app } of order) {
      const [before, pBefore] = await Promise.all([app.stats(), provider.stats()]);
      const res = await pool(LOGINS, LOGIN_CONCURRENCY, 120_000, () => login(app.info.baseUrl, provider.info.issuer));
      const [after, pAfter] = await Promise.all([app.stats(), provider.stats()]);
      const trial = {
        round: r + 1,
        logins: res.done,
        failed: res.failed,
        cpuMsPerLogin: cpuDelta(before, after) / res.done / 1000,
        loginsPerSec: res.done / (res.ms / 1000),
        providerCpuMsPerLogin: cpuDelta(pBefore, pAfter) / res.done / 1000,
        error: res.firstError?.message,
      };
      results.login[c.id].trials.push(trial);
      log(
        `login round ${r + 1}/${LOGIN_ROUNDS} ${c.id.padEnd(10)} ${fmt(trial.loginsPerSec).padStart(4)} logins/s  ` +
          `app CPU ${fmt(trial.cpuMsPerLogin, 2)} ms/login  provider ${fmt(trial.providerCpuMsPerLogin, 2)} ms/login` +
          (res.failed ? `  !! ${res.failed} failed: ${trial.error}` : ''),
      );
    }
  }
}

async function profilePhase() {
  const dir = path.join(here, 'results', 'profiles');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const targets = [
    { c: CONTENDERS.find((x) => x.id === 'ours'), kind: 'auth' },
    { c: CONTENDERS.find((x) => x.id === 'bare'), kind: 'auth' },
    { c: CONTENDERS.find((x) => x.id === 'ours'), kind: 'login' },
  ].filter((t) => t.c);
  for (const { c, kind } of targets) {
    const name = `${c.id}-${kind}.cpuprofile`;
    const app = await startApp(c, ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', name]);
    if (kind === 'auth') {
      const { cookie } = await authenticate(c, app);
      await loadgen(`${app.info.baseUrl}/api/me`, { cookie, accept: 'application/json' }, 8);
    } else {
      await pool(600, LOGIN_CONCURRENCY, 120_000, () => login(app.info.baseUrl, provider.info.issuer));
    }
    await stop(app);
    const file = path.join(dir, name);
    if (!existsSync(file)) {
      log(`profile ${name}: no profile written`);
      continue;
    }
    results.profile[`${c.id}-${kind}`] = summarise(file, 20);
    log(`profile ${c.id} ${kind}: written to bench/results/profiles/${name}`);
  }
}

/**
 * How long a micro-benchmark may run before it is killed: longer than the deadlines they stop at
 * themselves (stack.mjs 300 s, http-pair.mjs 200 s of blocks after its warm-up), so that a loaded
 * machine shortens their runs instead of killing them (which ended the whole run).
 */
const MICRO_TIMEOUT_MS = 480_000;
/**
 * micro/instructions.mjs, per arm: four runs under Valgrind, two at a time (about 6.5 minutes per
 * arm, 13 for the default two), with room for a loaded machine.
 */
const INSTRUCTIONS_TIMEOUT_PER_ARM_MS = 15 * 60_000;

/** The in-process micro-benchmarks (bench/micro/), each in its own process; their output verbatim. */
async function microPhase() {
  // http-pair twice: one request at a time (the server idles between two), and 8 in flight.
  for (const [name, script, env] of [
    ['middleware', 'middleware', {}],
    ['crypto', 'crypto', {}],
    ['stack', 'stack', {}],
    ['http-pair', 'http-pair', {}],
    [
      'http-pair-c8',
      'http-pair',
      { BENCH_HTTP_PAIR_CONCURRENCY: '8', BENCH_HTTP_PAIR_N: '80', BENCH_HTTP_PAIR_BLOCKS: '150' },
    ],
  ]) {
    const out = await run(process.execPath, [path.join(here, 'micro', `${script}.mjs`)], MICRO_TIMEOUT_MS, {
      ...process.env,
      ...env,
    });
    results.micro[name] = out.trim();
    log(`micro ${name}: ${out.trim().split('\n').at(-1)}`);
  }
}

/** The paired runs of micro/http-pair.mjs with connect-redis as the store (floor and ours): key, name, env, what. */
const REDIS_PAIRS = [
  ['c1', 'http-pair', {}, 'over HTTP paired, one request at a time'],
  [
    'c8',
    'http-pair-c8',
    { BENCH_HTTP_PAIR_CONCURRENCY: '8', BENCH_HTTP_PAIR_N: '80', BENCH_HTTP_PAIR_BLOCKS: '150' },
    'over HTTP paired, 8 requests in flight',
  ],
];

/** From http-pair.mjs's output: each arm's CPU µs per request (and redis-server's beside it), and ours ÷ floor. */
function pairFigures(out = '') {
  const arms = {};
  for (const m of out.matchAll(/^ {2}(\w+)\s+([\d.]+) µs(?:\s+\(redis-server: ([\d.]+) µs\))?$/gm))
    arms[m[1]] = { us: Number(m[2]), redisUs: m[3] === undefined ? undefined : Number(m[3]) };
  const found = /^ours ÷ floor\s+([\d.]+)× \(95% CI ([\d.]+)–([\d.]+)/m.exec(out);
  const ratio = found && { median: Number(found[1]), low: Number(found[2]), high: Number(found[3]) };
  const blocks = /^(\d+ blocks of \d+ requests)/m.exec(out)?.[1];
  return { arms, ratio, blocks };
}

/**
 * From micro/instructions.mjs's output: each arm's instructions and simulated cache misses per
 * request, and ours ÷ floor (the mean, and each pair of processes).
 */
function instructionFigures(out = '') {
  const arms = {};
  for (const m of out.matchAll(/^ {2}(\w+)\s+([\d.]+) k\s+([\d.]+) k\s+([\d.]+) k\s+([\d.]+) k$/gm)) {
    const [ir, i1, d1, branches] = m.slice(2).map((x) => Number(x) * 1000);
    arms[m[1]] = { ir, i1, d1, branches };
  }
  const found =
    /^instructions ours ÷ floor ([\d.]+)× \(each pair(?: ÷ the floor's mean)?: ([\d., ]+)\); I1 misses ([\d.]+)×, D1 misses ([\d.]+)×, mispredicted branches ([\d.]+)×/m.exec(
      out,
    );
  const ratio = found && {
    mean: Number(found[1]),
    pairs: found[2].split(', ').map(Number),
    i1: Number(found[3]),
    d1: Number(found[4]),
    branches: Number(found[5]),
  };
  const what = /^(\d+ requests per process after \d+)/m.exec(out)?.[1];
  return { arms, ratio, what };
}

/** Logins, authenticated requests and refreshes whose Redis commands are counted, per contender. */
const COUNT_LOGINS = 10;
const COUNT_REQUESTS = 100;
const COUNT_REFRESHES_PER_LOGIN = 2;

/**
 * connect-redis as the store of the floor and ours, on a redis-server of the run's own: the CPU per
 * authenticated request paired (micro/http-pair.mjs with BENCH_REDIS_URL), then every command the
 * real bench apps send to Redis per login, authenticated request and refresh, counted.
 */
async function redisPhase() {
  if (!redisAvailable()) {
    log(`redis: skipped, no redis-server at ${REDIS_SERVER}`);
    return;
  }
  const server = await startRedisServer();
  results.redis.server = /v=([\d.]+)/.exec(execFileSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }))?.[1];
  log(`redis: redis-server ${results.redis.server} at ${server.url} (no persistence)`);
  try {
    for (const [key, name, env] of REDIS_PAIRS) {
      if (!REDIS_PAIR.has(key)) continue;
      const out = await run(process.execPath, [path.join(here, 'micro', 'http-pair.mjs')], MICRO_TIMEOUT_MS, {
        ...process.env,
        BENCH_HTTP_PAIR_ARMS: REDIS_ARMS.join(','),
        ...env,
        BENCH_REDIS_URL: server.url,
      });
      results.redis[name] = out.trim();
      log(`redis ${name}: ${out.trim().split('\n').at(-1)}`);
    }
    if (REDIS_PAIR.has('ir')) {
      // Counted, not timed: the machine's load moves it far less than CPU time. Its failure (no
      // answer under Valgrind in time) costs only its own figures, not the run's.
      try {
        const out = await run(
          process.execPath,
          [path.join(here, 'micro', 'instructions.mjs')],
          REDIS_ARMS.length * INSTRUCTIONS_TIMEOUT_PER_ARM_MS,
          {
            ...process.env,
            BENCH_INSTR_ARMS: REDIS_ARMS.join(','),
            BENCH_REDIS_URL: server.url,
          },
        );
        results.redis.instructions = out.trim();
        log(`redis instructions: ${out.trim().split('\n').at(-1)}`);
      } catch (err) {
        results.redis.instructionsError = String(err?.message ?? err);
        log(`redis instructions: failed, ${results.redis.instructionsError}`);
      }
    }
    results.redis.roundTrips = {};
    for (const c of CONTENDERS.filter((x) => x.id === 'bare' || x.id === 'ours')) {
      results.redis.roundTrips[c.id] = await countRoundTrips(c, server);
    }
  } finally {
    await server.stop();
  }
}

/**
 * The app (with BENCH_REFRESH=1: `offline_access` and GET /bench/refresh) on connect-redis; a
 * MONITOR connection sees every command Redis runs, with its client: marks (an ECHO on the
 * monitor's own control connection) cut it into exact windows around each counted batch. A
 * command is the coordinator's when its key is under `sess:oidc:` (express-oidc-login's keys
 * under the store's prefix), the store's for any other `sess:` key; what a Lua script runs inside
 * an EVAL is not a round trip and is listed apart.
 */
async function countRoundTrips(c, server) {
  const app = await startApp(c, [], { BENCH_STORE: 'redis', BENCH_REDIS_URL: server.url, BENCH_REFRESH: '1' });
  const monitor = await redisMonitor(server.port);
  try {
    const base = app.info.baseUrl;
    // Discovery, the JWKS and first-call compilation happen in a login before counting.
    const first = await login(base, provider.info.issuer);
    if ((await whoami(base, first)).status !== 200) throw new Error(`${c.id}: not logged in on Redis`);
    await monitor.mark();
    const jars = [];
    for (let i = 0; i < COUNT_LOGINS; i++) jars.push(await login(base, provider.info.issuer));
    const loginWindow = await monitor.mark();
    for (let i = 0; i < COUNT_REQUESTS; i++) {
      const me = await whoami(base, jars[i % jars.length]);
      if (me.status !== 200) throw new Error(`${c.id}: /api/me answered ${me.status} on Redis`);
    }
    const authWindow = await monitor.mark();
    for (let r = 0; r < COUNT_REFRESHES_PER_LOGIN; r++) {
      for (const jar of jars) {
        const res = await get(`${base}/bench/refresh`, {
          cookie: jar.header('/bench/refresh'),
          accept: 'application/json',
        });
        if (res.status !== 200 || !res.body.includes('"renewed":true'))
          throw new Error(`${c.id}: /bench/refresh answered ${res.status} ${res.body.slice(0, 200)}`);
      }
    }
    const refreshWindow = await monitor.mark();
    // Still logged in with the rotated tokens.
    for (const jar of jars) {
      const me = await whoami(base, jar);
      if (me.status !== 200) throw new Error(`${c.id}: /api/me answered ${me.status} after the refreshes`);
    }
    const counted = {
      login: tally(loginWindow, COUNT_LOGINS),
      auth: tally(authWindow, COUNT_REQUESTS),
      refresh: tally(refreshWindow, COUNT_LOGINS * COUNT_REFRESHES_PER_LOGIN),
    };
    log(
      `redis round trips ${c.id.padEnd(4)} ` +
        Object.entries(counted)
          .map(([op, t]) => `${op}: store ${perOp(t.store.perOp)}, coordinator ${perOp(t.coordinator.perOp)}`)
          .join('; '),
    );
    return counted;
  } finally {
    monitor.close();
    await stop(app);
  }
}

/** Per owner (see commandOwner) and per command: how many in the window, and per operation. */
function tally(window, n) {
  const owners = ['session', 'records', 'coordinator', 'other', 'insideScripts'];
  const out = { n, ...Object.fromEntries(owners.map((o) => [o, { total: 0, perOp: 0, commands: {} }])) };
  for (const { client, args } of window) {
    const t = client === 'lua' ? out.insideScripts : out[commandOwner(args)];
    t.total++;
    const label = commandLabel(args);
    t.commands[label] = (t.commands[label] ?? 0) + 1;
  }
  for (const o of owners) out[o].perOp = out[o].total / n;
  // Through the session store (connect-redis): the sessions and ours' own records.
  out.store = { perOp: out.session.perOp + out.records.perOp };
  return out;
}

async function memoryPhase() {
  log(`memory: ${MEMORY_N} abandoned, then ${MEMORY_N} completed logins, per contender (fresh process, --expose-gc)`);
  for (const c of CONTENDERS) {
    if (timeLeft() < 60_000) {
      log(`memory ${c.id}: skipped, out of time`);
      continue;
    }
    const app = await startApp(c, ['--expose-gc']);
    const base = app.info.baseUrl;
    try {
      // Warm-up before the baseline, so that what JIT compilation and caches take is not counted.
      await pool(200, LOGIN_CONCURRENCY, 60_000, () => login(base, provider.info.issuer));
      await pool(500, 16, 60_000, () => abandon(base));
      const s0 = await app.stats({ gc: true, store: true });
      const progress = (what) => (n) => {
        if (n % 2000 === 0) log(`memory ${c.id.padEnd(10)} ${what} ${n}/${MEMORY_N}`);
      };
      const ab = await pool(MEMORY_N, 16, 300_000, () => abandon(base), progress('abandoned'));
      const s1 = await app.stats({ gc: true, store: true });
      const done = await pool(
        MEMORY_N,
        LOGIN_CONCURRENCY,
        600_000,
        () => login(base, provider.info.issuer),
        progress('completed'),
      );
      const s2 = await app.stats({ gc: true, store: true });
      const m = {
        abandoned: ab.done,
        abandonedFailed: ab.failed,
        completed: done.done,
        completedFailed: done.failed,
        heapBaseline: s0.mem.heapUsed,
        heapAfterAbandoned: s1.mem.heapUsed,
        heapAfterCompleted: s2.mem.heapUsed,
        abandonedHeapDelta: s1.mem.heapUsed - s0.mem.heapUsed,
        completedHeapDelta: s2.mem.heapUsed - s1.mem.heapUsed,
        store: [s0.store, s1.store, s2.store],
      };
      results.memory[c.id] = m;
      const e = (s) => s?.entries ?? 0;
      log(
        `memory ${c.id.padEnd(10)} abandoned: heap +${fmt(m.abandonedHeapDelta / 1e6, 2)} MB, store +${e(s1.store) - e(s0.store)} entries ` +
          `(${s1.store ? `${s1.store.expiringWithin15Min} of ${s1.store.entries} expire within 15 min` : 'no server-side store'}); ` +
          `completed: heap +${fmt(m.completedHeapDelta / 1e6, 2)} MB, store +${e(s2.store) - e(s1.store)} entries`,
      );
    } finally {
      await stop(app);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function versions() {
  const v = {};
  // The contenders resolve from bench/node_modules (bench/package.json); the library's own
  // dependencies from the root install, which may hold another openid-client or jose.
  const version = (dir, pkg) => {
    try {
      return JSON.parse(readFileSync(path.join(dir, 'node_modules', pkg, 'package.json'), 'utf8')).version;
    } catch {
      return '?';
    }
  };
  for (const pkg of ['express', 'express-session', 'express-openid-connect', 'passport', 'openid-client', 'jose']) {
    v[pkg] = version(here, pkg);
  }
  for (const pkg of ['openid-client', 'jose']) {
    const ours = version(root, pkg);
    if (ours !== v[pkg]) v[`${pkg} (express-oidc-login's)`] = ours;
  }
  return v;
}

function machine() {
  let cpu = os.cpus()[0]?.model ?? '?';
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    /* not Linux */
  }
  let loadgenVersion = LOADGEN;
  if (LOADGEN === 'wrk') {
    try {
      execFileSync('wrk', ['--version'], { encoding: 'utf8' });
    } catch (err) {
      loadgenVersion = String(err.stdout).split('\n')[0].split(' Copyright')[0].trim() || 'wrk';
    }
  } else {
    loadgenVersion = `autocannon ${JSON.parse(readFileSync(path.join(here, 'node_modules/autocannon/package.json'), 'utf8')).version}`;
  }
  let git = '?';
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--', 'lib'], { cwd: root, encoding: 'utf8' }).trim() !== '';
    git = `${sha}${dirty ? ' + uncommitted lib/ changes' : ''}`;
  } catch {
    /* not a git checkout */
  }
  return {
    git,
    date: new Date().toISOString(),
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpu,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    loadavgAtStart: os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
    loadgen: loadgenVersion,
    versions: versions(),
    settings: {
      rounds: ROUNDS,
      loginRounds: LOGIN_ROUNDS,
      durationS: DURATION_S,
      connections: CONNECTIONS,
      loginsPerTrial: LOGINS,
      loginConcurrency: LOGIN_CONCURRENCY,
      memoryN: MEMORY_N,
      quick,
    },
  };
}

/** Per-round ratios against the floor measured in the same round (paired), then described. */
const usable = (section, trials) => (section === 'auth' ? trials.filter((t) => t.valid) : trials);

function pairedRatios(section, id, metric) {
  const base = results[section].bare && usable(section, results[section].bare.trials);
  const mine = results[section][id] && usable(section, results[section][id].trials);
  if (!base || !mine) return undefined;
  const ratios = [];
  for (const t of mine) {
    const b = base.find((x) => x.round === t.round);
    if (b && Number.isFinite(t[metric]) && b[metric] > 0) ratios.push(t[metric] / b[metric]);
  }
  return describe(ratios);
}

function summarize() {
  for (const section of ['auth', 'login']) {
    for (const [id, r] of Object.entries(results[section])) {
      const metrics =
        section === 'auth' ? ['rps', 'p99', 'cpuUsPerReq'] : ['cpuMsPerLogin', 'loginsPerSec', 'providerCpuMsPerLogin'];
      r.summary = {};
      r.vsFloor = {};
      for (const m of metrics) {
        r.summary[m] = describe(usable(section, r.trials).map((t) => t[m]));
        r.vsFloor[m] = pairedRatios(section, id, m);
      }
      r.invalidTrials = r.trials.filter((t) => (section === 'auth' ? !t.valid : t.failed > 0)).length;
    }
  }
}

function targets() {
  const out = [];
  const auth = results.auth;
  const login = results.login;
  const mem = results.memory.ours;
  if (auth.ours?.vsFloor?.cpuUsPerReq) {
    const d = auth.ours.vsFloor.cpuUsPerReq;
    out.push({
      target: 'CPU per authenticated request ≤ 1.0× the bare floor',
      measured: `${ratio(d)} (${fmt(auth.ours.summary.cpuUsPerReq.median)} vs ${fmt(auth.bare.summary.cpuUsPerReq.median)} µs)`,
      met:
        d.median <= 1.0
          ? 'yes'
          : d.min <= 1.0
            ? `not shown: ${fmt((d.median - 1) * 100, 1)}% over, within this run's spread of per-round ratios`
            : `no, by ${fmt((d.median - 1) * 100, 1)}%`,
    });
  }
  // The same target resolved by the paired micro-benchmarks: a 95% interval decides.
  // Ours as two app.use() (express-session, then oidcLogin) and with the `session` option (one).
  const micro = [
    ['stack', 'in process ([micro/stack.mjs](micro/stack.mjs), paired blocks)'],
    ['http-pair', 'over HTTP paired ([micro/http-pair.mjs](micro/http-pair.mjs), one request at a time)'],
    ['http-pair-c8', 'over HTTP paired ([micro/http-pair.mjs](micro/http-pair.mjs), 8 requests in flight)'],
  ];
  const forms = [
    ['ours', 'express-session mounted apart'],
    ['ours, session option', 'the `session` option'],
  ];
  for (const [[name, where], [label, how]] of micro.flatMap((m) => forms.map((f) => [m, f]))) {
    const found = new RegExp(`^${label} ÷ floor\\s+([\\d.]+)× \\(95% CI ([\\d.]+)–([\\d.]+)`, 'm').exec(
      results.micro?.[name] ?? '',
    );
    if (!found) continue;
    const [median, low, high] = found.slice(1).map(Number);
    out.push({
      target: `CPU per authenticated request ≤ 1.0× the bare floor, ${where}, ${how}`,
      measured: `${fmt(median, 3)}× (95% CI ${fmt(low, 3)}–${fmt(high, 3)})`,
      met: high <= 1.0 ? 'yes' : low <= 1.0 ? 'not distinguishable from 1.0×' : `no, by ${fmt((median - 1) * 100, 1)}%`,
    });
  }
  for (const [, name, , where] of REDIS_PAIRS) {
    const r = pairFigures(results.redis[name]);
    if (!r.ratio) continue;
    const { median, low, high } = r.ratio;
    out.push({
      target: `CPU per authenticated request ≤ 1.0× the floor, connect-redis store (${where})`,
      measured: `${fmt(median, 3)}× (95% CI ${fmt(low, 3)}–${fmt(high, 3)})`,
      met: high <= 1.0 ? 'yes' : low <= 1.0 ? 'not distinguishable from 1.0×' : `no, by ${fmt((median - 1) * 100, 1)}%`,
    });
  }
  const counted = instructionFigures(results.redis.instructions);
  if (counted.ratio) {
    const { mean, pairs, i1, d1, branches } = counted.ratio;
    out.push({
      target:
        'instructions per authenticated request ≤ 1.0× the floor, connect-redis store (counted by cachegrind, one request at a time)',
      measured: `${fmt(mean, 3)}× (each of ours' process pairs ÷ the floor's mean: ${pairs.map((v) => fmt(v, 3)).join(', ')}); simulated I1 misses ${fmt(i1, 3)}×, D1 misses ${fmt(d1, 3)}×, mispredicted branches ${fmt(branches, 3)}×`,
      met: !pairs.length
        ? 'not measured'
        : Math.max(...pairs) <= 1.0
          ? 'yes'
          : Math.min(...pairs) <= 1.0
            ? 'not distinguishable from 1.0× (the pairs lie either side)'
            : `no, by ${fmt((mean - 1) * 100, 1)}%`,
    });
  }
  const trips = results.redis.roundTrips;
  if (trips?.ours && trips?.bare) {
    const o = trips.ours.auth;
    const b = trips.bare.auth;
    out.push({
      target: 'an authenticated request makes no coordinator call (connect-redis store)',
      measured: `${fmt(o.coordinator.total)} coordinator commands in ${fmt(o.n)} requests; session store ${perOp(o.store.perOp)} per request (the floor: ${perOp(b.store.perOp)})`,
      met: o.coordinator.total === 0 && o.store.perOp === b.store.perOp ? 'yes' : 'no',
    });
  }
  if (auth.ours && auth['eoc-cookie']) {
    const paired = [];
    for (const t of usable('auth', auth.ours.trials)) {
      const e = usable('auth', auth['eoc-cookie'].trials).find((x) => x.round === t.round);
      if (e) paired.push(t.rps / e.rps);
    }
    const d = describe(paired);
    out.push({
      target: 'Throughput ≥ 1.3× express-openid-connect (default cookie)',
      measured: `${ratio(d)} (${fmt(auth.ours.summary.rps.median)} vs ${fmt(auth['eoc-cookie'].summary.rps.median)} req/s)`,
      met: d.median >= 1.3 ? 'yes' : `no (${fmt(d.median, 2)}×)`,
    });
  }
  if (login.ours) {
    const peers = ['eoc-cookie', 'eoc-store', 'passport'].filter((p) => login[p]);
    const best = peers.map((p) => [p, login[p].summary.cpuMsPerLogin.median]).sort((a, b) => a[1] - b[1])[0];
    if (best) {
      const o = login.ours.summary.cpuMsPerLogin.median;
      out.push({
        target: 'Login CPU ≤ the best peer (signature verification on)',
        measured: `${fmt(o, 2)} ms vs ${fmt(best[1], 2)} ms (${best[0]}): ${fmt(o / best[1], 2)}×`,
        met: o <= best[1] ? 'yes' : `no, by ${fmt((o / best[1] - 1) * 100, 0)}%`,
      });
    }
  }
  if (mem) {
    // With pending logins in cookies there is no "pending" entry at all.
    const s0 = mem.store[0]?.kinds.pending;
    const s1 = mem.store[1]?.kinds.pending;
    const added = (s1?.entries ?? 0) - (s0?.entries ?? 0);
    const expiring = (s1?.expiringWithin15Min ?? 0) - (s0?.expiringWithin15Min ?? 0);
    out.push({
      target: `${fmt(MEMORY_N)} abandoned logins ≤ 5 MB`,
      measured: `${fmt(mem.abandonedHeapDelta / 1e6, 2)} MB heap (${fmt(mem.abandonedHeapDelta / mem.abandoned)} B each)`,
      met: mem.abandonedHeapDelta <= 5e6 * (MEMORY_N / 10_000) ? 'yes' : 'no',
    });
    out.push({
      target: 'every abandoned login gone from the store within 15 minutes',
      measured:
        added === 0
          ? `no new store entry at all (${fmt(mem.abandoned)} abandoned logins)`
          : `${fmt(expiring)} of ${fmt(added)} new entries expire within 15 min (stored cookie expiry: ${fmt(s1?.latestExpiryInMin)} min at the latest)`,
      met: expiring >= added ? 'yes' : 'no',
    });
  }
  return out;
}

function markdown(m) {
  const L = [];
  const ids = CONTENDERS.map((c) => c.id);
  L.push(
    `Run of ${m.date.slice(0, 10)} (${m.date}), ${m.settings.quick ? 'QUICK settings (not for comparison), ' : ''}` +
      `${m.nproc} cores (${m.cpu}), ${m.memGiB} GiB, Node ${m.node}, ${m.os}; load average (1, 5, 15 min) ${m.loadavgAtStart} at the start, ` +
      `${m.loadavgAtEnd} at the end; ${m.minutes} minutes.`,
  );
  L.push('');
  L.push(
    `express-oidc-login: dist/ built from ${m.git}. Versions: ${Object.entries(m.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; load generator ${m.loadgen}. ` +
      `Settings: contenders alternated, order rotated each round; ${m.settings.rounds} rounds of ${m.settings.durationS} s per authenticated-request trial at ` +
      `${m.settings.connections} connections; ${m.settings.loginRounds} rounds of ${m.settings.loginsPerTrial} logins per login trial at concurrency ${m.settings.loginConcurrency}. ` +
      'Figures: median (min–max) over the rounds; "× floor" is the median (min–max) of the per-round ratios to the bare floor measured in the same round.',
  );
  L.push('');
  if (Object.keys(results.auth).length) {
    L.push('#### 1. Authenticated request (`GET /api/me` behind the guard)');
    L.push('');
    L.push(
      '| contender | req/s | × floor | p99 latency ms | app CPU µs/request | × floor | cookie sent (B) | Set-Cookie per response (B) |',
    );
    L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const id of ids) {
      const r = results.auth[id];
      if (!r?.summary) continue;
      const bad = r.invalidTrials ? ` (**${r.invalidTrials} invalid trials**)` : '';
      L.push(
        `| ${id}${bad} | ${range(r.summary.rps)} | ${id === 'bare' ? '1' : ratio(r.vsFloor.rps)} | ${range(r.summary.p99, 2)} | ` +
          `${range(r.summary.cpuUsPerReq)} | ${id === 'bare' ? '1' : ratio(r.vsFloor.cpuUsPerReq)} | ${r.cookieBytes} | ${r.setCookieBytesPerResponse} |`,
      );
    }
    L.push('');
  }
  if (Object.keys(results.login).length) {
    L.push(
      `#### 2. Complete login (\`/login\` → provider → \`/callback\`), concurrency ${m.settings.loginConcurrency}`,
    );
    L.push('');
    L.push(
      '| contender | app CPU ms/login | × floor | logins/s | provider CPU ms/login | ID token signature verified |',
    );
    L.push('| --- | ---: | ---: | ---: | ---: | --- |');
    for (const id of ids) {
      const r = results.login[id];
      if (!r?.summary) continue;
      const bad = r.invalidTrials ? ` (**${r.invalidTrials} trials with failures**)` : '';
      L.push(
        `| ${id}${bad} | ${range(r.summary.cpuMsPerLogin, 2)} | ${id === 'bare' ? '1' : ratio(r.vsFloor.cpuMsPerLogin)} | ${range(r.summary.loginsPerSec)} | ` +
          `${fmt(r.summary.providerCpuMsPerLogin.median, 2)} | ${SIGNATURE[id]} |`,
      );
    }
    L.push('');
  }
  if (Object.keys(results.memory).length) {
    L.push(
      `#### 3. Memory: ${fmt(m.settings.memoryN)} abandoned \`/login\`s, then ${fmt(m.settings.memoryN)} completed logins (heapUsed after \`gc()\`)`,
    );
    L.push('');
    L.push(
      '| contender | abandoned: heap Δ | per login | new store entries | stored bytes each | of which expire ≤ 15 min | their latest expiry | completed: heap Δ | per login | new store entries |',
    );
    L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const id of ids) {
      const r = results.memory[id];
      if (!r) continue;
      const [s0, s1, s2] = r.store;
      const p0 = s0?.kinds.pending;
      const p1 = s1?.kinds.pending;
      const newPending = p1 ? p1.entries - (p0?.entries ?? 0) : 0;
      const ent = (a, b) => (a && b ? fmt(b.entries - a.entries) : 'no store');
      const abandonedCols = !s1
        ? 'no store | – | – | –'
        : newPending === 0
          ? '0 | – | – | –'
          : `${fmt(newPending)} | ${fmt((p1.bytes - (p0?.bytes ?? 0)) / newPending)} | ${fmt(p1.expiringWithin15Min - (p0?.expiringWithin15Min ?? 0))} | ${fmt(p1.latestExpiryInMin)} min`;
      const fail =
        r.abandonedFailed || r.completedFailed ? ` (**${r.abandonedFailed + r.completedFailed} failed**)` : '';
      L.push(
        `| ${id}${fail} | ${fmt(r.abandonedHeapDelta / 1e6, 2)} MB | ${fmt(r.abandonedHeapDelta / r.abandoned)} B | ${abandonedCols} | ` +
          `${fmt(r.completedHeapDelta / 1e6, 2)} MB | ${fmt(r.completedHeapDelta / r.completed)} B | ${ent(s1, s2)} |`,
      );
    }
    L.push('');
  }
  if (
    results.micro.middleware ||
    results.micro.crypto ||
    results.micro.stack ||
    results.micro['http-pair'] ||
    results.micro['http-pair-c8']
  ) {
    L.push('#### In-process micro-benchmarks ([`micro/`](micro/))');
    L.push('');
    L.push('```');
    if (results.micro.middleware) L.push(results.micro.middleware);
    if (results.micro.crypto) L.push(results.micro.crypto);
    if (results.micro.stack) L.push(results.micro.stack);
    if (results.micro['http-pair']) L.push(results.micro['http-pair']);
    if (results.micro['http-pair-c8']) L.push(results.micro['http-pair-c8']);
    L.push('```');
    L.push('');
  }
  if (Object.keys(results.redis).length > 1) L.push(redisMarkdown());
  const t = targets();
  if (t.length) {
    L.push('#### Targets');
    L.push('');
    L.push('| target | measured | met |');
    L.push('| --- | --- | --- |');
    for (const x of t) L.push(`| ${x.target} | ${x.measured} | ${x.met} |`);
    L.push('');
  }
  return L.join('\n');
}

/** A count per operation: whole numbers as such, else two decimals. */
const perOp = (x) => fmt(x, Number.isInteger(x) ? 0 : 2);

/** `SET EX ×3, GET, DEL`: a window's commands per operation, the most frequent first. */
function commandList(t, n) {
  const entries = Object.entries(t.commands).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return '–';
  return entries
    .map(([name, count]) => {
      const per = count / n;
      return per === 1 ? name : `${name} ×${perOp(per)}`;
    })
    .join(', ');
}

function redisMarkdown() {
  const L = [];
  const r = results.redis;
  L.push(`#### 4. With connect-redis as the store (floor and ours; redis-server ${r.server ?? '?'} on loopback)`);
  L.push('');
  const pairs = REDIS_PAIRS.map(([, name, , where]) => [where, pairFigures(r[name]), r[name]]).filter(
    ([, f]) => f.ratio,
  );
  if (pairs.length) {
    L.push(
      'CPU per authenticated request (`GET /api/me` behind the guard), paired ([`micro/http-pair.mjs`](micro/http-pair.mjs) ' +
        'with `BENCH_REDIS_URL`: every arm in 4 processes of its own, each with its own client process and node-redis connection; ' +
        "redis-server's CPU is not the app's, shown beside):",
    );
    L.push('');
    L.push(
      '| load | blocks | floor: app CPU µs/request | ours: app CPU µs/request | ours ÷ floor (95% CI) | redis-server CPU µs/request (floor / ours) |',
    );
    L.push('| --- | --- | ---: | ---: | ---: | ---: |');
    for (const [where, f] of pairs) {
      L.push(
        `| ${where.replace('over HTTP paired, ', '')} | ${f.blocks} | ${fmt(f.arms.floor?.us, 1)} | ${fmt(f.arms.ours?.us, 1)} | ` +
          `**${fmt(f.ratio.median, 3)}×** (${fmt(f.ratio.low, 3)}–${fmt(f.ratio.high, 3)}) | ${fmt(f.arms.floor?.redisUs, 1)} / ${fmt(f.arms.ours?.redisUs, 1)} |`,
      );
    }
    L.push('');
  }
  const counted = instructionFigures(r.instructions);
  if (counted.ratio) {
    L.push(
      'Instructions per authenticated request, counted ([`micro/instructions.mjs`](micro/instructions.mjs): each arm of ' +
        "`http-pair.mjs` under Valgrind's cachegrind, one request at a time, " +
        `${counted.what} others and the arm's warm-up; all of the app process's threads, its first-level caches and branch predictor simulated; not timed: the machine's load moves it far less than CPU time):`,
    );
    L.push('');
    L.push(
      '| arm | instructions / request | simulated I1 misses / request | simulated D1 misses / request | mispredicted branches / request |',
    );
    L.push('| --- | ---: | ---: | ---: | ---: |');
    for (const [arm, a] of Object.entries(counted.arms))
      L.push(
        `| ${arm} | ${fmt(a.ir / 1000, 1)} k | ${fmt(a.i1 / 1000, 2)} k | ${fmt(a.d1 / 1000, 2)} k | ${fmt(a.branches / 1000, 2)} k |`,
      );
    L.push('');
  }
  const trips = r.roundTrips;
  if (trips?.bare && trips?.ours) {
    L.push(
      `Redis round trips per operation on the real bench apps (\`apps/bare.mjs\`, \`apps/ours.mjs\` with \`BENCH_STORE=redis\`), ` +
        `counted with MONITOR over ${trips.ours.login.n} logins, ${trips.ours.auth.n} authenticated requests and ${trips.ours.refresh.n} refreshes each ` +
        "(commands a client sends; what a Lua script runs inside its `EVAL` is not a round trip). Session store: connect-redis's " +
        "commands on a session (`sess:<id>`) and on ours' records in the store (`sess:oidc-…`); coordinator: `sess:oidc:…`.",
    );
    L.push('');
    L.push(
      '| operation | floor: session store | ours: session store (sessions + records) | ours: coordinator | floor: commands | ours: commands (store; coordinator) |',
    );
    L.push('| --- | ---: | ---: | ---: | --- | --- |');
    for (const [op, label] of [
      ['auth', 'authenticated request'],
      ['login', 'complete login (`/login` → provider → `/callback`)'],
      ['refresh', 'refresh (a forced refresh-token grant, saved)'],
    ]) {
      const b = trips.bare[op];
      const o = trips.ours[op];
      const storeOf = (t) => ({
        commands: Object.entries({ ...t.session.commands }).reduce(
          (acc, [k, v]) => ({ ...acc, [k]: (acc[k] ?? 0) + v }),
          t.records.commands,
        ),
      });
      L.push(
        `| ${label} | ${perOp(b.store.perOp)} | ${perOp(o.store.perOp)} (${perOp(o.session.perOp)} + ${perOp(o.records.perOp)}) | ` +
          `**${perOp(o.coordinator.perOp)}** | ${commandList(storeOf(b), b.n)} | ${commandList(storeOf(o), o.n)}; ${commandList(o.coordinator, o.n)} |`,
      );
    }
    L.push('');
  }
  if (pairs.length || counted.ratio) {
    L.push('```');
    for (const [, , out] of pairs) L.push(out);
    if (counted.ratio) L.push(r.instructions);
    L.push('```');
    L.push('');
  }
  return L.join('\n');
}

function profileMarkdown() {
  const L = [];
  for (const [name, p] of Object.entries(results.profile)) {
    L.push(`##### \`${name}\` (${fmt(p.busyMs)} ms busy, ${fmt(p.totalMs - p.busyMs)} ms idle; whole process life)`);
    L.push('');
    L.push(
      'By package (self time): ' +
        p.areas
          .slice(0, 12)
          .map((a) => `${a.area} ${fmt(a.pct, 1)}%`)
          .join(', ') +
        '.',
    );
    L.push('');
    L.push('| self % | function | where |');
    L.push('| ---: | --- | --- |');
    for (const f of p.top.slice(0, 15))
      L.push(`| ${fmt(f.pct, 1)} | \`${f.name}\` | ${f.where ? `\`${f.where}\`` : f.area} |`);
    L.push('');
  }
  return L.join('\n');
}

function replaceBlock(text, marker, content) {
  const startTag = `<!-- ${marker}:start -->`;
  const endTag = `<!-- ${marker}:end -->`;
  const a = text.indexOf(startTag);
  const b = text.indexOf(endTag);
  if (a === -1 || b === -1 || b < a) return text;
  return `${text.slice(0, a + startTag.length)}\n${content}\n${text.slice(b)}`;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  if (!existsSync(path.join(root, 'dist', 'index.js')))
    throw new Error('dist/ is missing: run `npm run build` first (npm run bench does).');
  const m = machine();
  results.machine = m;
  log(
    `${m.nproc} cores, ${m.cpu}, Node ${m.node}, load generator ${m.loadgen}, load average ${m.loadavgAtStart}${quick ? ', QUICK' : ''}`,
  );
  await startProvider();
  log(`provider at ${provider.info.issuer}`);

  if (PHASES.has('micro')) await microPhase();
  if (PHASES.has('redis')) await redisPhase();
  if (PHASES.has('auth') || PHASES.has('login')) {
    const apps = [];
    for (const c of CONTENDERS) apps.push({ c, app: await startApp(c) });
    try {
      if (PHASES.has('auth')) await authPhase(apps);
      if (PHASES.has('login') && timeLeft() > 60_000) await loginPhase(apps);
    } finally {
      for (const { app } of apps) await stop(app);
    }
  }
  if (PHASES.has('profile') && timeLeft() > 60_000) await profilePhase();
  if (PHASES.has('memory')) await memoryPhase();

  m.loadavgAtEnd = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  m.minutes = Math.round((Date.now() - t0) / 6000) / 10;
  summarize();
  const md = markdown(m);
  const pmd = profileMarkdown();
  const outDir = path.join(here, 'results');
  mkdirSync(outDir, { recursive: true });
  // A quick or partial run never replaces the last full run's files.
  const full = !quick && ['auth', 'login', 'profile', 'memory'].every((x) => PHASES.has(x)) && !process.env.BENCH_ONLY;
  const base = full ? 'latest' : 'partial';
  writeFileSync(path.join(outDir, `${base}.json`), JSON.stringify(results, null, 2));
  writeFileSync(path.join(outDir, `${base}.md`), `${md}\n\n${pmd}\n`);
  console.log(`\n${md}\n\n${pmd}`);
  const readme = path.join(here, 'README.md');
  if (WRITE_README && full && existsSync(readme)) {
    let text = readFileSync(readme, 'utf8');
    text = replaceBlock(text, 'bench:results', md);
    if (pmd) text = replaceBlock(text, 'bench:profile', pmd);
    writeFileSync(readme, text);
    log('results written to bench/README.md and bench/results/latest.{json,md}');
  } else {
    log(`results written to bench/results/${base}.{json,md}`);
  }
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
