import type supertest from 'supertest';
import type { OidcLoginOptions } from '../options/types.js';

/** A supertest agent: keeps the app's cookies between requests. */
export type TestAgent = supertest.Agent;
/** A supertest response. */
export type TestResponse = supertest.Response;
/** What supertest can send requests to: an Express / Connect app, an `http.Server`, or a URL. */
export type TestApp = Parameters<typeof supertest>[0];

/**
 * Who logs in: the claims of the ID token (and of the userinfo response). `sub` is required;
 * anything else (`name`, `email`, `groups`, `roles`, `tenant`, `acr`, `amr`, `auth_time`, `sid`…)
 * is passed through as given. The provider sets `iss`, `aud`, `exp`, `iat` and `nonce` itself.
 */
export interface TestUser {
  sub: string;
  [claim: string]: unknown;
}

/** Options of {@link startTestProvider}. Every one has a default. */
export interface TestProviderOptions {
  /** The registered client's id. Default `test-client`. */
  clientId?: string;
  /** The registered client's secret. Default: random for each provider. */
  clientSecret?: string;
  /**
   * The app's `baseUrl`: `options()` returns it, and `baseUrl + '/callback'` is registered as a
   * redirect URI and `baseUrl + '/'` as a post-logout redirect URI. Default `http://localhost:3000`.
   */
  baseUrl?: string;
  /** Registered redirect URIs, when the app's callback is not `/callback`. Default `[baseUrl + '/callback']`. */
  redirectUris?: string[];
  /** Registered post-logout redirect URIs (RP-Initiated Logout). Default `[baseUrl + '/']`. */
  postLogoutRedirectUris?: string[];
  /**
   * Who logs in when an authorization request comes from anything but `loginAs` (a browser test,
   * your own supertest flow) and nobody was queued with `queueLogin()`. `null`: nobody; the
   * provider then answers `login_required` (`prompt=none`) or `access_denied`.
   * Default `{ sub: 'test-user', name: 'Test User' }`.
   */
  defaultUser?: TestUser | null;
  /** `expires_in` of access tokens, in seconds, unless a login says otherwise. Default 3600. */
  accessTokenTtl?: number;
  /** Lifetime of ID tokens, in seconds. Default 3600. */
  idTokenTtl?: number;
  /**
   * When a refresh token is issued: only when the app asks for the `offline_access` scope (as most
   * hosted providers do; the default), `'always'` (as some do), or `'never'`.
   */
  refreshTokens?: 'offline_access' | 'always' | 'never';
  /** Send a new ID token with refreshed tokens (OpenID Connect Core 12.2). Default true. */
  idTokenOnRefresh?: boolean;
  /** The ID token signing algorithm (`RS256`, `PS256`, `ES256`, `EdDSA`…). Default `RS256`. */
  idTokenSigningAlg?: string;
  /**
   * Require a nonce of the provider's in DPoP proofs (RFC 9449 §8), as some providers do: a proof
   * without it (the first of each client) is answered `use_dpop_nonce` with a `DPoP-Nonce` header,
   * at the token endpoint (400) and at userinfo (401). Default false: a proof carries no nonce.
   */
  requireDPoPNonce?: boolean;
  /**
   * Front-Channel Logout 1.0: the app's front-channel logout URL (e.g. `baseUrl +
   * '/frontchannel-logout'`). With it, the metadata says `frontchannel_logout_supported`, and the
   * logout page (`end_session_endpoint`) answers HTML that frames this URL (with `iss` and `sid` of
   * the `id_token_hint`), then goes on to `post_logout_redirect_uri` once the frame has loaded.
   * Default: none (the logout page answers plain text or redirects at once).
   */
  frontchannelLogoutUri?: string;
  /**
   * What the framed URL carries: `'iss-and-sid'` (the specification; the default), `'sid'`
   * (Microsoft Entra ID sends `sid` without `iss`) or `'none'`.
   */
  frontchannelLogoutParams?: 'iss-and-sid' | 'sid' | 'none';
  /**
   * The APIs it issues tokens for on the refresh grant with `resource` (RFC 8707 §2.2), as the app's
   * `getAccessToken({ resource })` asks: another resource is answered `invalid_target`. A token for
   * an API is good for that API only (userinfo refuses it; `accessTokenResource()` tells which).
   * Default: none.
   */
  resources?: string[];
  /** Listen on this port of 127.0.0.1. Default: a free one. */
  port?: number;
}

/** The part of `oidcLogin()`'s options that connects the app to the test provider. */
export type TestProviderClientOptions = Required<
  Pick<OidcLoginOptions, 'issuer' | 'clientId' | 'clientSecret' | 'baseUrl' | 'dangerouslyAllowInsecureHttp'>
> &
  Pick<OidcLoginOptions, 'idTokenSigningAlg'>;

/** What to say in a back-channel logout token: the user, one session of theirs, or both. */
export interface LogoutTokenClaims {
  /** Log out every session of this user. */
  sub?: string;
  /** Log out the session with this `sid` (the ID token's `sid` claim). */
  sid?: string;
}

export interface BackchannelLogoutOptions extends LogoutTokenClaims {
  /** The app's back-channel logout route. Default `/backchannel-logout`. */
  path?: string;
}

/** A login the provider completed (its code was redeemed). */
export interface TestLoginRecord {
  readonly sub: string;
  /** The session id at the provider: the ID token's `sid`. */
  readonly sid: string;
  /** The ID token's claims (without `nonce`). */
  readonly claims: Readonly<Record<string, unknown>>;
  /**
   * For a DPoP login (the code exchange carried a DPoP proof): the RFC 7638 thumbprint of the proof's
   * key, which the access tokens are bound to (`cnf.jkt`) and every refresh must prove.
   */
  readonly jkt?: string;
}

