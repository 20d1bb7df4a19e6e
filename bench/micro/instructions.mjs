/* global console, process, URL, setTimeout, clearTimeout */
/**
 * Instructions per authenticated request, counted rather than timed: each arm of http-pair.mjs (its
 * app, store and client process as there) runs under Valgrind's cachegrind, which counts every
 * instruction the app process executes (its main thread, and the garbage collector's and compiler's
 * threads, which Valgrind runs one at a time) and simulates its first-level caches and branch
 * predictor. The client and redis-server are not under Valgrind and not counted.
 *
 * Why: the CPU time of one request at a time on this shared 2-core machine moves with what else runs
 * on it. The same code measured ours ÷ floor from 1.002× to 1.067× in nine runs within an hour, each
 * run's 95% interval a few percent wide (bench/README.md, "Where the time goes", 2026-12-06
 * evening). A count of instructions moves far less with the machine's load (it still moves with
 * where the collector's and the compiler's work falls); the simulated cache misses say whether a
 * difference is in the work done or in how much memory it touches.
 *
 * Each arm runs twice per replica under cachegrind: once for its start, warm-up and BENCH_INSTR_PRE
 * requests, once for the same and BENCH_INSTR_N more; the difference over N is per request (what
 * starting and warming up cost cancels out). Two pairs per arm by default: one pair's figure differs
 * from the other's by up to 5% (start runs differ by about 1% of their 11 billion instructions, and
 * that falls on the N requests), so this resolves about 3%; more requests per process would do
 * better. Valgrind makes the app about 25 times slower: with the defaults, 13–15 minutes for two
 * arms on two cores.
 *
 *   apt-get install -y valgrind redis-server
 *   npm run build && BENCH_REDIS_URL=redis://127.0.0.1:6379 node bench/micro/instructions.mjs
 *   BENCH_INSTR_ARMS=floor,ours,lookup BENCH_INSTR_REPLICAS=3 node bench/micro/instructions.mjs   (MemoryStore without BENCH_REDIS_URL)
 */
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const VALGRIND = process.env.VALGRIND_PATH ?? '/usr/bin/valgrind';

const ARMS = (process.env.BENCH_INSTR_ARMS ?? 'floor,ours').split(',');
const N = Number(process.env.BENCH_INSTR_N ?? 4000);
const PRE = Number(process.env.BENCH_INSTR_PRE ?? 1000);
const REPLICAS = Number(process.env.BENCH_INSTR_REPLICAS ?? 2);
const LANES = Number(process.env.BENCH_INSTR_LANES ?? Math.max(1, Math.min(2, os.availableParallelism())));
/** One run under Valgrind at most (its start and 3,000 warm-up requests take about 2 minutes). */
const RUN_TIMEOUT_MS = Number(process.env.BENCH_INSTR_RUN_TIMEOUT_MS ?? 900_000);
const HTTP_PAIR = fileURLToPath(new URL('./http-pair.mjs', import.meta.url));

/**
 * One arm's process under cachegrind, sent `requests` requests after its warm-up, then told to exit;
 * resolves with cachegrind's totals for the whole process.
 */
