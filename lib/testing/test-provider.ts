import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { compactVerify, exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { DPoPProofError, dpopVerifier } from './dpop.js';
import { register, unregister, type ProviderInternals } from './registry.js';
import { loadSupertest } from './supertest.js';
import type {
  BackchannelLogoutOptions,
  LogoutTokenClaims,
  TestApp,
  TestLoginRecord,
  TestLogoutRecord,
  TestProvider,
  TestProviderClientOptions,
  TestProviderOptions,
  TestResponse,
  TestUser,
} from './types.js';

/** Claims the provider sets itself: a login cannot choose them. */
const PROTOCOL_CLAIMS = [
  'iss',
  'aud',
  'exp',
  'iat',
  'nbf',
  'nonce',
  'azp',
  'at_hash',
  'c_hash',
  'jti',
  'events',
] as const;
/** Claims about the authentication, not the user: in the ID token, not in userinfo. */
const SESSION_CLAIMS = new Set(['sid', 'auth_time', 'acr', 'amr']);
const ASYMMETRIC_ALGS = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);
/** `algs` of the DPoP challenge: what the provider verifies proofs with. */
const DPOP_ALGS = [...ASYMMETRIC_ALGS].join(' ');
const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** How long an authorization code can be redeemed, in seconds. */
const CODE_TTL = 60;
const MAX_BODY = 64 * 1024;

/** Checks a login's claims; throws a TypeError that says what is wrong. */
export function checkUser(user: unknown, where: string): TestUser {
  if (typeof user !== 'object' || user === null || Array.isArray(user)) {
    throw new TypeError(
      `${where}: the user must be an object of ID token claims, such as { sub: 'alice', groups: ['admin'] }.`,
    );
  }
  const u = user as Record<string, unknown>;
  if (typeof u.sub !== 'string' || u.sub === '' || u.sub.length > 255) {
    throw new TypeError(`${where}: "sub" is required: a non-empty string of at most 255 characters.`);
  }
  for (const claim of PROTOCOL_CLAIMS) {
    if (claim in u) {
      throw new TypeError(
        `${where}: "${claim}" is set by the test provider itself, as a real provider would` +
          (claim === 'exp' ? ' (use { expiresIn } or the accessTokenTtl / idTokenTtl options).' : '.'),
      );
    }
  }
  if (u.sid !== undefined && (typeof u.sid !== 'string' || u.sid === ''))
    throw new TypeError(`${where}: "sid" must be a non-empty string.`);
  if (u.auth_time !== undefined && (typeof u.auth_time !== 'number' || !Number.isInteger(u.auth_time))) {
    throw new TypeError(`${where}: "auth_time" must be a whole number of seconds since the epoch.`);
  }
  try {
    JSON.stringify(u);
  } catch (err) {
    throw new TypeError(`${where}: the claims must be JSON.`, { cause: err });
  }
  return structuredClone(u) as TestUser;
}

function checkSeconds(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
    throw new TypeError(`${name} must be a whole number of seconds, 0 or more.`);
  return value;
}

function random(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** `baseUrl` as express-oidc-login normalizes it: origin + path prefix, no trailing slash. */
function normalizeBaseUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError(
      `startTestProvider: "baseUrl" must be an absolute URL such as http://localhost:3000; got ${JSON.stringify(baseUrl)}.`,
    );
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}

interface LoginRequest {
  user: TestUser;
  expiresIn: number | undefined;
}

interface Grant {
  readonly user: TestUser;
  readonly sid: string;
  readonly authTime: number;
  readonly scope: string;
  /** Refresh tokens no longer work. */
  revoked: boolean;
  readonly accessTokens: Set<string>;
  /** The thumbprint of the DPoP key of the code exchange: every refresh must prove it. */
  readonly jkt: string | undefined;
}

interface CodeRecord {
  readonly state: string | null;
  readonly redirectUri: string;
  readonly codeChallenge: string;
  readonly nonce: string | null;
  readonly scope: string;
  readonly login: LoginRequest;
  readonly sid: string;
  readonly authTime: number;
  readonly expiresAt: number;
}

interface Answer {
  status: number;
  headers?: Record<string, string>;
  /** JSON, or a string sent as text/plain; undefined for no body. */
  body?: unknown;
}

