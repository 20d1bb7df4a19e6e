import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { authorize, endSession } from './authorize.js';
import { backchannelLogout, logoutToken } from './backchannel.js';
import { ASYMMETRIC_ALGS, checkSeconds, checkUser, normalizeBaseUrl, random } from './checks.js';
import { dpopVerifier } from './dpop.js';
import { readBody, send } from './http.js';
import { register, unregister, type ProviderInternals } from './registry.js';
import { createState } from './state.js';
import { revoke, token } from './token.js';
import type { TestProvider, TestProviderClientOptions, TestProviderOptions } from './types.js';
import { userinfo } from './userinfo.js';

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
  if (
    options.resources !== undefined &&
    (!Array.isArray(options.resources) || !options.resources.every((r) => typeof r === 'string' && r !== ''))
  )
    throw new TypeError('startTestProvider: "resources" must be an array of resource indicators.');
  const frontchannelLogoutUri = options.frontchannelLogoutUri;
  if (frontchannelLogoutUri !== undefined && !URL.canParse(frontchannelLogoutUri))
    throw new TypeError('startTestProvider: "frontchannelLogoutUri" must be an absolute URL.');
  const frontchannelLogoutParams = options.frontchannelLogoutParams ?? 'iss-and-sid';
  if (!['iss-and-sid', 'sid', 'none'].includes(frontchannelLogoutParams))
    throw new TypeError('startTestProvider: "frontchannelLogoutParams" must be "iss-and-sid", "sid" or "none".');

  const kid = `test-${random(6)}`;
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  let closed: Promise<void> | undefined;

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent)
        send(res, { status: 500, body: `test provider error: ${(err as Error)?.message ?? String(err)}` });
      else res.destroy();
    });
  });
  // The app under test and its client share this process's event loop: an idle timer here could
  // destroy a kept-alive socket the client has just written to (ECONNRESET under load). Only the
  // client, or close(), ends idle connections.
  server.keepAliveTimeout = 0;
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
    ...(frontchannelLogoutUri !== undefined && {
      frontchannel_logout_supported: true,
      frontchannel_logout_session_supported: frontchannelLogoutParams !== 'none',
    }),
  };
  const s = createState({
    issuer,
    clientId,
    clientSecret,
    alg,
    kid,
    privateKey,
    publicKey,
    accessTokenTtl,
    idTokenTtl,
    refreshPolicy,
    idTokenOnRefresh,
    dpop,
    defaultUser,
    redirectUris,
    postLogoutRedirectUris,
    tokenEndpoint: metadata.token_endpoint,
    userinfoEndpoint: metadata.userinfo_endpoint,
    frontchannelLogoutUri,
    frontchannelLogoutParams,
    resources: [...(options.resources ?? [])],
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', issuer);
    const method = req.method ?? 'GET';
    const route = `${method} ${url.pathname}`;
    switch (route) {
      case 'GET /.well-known/openid-configuration':
        s.counts.discovery++;
        send(res, { status: 200, body: metadata, headers: { 'cache-control': 'max-age=0' } });
        return;
      case 'GET /jwks':
        s.counts.jwks++;
        send(res, {
          status: 200,
          body: { keys: [publicJwk] },
          headers: { 'content-type': 'application/jwk-set+json' },
        });
        return;
      case 'GET /authorize':
        send(res, authorize(s, url.searchParams));
        return;
      case 'POST /token':
        await token(s, req, res);
        return;
      case 'GET /userinfo':
      case 'POST /userinfo':
        send(res, await userinfo(s, req));
        return;
      case 'GET /logout':
        send(res, await endSession(s, url.searchParams));
        return;
      case 'POST /logout':
        send(res, await endSession(s, new URLSearchParams(await readBody(req))));
        return;
      case 'POST /revoke':
        send(res, await revoke(s, req));
        return;
      default:
        send(res, { status: 404, body: 'not found' });
    }
  }

  const internals: ProviderInternals = {
    issuer,
    expectLogin(state, user, { expiresIn }) {
      s.loginsByState.set(state, { user, expiresIn });
    },
    forgetLogin(state) {
      s.loginsByState.delete(state);
    },
    redeemed(state) {
      return s.redeemedStates.has(state);
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
      s.queued.push({
        user: checkUser(user, 'queueLogin'),
        expiresIn: checkSeconds(loginOptions.expiresIn, 'queueLogin: "expiresIn"'),
      });
    },
    failNextAuthorization(error = 'access_denied', description) {
      if (!/^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/.test(error))
        throw new TypeError('failNextAuthorization: "error" must be an OAuth error code such as access_denied.');
      s.nextAuthorizationFailure = { error, description };
    },
    failNextTokenRequest(status = 503, error) {
      if (status !== 'disconnect' && (!Number.isInteger(status) || status < 400 || status > 599)) {
        throw new TypeError('failNextTokenRequest: the status must be an HTTP error status (400-599) or "disconnect".');
      }
      s.nextTokenFailure = { status, error };
    },
    revokeRefreshTokens(sub?: string) {
      let n = 0;
      for (const grant of s.grants) {
        if ((sub === undefined || grant.user.sub === sub) && !grant.revoked) {
          grant.revoked = true;
          n++;
        }
      }
      return n;
    },
    logoutToken(claims) {
      return logoutToken(s, claims);
    },
    backchannelLogout(app, logoutOptions) {
      return backchannelLogout(s, app, logoutOptions);
    },
    get tokenRequests() {
      return s.counts.token;
    },
    get counts() {
      return { ...s.counts };
    },
    get logins() {
      return [...s.logins];
    },
    get logouts() {
      return [...s.logouts];
    },
    accessTokenResource(accessToken: string) {
      const entry = s.accessTokens.get(accessToken);
      return entry === undefined ? undefined : (entry.resource ?? null);
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
