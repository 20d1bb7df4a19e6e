import type { Configuration } from 'openid-client';
import type { DPoPAlg } from '../types.js';
import type { ClientAuthMethod, ClientCertificate, ClientPrivateKey } from './credential-types.js';
import type { CoordinatorOptions, OidcLogger, SessionMiddleware } from './dependency-types.js';
import type { AfterCallback, IdpLogoutUrl, OidcEventHandlers, ProfileMapper } from './hook-types.js';
import type { APP_LEVEL_OPTIONS } from './keys.js';

// The options of oidcLogin() as the app writes them. The functions it gives (profile,
// afterCallback, on, logout.idpLogoutUrl) are typed in hook-types.ts, the client's credentials in
// credential-types.ts, the logger, session middleware and coordinator in dependency-types.ts; what
// the library reads after validation is ResolvedConfig (resolved-config.ts).

/** Options of {@link oidcLogin}. Only `issuer`, `clientId`, `clientSecret` and `baseUrl` are required. */
export interface OidcLoginOptions {
  /**
   * The provider's issuer URL; its `/.well-known/openid-configuration` (or, with
   * `discovery: 'oauth2'`, its RFC 8414 `/.well-known/oauth-authorization-server`) is fetched on first use.
   */
  issuer?: string;
  /**
   * How the provider's metadata is found from `issuer`: `'oidc'` (OpenID Connect Discovery 1.0, the
   * default) or `'oauth2'` (RFC 8414 authorization server metadata). With `'oauth2'`, `scope` may
   * leave out `openid` for a plain OAuth 2.0 login (no ID token; see `profile`).
   */
  discovery?: 'oidc' | 'oauth2';
  /**
   * Seconds the discovered metadata is used before it is fetched again, so that a provider that
   * moves an endpoint or its JWKS, or adds an algorithm, is seen without a restart. Default 3600
   * (from 60 to a week); `false`: discovered once for the life of the process. The first use after
   * that time still gets the metadata at hand (no request waits): the new one is fetched
   * meanwhile, one request at a time; when that fails, the last good metadata stays and it is tried
   * again a minute later. No timer runs: an idle app asks nothing.
   */
  discoveryMaxAge?: number | false;
  /**
   * The provider's endpoints, in place of `issuer` and discovery: for plain OAuth 2.0 providers
   * (GitHub...) that publish no metadata. `scope` is then required; without `openid` in it the login
   * is plain OAuth 2.0: no ID token, the user's identity comes from `userinfoEndpoint` through `profile`.
   * `github()` returns ready-made options.
   */
  server?: ServerEndpoints;
  /**
   * Plain OAuth 2.0 logins (no `openid` in `scope`): turns the provider's userinfo (profile) response
   * into the login's claims, `req.oidc.claims`. Must return an object with `sub`, a non-empty string
   * of at most 255 characters that identifies the user at this provider for good (GitHub: the numeric
   * `id`, not the renamable `login`). May be async. Default: the response as it is (it must have a `sub`).
   */
  profile?: ProfileMapper;
  /**
   * Plain OAuth 2.0 logins: origins besides the userinfo endpoint's that `profile`'s `api.get(url)`
   * may send the access token to, e.g. `['https://api.example.com']` when the provider's API is on
   * another host than its user endpoint. Default none: only the userinfo endpoint's origin.
   */
  profileApiOrigins?: readonly string[];
  /** The client id registered at the provider. */
  clientId?: string;
  /**
   * The client secret registered at the provider. Required with the `client_secret_*` methods; not
   * needed (and not used) with `private_key_jwt` and `tls_client_auth`.
   */
  clientSecret?: string;
  /**
   * A ready-made openid-client `Configuration`, in place of `issuer` / `clientId` / `clientSecret`,
   * for apps that tune discovery themselves.
   */
  configuration?: Configuration;
  /** The app's public origin (and path prefix, if any): `redirect_uri` is `baseUrl + routes.callback`. */
  baseUrl: string;
  /**
   * Space-separated scopes. Default `openid profile email`. Must contain `openid` for a provider
   * found by OpenID discovery; with `server` or `discovery: 'oauth2'`, a scope without `openid` makes
   * the login plain OAuth 2.0 (no ID token, no nonce: see `profile`). Required with `server`.
   */
  scope?: string;
  /**
   * Paths of the mounted routes; `false` turns one off. Defaults `/login`, `/callback`, `/logout`,
   * `/backchannel-logout`, `/frontchannel-logout`.
   */
  routes?: {
    login?: string | false;
    callback?: string | false;
    logout?: string | false;
    backchannelLogout?: string | false;
    /**
     * OpenID Connect Front-Channel Logout 1.0: the provider's logout page frames
     * `GET <path>?iss=…&sid=…` and the sessions of that `sid` end. Default `/frontchannel-logout`,
     * acting only when the provider's metadata says `frontchannel_logout_supported: true`; set a
     * path to make it act whatever the metadata says (Microsoft Entra ID), `false` to turn it off.
     * Register `baseUrl + path` as the client's `frontchannel_logout_uri` (Entra: "Front-channel
     * logout URL") and, where offered, `frontchannel_logout_session_required: true`.
     */
    frontchannelLogout?: string | false;
    /** The client's public JWKS (private_key_jwt only). Default `/jwks.json` with private_key_jwt, else off. */
    jwks?: string | false;
  };
  /** How `/logout` behaves. */
  logout?: LogoutOptions;
  /** Refresh the access token this many seconds before it expires. Default 60. */
  refreshLeeway?: number;
  /** `requireAuth()` refreshes an expired access token itself (one token request). Default false. */
  autoRefresh?: boolean;
  /**
   * The userinfo endpoint at login (OpenID Connect Core 5.3), its claims merged into
   * `req.oidc.claims` (the ID token's win; its `sub` must be the ID token's, else the login fails):
   * - `'auto'` (default): only when the ID token lacks the claims of a scope asked for (no `name`
   *   nor any other `profile` claim, no `email`...) and the provider has a userinfo endpoint; an
   *   unreachable or refusing endpoint then leaves the login as the ID token makes it (a warning
   *   is logged). Providers such as LemonLDAP::NG put `name` and `email` only there.
   * - `true`: always; the response is also kept as `req.oidc.user`, and a failure fails the login.
   * - `false`: never.
   * One request at login when it happens; none on later requests.
   */
  fetchUserInfo?: boolean | 'auto';
  /** Log in again after this many seconds, whatever the activity; `false` for never. Default 7 days. */
  absoluteDuration?: number | false;
  /** Log in again after this many seconds without a request; `false` for never. Default 1 day. */
  idleDuration?: number | false;
  /**
   * `requireAuth()` first tries a silent login (`prompt=none`) on page loads, once per session;
   * when the provider answers `login_required` it falls back to the normal login. Default false.
   */
  silentLogin?: boolean;
  /**
   * Runs after the tokens are validated and before the session is saved: return the login (changed
   * or not) to accept it, throw to refuse it (an error with `status` 401 or 403, else 403; its
   * message is shown). Nothing is stored when it throws.
   */
  afterCallback?: AfterCallback;
  /** Audit hooks; errors they throw are logged and ignored. */
  on?: OidcEventHandlers;
  /**
   * Where the start-up check reports what it finds (client authentication method not supported,
   * a Secure cookie on http, express-session missing, MemoryStore in production, ...).
   * Default `console`; `false` to silence it.
   */
  logger?: OidcLogger | false;
  /**
   * express-session's middleware (`session({ ... })`), to run inside this one instead of in its
   * own `app.use()`: one line, always mounted before the login middleware, and one router layer
   * less on every request. Without it, mount express-session yourself, before `oidcLogin()`.
   * Either way, mount `oidcLogin()` at the app's root: the session then exists on every route.
   *
   * @example
   * app.use(oidcLogin({ issuer, clientId, clientSecret, baseUrl, session: session({ secret, resave: false, saveUninitialized: false }) }));
   */
  session?: SessionMiddleware;
  /**
   * Where several app instances coordinate: a per-login refresh lock, "used once" for the state of
   * a callback and for logout-token `jti`s, and the `sid`/`sub` index of back-channel logout,
   * with Redis's atomic operations. When the session store is connect-redis, its client is used
   * without this option. `{ redis: client }` names a node-redis client (v4 or later) explicitly;
   * `{ redis: false }` keeps the store-only behaviour even with connect-redis. Without Redis, "once"
   * and "one at a time" hold within one instance only (see the docs on several instances).
   *
   * @example
   * app.use(oidcLogin({ issuer, clientId, clientSecret, baseUrl, coordinator: { redis: redisClient } }));
   */
  coordinator?: CoordinatorOptions;
  /** Extra authorization request parameters, e.g. `{ prompt: 'login', acr_values: '...', max_age: 3600 }`. */
  authorizationParams?: Record<string, string | number>;
  /**
   * The authorization parameters `/login` forwards from its own query, for links such as
   * `/login?login_hint=ann@example.com&ui_locales=fr` or a "Sign up" button's `prompt=create`.
   * None by default. Each value is at most 512 characters of printable text; a value that is
   * not (or is repeated) is answered 400 `ERR_OIDC_INVALID_LOGIN_REQUEST`. The protocol's own
   * parameters (`state`, `nonce`, `code_challenge*`, `redirect_uri`, `response_type`,
   * `response_mode`, `client_id`, `request`, `request_uri`...) cannot be listed; `scope` can,
   * and then replaces `scope` for that login (it must keep `openid`).
   *
   * @example authorizationParamsFromQuery: ['login_hint', 'ui_locales', 'prompt']
   */
  authorizationParamsFromQuery?: readonly string[];
  /** Token endpoint client authentication. Default `client_secret_basic`. */
  clientAuthMethod?: ClientAuthMethod;
  /**
   * For `private_key_jwt`: the client's private key (PEM PKCS#8, a private JWK, a `KeyObject` or a
   * `CryptoKey`), or `{ key, kid, alg }`. `alg` defaults to the JWK's, else RS256 for RSA, ES256 for
   * P-256, EdDSA for Ed25519; `kid` to the JWK's, else its RFC 7638 thumbprint.
   */
  clientPrivateKey?: ClientPrivateKey;
  /** For `tls_client_auth` (RFC 8705): the TLS client certificate, `{ cert, key, ca? }`, PEM. */
  clientCertificate?: ClientCertificate;
  /**
   * Send the authorization request's parameters to the provider's PAR endpoint first (RFC 9126).
   * Default: only when the provider's metadata says `require_pushed_authorization_requests`.
   */
  pushedAuthorizationRequests?: boolean;
  /**
   * The APIs (resource servers) whose access tokens `req.oidc.getAccessToken({ resource })` gets,
   * each named by its resource indicator (RFC 8707: an absolute URI) or, with `resourceParameter:
   * 'audience'`, its audience. With `resourceParameter: 'resource'` they are asked for at login
   * (`resource` parameters in the authorization request), as RFC 8707 providers (oidc-provider,
   * Keycloak with the feature, Ping) require for the refresh token to cover them, and
   * `getAccessToken()` refuses a resource not listed. Default: none asked for at login, any
   * resource accepted (Entra ID, whose refresh tokens cover every API the user consented to, and
   * Auth0 with `resourceParameter: 'audience'`).
   * @see https://www.rfc-editor.org/rfc/rfc8707.html
   */
  resources?: string[];
  /**
   * How a token request names the API: `'resource'` (RFC 8707, the default) or `'audience'`
   * (Auth0's parameter). Used by `getAccessToken({ resource })` on the refresh grant and, for
   * `resources`, in the authorization request.
   */
  resourceParameter?: 'resource' | 'audience';
  /**
   * Sender-constrained access tokens with DPoP (RFC 9449): `true` (ES256 keys) or `{ alg }`. Each
   * login gets its own key pair, made at the callback and kept with the login in the session
   * store; the token requests (code, refresh), userinfo and `req.oidc.fetch()` send proofs made
   * with it. A provider that answers with a token that is not DPoP-bound fails the login
   * (`ERR_OIDC_DPOP_NOT_BOUND`). Default off.
   */
  dpop?: boolean | DPoPOptions;
  /** The one algorithm accepted for ID token signatures. Default `RS256`. Symmetric and `none` are refused. */
  idTokenSigningAlg?: string;
  /** Audiences besides `clientId` that an ID token may carry. Default none. */
  additionalAudiences?: readonly string[];
  /**
   * Required with a Microsoft Entra ID multi-tenant issuer (`https://login.microsoftonline.com/common/v2.0`,
   * `/organizations/v2.0` or `/consumers/v2.0`), and only allowed with one: the tenant IDs (GUIDs)
   * whose users may log in, or `'any'` to let in the users of every Entra tenant (and, with
   * `common` or `consumers`, every personal Microsoft account). Each ID token's `iss` must be
   * `https://login.microsoftonline.com/<its tid>/v2.0`; a login from a tenant not listed is refused
   * with `403 ERR_OIDC_TENANT_NOT_ALLOWED`.
   */
  allowedTenants?: readonly string[] | 'any';
  /** Timeout of every request to the provider, in milliseconds. Default 5000. */
  httpTimeout?: number;
  /** Clock skew tolerated in ID token time checks, in seconds. Default 60. */
  clockTolerance?: number;
  /**
   * A back-channel logout token without `exp` is accepted while its `iat` is at most this many
   * seconds old; `false` refuses every logout token without `exp`, as Back-Channel Logout 1.0
   * requires. Default 120. Glewlwyd, LemonLDAP::NG and older Authentik send no `exp` (an earlier
   * draft): refusing them would leave users logged in here after they logged out at the provider.
   * Replays within the window are refused by the token's `jti`, as for every logout token.
   */
  logoutTokenMaxAge?: number | false;
  /** How long a started login may take, in milliseconds. Default 10 minutes. */
  transactionMaxAge?: number;
  /**
   * Logins pending at once in one browser (tabs); the oldest is dropped beyond it. Default 5. With
   * `pendingLogins: 'cookie'` their cookies also stay under 6 KB together.
   */
  maxPendingLogins?: number;
  /**
   * Where a started login (state, nonce, PKCE verifier, returnTo) waits for its callback:
   * - `'cookie'`: one short-lived cookie per login, sealed with AES-256-GCM, sent only to the
   *   callback. `/login` writes nothing to the session store, so abandoned logins cost nothing there.
   * - `'session'`: in the express-session session, saved before the redirect.
   *
   * Default `'cookie'` when a key can be had (`secret`, else the client's own credential), else
   * `'session'`.
   */
  pendingLogins?: 'cookie' | 'session';
  /**
   * The key of the pending-login cookies: a random string of at least 32 characters, the same on
   * every instance, or an array of them for rotation (the first seals, all open). Default: a key
   * derived from the client's credential (`clientSecret` of 32 characters or more, the
   * `private_key_jwt` key or the TLS client key); set it in production.
   * @example secret: [process.env.OIDC_COOKIE_SECRET!, process.env.OIDC_COOKIE_SECRET_PREVIOUS!]
   */
  secret?: string | readonly string[];
  /**
   * How the provider sends the authorization response back: `'query'` (default: a redirect to
   * the callback with `?code=...&state=...`) or `'form_post'` (OAuth 2.0 Form Post Response Mode: an
   * HTML form the browser POSTs to the callback, so the code never appears in a URL).
   */
  responseMode?: 'query' | 'form_post';
  /** Where to send the user after login when no valid `returnTo` was given. Default `/`. */
  defaultReturnTo?: string;
  /**
   * Allows `http://` for the issuer and a non-loopback `baseUrl`. For local development against a
   * provider on your own machine only: never in production.
   */
  dangerouslyAllowInsecureHttp?: boolean;
  /**
   * Several named providers in one app, in place of `issuer` / `clientId` / `clientSecret` /
   * `configuration`: `{ keycloak: { issuer, clientId, clientSecret }, github: { ... } }`. Each gets
   * its own routes (`/login/<name>`, `/callback/<name>`, `/backchannel-logout/<name>`); `/logout`
   * is shared. Names match `/^[a-z0-9][a-z0-9_-]{0,31}$/`. Each entry takes every provider-level
   * option; the same options given at the top level are defaults for every provider (`logout` is
   * merged key by key). App-level options ({@link AppLevelOption}) are top-level only.
   */
  providers?: Record<string, ProviderOptions>;
  /** With `providers`: the one `GET /login` sends to. Without it, several providers get a chooser page. */
  defaultProvider?: string;
  /**
   * The app's own session fields that survive the login (a cart, a locale, a wizard's progress):
   * the session gets a new id at login, and starts empty but for the login. `'all'` keeps every
   * field of the app's, a list keeps those named, `false` (default) none. The middleware's own
   * state (`oidc`: an earlier login, pending logins) and the `cookie` are never carried. An
   * attacker who planted a session cookie in the browser before the login could have put values
   * in that session: keep only fields that are harmless whoever set them (not a CSRF secret, not
   * an address to ship to), and read them as what they are, data from before the login.
   *
   * @example keepSessionData: ['cart', 'locale']
   */
  keepSessionData?: 'all' | readonly string[] | false;
}

