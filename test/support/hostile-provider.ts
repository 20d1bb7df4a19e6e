import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } from './provider.js';
import { readBody } from './net.js';

/**
 * A "hostile" OpenID Provider: a small real HTTP server (node:http) on a loopback port that
 * answers like a provider, except that each test decides what the token endpoint sends back,
 * including tokens a real provider would never issue. By default it is honest: it checks the
 * client credentials (client_secret_basic), the redirect_uri and PKCE (S256), and answers with a
 * valid RS256 ID token.
 */

/** A signing key: the private key, and the public JWK the JWKS serves. */
export interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

/** Generates a signing key with a fresh (or the given) `kid`. */
export async function generateSigningKey(
  alg = 'RS256',
  kid = `k-${randomBytes(6).toString('hex')}`,
): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

/** The same key material as `key`, usable with another algorithm of its family (RS256 -> RS384). */
export async function withAlg(key: SigningKey, alg: string): Promise<SigningKey> {
  const privateKey = (await importJWK({ ...(await exportJWK(key.privateKey)), alg }, alg)) as CryptoKey;
  return { ...key, alg, privateKey };
}

/** Signs `claims` as a JWS with `key`; `header` overrides the protected header (`alg`, `kid`, `typ`...). */
export function signIdToken(
  claims: Record<string, unknown>,
  key: Pick<SigningKey, 'alg' | 'kid' | 'privateKey'>,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims as JWTPayload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

/** An HS256 token whose MAC key is `secret` (the client secret, in the classic attack). */
export function signHs256(
  claims: Record<string, unknown>,
  secret: string,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims as JWTPayload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...header })
    .sign(new TextEncoder().encode(secret));
}

/**
 * An RS256 JWS built by hand, for headers jose refuses to produce (an unknown `crit` member...).
 * `key` must be an RS256 key.
 */
export async function signRs256Raw(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  key: SigningKey,
): Promise<string> {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${b64({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...header })}.${b64(claims)}`;
  const signature = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', key.privateKey, new TextEncoder().encode(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

/** An unsigned token (`alg: none`, empty signature). */
export function unsignedToken(claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT', ...header })}.${b64(claims)}.`;
}

/** An authorization request as the provider received it (the query of the authorize URL). */
export interface AuthorizationRecord {
  readonly params: URLSearchParams;
  readonly code: string;
  readonly clientId: string | null;
  readonly redirectUri: string | null;
  readonly state: string | null;
  readonly nonce: string | null;
  readonly codeChallenge: string | null;
  readonly codeChallengeMethod: string | null;
}

/** A token request as the provider received it. */
export interface TokenRequestRecord {
  readonly body: URLSearchParams;
  readonly authorizationHeader: string | undefined;
  readonly contentType: string | undefined;
}

/** What a token hook sees. */
export interface TokenContext {
  /** The `nonce` of the authorization request this code was issued for (undefined for an unknown code). */
  readonly nonce: string | undefined;
  /** The client id from the Basic credentials (or the body). */
  readonly clientId: string | undefined;
  readonly codeVerifier: string | null;
  readonly body: URLSearchParams;
  readonly authorizationHeader: string | undefined;
  /** The provider's signing keys; `keys[0]` is the current one (the one in the JWKS). */
  readonly keys: readonly SigningKey[];
  readonly issuer: string;
  /** A valid claim set for this request (iss, aud, exp, iat, nonce, sub, ...): start from it. */
  claims(overrides?: Record<string, unknown>): Record<string, unknown>;
  /** A token response body around `idToken` (access token, token type, expires_in). */
  tokenResponse(idToken: string | undefined, extra?: Record<string, unknown>): TokenAnswer;
  /** The default, valid answer. */
  valid(): Promise<TokenAnswer>;
}

export interface TokenAnswer {
  status: number;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body: unknown;
  /** Send the headers and this many bytes of the body, then nothing more (a provider stalling mid-body). */
  stallAfter?: number;
}

/** Decides the token endpoint's answer; `'hang'` never answers. */
export type TokenHook = (ctx: TokenContext) => TokenAnswer | 'hang' | Promise<TokenAnswer | 'hang'>;

