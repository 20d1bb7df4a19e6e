/* global console, process */
/**
 * The authenticated request over real HTTP, paired: the arms of stack.mjs served by node:http in
 * this process, one keep-alive connection from a client in a child process sending blocks of
 * sequential requests to one arm at a time. This process's CPU time over a block is then that
 * arm's (the client's is not in it), and neighbouring blocks of the arms see the same machine.
 * Where stack.mjs leaves out sockets and Node's HTTP parser, this keeps them, so it says what the
 * same difference is worth in a real server; where wrk's rounds span ±40%, this gives an interval.
 *
 * Arms: floor (the hand-written check in the route, the login stored as an object), ours
 * (`app.use(oidcLogin())` + `requireAuth()`, the login stored as ours stores it), inside (the same
 * with express-session given as `oidcLogin({ session })`: one `app.use()` for both), and layer (the
 * floor with one empty `app.use()` layer: what being mounted costs).
 *
 *   npm run build && node bench/micro/http-pair.mjs      (about 40 s)
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import express from 'express';
import session from 'express-session';
import signature from 'cookie-signature';
import { oidcLogin, requireAuth } from '../../dist/index.js';
import { benchLogin, median, pairedRatio } from '../lib/paired.mjs';

if (process.argv[2] === 'client') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (port, cookie) =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/api/me', agent, headers: { cookie, accept: 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        })
        .on('error', reject);
    });
  process.on('message', async ({ port, cookie, n }) => {
    try {
      for (let i = 0; i < n; i++) await get(port, cookie);
      process.send({ ok: true });
    } catch (err) {
      process.send({ ok: false, error: String(err) });
    }
  });
} else {
  const BLOCKS = Number(process.env.BENCH_HTTP_PAIR_BLOCKS ?? 1200);
  const N = Number(process.env.BENCH_HTTP_PAIR_N ?? 20);
  const DEADLINE = Date.now() + Number(process.env.BENCH_HTTP_PAIR_MAX_SECONDS ?? 180) * 1000;
  const SECRET = 'bench-session-secret-0123456789abcdef0123456789';
  const ISSUER = 'https://idp.example.com';
  const now = Date.now();

  async function build(kind) {
    const store = new session.MemoryStore();
    const app = express();
    app.disable('x-powered-by');
    const sessionMiddleware = session({ secret: SECRET, resave: false, saveUninitialized: false, store, cookie: { httpOnly: true, sameSite: 'lax', secure: false, maxAge: 86_400_000 } });
    if (kind !== 'inside') app.use(sessionMiddleware);
    if (kind === 'ours' || kind === 'inside') {
      const options = { issuer: ISSUER, clientId: 'bench-client', clientSecret: 'bench-client-secret-0123456789abcdef', baseUrl: 'http://127.0.0.1:3000', logger: false };
      app.use(oidcLogin(kind === 'inside' ? { ...options, session: sessionMiddleware } : options));
      app.get('/api/me', requireAuth(), (req, res) => {
        res.json({ sub: req.oidc.claims.sub });
      });
    } else {
      if (kind === 'layer') app.use((_req, _res, next) => next());
      app.get('/api/me', (req, res) => {
        const login = req.session.oidc?.login;
        if (!login) {
          res.status(401).json({ error: 'unauthenticated' });
          return;
        }
        res.json({ sub: login.claims.sub });
      });
    }
    const sid = `sid-${kind}-0123456789abcdef012345`;
    const login = kind === 'ours' || kind === 'inside' ? JSON.stringify(benchLogin(ISSUER, 'u1')) : benchLogin(ISSUER, 'u1');
    store.set(sid, { cookie: { originalMaxAge: 86_400_000, expires: new Date(now + 86_400_000), httpOnly: true, path: '/', sameSite: 'lax', secure: false }, oidc: { login } }, () => {});
    const server = http.createServer(app);
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { name: kind, server, port: server.address().port, cookie: `connect.sid=${encodeURIComponent(`s:${signature.sign(sid, SECRET)}`)}`, perRequest: [] };
  }

  const arms = [await build('floor'), await build('ours'), await build('inside'), await build('layer')];
  const client = fork(fileURLToPath(import.meta.url), ['client']);
  const send = (arm, n) =>
    new Promise((resolve, reject) => {
      client.once('message', (m) => (m.ok ? resolve() : reject(new Error(`${arm.name}: ${m.error}`))));
      client.send({ port: arm.port, cookie: arm.cookie, n });
    });

  for (const arm of arms) await send(arm, 3000);
  let b = 0;
  for (; b < BLOCKS && Date.now() < DEADLINE; b++) {
    const order = arms.map((_, i) => arms[(i + b) % arms.length]);
    for (const arm of order) {
      const c0 = process.cpuUsage();
      await send(arm, N);
      const c = process.cpuUsage(c0);
      arm.perRequest.push((c.user + c.system) / N);
    }
    if ((b + 1) % 100 === 0) console.error(`http-pair: block ${b + 1}/${BLOCKS}`);
  }
  client.kill();
  for (const arm of arms) arm.server.close();

  const [floor, ours, inside, layer] = arms;
  console.log(`${b} blocks of ${N} requests per arm over HTTP (one keep-alive connection), order rotated; CPU µs per request (median over blocks):`);
  for (const arm of arms) console.log(`  ${arm.name.padEnd(6)} ${median(arm.perRequest).toFixed(2).padStart(7)} µs`);
  for (const [label, x, y] of [
    ['ours ÷ floor', ours, floor],
    ['ours, session option ÷ floor', inside, floor],
    ['ours, session option ÷ ours', inside, ours],
    ['floor+1 empty layer ÷ floor', layer, floor],
    ['ours ÷ floor+1 empty layer', ours, layer],
  ]) {
    const r = pairedRatio(x.perRequest, y.perRequest);
    console.log(`${label.padEnd(30)} ${r.median.toFixed(4)}× (95% CI ${r.low.toFixed(4)}–${r.high.toFixed(4)})`);
  }
  console.log(
    `over HTTP: ours ÷ floor ${pairedRatio(ours.perRequest, floor.perRequest).median.toFixed(4)}×, with the session option ${pairedRatio(inside.perRequest, floor.perRequest).median.toFixed(4)}×, ` +
      `ours ÷ floor with one empty layer ${pairedRatio(ours.perRequest, layer.perRequest).median.toFixed(4)}×.`,
  );
  process.exit(0);
}
