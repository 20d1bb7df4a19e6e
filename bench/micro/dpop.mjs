/* global console, process, performance, URL, Headers */
/**
 * What DPoP adds in CPU, in process: per login (the key pair, its JWK and thumbprint, the
 * openid-client handle and its proof at the token request) and per `req.oidc.fetch()` (a Bearer
 * login's fetch against a DPoP login's, to the same loopback server). Not part of `npm run bench`.
 *
 *   npm run build && node bench/micro/dpop.mjs
 */
import { createServer } from 'node:http';
import session from 'express-session';
import * as client from 'openid-client';
import { oidcLogin } from '../../dist/index.js';
import { DPoPKeys } from '../../dist/flow/dpop.js';

const N = Number(process.env.BENCH_DPOP_N ?? 2000);

/** CPU (user + system) and wall time per call of `fn`, after a warm-up, calls in sequence. */
async function measure(name, fn, n = N) {
  for (let i = 0; i < Math.min(200, n); i++) await fn(i);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  const c = process.cpuUsage(c0);
  const t = performance.now() - t0;
  const cpu = (c.user + c.system) / n;
  console.log(
    `${name.padEnd(58)} ${cpu.toFixed(0).padStart(6)} µs CPU ${((t * 1000) / n).toFixed(0).padStart(6)} µs wall`,
  );
  return cpu;
}

const configuration = new client.Configuration(
  { issuer: 'https://idp.example.com', token_endpoint: 'https://idp.example.com/token' },
  'bench-client',
  'bench-client-secret-0123456789abcdef',
);
const tokenEndpoint = new URL('https://idp.example.com/token');

// 1. Per login: at the callback, before the token request.
// (No RSA: the dpop option refuses it, as an RSA key pair per login costs ~170 ms of CPU.)
for (const alg of ['ES256', 'ES384', 'EdDSA']) {
  await measure(`login, ${alg}: key pair + JWK + jkt + handle + token proof`, async () => {
    const { key } = await new DPoPKeys().create(alg);
    const handle = await key.handle(configuration);
    // openid-client's (oauth4webapi's) own proof, as authorizationCodeGrant() makes it.
    await handle.addProof(tokenEndpoint, new Headers(), 'POST');
  });
}

// 2. A login's key on another instance (read from the session store): the first use imports it.
const { stored } = await new DPoPKeys().create('ES256');
await measure('first use on another instance: import for openid-client + proof', async () => {
  const handle = await new DPoPKeys().of(stored).handle(configuration);
  await handle.addProof(tokenEndpoint, new Headers(), 'POST');
});
await measure('first use on another instance: import for req.oidc.fetch + proof', () => {
  new DPoPKeys().of(stored).proof('GET', new URL('https://api.example.com/orders'), 'y'.repeat(43));
});
const cached = new DPoPKeys().of(stored);
await measure('req.oidc.fetch proof alone (key imported)', () => {
  cached.proof('GET', new URL('https://api.example.com/orders?x=1'), 'y'.repeat(43));
});

// 3. Per req.oidc.fetch(), end to end: the same request as a Bearer login and as a DPoP login.
const server = createServer((req, res) => {
  res.end('ok');
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const api = `http://127.0.0.1:${server.address().port}/orders`;
const middleware = oidcLogin({
  issuer: 'https://idp.example.com',
  clientId: 'bench-client',
  clientSecret: 'bench-client-secret-0123456789abcdef',
  baseUrl: 'https://app.example.com',
  logger: false,
});
const now = Date.now();
const login = {
  idToken: 'x'.repeat(900),
  accessToken: 'y'.repeat(43),
  tokenType: 'bearer',
  claims: { iss: 'https://idp.example.com', sub: 'u1', aud: 'bench-client', exp: 2e9, iat: now / 1000 },
  loggedInAt: now,
  activeAt: now,
  expiresAt: Math.floor(now / 1000) + 3600,
};
function requestWith(stored) {
  const req = { method: 'GET', url: '/api', headers: {}, sessionID: 's1', sessionStore: new session.MemoryStore() };
  req.session = {
    oidc: { login: stored },
    cookie: {},
    save: (cb) => cb(),
    regenerate: (cb) => cb(),
    destroy: (cb) => cb(),
  };
  middleware(req, {}, () => {});
  return req;
}
const bearer = requestWith(login);
const dpop = requestWith({ ...login, tokenType: 'dpop', dpop: stored });
const call = async (req) => {
  const r = await req.oidc.fetch(api);
  await r.text();
};
const rounds = [];
for (let round = 0; round < 3; round++) {
  const b = await measure('req.oidc.fetch(), Bearer login (loopback server included)', () => call(bearer));
  const d = await measure('req.oidc.fetch(), DPoP login (loopback server included)', () => call(dpop));
  rounds.push(d - b);
}
server.close();
rounds.sort((a, b) => a - b);
console.log(`DPoP adds ≈ ${rounds[1].toFixed(0)} µs CPU per req.oidc.fetch() (median of 3 rounds).`);