/** `server`: a provider given by its endpoints (all absolute https URLs) instead of discovery. */
export interface ServerEndpoints {
  /**
   * The authorization server's issuer identifier. Required with `openid` in `scope` (ID tokens must
   * name it); otherwise it defaults to `authorizationEndpoint`'s origin.
   */
  issuer?: string;
  /** Where the browser is sent to log in (GitHub: `https://github.com/login/oauth/authorize`). */
  authorizationEndpoint: string;
  /** Where the code is exchanged for tokens (GitHub: `https://github.com/login/oauth/access_token`). */
  tokenEndpoint: string;
  /**
   * Where the user's profile is read with the access token (GitHub: `https://api.github.com/user`).
   * Required for a plain OAuth 2.0 login (no `openid` in `scope`).
   */
  userinfoEndpoint?: string;
  /** RFC 7009 token revocation: the refresh token is revoked there at logout. */
  revocationEndpoint?: string;
  /** The provider's signing keys. Required with `openid` in `scope` (ID token signatures). */
  jwksUri?: string;
}

/** The `dpop` option's object form. */
export interface DPoPOptions {
  /**
   * The algorithm of the logins' key pairs and proofs: `ES256` (default), `ES384`, `EdDSA` or
   * `Ed25519` (both Ed25519 keys; the proof's `alg` header says which name). The provider must list
   * it in `dpop_signing_alg_values_supported`. RSA is not offered: a key pair is made at every
   * callback, and an RSA one costs ~170 ms of CPU.
   */
  alg?: DPoPAlg;
}

