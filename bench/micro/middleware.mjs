/* global console, process */
/**
 * The authenticated-request hot path of express-oidc-login alone, in process, without HTTP or
 * express-session: `oidcLogin()`'s middleware then `requireAuth()`, on a request whose session
 * already holds a login, against the hand-written check of the floor. Precise where the HTTP
 * benchmark cannot be (its trials vary by more than this whole path costs). Ours reads the login
 * as it stores it, one JSON string, so its figure includes parsing that string; see stack.mjs
 * for what that storage saves express-session.
 *
 *   npm run build && node bench/micro/middleware.mjs
 */
import session from 'express-session';
import { oidcLogin, requireAuth } from '../../dist/index.js';

const N = Number(process.env.BENCH_MICRO_N ?? 1_000_000);
const store = new session.MemoryStore();
const now = Date.now();
const login = {
  idToken: 'x'.repeat(900),
  accessToken: 'y'.repeat(43),
  tokenType: 'bearer',
  claims: {
    iss: 'https://idp.example.com',
    sub: 'u1',
    aud: 'bench-client',
    exp: 2e9,
    iat: now / 1000,
    name: 'Bench User',
    email: 'u1@bench.example',
  },
  loggedInAt: now,
  activeAt: now,
  expiresAt: Math.floor(now / 1000) + 3600,
  scope: 'openid profile email',
};

const middleware = oidcLogin({
  issuer: 'https://idp.example.com',
  clientId: 'bench-client',
  clientSecret: 'bench-client-secret-0123456789abcdef',
  baseUrl: 'https://app.example.com',
});
const guard = requireAuth();

/** The login as ours stores it (one JSON string, lib/session/stored-login.ts); the hand-written check's is an object. */
const packed = JSON.stringify(login);

function request(stored = login, sessionID = 'abc') {
  return {
    method: 'GET',
    url: '/api/me',
    originalUrl: '/api/me',
    headers: { accept: 'application/json' },
    session: { cookie: { secure: true, httpOnly: true }, oidc: { login: stored }, save() {}, regenerate() {} },
    sessionID,
    sessionStore: store,
  };
}
const res = { statusCode: 200, setHeader() {}, end() {} };

let passed = 0;
/** Keeps each request object alive, so that V8 cannot optimise the allocation away. */
let sink;
const next = (err) => {
  if (err) throw err;
  passed++;
};

function ours() {
  const req = request(packed);
  middleware(req, res, () => guard(req, res, next));
  return req;
}

/** 600 sessions in turn, more than ours keeps parsed logins of (500): every request parses its login. */
const ids = Array.from({ length: 600 }, (_, i) => `session-${i}`);
let turn = 0;
function oursParsing() {
  const req = request(packed, ids[turn++ % ids.length]);
  middleware(req, res, () => guard(req, res, next));
  return req;
}

function handWritten() {
  const req = request();
  if (req.session.oidc?.login) next();
  return req;
}

function measure(name, fn) {
  for (let i = 0; i < 100_000; i++) fn();
  passed = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) sink = fn();
  const ns = Number(process.hrtime.bigint() - t0) / N;
  const c = process.cpuUsage(c0);
  if (passed !== N || !sink) throw new Error(`${name}: ${passed} of ${N} passed`);
  console.log(
    `${name.padEnd(44)} ${ns.toFixed(0).padStart(5)} ns/request wall, ${(((c.user + c.system) * 1000) / N).toFixed(0).padStart(5)} ns CPU`,
  );
  return ns;
}

const results = [];
for (let round = 0; round < 3; round++) {
  results.push([
    measure('hand-written check (request object included)', handWritten),
    measure('oidcLogin() + requireAuth()', ours),
    measure('the same, 600 sessions in turn (login parsed)', oursParsing),
  ]);
}
const med = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const added = med(results.map(([a, b]) => b - a));
const parsing = med(results.map(([a, , c]) => c - a));
console.log(
  `express-oidc-login adds ≈ ${added.toFixed(0)} ns (${(added / 1000).toFixed(2)} µs) per authenticated request (median of 3), ≈ ${(parsing / 1000).toFixed(2)} µs when it parses the login.`,
);