function send(res: ServerResponse, answer: Answer): void {
  const headers: Record<string, string> = { 'cache-control': 'no-store', pragma: 'no-cache', ...answer.headers };
  if (answer.body === undefined) {
    res.writeHead(answer.status, headers);
    res.end();
    return;
  }
  const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  headers['content-type'] ??= typeof answer.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
  res.writeHead(answer.status, headers);
  res.end(text);
}

function oauthError(status: number, error: string, description: string, headers?: Record<string, string>): Answer {
  return { status, body: { error, error_description: description }, ...(headers && { headers }) };
}

/** A `WWW-Authenticate` challenge (RFC 6750 §3, RFC 9449 §7.1), its values cut to what a quoted string may hold. */
function challenge(scheme: 'Bearer' | 'DPoP', params: Record<string, string>): string {
  const quoted = (value: string) => value.replace(/"/g, "'").replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, '');
  return `${scheme} ${Object.entries({ realm: 'test-provider', ...params })
    .map(([key, value]) => `${key}="${quoted(value)}"`)
    .join(', ')}`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The form parameters of a POST (or the query of a GET); a repeated parameter is an error. */
function uniqueParams(params: URLSearchParams): URLSearchParams | string {
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (seen.has(key)) return key;
    seen.add(key);
  }
  return params;
}

/** RFC 6749 2.3.1: the client id and secret are form-urlencoded inside the Basic credentials. */
function parseBasic(header: string): { id: string; secret: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  try {
    const unescape = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { id: unescape(decoded.slice(0, colon)), secret: unescape(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

/**
 * Starts a small OpenID Provider on `http://127.0.0.1:<free port>`, in this process: discovery,
 * JWKS (one key with a `kid`), an authorization endpoint that logs in at once (the user `loginAs`
 * asked for, else one queued with `queueLogin()`, else `defaultUser`), a token endpoint (codes with
 * PKCE S256, refresh tokens with rotation, DPoP-bound access tokens for requests with a DPoP proof),
 * userinfo, RP-Initiated Logout and revocation. It checks what a real provider checks (client
 * credentials, registered redirect URIs, PKCE, single-use codes, DPoP proofs) and signs its ID
 * tokens, so the app's middleware runs its real checks against it.
 *
 * @example
 * const provider = await startTestProvider();
 * app.use(oidcLogin({ ...provider.options(), scope: 'openid profile email offline_access' }));
 * // ...
 * await provider.close();
 */
export async function startTestProvider(options: TestProviderOptions = {}): Promise<TestProvider> {
  const baseUrl = normalizeBaseUrl(options.baseUrl ?? 'http://localhost:3000');
  const clientId = options.clientId ?? 'test-client';
  const clientSecret = options.clientSecret ?? random();
  if (typeof clientId !== 'string' || clientId === '')
    throw new TypeError('startTestProvider: "clientId" must be a non-empty string.');
  if (typeof clientSecret !== 'string' || clientSecret === '')
    throw new TypeError('startTestProvider: "clientSecret" must be a non-empty string.');
  const alg = options.idTokenSigningAlg ?? 'RS256';
  if (!ASYMMETRIC_ALGS.has(alg))
    throw new TypeError(`startTestProvider: "idTokenSigningAlg" must be one of ${[...ASYMMETRIC_ALGS].join(', ')}.`);
  const accessTokenTtl = checkSeconds(options.accessTokenTtl, 'startTestProvider: "accessTokenTtl"') ?? 3600;
  const idTokenTtl = checkSeconds(options.idTokenTtl, 'startTestProvider: "idTokenTtl"') ?? 3600;
  const refreshPolicy = options.refreshTokens ?? 'offline_access';
  if (!['offline_access', 'always', 'never'].includes(refreshPolicy)) {
    throw new TypeError('startTestProvider: "refreshTokens" must be "offline_access", "always" or "never".');
  }
  const idTokenOnRefresh = options.idTokenOnRefresh !== false;
  const dpop = dpopVerifier([...ASYMMETRIC_ALGS], options.requireDPoPNonce === true ? random(16) : undefined);
  const defaultUser =
    options.defaultUser === null
      ? null
      : checkUser(options.defaultUser ?? { sub: 'test-user', name: 'Test User' }, 'startTestProvider: "defaultUser"');
  const redirectUris = [...(options.redirectUris ?? [`${baseUrl}/callback`])];
  const postLogoutRedirectUris = [...(options.postLogoutRedirectUris ?? [`${baseUrl}/`])];

  const kid = `test-${random(6)}`;
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };

  // State. Everything is in memory and per provider.
  const loginsByState = new Map<string, LoginRequest>();
  const queued: LoginRequest[] = [];
  const codes = new Map<string, CodeRecord>();
  /** Redeemed codes and the grant each started: a code used twice revokes what it gave (RFC 6749 4.1.2). */
  const usedCodes = new Map<string, Grant>();
  const redeemedStates = new Set<string>();
  /** `jkt`: the thumbprint of the DPoP key the token is bound to (RFC 9449 §6), for a DPoP token. */
  const accessTokens = new Map<
    string,
    { grant: Grant; expiresAt: number; revoked: boolean; jkt: string | undefined }
  >();
  const refreshTokens = new Map<string, { grant: Grant; rotated: boolean }>();
  const grants = new Set<Grant>();
  const logins: TestLoginRecord[] = [];
  const logouts: TestLogoutRecord[] = [];
  const counts = {
    discovery: 0,
    jwks: 0,
    authorize: 0,
    token: 0,
    refresh: 0,
    userinfo: 0,
    revocation: 0,
    endSession: 0,
  };
  let nextAuthorizationFailure: { error: string; description: string | undefined } | undefined;
  let nextTokenFailure: { status: number | 'disconnect'; error: string | undefined } | undefined;
  let closed: Promise<void> | undefined;

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent)
        send(res, { status: 500, body: `test provider error: ${(err as Error)?.message ?? String(err)}` });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const metadata = {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    userinfo_endpoint: `${issuer}/userinfo`,
    jwks_uri: `${issuer}/jwks`,
    end_session_endpoint: `${issuer}/logout`,
    revocation_endpoint: `${issuer}/revoke`,
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [alg],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    code_challenge_methods_supported: ['S256'],
    dpop_signing_alg_values_supported: [...ASYMMETRIC_ALGS],
    claims_parameter_supported: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    authorization_response_iss_parameter_supported: true,
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
  };

  function signIdToken(grant: Pick<Grant, 'user' | 'sid' | 'authTime'>, nonce: string | null): Promise<string> {
    const { sub, ...rest } = grant.user;
    delete rest.sid;
    delete rest.auth_time;
    const iat = nowSeconds();
    const payload: JWTPayload = {
      ...rest,
      iss: issuer,
      sub,
      aud: clientId,
      iat,
      exp: iat + idTokenTtl,
      auth_time: grant.authTime,
      sid: grant.sid,
      ...(nonce !== null && { nonce }),
    };
    return new SignJWT(payload).setProtectedHeader({ alg, kid, typ: 'JWT' }).sign(privateKey);
  }

  function issueAccessToken(grant: Grant, expiresIn: number, jkt: string | undefined): string {
    const token = random();
    accessTokens.set(token, { grant, expiresAt: nowSeconds() + expiresIn, revoked: false, jkt });
    grant.accessTokens.add(token);
    return token;
  }

  function issueRefreshToken(grant: Grant): string | undefined {
    if (refreshPolicy === 'never') return undefined;
    if (refreshPolicy === 'offline_access' && !grant.scope.split(' ').includes('offline_access')) return undefined;
    const token = random();
    refreshTokens.set(token, { grant, rotated: false });
    return token;
  }

  function revokeGrant(grant: Grant): void {
    grant.revoked = true;
    for (const token of grant.accessTokens) {
      const entry = accessTokens.get(token);
      if (entry) entry.revoked = true;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', issuer);
    const method = req.method ?? 'GET';
    const route = `${method} ${url.pathname}`;
    switch (route) {
      case 'GET /.well-known/openid-configuration':
        counts.discovery++;
        send(res, { status: 200, body: metadata, headers: { 'cache-control': 'max-age=0' } });
        return;
      case 'GET /jwks':
        counts.jwks++;
        send(res, {
          status: 200,
          body: { keys: [publicJwk] },
          headers: { 'content-type': 'application/jwk-set+json' },
        });
        return;
      case 'GET /authorize':
        send(res, authorize(url.searchParams));
        return;
      case 'POST /token':
        await token(req, res);
        return;
      case 'GET /userinfo':
      case 'POST /userinfo':
        send(res, await userinfo(req));
        return;
      case 'GET /logout':
        send(res, await endSession(url.searchParams));
        return;
      case 'POST /logout':
        send(res, await endSession(new URLSearchParams(await readBody(req))));
        return;
      case 'POST /revoke':
        send(res, await revoke(req));
        return;
      default:
        send(res, { status: 404, body: 'not found' });
    }
  }

  /** The authorization endpoint: no login page, the user is known already. */
  function authorize(query: URLSearchParams): Answer {
    counts.authorize++;
    const state = query.getAll('state').length === 1 ? query.get('state') : null;
    // The user this request logs in, taken first so that a refused request does not leave it behind.
    let login = loginsByState.get(state ?? '');
    loginsByState.delete(state ?? '');

    const params = uniqueParams(query);
    if (typeof params === 'string')
      return { status: 400, body: `Invalid authorization request: "${params}" is repeated.` };
    if (params.get('client_id') !== clientId) {
      return {
        status: 400,
        body: `Invalid authorization request: unknown client_id (the test provider's client is "${clientId}").`,
      };
    }
    const redirectUri = params.get('redirect_uri') ?? '';
    if (!redirectUris.includes(redirectUri)) {
      // A provider never redirects to an unregistered redirect URI: it shows an error page.
      return {
        status: 400,
        body:
          `Invalid authorization request: redirect_uri ${JSON.stringify(redirectUri)} is not registered. ` +
          `Registered: ${redirectUris.join(', ') || 'none'}. Give the app's baseUrl to startTestProvider({ baseUrl }) or ` +
          'provider.options(baseUrl), or add the URI to provider.redirectUris.',
      };
    }
    const back = (result: Record<string, string>): Answer => {
      const location = new URL(redirectUri);
      for (const [key, value] of Object.entries(result)) location.searchParams.set(key, value);
      if (state !== null) location.searchParams.set('state', state);
      location.searchParams.set('iss', issuer);
      return { status: 302, headers: { location: location.href } };
    };
    const fail = (error: string, description: string) => back({ error, error_description: description });

    if (params.has('request')) return fail('request_not_supported', 'Request objects are not supported.');
    if (params.has('request_uri')) return fail('request_uri_not_supported', 'request_uri is not supported.');
    if (params.get('response_type') !== 'code')
      return fail('unsupported_response_type', 'Only response_type=code is supported.');
    if (params.has('response_mode') && params.get('response_mode') !== 'query')
      return fail('invalid_request', 'Only response_mode=query is supported.');
    const scope = params.get('scope') ?? '';
    if (!scope.split(' ').includes('openid')) return fail('invalid_scope', 'The scope must include "openid".');
    const challenge = params.get('code_challenge') ?? '';
    if (params.get('code_challenge_method') !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(challenge)) {
      return fail('invalid_request', 'PKCE is required, with code_challenge_method=S256.');
    }
    if (nextAuthorizationFailure) {
      const { error, description } = nextAuthorizationFailure;
      nextAuthorizationFailure = undefined;
      return back({ error, ...(description !== undefined && { error_description: description }) });
    }
    login ??= queued.shift() ?? (defaultUser ? { user: defaultUser, expiresIn: undefined } : undefined);
    if (!login) {
      return params.get('prompt') === 'none'
        ? fail('login_required', 'Nobody is logged in at the test provider.')
        : fail('access_denied', 'Nobody logs in: the test provider has no defaultUser and no queued login.');
    }

    const code = random();
    const now = nowSeconds();
    codes.set(code, {
      state,
      redirectUri,
      codeChallenge: challenge,
      nonce: params.get('nonce'),
      scope,
      login,
      sid: typeof login.user.sid === 'string' ? login.user.sid : random(12),
      authTime: typeof login.user.auth_time === 'number' ? login.user.auth_time : now,
      expiresAt: now + CODE_TTL,
    });
    return back({ code });
  }

  /** Client authentication at the token and revocation endpoints: client_secret_basic or client_secret_post. */
  function authenticateClient(req: IncomingMessage, body: URLSearchParams): Answer | undefined {
    const header = req.headers.authorization;
    const bodySecret = body.get('client_secret');
    const bodyId = body.get('client_id');
    if (header !== undefined) {
      const basic = parseBasic(header);
      const challenge = { 'www-authenticate': 'Basic realm="test-provider"' };
      if (!basic) return oauthError(401, 'invalid_client', 'Malformed client credentials.', challenge);
      if (bodySecret !== null)
        return oauthError(400, 'invalid_request', 'More than one client authentication method was used.');
      if (bodyId !== null && bodyId !== basic.id)
        return oauthError(400, 'invalid_request', 'client_id differs from the authenticated client.');
      if (basic.id !== clientId || basic.secret !== clientSecret)
        return oauthError(401, 'invalid_client', 'Client authentication failed.', challenge);
      return undefined;
    }
    if (bodySecret === null) return oauthError(401, 'invalid_client', 'Client authentication is required.');
    if (bodyId !== clientId || bodySecret !== clientSecret)
      return oauthError(401, 'invalid_client', 'Client authentication failed.');
    return undefined;
  }

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    counts.token++;
    const raw = await readBody(req);
    const form = new URLSearchParams(raw);
    if (form.get('grant_type') === 'refresh_token') counts.refresh++;
    if (nextTokenFailure) {
      const { status, error } = nextTokenFailure;
      nextTokenFailure = undefined;
      if (status === 'disconnect') {
        req.socket.destroy();
        return;
      }
      const defaultError =
        status === 503
          ? 'temporarily_unavailable'
          : status >= 500
            ? 'server_error'
            : status === 401
              ? 'invalid_client'
              : 'invalid_request';
      send(res, oauthError(status, error ?? defaultError, 'A failure simulated by failNextTokenRequest().'));
      return;
    }
    if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) {
      send(res, oauthError(400, 'invalid_request', 'The body must be application/x-www-form-urlencoded.'));
      return;
    }
    const body = uniqueParams(form);
    if (typeof body === 'string') {
      send(res, oauthError(400, 'invalid_request', `"${body}" is repeated.`));
      return;
    }
    const refused = authenticateClient(req, body);
    if (refused) {
      send(res, refused);
      return;
    }
    let jkt: string | undefined;
    try {
      jkt = await dpop.verify(req, { htm: 'POST', htu: metadata.token_endpoint });
    } catch (err) {
      if (!(err instanceof DPoPProofError)) throw err;
      send(
        res,
        oauthError(
          400,
          err.error,
          err.message,
          err.error === 'use_dpop_nonce' ? { 'dpop-nonce': dpop.nonce! } : undefined,
        ),
      );
      return;
    }
    const grantType = body.get('grant_type');
    if (grantType === 'authorization_code') send(res, await redeemCode(body, jkt));
    else if (grantType === 'refresh_token') send(res, await refresh(body, jkt));
    else send(res, oauthError(400, 'unsupported_grant_type', 'Supported: authorization_code, refresh_token.'));
  }

  async function redeemCode(body: URLSearchParams, jkt: string | undefined): Promise<Answer> {
    const code = body.get('code');
    if (!code) return oauthError(400, 'invalid_request', 'code is missing.');
    const record = codes.get(code);
    if (!record) {
      const grant = usedCodes.get(code);
      if (grant) revokeGrant(grant);
      return oauthError(400, 'invalid_grant', 'The code is unknown, expired or used already.');
    }
    codes.delete(code);
    if (record.expiresAt < nowSeconds()) return oauthError(400, 'invalid_grant', 'The code has expired.');
    if (body.get('redirect_uri') !== record.redirectUri)
      return oauthError(400, 'invalid_grant', "redirect_uri differs from the authorization request's.");
    const verifier = body.get('code_verifier') ?? '';
    if (
      !/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier) ||
      createHash('sha256').update(verifier).digest('base64url') !== record.codeChallenge
    ) {
      return oauthError(400, 'invalid_grant', 'PKCE verification failed.');
    }
    const grant: Grant = {
      user: record.login.user,
      sid: record.sid,
      authTime: record.authTime,
      scope: record.scope,
      revoked: false,
      accessTokens: new Set(),
      jkt,
    };
    grants.add(grant);
    usedCodes.set(code, grant);
    const expiresIn = record.login.expiresIn ?? accessTokenTtl;
    const idToken = await signIdToken(grant, record.nonce);
    const refreshToken = issueRefreshToken(grant);
    redeemedStates.add(record.state ?? '');
    const { sub, ...claims } = grant.user;
    logins.push(
      Object.freeze({
        sub,
        sid: grant.sid,
        claims: Object.freeze({ sub, ...claims, sid: grant.sid, auth_time: grant.authTime }),
        ...(jkt !== undefined && { jkt }),
      }),
    );
    return {
      status: 200,
      body: {
        access_token: issueAccessToken(grant, expiresIn, jkt),
        token_type: jkt === undefined ? 'Bearer' : 'DPoP',
        expires_in: expiresIn,
        scope: grant.scope,
        id_token: idToken,
        ...(refreshToken !== undefined && { refresh_token: refreshToken }),
      },
    };
  }

  async function refresh(body: URLSearchParams, jkt: string | undefined): Promise<Answer> {
    const presented = body.get('refresh_token');
    if (!presented) return oauthError(400, 'invalid_request', 'refresh_token is missing.');
    const entry = refreshTokens.get(presented);
    if (!entry) return oauthError(400, 'invalid_grant', 'The refresh token is unknown.');
    const { grant } = entry;
    if (grant.revoked) return oauthError(400, 'invalid_grant', 'The refresh token has been revoked.');
    if (entry.rotated) {
      // A rotated refresh token used again: stolen, or a client race. The whole grant is revoked.
      revokeGrant(grant);
      return oauthError(400, 'invalid_grant', 'The refresh token was used already; the grant is revoked.');
    }
    if (grant.jkt !== undefined && jkt !== grant.jkt) {
      return oauthError(
        400,
        'invalid_grant',
        jkt === undefined
          ? 'The login is DPoP-bound: a refresh needs a DPoP proof.'
          : "The DPoP proof is made with another key than the login's.",
      );
    }
    const scope = body.get('scope');
    if (scope !== null && !scope.split(' ').every((s) => grant.scope.split(' ').includes(s))) {
      return oauthError(400, 'invalid_scope', 'A refresh cannot widen the scope.');
    }
    entry.rotated = true;
    const next = issueRefreshToken(grant);
    return {
      status: 200,
      body: {
        access_token: issueAccessToken(grant, accessTokenTtl, jkt),
        token_type: jkt === undefined ? 'Bearer' : 'DPoP',
        expires_in: accessTokenTtl,
        scope: grant.scope,
        ...(idTokenOnRefresh && { id_token: await signIdToken(grant, null) }),
        ...(next !== undefined && { refresh_token: next }),
      },
    };
  }

  async function userinfo(req: IncomingMessage): Promise<Answer> {
    counts.userinfo++;
    const m = /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i.exec(req.headers.authorization ?? '');
    if (!m)
      return {
        status: 401,
        headers: { 'www-authenticate': 'Bearer realm="test-provider"' },
        body: { error: 'invalid_request' },
      };
    const scheme = m[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    const token = m[2]!;
    const entry = accessTokens.get(token);
    // The DPoP scheme's challenge for a DPoP request or a DPoP-bound token (RFC 9449 §7.1).
    const refuse = (error: string, description: string, headers: Record<string, string> = {}): Answer => {
      const dpopChallenge = scheme === 'DPoP' || entry?.jkt !== undefined;
      return {
        status: 401,
        headers: {
          ...headers,
          'www-authenticate': dpopChallenge
            ? challenge('DPoP', { error, error_description: description, algs: DPOP_ALGS })
            : challenge('Bearer', { error, error_description: description }),
        },
        body: { error },
      };
    };
    if (!entry || entry.revoked || entry.expiresAt <= nowSeconds())
      return refuse('invalid_token', 'The access token is invalid or has expired.');
    if (scheme === 'Bearer') {
      if (entry.jkt !== undefined)
        return refuse(
          'invalid_token',
          'The access token is DPoP-bound: send it as Authorization: DPoP, with a DPoP proof.',
        );
    } else {
      let jkt: string | undefined;
      try {
        jkt = await dpop.verify(req, { htm: req.method ?? 'GET', htu: metadata.userinfo_endpoint, accessToken: token });
      } catch (err) {
        if (!(err instanceof DPoPProofError)) throw err;
        return refuse(err.error, err.message, err.error === 'use_dpop_nonce' ? { 'dpop-nonce': dpop.nonce! } : {});
      }
      if (jkt === undefined) return refuse('invalid_dpop_proof', 'Authorization: DPoP needs a DPoP proof.');
      if (entry.jkt === undefined)
        return refuse('invalid_token', 'The access token is not DPoP-bound: send it as Authorization: Bearer.');
      if (jkt !== entry.jkt)
        return refuse(
          'invalid_token',
          'The DPoP proof is made with another key than the one the access token is bound to.',
        );
    }
    const claims: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(entry.grant.user)) if (!SESSION_CLAIMS.has(key)) claims[key] = value;
    return { status: 200, body: claims };
  }

  /** RP-Initiated Logout 1.0. */
  async function endSession(query: URLSearchParams): Promise<Answer> {
    counts.endSession++;
    const params = uniqueParams(query);
    if (typeof params === 'string') return { status: 400, body: `Invalid logout request: "${params}" is repeated.` };
    const hint = params.get('id_token_hint');
    const requestedClient = params.get('client_id');
    let sub: string | undefined;
    let sid: string | undefined;
    if (hint !== null) {
      // An expired ID token is a valid hint; a forged one is not.
      try {
        const { payload } = await compactVerify(hint, publicKey, { algorithms: [alg] });
        const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
        const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
        if (claims.iss !== issuer || !aud.includes(clientId)) throw new Error('not ours');
        if (typeof claims.sub === 'string') sub = claims.sub;
        if (typeof claims.sid === 'string') sid = claims.sid;
      } catch {
        return { status: 400, body: 'Invalid logout request: id_token_hint is not an ID token of this provider.' };
      }
    }
    if (requestedClient !== null && requestedClient !== clientId)
      return { status: 400, body: 'Invalid logout request: unknown client_id.' };
    const redirect = params.get('post_logout_redirect_uri');
    if (redirect !== null) {
      if (hint === null && requestedClient === null) {
        return {
          status: 400,
          body: 'Invalid logout request: post_logout_redirect_uri needs id_token_hint or client_id.',
        };
      }
      if (!postLogoutRedirectUris.includes(redirect)) {
        return {
          status: 400,
          body: `Invalid logout request: post_logout_redirect_uri ${JSON.stringify(redirect)} is not registered. Registered: ${postLogoutRedirectUris.join(', ') || 'none'}.`,
        };
      }
    }
    logouts.push(
      Object.freeze({
        ...(sub !== undefined && { sub }),
        ...(sid !== undefined && { sid }),
        ...(redirect !== null && { postLogoutRedirectUri: redirect }),
      }),
    );
    if (redirect === null) return { status: 200, body: 'You are logged out of the test provider.' };
    const location = new URL(redirect);
    const state = params.get('state');
    if (state !== null) location.searchParams.set('state', state);
    return { status: 302, headers: { location: location.href } };
  }

  /** RFC 7009. */
  async function revoke(req: IncomingMessage): Promise<Answer> {
    counts.revocation++;
    const body = uniqueParams(new URLSearchParams(await readBody(req)));
    if (typeof body === 'string') return oauthError(400, 'invalid_request', `"${body}" is repeated.`);
    const refused = authenticateClient(req, body);
    if (refused) return refused;
    const presented = body.get('token');
    if (!presented) return oauthError(400, 'invalid_request', 'token is missing.');
    const refreshEntry = refreshTokens.get(presented);
    if (refreshEntry) revokeGrant(refreshEntry.grant);
    const accessEntry = accessTokens.get(presented);
    if (accessEntry) accessEntry.revoked = true;
    return { status: 200 };
  }

  const internals: ProviderInternals = {
    issuer,
    expectLogin(state, user, { expiresIn }) {
      loginsByState.set(state, { user, expiresIn });
    },
    forgetLogin(state) {
      loginsByState.delete(state);
    },
    redeemed(state) {
      return redeemedStates.has(state);
    },
  };
  register(internals);

  const provider: TestProvider = {
    issuer,
    clientId,
    clientSecret,
    baseUrl,
    redirectUris,
    postLogoutRedirectUris,
    providerOptions(name: string, appBaseUrl?: string): Omit<TestProviderClientOptions, 'baseUrl'> {
      const base = appBaseUrl === undefined ? baseUrl : normalizeBaseUrl(appBaseUrl);
      if (!redirectUris.includes(`${base}/callback/${name}`)) redirectUris.push(`${base}/callback/${name}`);
      if (!postLogoutRedirectUris.includes(`${base}/`)) postLogoutRedirectUris.push(`${base}/`);
      return {
        issuer,
        clientId,
        clientSecret,
        dangerouslyAllowInsecureHttp: true,
        ...(alg !== 'RS256' && { idTokenSigningAlg: alg }),
      };
    },
    options(appBaseUrl?: string): TestProviderClientOptions {
      const base = appBaseUrl === undefined ? baseUrl : normalizeBaseUrl(appBaseUrl);
      if (!redirectUris.includes(`${base}/callback`)) redirectUris.push(`${base}/callback`);
      if (!postLogoutRedirectUris.includes(`${base}/`)) postLogoutRedirectUris.push(`${base}/`);
      return {
        issuer,
        clientId,
        clientSecret,
        baseUrl: appBaseUrl ?? baseUrl,
        dangerouslyAllowInsecureHttp: true,
        ...(alg !== 'RS256' && { idTokenSigningAlg: alg }),
      };
    },
    queueLogin(user, loginOptions = {}) {
      queued.push({
        user: checkUser(user, 'queueLogin'),
        expiresIn: checkSeconds(loginOptions.expiresIn, 'queueLogin: "expiresIn"'),
      });
    },
    failNextAuthorization(error = 'access_denied', description) {
      if (!/^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/.test(error))
        throw new TypeError('failNextAuthorization: "error" must be an OAuth error code such as access_denied.');
      nextAuthorizationFailure = { error, description };
    },
    failNextTokenRequest(status = 503, error) {
      if (status !== 'disconnect' && (!Number.isInteger(status) || status < 400 || status > 599)) {
        throw new TypeError('failNextTokenRequest: the status must be an HTTP error status (400-599) or "disconnect".');
      }
      nextTokenFailure = { status, error };
    },
    revokeRefreshTokens(sub?: string) {
      let n = 0;
      for (const grant of grants) {
        if ((sub === undefined || grant.user.sub === sub) && !grant.revoked) {
          grant.revoked = true;
          n++;
        }
      }
      return n;
    },
    logoutToken(claims: LogoutTokenClaims) {
      const { sub, sid } = claims ?? {};
      if (sub === undefined && sid === undefined) throw new TypeError('logoutToken: give "sub", "sid" or both.');
      if (
        (sub !== undefined && (typeof sub !== 'string' || sub === '')) ||
        (sid !== undefined && (typeof sid !== 'string' || sid === ''))
      ) {
        throw new TypeError('logoutToken: "sub" and "sid" must be non-empty strings.');
      }
      const iat = nowSeconds();
      return new SignJWT({
        iss: issuer,
        aud: clientId,
        iat,
        exp: iat + 120,
        jti: random(16),
        events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
        ...(sub !== undefined && { sub }),
        ...(sid !== undefined && { sid }),
      })
        .setProtectedHeader({ alg, kid, typ: 'logout+jwt' })
        .sign(privateKey);
    },
    async backchannelLogout(app: TestApp, logoutOptions: BackchannelLogoutOptions): Promise<TestResponse> {
      const { path = '/backchannel-logout', ...claims } = logoutOptions ?? {};
      const logoutToken = await provider.logoutToken(claims);
      const request = await loadSupertest();
      const res = await request(app).post(path).type('form').send({ logout_token: logoutToken });
      if (res.status !== 200 && res.status !== 204) {
        throw new Error(
          `backchannelLogout: the app answered POST ${path} with ${res.status}, not 200. ` +
            `Is routes.backchannelLogout "${path}"? Response: ${excerpt(res.text)}`,
        );
      }
      return res;
    },
    get tokenRequests() {
      return counts.token;
    },
    get counts() {
      return { ...counts };
    },
    get logins() {
      return [...logins];
    },
    get logouts() {
      return [...logouts];
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        unregister(issuer);
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
  return provider;
}

/** The start of a response body, for error messages. */
export function excerpt(text: unknown): string {
  const s = typeof text === 'string' ? text : '';
  if (s === '') return '(empty)';
  return s.length > 400 ? `${s.slice(0, 400)}…` : s;
}
