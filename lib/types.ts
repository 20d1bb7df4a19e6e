import type { IDToken, JsonValue } from 'openid-client';

export type { IDToken, JsonValue, TokenEndpointResponse } from 'openid-client';

/**
 * The claims of a plain OAuth 2.0 login (no ID token): what the `profile` option made of the
 * provider's userinfo response, as plain JSON. `sub` is always a non-empty string; `iss` is the
 * configured issuer (`server.issuer`, or the discovered one), whatever the profile said, so that
 * (`iss`, `sub`) names a user. The claims only an ID token can carry (`aud`, `azp`, `nonce`, `acr`,
 * `amr`, `auth_time`, `sid`, `tid`, `exp`, `iat`, `nbf`) are never there.
 */
export interface ProfileClaims {
  readonly iss: string;
  readonly sub: string;
  readonly [claim: string]: JsonValue | undefined;
}

/** A login's claims: the verified ID token's (OpenID Connect), or the mapped profile (plain OAuth 2.0). */
export type LoginClaims = IDToken | ProfileClaims;

/**
 * A login in progress, kept under its `state` until the callback takes it: sealed into an `oidc.tx.*`
 * cookie by default, or in the session with `pendingLogins: 'session'`.
 */
export interface StoredTransaction {
  /** The `nonce` sent in the authorization request; the ID token must carry it back. None for plain OAuth 2.0. */
  nonce?: string;
  /** The PKCE `code_verifier`; never leaves the server. */
  verifier: string;
  /** A path on this app to return to after the login. */
  returnTo: string;
  /** When the login started, in milliseconds since the epoch. */
  createdAt: number;
  /** A silent login (`prompt=none`): `login_required` then returns to `returnTo` instead of failing. */
  silent?: boolean;
  /** Step-up: the `max_age` (seconds) requested from the query; the callback checks `auth_time` against it. */
  maxAge?: number;
  /** Step-up: the `acr_values` requested; the ID token's `acr` must be one of them. */
  acrValues?: string[];
  /** With `providers`: the provider the login was started at; only its callback may finish it. */
  provider?: string;
  /** The scope this login asked for, when not the configured one (`scope` among its parameters). */
  scope?: string;
  /** `req.oidc.login({ appState })`: the app's data for this login, handed to `afterCallback`. */
  appState?: JsonValue;
  /**
   * The SHA-256 (base64url) of the browser-binding cookie of the browser that started the login;
   * the callback requires that cookie (login CSRF by cookie tossing).
   */
  browser?: string;
}

/** The algorithm of a login's DPoP key (option `dpop: { alg }`). No RSA: a key pair is made per login. */
export type DPoPAlg = 'ES256' | 'ES384' | 'EdDSA' | 'Ed25519';

/**
 * A DPoP login's key pair (RFC 9449), made for this login alone and kept with it in the session
 * store (never in a cookie, never logged): the access tokens of the login are bound to it.
 */
export interface StoredDPoPKey {
  alg: DPoPAlg;
  /** The RFC 7638 SHA-256 thumbprint of the public key: the tokens' `cnf.jkt`. */
  jkt: string;
  /** The private key as a JWK (its public members included). */
  jwk: Record<string, string>;
}

/**
 * An access token for another API than the login's own (`getAccessToken({ resource })`), kept in
 * the session until it expires. Bound to the login's DPoP key when the login has one.
 */
export interface StoredResourceToken {
  accessToken: string;
  tokenType: string;
  /** When it expires, in seconds since the epoch. */
  expiresAt?: number;
  scope?: string;
}

