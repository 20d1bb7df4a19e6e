/* global Buffer, console, process, setTimeout, clearTimeout */
/** What the paired micro-benchmarks (micro/stack.mjs, micro/http-pair.mjs) share: their login and statistics. */

/**
 * A login as the floor stores it (an object) with a realistic ID token: its payload is `claims`
 * (a Google-like set, ≈ 520 bytes of JSON; the token ≈ 1.1 KB), so that the claims a hand-written
 * app keeps beside the token are as large as a real login's. The arms that are ours store it as
 * express-oidc-login does: `packLogin()` of dist/session/stored-login.js (one JSON string, without the
 * claims, which are the ID token's payload).
 */
export function benchLogin(issuer, sub) {
  const now = Date.now();
  const t = Math.floor(now / 1000);
  const claims = {
    iss: issuer,
    azp: 'bench-client',
    aud: 'bench-client',
    sub,
    email: `${sub}@bench.example`,
    email_verified: true,
    at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q',
    nonce: 'n-0S6_WzA2Mj-8Ka1sVf3xQm9Lr7TgUhYc2B',
    name: 'Bench User',
    picture: `https://pictures.bench.example/a/${'AOh14Gh2nWc7BkZp0uQ9vT3'.repeat(3)}=s96-c`,
    given_name: 'Bench',
    family_name: 'User',
    locale: 'en',
    sid: 'f7a1c2d3-0b1e-4c5f-9a8b-7c6d5e4f3a2b',
    iat: t,
    exp: t + 3600,
  };
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'k1', typ: 'JWT' })).toString('base64url');
  return {
    idToken: `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${'s'.repeat(342)}`,
    accessToken: 'y'.repeat(43),
    tokenType: 'bearer',
    claims,
    loggedInAt: now,
    activeAt: now,
    expiresAt: t + 3600,
    scope: 'openid profile email',
  };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Median of the per-block ratios a[i] / b[i] and its bootstrap 95% interval (2,000 resamples,
 * seeded, so a run's figures can be recomputed), with the smallest and largest block ratio.
 */
export function pairedRatio(a, b) {
  const ratios = a.map((x, i) => x / b[i]);
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const boots = [];
  for (let r = 0; r < 2000; r++) boots.push(median(ratios.map(() => ratios[Math.floor(rand() * ratios.length)])));
  boots.sort((x, y) => x - y);
  return {
    median: median(ratios),
    low: boots[Math.floor(0.025 * boots.length)],
    high: boots[Math.floor(0.975 * boots.length)],
    min: Math.min(...ratios),
    max: Math.max(...ratios),
  };
}

/**
 * Paired blocks with every arm in processes of its own. In one process the arms share express,
 * express-session and their JIT feedback: each arm's objects (a login as an object, as a string)
 * make the shared functions polymorphic for all of them, which moves the arms' costs towards each
 * other. So each arm runs in `replicas` child processes (`node <file> arm <name>`, answering with
 * {@link serveArm}), all alive at once, and the parent asks them for one block at a time, in
 * turns: neighbouring blocks still see the same machine, and no arm's code is shaped by another's
 * data. Several processes per arm, because one process's JIT and heap layout can make it a percent
 * or two faster or slower than the next one running the same code.
 *
 * Returns, per arm name, the CPU µs per request of every block of every replica (`perRequest[r][b]`)
 * and what each replica reported at the end.
 */
export async function runArms(
  file,
  names,
  { blocks, maxSeconds, n, label, replicas = 1, execArgv = process.execArgv },
) {
  const { fork } = await import('node:child_process');
  const deadline = Date.now() + maxSeconds * 1000;
  const procs = names.flatMap((name) =>
    Array.from({ length: replicas }, (_, r) => {
      const child = fork(file, ['arm', name], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
      const replies = [];
      let waiting;
      child.on('message', (m) => {
        if (waiting) {
          const w = waiting;
          waiting = undefined;
          w(m);
        } else replies.push(m);
      });
      const ask = (message) =>
        new Promise((resolve, reject) => {
          const take = (m) => (m.error ? reject(new Error(`${name}: ${m.error}`)) : resolve(m));
          if (replies.length) take(replies.shift());
          else waiting = take;
          if (message) child.send(message);
        });
      return { name, replica: r, child, ask, perRequest: [] };
    }),
  );
  try {
    // Each process says it is ready once its app is built and warmed up.
    await Promise.all(procs.map((p) => p.ask()));
    let b = 0;
    for (; b < blocks && Date.now() < deadline; b++) {
      // Rotate the order each block so that no process always runs first.
      for (let i = 0; i < procs.length; i++) {
        const p = procs[(i + b) % procs.length];
        p.perRequest.push((await p.ask({ block: n })).us);
      }
      if ((b + 1) % 100 === 0) console.error(`${label}: block ${b + 1}/${blocks}`);
    }
    const arms = {};
    for (const p of procs) {
      const arm = (arms[p.name] ??= { perRequest: [], stats: [] });
      arm.perRequest.push(p.perRequest);
      arm.stats.push((await p.ask({ stats: true })).stats);
    }
    return { blocks: b, replicas, arms };
  } finally {
    // Asked to exit, not killed: a process run with --cpu-prof writes its profile on exit.
    await Promise.all(
      procs.map(
        (p) =>
          new Promise((resolve) => {
            if (p.child.exitCode !== null) return resolve();
            const timer = setTimeout(() => p.child.kill(), 10_000);
            p.child.once('exit', () => (clearTimeout(timer), resolve()));
            p.child.send({ exit: true }, (err) => err && p.child.kill());
          }),
      ),
    );
  }
}

/**
 * Each process's level: the median over blocks of its cost ÷ the machine's in that block (the
 * median of every given process's block). Dividing out the block takes away what the machine did
 * meanwhile (all processes' neighbouring blocks see it); the median takes away a block that held a
 * garbage collection. Levels near 1.0; one per process.
 */
export function processLevels(groups) {
  const procs = groups.flat();
  const blocks = Math.min(...procs.map((p) => p.length));
  const machine = Array.from({ length: blocks }, (_, i) => median(procs.map((p) => p[i])));
  return groups.map((group) => group.map((p) => median(machine.map((m, i) => p[i] / m))));
}

const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;

/**
 * The ratio of two replicated arms (`a[r][b]`, `b[r][b]`): the mean level (see processLevels) of
 * a's processes ÷ b's, with a bootstrap 95% interval that resamples the processes of each arm
 * (2,000 resamples, seeded): the interval is as wide as processes running the same code differ.
 * Also each of a's processes ÷ b's mean level.
 */
export function replicatedRatio(a, b) {
  const [la, lb] = processLevels([a, b]);
  let seed = 42;
  const rand = (k) => Math.floor(((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * k);
  const boots = [];
  for (let r = 0; r < 2000; r++)
    boots.push(mean(la.map(() => la[rand(la.length)])) / mean(lb.map(() => lb[rand(lb.length)])));
  boots.sort((x, y) => x - y);
  return {
    median: mean(la) / mean(lb),
    low: boots[Math.floor(0.025 * boots.length)],
    high: boots[Math.floor(0.975 * boots.length)],
    perProcess: la.map((x) => x / mean(lb)),
  };
}

/** An arm's typical CPU µs per request: the median over blocks of its processes' mean. */
export function replicaMedian(perRequest) {
  const blocks = Math.min(...perRequest.map((p) => p.length));
  return median(Array.from({ length: blocks }, (_, i) => mean(perRequest.map((p) => p[i]))));
}

/**
 * The child side of {@link runArms}: `setup()` builds and warms the arm and returns
 * `{ block(n) → CPU µs per request, stats() → object }`.
 */
export async function serveArm(setup) {
  try {
    // The parent gone (killed at its timeout): nothing left to answer.
    process.on('disconnect', () => process.exit(0));
    const arm = await setup();
    process.on('message', async (m) => {
      try {
        if (m.block) process.send({ us: await arm.block(m.block) });
        else if (m.stats) process.send({ stats: arm.stats?.() ?? {} });
        else if (m.exit) process.exit(0);
      } catch (err) {
        process.send({ error: String(err?.stack ?? err) });
      }
    });
    process.send({ ready: true });
  } catch (err) {
    process.send({ error: String(err?.stack ?? err) });
  }
}