/** An RP-Initiated Logout the provider received at its end_session_endpoint. */
export interface TestLogoutRecord {
  readonly sub?: string;
  readonly sid?: string;
  readonly postLogoutRedirectUri?: string;
}

/** Requests received, by endpoint. */
export interface TestProviderCounts {
  readonly discovery: number;
  readonly jwks: number;
  readonly authorize: number;
  /** Every token request: codes and refreshes, failed or not. */
  readonly token: number;
  /** Token requests with `grant_type=refresh_token`. */
  readonly refresh: number;
  readonly userinfo: number;
  readonly revocation: number;
  readonly endSession: number;
}

/** A running test provider. */
export interface TestProvider {
  /** `http://127.0.0.1:<port>` */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The default `baseUrl` of `options()`. */
  readonly baseUrl: string;
  /** The registered redirect URIs (add to it for a callback route of your own). */
  readonly redirectUris: string[];
  /** The registered post-logout redirect URIs. */
  readonly postLogoutRedirectUris: string[];

  /**
   * The options that connect `oidcLogin()` to this provider: `issuer`, `clientId`, `clientSecret`,
   * `baseUrl` and `dangerouslyAllowInsecureHttp: true` (the provider is plain http on 127.0.0.1).
   * A `baseUrl` other than the provider's is registered (`/callback`, `/`) on the way.
   *
   * @example
   * app.use(oidcLogin({ ...provider.options(), scope: 'openid profile email offline_access' }));
   */
  options(baseUrl?: string): TestProviderClientOptions;

  /**
   * The same for one entry of `providers` (several providers): without `baseUrl`, which is
   * app-level; `baseUrl + '/callback/<name>'` (and `baseUrl + '/'`) are registered on the way.
   * Log in with `loginAs(app, user, { loginPath: '/login/<name>' })`.
   *
   * @example
   * app.use(oidcLogin({ baseUrl: staff.baseUrl, providers: { staff: staff.providerOptions('staff'), partners: partners.providerOptions('partners') } }));
   */
  providerOptions(name: string, baseUrl?: string): Omit<TestProviderClientOptions, 'baseUrl'>;

  /**
   * The next authorization request that does not come from `loginAs` logs in `user` (first in,
   * first out; then `defaultUser`). For browser tests and flows you drive yourself.
   */
  queueLogin(user: TestUser, options?: { expiresIn?: number }): void;
  /** The next authorization request is answered with `error` (default `access_denied`). */
  failNextAuthorization(error?: string, description?: string): void;
  /**
   * The next token request (a login's code exchange or a refresh) fails: with this HTTP status and
   * OAuth `error` (default 503 `temporarily_unavailable`), or, with `'disconnect'`, by dropping the
   * connection.
   */
  failNextTokenRequest(status?: number | 'disconnect', error?: string): void;
  /**
   * Revokes the refresh tokens of `sub` (of everyone without it): their next refresh gets
   * `invalid_grant`. Returns how many logins were affected.
   */
  revokeRefreshTokens(sub?: string): number;
  /**
   * A back-channel logout token (OpenID Connect Back-Channel Logout 1.0) signed with the provider's
   * key: `typ: logout+jwt`, `iss`, `aud`, `iat`, `exp`, `jti`, the logout event, and `sub` and/or `sid`.
   */
  logoutToken(claims: LogoutTokenClaims): Promise<string>;
  /**
   * POSTs a logout token to the app's back-channel logout route, as the provider would when the
   * user's session there ends. Resolves with the response when the app answers 200 or 204; rejects
   * with the status and body otherwise. Needs supertest.
   */
  backchannelLogout(app: TestApp, options: BackchannelLogoutOptions): Promise<TestResponse>;

  /** How many token requests the provider received (codes and refreshes, failed or not). */
  readonly tokenRequests: number;
  /** Requests received, by endpoint. */
  readonly counts: TestProviderCounts;
  /** The logins completed, oldest first. */
  readonly logins: readonly TestLoginRecord[];
  /** The RP-Initiated Logouts received, oldest first. */
  readonly logouts: readonly TestLogoutRecord[];
  /**
   * The API an access token of this provider is for (`resource` of its refresh grant), `null` for
   * the login's own (userinfo) token, `undefined` for a token it never issued: what a resource
   * server checks as the token's audience.
   */
  accessTokenResource(accessToken: string): string | null | undefined;

  /** Stops the provider (open connections included). */
  close(): Promise<void>;
}

/** Options of {@link loginAs}. */
export interface LoginAsOptions {
  /**
   * The provider to log in at. Default: the running test provider the app's login route
   * redirects to (found by its address), so it is needed only to make sure of it.
   */
  provider?: TestProvider;
  /** Log in with this agent (a second login in the same "browser"). Default: a new one. */
  agent?: TestAgent;
  /** Sent as `/login?returnTo=…`. */
  returnTo?: string;
  /** The app's login route. Default `/login`. */
  loginPath?: string;
  /**
   * `expires_in` of this login's access token, in seconds (default: the provider's
   * `accessTokenTtl`). `0` hands the app an access token that has already expired, so its next
   * `getAccessToken()` refreshes. Refreshed tokens get the provider's `accessTokenTtl`.
   */
  expiresIn?: number;
}