function counted(arm, requests, outFile) {
  return new Promise((resolve, reject) => {
    const child = fork(HTTP_PAIR, ['arm', arm], {
      execPath: VALGRIND,
      // all-non-file: V8 writes its own machine code into memory it then runs.
      execArgv: [
        '--tool=cachegrind',
        '-q',
        '--cache-sim=yes',
        '--branch-sim=yes',
        '--smc-check=all-non-file',
        `--cachegrind-out-file=${outFile}`,
        process.execPath,
      ],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${arm}: no answer within ${RUN_TIMEOUT_MS / 1000} s under Valgrind`));
    }, RUN_TIMEOUT_MS);
    // One block: each block adds the arm's own bookkeeping (IPC, its CPU and Redis readings).
    let sent = requests === 0;
    let exitSent = false;
    const fail = (err) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.on('error', (err) => fail(new Error(`${arm}: ${err.message}`)));
    child.on('message', (m) => {
      if (m.error) fail(new Error(`${arm}: ${m.error}`));
      else if (!sent) {
        sent = true;
        child.send({ block: requests });
      } else {
        exitSent = true;
        child.send({ exit: true });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      // A process that ended before it was told to (a crash) leaves a partial count: not a result.
      if (!exitSent || code !== 0) {
        reject(new Error(`${arm}: ended early under Valgrind (exit code ${code})`));
        return;
      }
      try {
        resolve(cachegrindTotals(readFileSync(outFile, 'utf8')));
      } catch (err) {
        reject(new Error(`${arm}: no cachegrind output (${err.message})`));
      }
    });
  });
}

/** cachegrind's `summary:` line by its `events:` names (Ir, I1mr, D1mr, DLmr, …). */
function cachegrindTotals(text) {
  const events = /^events: (.+)$/m.exec(text)?.[1].trim().split(/\s+/);
  const summary = /^summary: (.+)$/m.exec(text)?.[1].trim().split(/\s+/).map(Number);
  if (!events || !summary) throw new Error('no events or summary line');
  return Object.fromEntries(events.map((e, i) => [e, summary[i]]));
}

/** Runs the jobs `LANES` at a time. */
async function inLanes(jobs) {
  const results = new Array(jobs.length);
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));
  return results;
}

if (!existsSync(VALGRIND)) {
  console.log(`instructions: skipped, no valgrind at ${VALGRIND}`);
  process.exit(0);
}
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-instructions-'));
try {
  const jobs = [];
  for (let r = 0; r < REPLICAS; r++) {
    for (const arm of ARMS) {
      for (const [part, requests] of [
        ['start', PRE],
        ['more', PRE + N],
      ]) {
        jobs.push(async () => ({
          arm,
          r,
          part,
          totals: await counted(arm, requests, path.join(dir, `${arm}.${r}.${part}.out`)),
        }));
      }
    }
  }
  const runs = await inLanes(jobs);
  // Per arm and replica: (more − start) ÷ N, for each event.
  const perRequest = {};
  for (const arm of ARMS) {
    perRequest[arm] = [];
    for (let r = 0; r < REPLICAS; r++) {
      const start = runs.find((x) => x.arm === arm && x.r === r && x.part === 'start').totals;
      const more = runs.find((x) => x.arm === arm && x.r === r && x.part === 'more').totals;
      perRequest[arm].push(Object.fromEntries(Object.keys(more).map((e) => [e, (more[e] - start[e]) / N])));
    }
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  // Per request, mean over an arm's pairs: instructions, and cachegrind's misses summed where it
  // counts reads and writes (D1) or conditional and indirect branches apart. Only the first-level
  // caches: Valgrind models the last level on what the machine reports, here a 512 MB cache (a
  // virtual machine's), in which nothing misses.
  const figures = (arm) => {
    const of = (...events) => mean(perRequest[arm].map((x) => events.reduce((sum, e) => sum + x[e], 0)));
    return { ir: of('Ir'), i1: of('I1mr'), d1: of('D1mr', 'D1mw'), branches: of('Bcm', 'Bim') };
  };
  const store = process.env.BENCH_REDIS_URL ? 'connect-redis as the store, ' : '';
  console.log(
    `${N} requests per process after ${PRE} (and the arm's warm-up), one at a time, ${REPLICAS} process pair(s) per arm, ${store}` +
      'counted by cachegrind; per request (mean over the pairs):',
  );
  for (const arm of ARMS)
    console.log(
      `  ${arm} per pair: ${perRequest[arm].map((x) => (x.Ir / 1000).toFixed(1)).join(', ')} k instructions per request`,
    );
  console.log('  arm        instructions   I1 misses   D1 misses   mispredicted branches');
  const k = (x, digits, width) => `${(x / 1000).toFixed(digits).padStart(width)} k`;
  for (const arm of ARMS) {
    const f = figures(arm);
    console.log(`  ${arm.padEnd(8)} ${k(f.ir, 1, 10)} ${k(f.i1, 2, 9)} ${k(f.d1, 2, 9)} ${k(f.branches, 2, 9)}`);
  }
  if (ARMS.includes('floor')) {
    const floor = figures('floor');
    for (const arm of ARMS.filter((a) => a !== 'floor')) {
      const f = figures(arm);
      // Each of the arm's process pairs over the floor's mean: the pairs of two arms share nothing.
      const each = perRequest[arm].map((x) => x.Ir / floor.ir);
      console.log(
        `instructions ${arm} ÷ floor ${(f.ir / floor.ir).toFixed(4)}× (each pair ÷ the floor's mean: ${each.map((v) => v.toFixed(4)).join(', ')}); ` +
          `I1 misses ${(f.i1 / floor.i1).toFixed(3)}×, D1 misses ${(f.d1 / floor.d1).toFixed(3)}×, mispredicted branches ${(f.branches / floor.branches).toFixed(3)}×`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