/** The names of the {@link APP_LEVEL_OPTIONS}. */
export type AppLevelOption = (typeof APP_LEVEL_OPTIONS)[number];

/**
 * One named provider of `providers`: every option of {@link OidcLoginOptions} but the app-level
 * ones, plus a `label` for the chooser page.
 *
 * @example
 * oidcLogin({ baseUrl, providers: { keycloak: { issuer, clientId, clientSecret, label: 'Staff' } } })
 */
export type ProviderOptions = Omit<OidcLoginOptions, AppLevelOption | 'providers' | 'defaultProvider' | 'logout'> & {
  /** How the chooser page names this provider ("Log in with <label>"). Default: its name. */
  label?: string;
  /** The provider's part of the logout options (`allowGet` is app-level: the `/logout` route is shared). */
  logout?: Omit<LogoutOptions, 'allowGet'>;
};

/** Options of the logout route. */
export interface LogoutOptions {
  /** Also end the session at the provider (RP-Initiated Logout) when it has an end_session_endpoint. Default true. */
  idpLogout?: boolean;
  /**
   * Where the provider sends the browser after logout; register it there. Same origin as `baseUrl`.
   * Default `baseUrl + '/'`.
   */
  postLogoutRedirectUri?: string;
  /**
   * Also answer `GET /logout`: the user's own navigation on this origin logs out; a cross-site GET
   * is refused, and one the browser does not show to be the user's own gets a page whose button
   * POSTs the logout. Default true.
   */
  allowGet?: boolean;
  /** Revoke the refresh token at the provider when it has a revocation_endpoint. Default true. */
  revokeTokens?: boolean;
  /**
   * For a provider without a standard end_session_endpoint (Auth0's `/v2/logout`, Cognito's
   * `/logout`...): where to send the browser to log out at the provider, in place of the
   * end_session_endpoint. `auth0Logout()` and `cognitoLogout()` are ready-made. Returning
   * `undefined` keeps the standard behaviour. Used when `idpLogout` is on.
   */
  idpLogoutUrl?: IdpLogoutUrl;
}