/** What a successful login leaves in the session: plain JSON, safe for any session store. */
export interface StoredLogin {
  /** The raw ID token; none for a plain OAuth 2.0 login. */
  idToken?: string;
  accessToken: string;
  refreshToken?: string;
  tokenType: string;
  /** When the access token expires, in seconds since the epoch. */
  expiresAt?: number;
  scope?: string;
  /** The verified ID token claims, or the mapped profile of a plain OAuth 2.0 login. */
  claims: LoginClaims;
  /** The userinfo response, when fetched (`fetchUserInfo`). */
  user?: Record<string, unknown>;
  /**
   * The claims merged into `claims` from userinfo at login (`fetchUserInfo`), by name: a refresh
   * that brings a new ID token (which lacks them) keeps these, and only these, of the login's claims.
   */
  userinfoClaims?: string[];
  /** When the user logged in, in milliseconds since the epoch (for `absoluteDuration`). */
  loggedInAt: number;
  /** The last request seen, in milliseconds since the epoch, updated at most once a minute (for `idleDuration`). */
  activeAt: number;
  /** Application data added by `afterCallback`. */
  data?: Record<string, unknown>;
  /** With the `dpop` option: the key the access tokens are bound to (`tokenType` is then `dpop`). */
  dpop?: StoredDPoPKey;
  /**
   * How many refresh-token grants have changed this login's tokens (absent: none). It orders
   * two copies of one login: a request that saves the copy it loaded before a refresh does not
   * put back the refresh token that refresh spent (see late-write-guard.ts).
   */
  refreshes?: number;
  /**
   * Access tokens for other APIs (`getAccessToken({ resource, scope })`), by resource (and scope,
   * after a space); at most `MAX_RESOURCE_TOKENS`, the least recently fetched dropped first.
   */
  resources?: Record<string, StoredResourceToken>;
  /**
   * What this login's authorization request asked for and the callback verified (`max_age`,
   * `acr_values`), so that `requireAuth({ maxAge, acrValues })` does not send back to the provider
   * a login that is already its answer.
   */
  requested?: { maxAge?: number; acrValues?: string[] };
  /**
   * With `providers`: the name of the provider that logged the user in (refresh, userinfo and
   * logout go to it). Absent in the single-provider form, whose provider is named `default`.
   */
  provider?: string;
}

/** The middleware's part of the session (`req.session.oidc`). */
export interface StoredOidcState {
  /** Pending logins keyed by `state`. */
  tx?: Record<string, StoredTransaction>;
  /**
   * In the store: the login as one JSON string (see stored-login.ts), whose `claims` are `"idToken"`
   * when they are its ID token's payload (read them with `loginFromSession()`); during a request:
   * the frozen login, with its claims.
   */
  login?: Readonly<StoredLogin>;
  /** A silent login was tried in this session already (no second try, no loop). */
  silentTried?: boolean;
}

/** What `req.oidc.login()` is given. */
export interface LoginOptions {
  /** A path on this app to return to after the login. Default `defaultReturnTo` (also for one that is not a safe path). */
  returnTo?: string;
  /**
   * Authorization parameters for this login (`prompt`, `login_hint`, `ui_locales`, `screen_hint`,
   * `organization`...), over the `authorizationParams` option. `scope` replaces the `scope` option
   * (it must keep `openid`); `max_age` and `acr_values` are a step-up, checked at the callback as
   * `requireAuth({ maxAge, acrValues })`'s. The protocol's own parameters (`state`, `nonce`,
   * `redirect_uri`...) cannot be set.
   */
  authorizationParams?: Record<string, string | number | undefined>;
  /**
   * The app's data for this login (JSON, at most 512 bytes of it): sealed into the pending login
   * and handed back to `afterCallback` as `details.appState`. Never sent to the provider.
   */
  appState?: JsonValue;
  /** With `providers`: the provider to log in at. Default `defaultProvider` (or the only provider). */
  provider?: string;
}