/** Decides the JWKS endpoint's answer (`ctx.jwks` is what it would serve); `'hang'` never answers. */
export type JwksHook = (ctx: { jwks: JWK[] }) => TokenAnswer | 'hang';

/**
 * Decides the userinfo endpoint's answer (`ctx.valid()` is the honest one: the default user's
 * claims for any bearer token); `'hang'` never answers.
 */
export type UserInfoHook = (ctx: {
  accessToken: string | undefined;
  issuer: string;
  valid(): TokenAnswer;
}) => TokenAnswer | 'hang';

/** Decides the query the authorization endpoint redirects back with; default `code`, `state`, `iss`. */
export type AuthorizeHook = (ctx: {
  params: URLSearchParams;
  code: string;
  issuer: string;
}) => Record<string, string> | URLSearchParams;

export interface HostileProvider {
  /** `http://127.0.0.1:<port>`, followed by the `issuerPath` option. */
  readonly issuer: string;
  /** `http://127.0.0.1:<port>`: where the endpoints are (`/authorize`, `/token`, `/jwks`, `/userinfo`). */
  readonly origin: string;
  readonly port: number;
  /** The signing keys; `keys[0]` signs by default. The JWKS serves `jwks`. */
  readonly keys: readonly SigningKey[];
  /** Requests received, by endpoint (reset with `reset()`). */
  readonly counts: { discovery: number; jwks: number; authorize: number; token: number; userinfo: number };
  readonly authorizations: AuthorizationRecord[];
  readonly tokenRequests: TokenRequestRecord[];
  /** Exceptions thrown by the hooks or the provider itself (a test bug, not a hostile answer). */
  readonly errors: unknown[];
  /** The token endpoint's answer: `undefined` is the honest default. */
  onToken: TokenHook | undefined;
  /** The authorization endpoint's redirect query: `undefined` is `code`, `state`, `iss`. */
  onAuthorize: AuthorizeHook | undefined;
  /** The JWKS endpoint's answer: `undefined` serves `jwks`. */
  onJwks: JwksHook | undefined;
  /** The userinfo endpoint's answer (served at `/userinfo`, advertised with the `userinfo` option): `undefined` is honest. */
  onUserInfo: UserInfoHook | undefined;
  /** The public keys served at jwks_uri (defaults to the current key). */
  jwks: JWK[];
  /** Replaces the signing key by a new one with a new `kid`; the old one leaves the JWKS. */
  rotateKeys(): Promise<SigningKey>;
  /** Sets the signing keys (first one signs) and serves exactly their public keys. */
  setKeys(keys: SigningKey[]): void;
  /** Clears the hooks, counts and records; keeps the keys. */
  reset(): void;
  close(): Promise<void>;
}

export interface HostileProviderOptions {
  clientId?: string;
  clientSecret?: string;
  redirectUri?: string;
  /** Extra or overriding discovery metadata; a function is given the issuer. */
  metadata?: Record<string, unknown> | ((issuer: string) => Record<string, unknown>);
  /**
   * A path after the origin in the issuer (`/realms/demo`, `/common/v2.0`): discovery is then at
   * `<issuer>/.well-known/openid-configuration`. The endpoints stay at the origin. Default none.
   */
  issuerPath?: string;
  /** Advertise `<issuer>/userinfo` as the userinfo_endpoint (answered by `onUserInfo`). Default false. */
  userinfo?: boolean;
  /**
   * false: read the Basic credentials as they come, without form-decoding them (as Glewlwyd and
   * LemonLDAP::NG do). Default true (RFC 6749 2.3.1).
   */
  decodesBasicCredentials?: boolean;
}

function send(res: ServerResponse, answer: TokenAnswer): void {
  const body = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    'content-type': typeof answer.body === 'string' ? 'text/plain' : 'application/json',
    'cache-control': 'no-store',
    ...answer.headers,
  });
  if (answer.stallAfter === undefined) res.end(body);
  else res.write(body.slice(0, answer.stallAfter)); // never ends; close() destroys the socket
}

function oauthError(status: number, error: string, description: string, headers?: Record<string, string>): TokenAnswer {
  return { status, body: { error, error_description: description }, ...(headers && { headers }) };
}

