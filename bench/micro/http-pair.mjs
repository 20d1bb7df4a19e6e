/* global console, process, URL */
/**
 * The authenticated request over real HTTP, paired: each arm is an app served by node:http in a
 * process of its own, with a client process of its own sending blocks of sequential requests over
 * one keep-alive connection. The parent asks one arm at a time for a block, in turns; the arm's
 * CPU time over the block is its server's alone (the client's is not in it), and neighbouring
 * blocks of the arms see the same machine. Four processes per arm: processes running the same code
 * differ by about 1% (their JIT and heap layout), and the interval takes that in. Where stack.mjs leaves out sockets and Node's HTTP
 * parser, this keeps them, so it says what the difference is worth in a real server; where wrk's
 * rounds span ±40%, this gives an interval.
 *
 * Arms: floor (the hand-written check in the route, the login stored as an object), ours
 * (`app.use(oidcLogin())` + `requireAuth()`, the login stored as ours stores it), inside (the same
 * with express-session given as `oidcLogin({ session })`: one `app.use()` for both), layer (the
 * floor with one empty `app.use()` layer: what being mounted costs), slim (the floor holding ours'
 * string) and lookup (one layer that only finds the login by ours' string, kept per session, and a
 * route guard: what any middleware on ours' stored form costs at least, without ours' checks).
 *
 * Until 2026-12-02 the arms shared one process; that made the floor as slow as ours (see
 * runArms() in ../lib/paired.mjs): ours ÷ floor read ≈ 1.00 there, and reads higher apart.
 *
 *   npm run build && node bench/micro/http-pair.mjs      (about 130 s)
 *   BENCH_HTTP_PAIR_CONCURRENCY=8 BENCH_HTTP_PAIR_N=80 BENCH_HTTP_PAIR_BLOCKS=150 node bench/micro/http-pair.mjs   (8 requests in flight: a busy server)
 *   BENCH_HTTP_PAIR_ARMS=floor,ours node --cpu-prof bench/micro/http-pair.mjs   (each arm profiled: the flag is passed on)
 *
 * With BENCH_REDIS_URL (a running redis-server: bench/run.mjs's `redis` phase starts one) every
 * arm's store is connect-redis (bench/lib/redis.mjs: prefix `sess:`, its default settings) on a
 * node-redis client of its own instead of a MemoryStore: each request is then express-session's
 * GET and its touch (EXPIRE), two round trips, and ours finds its coordinator in that client (it
 * makes no call on this path). Each arm also reads redis-server's CPU (INFO cpu) around its
 * blocks, outside the timed part: the server's CPU per request beside the app's.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import express from 'express';
import session from 'express-session';
import signature from 'cookie-signature';
import { oidcLogin, requireAuth } from '../../dist/index.js';
import { packLogin } from '../../dist/session/stored-login.js';
import { benchLogin, median, replicaMedian, replicatedRatio, runArms, serveArm } from '../lib/paired.mjs';
import { newRedisStore, redisConnection, redisCpuSeconds } from '../lib/redis.mjs';

const REDIS_URL = process.env.BENCH_REDIS_URL;

if (process.argv[2] === 'client') {
  // Requests in flight at once, each on a keep-alive connection of its own: 1 leaves the server
  // idle between two requests (its caches go cold while the client works), more keep it busy.
  const CONCURRENCY = Number(process.env.BENCH_HTTP_PAIR_CONCURRENCY ?? 1);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const get = (port, cookie) =>
    new Promise((resolve, reject) => {
      http
        .get(
          { host: '127.0.0.1', port, path: '/api/me', agent, headers: { cookie, accept: 'application/json' } },
          (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
          },
        )
        .on('error', reject);
    });
  process.on('disconnect', () => process.exit(0));
  process.on('message', async ({ port, cookie, n }) => {
    try {
      let left = n;
      const worker = async () => {
        while (left > 0) {
          left--;
          await get(port, cookie);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      process.send({ ok: true });
    } catch (err) {
      process.send({ ok: false, error: String(err) });
    }
  });
} else {
  const SECRET = 'bench-session-secret-0123456789abcdef0123456789';
  const ISSUER = 'https://idp.example.com';

  /** The arm's app, listening on a loopback port, with one logged-in session; returns its port and cookie. */
  async function build(kind) {
    const now = Date.now();
    const store = REDIS_URL ? await newRedisStore(REDIS_URL) : new session.MemoryStore();
    const app = express();
    app.disable('x-powered-by');
    const sessionMiddleware = session({
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      store,
      cookie: { httpOnly: true, sameSite: 'lax', secure: false, maxAge: 86_400_000 },
    });
    if (kind !== 'inside') app.use(sessionMiddleware);
    if (kind === 'ours' || kind === 'inside') {
      const options = {
        issuer: ISSUER,
        clientId: 'bench-client',
        clientSecret: 'bench-client-secret-0123456789abcdef',
        baseUrl: 'http://127.0.0.1:3000',
        logger: false,
      };
      app.use(oidcLogin(kind === 'inside' ? { ...options, session: sessionMiddleware } : options));
      app.get('/api/me', requireAuth(), (req, res) => {
        res.json({ sub: req.oidc.claims.sub });
      });
    } else if (kind === 'lookup') {
      // What any login middleware on ours' stored form costs at least: one layer that finds the
      // session's login by its string (parsed once per session, as ours keeps it) and a route
      // guard, with none of ours' checks (lifetime, logouts, provider, routes) and no req.oidc API.
      const kept = new Map();
      app.use((req, _res, next) => {
        const stored = req.session?.oidc?.login;
        let login;
        if (typeof stored === 'string') {
          let k = kept.get(req.sessionID);
          if (k === undefined || k.json !== stored)
            kept.set(req.sessionID, (k = { json: stored, login: JSON.parse(stored) }));
          login = k.login;
        }
        req.login = login;
        next();
      });
      app.get(
        '/api/me',
        (req, res, next) => (req.login ? next() : res.status(401).json({ error: 'unauthenticated' })),
        (_req, res) => {
          // The claims are the ID token's (stored as "claims":"idToken"): its one user's sub.
          res.json({ sub: 'u1' });
        },
      );
    } else {
      if (kind === 'layer') app.use((_req, _res, next) => next());
      app.get('/api/me', (req, res) => {
        const stored = req.session.oidc?.login;
        const login = kind === 'slim' ? stored && JSON.parse(stored) : stored;
        if (!login) {
          res.status(401).json({ error: 'unauthenticated' });
          return;
        }
        // "slim" holds ours' string (no claims): it answers its one user's sub without reading the
        // ID token, so that it costs the floor's work on ours' bytes and nothing more.
        res.json({ sub: kind === 'slim' ? 'u1' : login.claims.sub });
      });
    }
    // Each process its own session (the arms' processes may share one Redis).
    const sid = `sid-${kind}-${process.pid}-0123456789abcdef012345`;
    // Ours: the login as ours stores it (one string, without the claims: lib/session/stored-login.ts); the
    // floor's: the same login as an object, as a hand-written app keeps it.
    const login =
      kind === 'ours' || kind === 'inside' || kind === 'slim' || kind === 'lookup'
        ? packLogin(benchLogin(ISSUER, 'u1'))
        : benchLogin(ISSUER, 'u1');
    await new Promise((resolve, reject) =>
      store.set(
        sid,
        {
          cookie: {
            originalMaxAge: 86_400_000,
            expires: new Date(now + 86_400_000),
            httpOnly: true,
            path: '/',
            sameSite: 'lax',
            secure: false,
          },
          oidc: { login },
        },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    const server = http.createServer(app);
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: server.address().port,
      cookie: `connect.sid=${encodeURIComponent(`s:${signature.sign(sid, SECRET)}`)}`,
    };
  }

  if (process.argv[2] === 'arm') {
    const kind = process.argv[3];
    await serveArm(async () => {
      const { port, cookie } = await build(kind);
      // The client gets no profiler or other flags of this process.
      const client = fork(fileURLToPath(import.meta.url), ['client'], { execArgv: [] });
      process.on('exit', () => client.kill());
      const send = (n) =>
        new Promise((resolve, reject) => {
          client.once('message', (m) => (m.ok ? resolve() : reject(new Error(`${kind}: ${m.error}`))));
          client.send({ port, cookie, n });
        });
      // Warm-up: the arm's code paths optimised before anything counts.
      await send(3000);
      // Redis's CPU per request over this arm's blocks (the parent runs one block at a time).
      const redis = REDIS_URL && (await redisConnection(Number(new URL(REDIS_URL).port)));
      const redisUs = [];
      return {
        async block(n) {
          const r0 = redis && (await redisCpuSeconds(redis));
          const c0 = process.cpuUsage();
          await send(n);
          const c = process.cpuUsage(c0);
          if (redis) redisUs.push((((await redisCpuSeconds(redis)) - r0) * 1e6) / n);
          return (c.user + c.system) / n;
        },
        stats: () => (redis ? { redisUsPerRequest: median(redisUs) } : {}),
      };
    });
  } else {
    const CONCURRENCY = Number(process.env.BENCH_HTTP_PAIR_CONCURRENCY ?? 1);
    const BLOCKS = Number(process.env.BENCH_HTTP_PAIR_BLOCKS ?? 400);
    const N = Number(process.env.BENCH_HTTP_PAIR_N ?? 20);
    const REPLICAS = Number(process.env.BENCH_HTTP_PAIR_REPLICAS ?? 4);
    const names = (process.env.BENCH_HTTP_PAIR_ARMS ?? 'floor,ours,inside,layer').split(',');
    const result = await runArms(fileURLToPath(import.meta.url), names, {
      blocks: BLOCKS,
      n: N,
      replicas: REPLICAS,
      maxSeconds: Number(process.env.BENCH_HTTP_PAIR_MAX_SECONDS ?? 200),
      label: 'http-pair',
    });
    const arm = (name) => result.arms[name]?.perRequest;
    console.log(
      `${result.blocks} blocks of ${N} requests per process over HTTP (${CONCURRENCY} in flight, each on its own keep-alive connection), ${REPLICAS} processes per arm (each with its own client process), ` +
        `${REDIS_URL ? 'connect-redis as the store, ' : ''}order rotated; CPU µs per request (median over blocks of the mean over an arm's processes):`,
    );
    for (const name of names) {
      const redisUs = result.arms[name]?.stats.map((s) => s.redisUsPerRequest).filter(Number.isFinite) ?? [];
      const beside = redisUs.length ? `   (redis-server: ${median(redisUs).toFixed(2)} µs)` : '';
      console.log(`  ${name.padEnd(6)} ${replicaMedian(arm(name)).toFixed(2).padStart(7)} µs${beside}`);
    }
    const ratios = {};
    for (const [label, x, y] of [
      ['ours ÷ floor', 'ours', 'floor'],
      ['ours, session option ÷ floor', 'inside', 'floor'],
      ['ours, session option ÷ ours', 'inside', 'ours'],
      ['floor+1 empty layer ÷ floor', 'layer', 'floor'],
      ['ours ÷ floor+1 empty layer', 'ours', 'layer'],
      ["floor, ours' string ÷ floor", 'slim', 'floor'],
      ["ours ÷ floor with ours' string", 'ours', 'slim'],
      ['lookup only ÷ floor', 'lookup', 'floor'],
      ['ours ÷ lookup only', 'ours', 'lookup'],
    ]) {
      if (!arm(x) || !arm(y)) continue;
      const r = (ratios[label] = replicatedRatio(arm(x), arm(y)));
      console.log(
        `${label.padEnd(30)} ${r.median.toFixed(4)}× (95% CI ${r.low.toFixed(4)}–${r.high.toFixed(4)}; each process: ${r.perProcess.map((v) => v.toFixed(3)).join(', ')})`,
      );
    }
    if (ratios['ours ÷ floor']) {
      const last = [
        `over HTTP${REDIS_URL ? ' with connect-redis' : ''}: ours ÷ floor ${ratios['ours ÷ floor'].median.toFixed(4)}×`,
      ];
      if (ratios['ours, session option ÷ floor'])
        last.push(`with the session option ${ratios['ours, session option ÷ floor'].median.toFixed(4)}×`);
      console.log(`${last.join(', ')}.`);
    }
    process.exit(0);
  }
}