/** `req.oidc`: the login of the current request, read lazily from the session. */
export interface OidcContext {
  /** True when the session holds a completed login. */
  isAuthenticated(): boolean;
  /**
   * The verified ID token claims (OpenID Connect), or the claims `profile` made of the userinfo
   * response (plain OAuth 2.0); `undefined` when not logged in.
   */
  readonly claims: LoginClaims | undefined;
  /** The raw ID token; `undefined` when not logged in, and for plain OAuth 2.0 logins. */
  readonly idToken: string | undefined;
  readonly accessToken: string | undefined;
  readonly refreshToken: string | undefined;
  /** When the access token expires, in seconds since the epoch. */
  readonly expiresAt: number | undefined;
  readonly scope: string | undefined;
  readonly tokenType: string | undefined;
  /** The userinfo response fetched at login (`fetchUserInfo: true`) or by `fetchUserInfo()`. */
  readonly user: Record<string, unknown> | undefined;
  /**
   * The name of the provider that logged the user in: a key of `providers`, or `'default'` in the
   * single-provider form. `undefined` when not logged in.
   */
  readonly provider: string | undefined;
  /**
   * A valid access token: refreshed first (with the refresh token) when it has expired or expires
   * within `refreshLeeway`. Concurrent calls in one process share one refresh request.
   * Rejects with an `OidcError` (`ERR_OIDC_UNAUTHENTICATED` when not logged in or the refresh token
   * was revoked: the login has then ended).
   */
  getAccessToken(options?: AccessTokenOptions): Promise<string>;
  /**
   * Calls the userinfo endpoint with the access token; its `sub` must be the login's (for a plain
   * OAuth 2.0 login: the `sub` that `profile` makes of it, and `claims` are updated). Stores the
   * result as `user`.
   */
  fetchUserInfo(): Promise<Record<string, unknown>>;
  /**
   * `fetch()` to a resource server (an API) with this login's access token, refreshed first when
   * needed: `Authorization: DPoP <token>` and a `DPoP` proof for a DPoP login (retried once on a
   * `use_dpop_nonce` challenge), `Authorization: Bearer <token>` otherwise. Redirects are not
   * followed; bounded by `httpTimeout`. Resolves with the `Response` whatever its status; rejects
   * with an `OidcError` when not logged in (401 `ERR_OIDC_UNAUTHENTICATED`), when the resource
   * server cannot be reached (503 `ERR_OIDC_RESOURCE_UNREACHABLE`) or does not answer in time
   * (504 `ERR_OIDC_RESOURCE_TIMEOUT`).
   *
   * @example
   * const res = await req.oidc.fetch('https://api.example.com/orders', { method: 'POST', body: JSON.stringify(order) });
   * @see https://www.rfc-editor.org/rfc/rfc9449.html#section-7
   */
  fetch(url: string | URL, init?: RequestInit & ResourceOptions): Promise<Response>;
  /**
   * Starts a login from the app's own route or hook, as `GET /login` does: answers the request
   * with a redirect to the provider (send nothing else after it). Rejects with a `TypeError` for
   * options that are not allowed (a protocol parameter, an `appState` over 512 bytes, an unknown
   * `provider`), and with an `OidcError` as `/login` would (provider unreachable...).
   *
   * @example
   * app.get('/signup', (req, res, next) => {
   *   req.oidc!.login({ returnTo: '/welcome', authorizationParams: { prompt: 'create' }, appState: { plan: 'pro' } }).catch(next);
   * });
   */
  login(options?: LoginOptions): Promise<void>;
}

/** Which API a token is for (`getAccessToken()`, `fetch()`); none: the login's own access token. */
export interface ResourceOptions {
  /**
   * The API: its resource indicator (RFC 8707, an absolute URI such as `https://api.example.com`)
   * or, with `resourceParameter: 'audience'`, its audience. Its token comes from the refresh grant
   * with `resource` (or `audience`) set, is kept in the session and renewed when it expires. Needs
   * a refresh token (the `offline_access` scope at most providers).
   */
  resource?: string;
  /** The scopes to ask for with `resource` (space-separated), e.g. Entra's `api://…/.default`. */
  scope?: string;
}

/** Options of `req.oidc.getAccessToken()`. */
export interface AccessTokenOptions extends ResourceOptions {
  /** Refresh now even when the access token is still valid (when there is a refresh token). */
  forceRefresh?: boolean;
}

/** `req.oidc` of an OpenID Connect login: the verified ID token and its claims. */
export interface OpenIdLoginContext extends OidcContext {
  readonly provider: string;
  readonly claims: IDToken;
  readonly idToken: string;
  readonly accessToken: string;
}

/** `req.oidc` of a plain OAuth 2.0 login: no ID token; the claims are the mapped profile. */
export interface OAuthLoginContext extends OidcContext {
  readonly provider: string;
  readonly claims: ProfileClaims;
  readonly idToken: undefined;
  readonly accessToken: string;
}

/**
 * `req.oidc` once {@link isAuthenticated} or `requireAuth()` said yes. `idToken` tells the two
 * kinds apart: `if (req.oidc.idToken !== undefined)` narrows `claims` to the ID token's.
 */
export type AuthenticatedOidcContext = OpenIdLoginContext | OAuthLoginContext;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `oidcLogin()` on every request that passes through it. */
      oidc?: OidcContext;
    }
  }
}

declare module 'express-session' {
  interface SessionData {
    oidc?: StoredOidcState;
  }
}
