/* global process, Buffer, URL, URLSearchParams */
/**
 * A fast OpenID Provider for the benchmark, in its own process (started by bench/run.mjs with
 * child_process.fork). node:http + jose, no login page: `/authorize` redirects at once with a code.
 * Adapted from test/support/hostile-provider.ts (copied, not imported: the test files change).
 *
 * - discovery, JWKS (one RS256 key), `/authorize` (code flow, loopback `/callback` redirect URIs
 *   only), `/token` (client_secret_basic or client_secret_post, PKCE S256 checked whenever the
 *   authorization request carried a challenge, `redirect_uri` checked, a code is good once).
 * - Each issued ID token is RS256-signed, with a new `sub` per authorization (`u<counter>`), so that
 *   10,000 logins are 10,000 users, as they would be in production.
 * - `refresh_token` grant: a refresh token only when the authorization asked for `offline_access`
 *   (the benchmark's phases do not; only the Redis round-trip count does), rotated on every use (the
 *   old one is refused afterwards), answered with a new access token, refresh token and ID token.
 * - Reports readiness and its own CPU over IPC (`{ cmd: 'stats' }`).
 */
import { createHash, KeyObject, randomBytes, sign } from 'node:crypto';
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';

const CLIENT_ID = process.env.BENCH_CLIENT_ID ?? 'bench-client';
const CLIENT_SECRET = process.env.BENCH_CLIENT_SECRET ?? 'bench-client-secret-0123456789abcdef';
/** Codes not redeemed within this time are dropped (bounded memory). */
const CODE_TTL_MS = 60_000;
/** Refresh tokens not used within this time are dropped (bounded memory). */
const REFRESH_TTL_MS = 10 * 60_000;

const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
const kid = `bench-${randomBytes(4).toString('hex')}`;
/** node:crypto's synchronous RSA signing: cheaper than WebCrypto's, so the provider stays fast. */
const signingKey = KeyObject.from(privateKey);
const jwsHeader = Buffer.from(JSON.stringify({ alg: 'RS256', kid, typ: 'JWT' })).toString('base64url');

/** A compact RS256 JWS of `claims`. */
function signJwt(claims) {
  const input = `${jwsHeader}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${input}.${sign('sha256', Buffer.from(input), signingKey).toString('base64url')}`;
}
const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] });

/** code -> { redirectUri, nonce, challenge, method, clientId, createdAt } */
const codes = new Map();
/** refresh token -> { sub, n, scope, createdAt }; one use each (rotation). */
const refreshTokens = new Map();
let userCounter = 0;
const counts = {
  discovery: 0,
  jwks: 0,
  authorize: 0,
  token: 0,
  refresh: 0,
  tokenErrors: 0,
  pkce: 0,
  nonce: 0,
  state: 0,
};

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    process.stderr.write(`provider bug: ${err?.stack ?? err}\n`);
    if (!res.headersSent) send(res, 500, 'provider bug');
  });
});
server.keepAliveTimeout = 30_000;
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const metadata = JSON.stringify({
  issuer,
  authorization_endpoint: `${issuer}/authorize`,
  token_endpoint: `${issuer}/token`,
  jwks_uri: `${issuer}/jwks`,
  response_types_supported: ['code'],
  response_modes_supported: ['query'],
  grant_types_supported: ['authorization_code', 'refresh_token'],
  subject_types_supported: ['public'],
  scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
  id_token_signing_alg_values_supported: ['RS256'],
  token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
  code_challenge_methods_supported: ['S256'],
  claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'name', 'email', 'email_verified'],
  authorization_response_iss_parameter_supported: true,
});