/** RFC 6749 2.3.1: client id and secret are form-urlencoded inside the Basic credentials. */
function parseBasic(header: string | undefined, decodes = true): { id: string; secret: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  if (!decodes) return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
  try {
    return {
      id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
      secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
    };
  } catch {
    return undefined;
  }
}

export async function startHostileProvider(options: HostileProviderOptions = {}): Promise<HostileProvider> {
  const clientId = options.clientId ?? CLIENT_ID;
  const clientSecret = options.clientSecret ?? CLIENT_SECRET;
  const redirectUri = options.redirectUri ?? REDIRECT_URI;
  const sockets = new Set<Socket>();
  /** Codes issued and not yet redeemed. */
  const codes = new Map<string, AuthorizationRecord>();
  let keys: SigningKey[] = [await generateSigningKey()];

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      hp.errors.push(err);
      if (!res.headersSent) send(res, { status: 500, body: `hostile provider bug: ${String(err)}` });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  const issuer = `${origin}${options.issuerPath ?? ''}`;
  const discoveryPath = `${new URL(issuer).pathname.replace(/\/$/, '')}/.well-known/openid-configuration`;

  const metadata = {
    issuer,
    authorization_endpoint: `${origin}/authorize`,
    token_endpoint: `${origin}/token`,
    jwks_uri: `${origin}/jwks`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code'],
    subject_types_supported: ['public'],
    scopes_supported: ['openid', 'profile', 'email'],
    id_token_signing_alg_values_supported: ['RS256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic'],
    code_challenge_methods_supported: ['S256'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nonce', 'name', 'email'],
    authorization_response_iss_parameter_supported: true,
    ...(options.userinfo && { userinfo_endpoint: `${origin}/userinfo` }),
    ...(typeof options.metadata === 'function' ? options.metadata(issuer) : options.metadata),
  };

  const hp: HostileProvider = {
    issuer,
    origin,
    port,
    get keys() {
      return keys;
    },
    counts: { discovery: 0, jwks: 0, authorize: 0, token: 0, userinfo: 0 },
    authorizations: [],
    tokenRequests: [],
    errors: [],
    onToken: undefined,
    onAuthorize: undefined,
    onJwks: undefined,
    onUserInfo: undefined,
    jwks: keys.map((k) => k.publicJwk),
    async rotateKeys() {
      const key = await generateSigningKey(keys[0]!.alg);
      hp.setKeys([key]);
      return key;
    },
    setKeys(next) {
      keys = [...next];
      hp.jwks = keys.map((k) => k.publicJwk);
    },
    reset() {
      hp.onToken = undefined;
      hp.onAuthorize = undefined;
      hp.onJwks = undefined;
      hp.onUserInfo = undefined;
      hp.counts.discovery = hp.counts.jwks = hp.counts.authorize = hp.counts.token = hp.counts.userinfo = 0;
      hp.authorizations.length = 0;
      hp.tokenRequests.length = 0;
      hp.errors.length = 0;
    },
    close() {
      return new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    if (req.method === 'GET' && url.pathname === discoveryPath) {
      hp.counts.discovery++;
      send(res, { status: 200, body: metadata });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/jwks') {
      hp.counts.jwks++;
      const answer = hp.onJwks
        ? hp.onJwks({ jwks: hp.jwks })
        : { status: 200, headers: { 'content-type': 'application/jwk-set+json' }, body: { keys: hp.jwks } };
      if (answer !== 'hang') send(res, answer);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/authorize') {
      authorize(url, res);
      return;
    }
    if ((req.method === 'GET' || req.method === 'POST') && url.pathname === '/userinfo') {
      hp.counts.userinfo++;
      const accessToken = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const valid = (): TokenAnswer =>
        accessToken
          ? { status: 200, body: { sub: 'hostile-user-1', name: 'Hostile Test User', email: 'hostile@example.com' } }
          : { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' }, body: '' };
      const answer = hp.onUserInfo ? hp.onUserInfo({ accessToken, issuer, valid }) : valid();
      if (answer !== 'hang') send(res, answer);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/token') {
      await token(req, res);
      return;
    }
    send(res, { status: 404, body: 'not found' });
  }

  function authorize(url: URL, res: ServerResponse): void {
    hp.counts.authorize++;
    const params = url.searchParams;
    const code = randomBytes(16).toString('base64url');
    const record: AuthorizationRecord = {
      params,
      code,
      clientId: params.get('client_id'),
      redirectUri: params.get('redirect_uri'),
      state: params.get('state'),
      nonce: params.get('nonce'),
      codeChallenge: params.get('code_challenge'),
      codeChallengeMethod: params.get('code_challenge_method'),
    };
    hp.authorizations.push(record);
    if (record.clientId !== clientId || record.redirectUri !== redirectUri) {
      // A real provider never redirects to an unregistered redirect_uri.
      send(res, { status: 400, body: 'invalid client_id or redirect_uri' });
      return;
    }
    codes.set(code, record);
    const query = hp.onAuthorize
      ? new URLSearchParams(hp.onAuthorize({ params, code, issuer }))
      : new URLSearchParams({ code, ...(record.state !== null && { state: record.state }), iss: issuer });
    const location = new URL(redirectUri);
    location.search = query.toString();
    res.writeHead(302, { location: location.href, 'cache-control': 'no-store' });
    res.end();
  }

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    hp.counts.token++;
    const raw = await readBody(req);
    const body = new URLSearchParams(raw);
    const authorizationHeader = req.headers.authorization;
    hp.tokenRequests.push({ body, authorizationHeader, contentType: req.headers['content-type'] });
    const basic = parseBasic(authorizationHeader, options.decodesBasicCredentials ?? true);
    const code = body.get('code') ?? '';
    const record = codes.get(code);
    codes.delete(code); // a code is good once, whatever happens next

    const now = Math.floor(Date.now() / 1000);
    const claims = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
      iss: issuer,
      sub: 'hostile-user-1',
      aud: clientId,
      exp: now + 300,
      iat: now,
      auth_time: now,
      ...(record?.nonce != null && { nonce: record.nonce }),
      name: 'Hostile Test User',
      ...overrides,
    });
    const tokenResponse = (idToken: string | undefined, extra: Record<string, unknown> = {}): TokenAnswer => ({
      status: 200,
      body: {
        access_token: randomBytes(24).toString('base64url'),
        token_type: 'Bearer',
        expires_in: 3600,
        scope: 'openid profile email',
        ...(idToken !== undefined && { id_token: idToken }),
        ...extra,
      },
    });

    const valid = async (): Promise<TokenAnswer> => {
      // The honest checks of a real provider: client authentication, code, redirect_uri, PKCE.
      if (!basic || basic.id !== clientId || basic.secret !== clientSecret || body.has('client_secret')) {
        return oauthError(401, 'invalid_client', 'client authentication failed', {
          'www-authenticate': 'Basic realm="hostile"',
        });
      }
      if (body.get('grant_type') !== 'authorization_code')
        return oauthError(400, 'unsupported_grant_type', 'expected authorization_code');
      if (!record) return oauthError(400, 'invalid_grant', 'unknown or used code');
      if (body.get('redirect_uri') !== record.redirectUri)
        return oauthError(400, 'invalid_grant', 'redirect_uri mismatch');
      const verifier = body.get('code_verifier');
      const challenge = verifier === null ? null : createHash('sha256').update(verifier).digest('base64url');
      if (record.codeChallengeMethod !== 'S256' || !record.codeChallenge || challenge !== record.codeChallenge) {
        return oauthError(400, 'invalid_grant', 'PKCE verification failed');
      }
      return tokenResponse(await signIdToken(claims(), keys[0]!));
    };

    const ctx: TokenContext = {
      nonce: record?.nonce ?? undefined,
      clientId: basic?.id ?? body.get('client_id') ?? undefined,
      codeVerifier: body.get('code_verifier'),
      body,
      authorizationHeader,
      keys,
      issuer,
      claims,
      tokenResponse,
      valid,
    };
    const answer = await (hp.onToken ?? ((c: TokenContext) => c.valid()))(ctx);
    if (answer === 'hang') return; // never answers; close() destroys the socket
    send(res, answer);
  }

  return hp;
}