function send(res, status, body, headers = {}) {
  const json = typeof body !== 'string';
  const text = json ? JSON.stringify(body) : body;
  res.writeHead(status, {
    'content-type': json ? 'application/json' : 'text/plain',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 64 * 1024) reject(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Loopback `/callback` redirect URIs only: the benchmark's apps listen on random ports. */
function isAllowedRedirect(uri) {
  try {
    const u = new URL(uri);
    return (
      u.protocol === 'http:' &&
      u.hostname === '127.0.0.1' &&
      u.pathname === '/callback' &&
      u.search === '' &&
      u.hash === ''
    );
  } catch {
    return false;
  }
}

function clientCredentials(req, body) {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? '');
  if (m) {
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) return undefined;
    const dec = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { id: dec(decoded.slice(0, colon)), secret: dec(decoded.slice(colon + 1)) };
  }
  if (body.has('client_id') && body.has('client_secret'))
    return { id: body.get('client_id'), secret: body.get('client_secret') };
  return undefined;
}

async function handle(req, res) {
  const q = req.url.indexOf('?');
  const path = q === -1 ? req.url : req.url.slice(0, q);
  if (req.method === 'GET' && path === '/.well-known/openid-configuration') {
    counts.discovery++;
    send(res, 200, metadata, { 'content-type': 'application/json' });
    return;
  }
  if (req.method === 'GET' && path === '/jwks') {
    counts.jwks++;
    send(res, 200, jwks, { 'content-type': 'application/jwk-set+json' });
    return;
  }
  if (req.method === 'GET' && path === '/authorize') {
    authorize(new URLSearchParams(q === -1 ? '' : req.url.slice(q + 1)), res);
    return;
  }
  if (req.method === 'POST' && path === '/token') {
    await token(req, res);
    return;
  }
  send(res, 404, 'not found');
}

function authorize(params, res) {
  counts.authorize++;
  const redirectUri = params.get('redirect_uri');
  if (params.get('client_id') !== CLIENT_ID || !redirectUri || !isAllowedRedirect(redirectUri)) {
    send(res, 400, 'invalid client_id or redirect_uri');
    return;
  }
  if (params.get('response_type') !== 'code') {
    send(res, 400, 'response_type must be code');
    return;
  }
  const challenge = params.get('code_challenge');
  const method = params.get('code_challenge_method');
  if (challenge) counts.pkce++;
  if (params.get('nonce')) counts.nonce++;
  if (params.get('state')) counts.state++;
  const code = randomBytes(16).toString('base64url');
  const now = Date.now();
  const scope = params.get('scope') ?? '';
  codes.set(code, { redirectUri, nonce: params.get('nonce'), challenge, method, scope, createdAt: now });
  // Bounded: drop codes nobody redeemed (oldest first, Map insertion order).
  dropOlderThan(codes, CODE_TTL_MS, now);
  const back = new URL(redirectUri);
  back.searchParams.set('code', code);
  const state = params.get('state');
  if (state !== null) back.searchParams.set('state', state);
  back.searchParams.set('iss', issuer);
  res.writeHead(302, { location: back.href, 'cache-control': 'no-store', 'content-length': 0 });
  res.end();
}

/** Drops the entries of `map` older than `ttlMs` (oldest first: Map insertion order). */
function dropOlderThan(map, ttlMs, now) {
  for (const [key, rec] of map) {
    if (now - rec.createdAt < ttlMs) break;
    map.delete(key);
  }
}

function oauthError(res, status, error, description, headers) {
  counts.tokenErrors++;
  send(res, status, { error, error_description: description }, headers);
}

async function token(req, res) {
  counts.token++;
  const body = new URLSearchParams(await readBody(req));
  const client = clientCredentials(req, body);
  if (!client || client.id !== CLIENT_ID || client.secret !== CLIENT_SECRET) {
    oauthError(res, 401, 'invalid_client', 'client authentication failed', {
      'www-authenticate': 'Basic realm="bench"',
    });
    return;
  }
  if (body.get('grant_type') === 'refresh_token') {
    refreshGrant(body, res);
    return;
  }
  if (body.get('grant_type') !== 'authorization_code') {
    oauthError(res, 400, 'unsupported_grant_type', 'expected authorization_code or refresh_token');
    return;
  }
  const code = body.get('code') ?? '';
  const record = codes.get(code);
  codes.delete(code);
  if (!record || Date.now() - record.createdAt > CODE_TTL_MS) {
    oauthError(res, 400, 'invalid_grant', 'unknown, used or expired code');
    return;
  }
  if (body.get('redirect_uri') !== record.redirectUri) {
    oauthError(res, 400, 'invalid_grant', 'redirect_uri mismatch');
    return;
  }
  if (record.challenge) {
    const verifier = body.get('code_verifier');
    const computed = verifier ? createHash('sha256').update(verifier).digest('base64url') : null;
    if (record.method !== 'S256' || computed !== record.challenge) {
      oauthError(res, 400, 'invalid_grant', 'PKCE verification failed');
      return;
    }
  }
  const n = ++userCounter;
  const offline = record.scope.split(' ').includes('offline_access');
  send(res, 200, tokens({ n, authTime: Math.floor(Date.now() / 1000), nonce: record.nonce, offline }));
}

/** A token response for user `u<n>`: access token, ID token and, when `offline`, a new refresh token. */
function tokens({ n, authTime, nonce, offline }) {
  const now = Math.floor(Date.now() / 1000);
  const sub = `u${n}`;
  const idToken = signJwt({
    iss: issuer,
    sub,
    aud: CLIENT_ID,
    exp: now + 3600,
    iat: now,
    auth_time: authTime,
    ...(nonce && { nonce }),
    name: `Bench User ${n}`,
    email: `${sub}@bench.example`,
    email_verified: true,
  });
  const response = {
    access_token: randomBytes(32).toString('base64url'),
    token_type: 'Bearer',
    expires_in: 3600,
    scope: offline ? 'openid profile email offline_access' : 'openid profile email',
    id_token: idToken,
  };
  if (offline) {
    const refreshToken = randomBytes(32).toString('base64url');
    const createdAt = Date.now();
    refreshTokens.set(refreshToken, { n, authTime, createdAt });
    dropOlderThan(refreshTokens, REFRESH_TTL_MS, createdAt);
    response.refresh_token = refreshToken;
  }
  return response;
}

/** The refresh grant, with rotation: a refresh token is good once, the response carries the next one. */
function refreshGrant(body, res) {
  counts.refresh++;
  const used = body.get('refresh_token') ?? '';
  const record = refreshTokens.get(used);
  refreshTokens.delete(used);
  if (!record || Date.now() - record.createdAt > REFRESH_TTL_MS) {
    oauthError(res, 400, 'invalid_grant', 'unknown, used or expired refresh token');
    return;
  }
  send(res, 200, tokens({ n: record.n, authTime: record.authTime, offline: true }));
}

process.on('message', (msg) => {
  if (msg?.cmd === 'stats') {
    process.send({
      id: msg.id,
      cpu: process.cpuUsage(),
      counts: { ...counts },
      pendingCodes: codes.size,
      refreshTokens: refreshTokens.size,
    });
  }
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready', issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
