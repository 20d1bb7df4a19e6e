import type { Configuration, ServerMetadata } from 'openid-client';
import type { Sealer } from '../util/seal.js';
import type { RandomPool } from '../util/random-pool.js';
import type { DPoPAlg } from '../types.js';
import type { ClientAuthMethod } from './credential-types.js';
import type { OidcLogger, RedisCommandClient, SessionMiddleware } from './dependency-types.js';
import type { LogoutOptions } from './types.js';
import type { AfterCallback, IdpLogoutUrl, OidcEventHandlers, ProfileMapper } from './hook-types.js';
import type { ClientSigningKey } from './client-keys.js';
import type { ClientTlsIdentity } from './client-certificate.js';

/** The options after validation and defaults: what the rest of the library reads. */
export interface ResolvedConfig {
  /** With `providers`: the name of the provider this configuration is for. */
  readonly providerName?: string;
  readonly issuer: URL | undefined;
  /** How `issuer`'s metadata is discovered. */
  readonly discovery: 'oidc' | 'oauth2';
  /** The provider's metadata built from the `server` option (no discovery), or undefined. */
  readonly server: Readonly<ServerMetadata> | undefined;
  /** True for OpenID Connect logins (`openid` in `scope`: an ID token); false for plain OAuth 2.0. */
  readonly openid: boolean;
  /** Plain OAuth 2.0: the userinfo response to claims (the identity when not configured). */
  readonly profile: ProfileMapper;
  /** Origins besides the userinfo endpoint's that `profile`'s `api.get()` may send the access token to. */
  readonly profileApiOrigins: readonly string[];
  readonly clientId: string | undefined;
  readonly clientSecret: string | undefined;
  readonly configuration: Configuration | undefined;
  readonly baseUrl: URL;
  /** `baseUrl` is https: the app's cookies are Secure. */
  readonly secureCookies: boolean;
  readonly redirectUri: string;
  /** `redirectUri`'s path, `baseUrl`'s prefix included: the callback as the browser requests it. */
  readonly redirectPath: string;
  readonly scope: string;
  readonly loginPath: string | false;
  readonly callbackPath: string | false;
  readonly logoutPath: string | false;
  readonly backchannelLogoutPath: string | false;
  readonly frontchannelLogoutPath: string | false;
  readonly logout: Readonly<Required<Omit<LogoutOptions, 'idpLogoutUrl'>> & { idpLogoutUrl: IdpLogoutUrl | undefined }>;
  /** Seconds. */
  readonly refreshLeeway: number;
  /** Seconds before discovered metadata is fetched again (in the background), or false. */
  readonly discoveryMaxAge: number | false;
  readonly autoRefresh: boolean;
  /** `'auto'`: at login when the ID token lacks the claims of the scopes asked for. */
  readonly fetchUserInfo: boolean | 'auto';
  /** The app's session fields a login carries into the new session: all, these, or none. */
  readonly keepSessionData: 'all' | readonly string[] | false;
  /** Seconds, or false. */
  readonly absoluteDuration: number | false;
  /** Seconds, or false. */
  readonly idleDuration: number | false;
  readonly silentLogin: boolean;
  readonly afterCallback: AfterCallback | undefined;
  readonly on: Readonly<OidcEventHandlers>;
  readonly logger: OidcLogger | undefined;
  /** The `session` option: express-session run inside the login middleware. */
  readonly session: SessionMiddleware | undefined;
  /** The `coordinator` option, validated (`redis: undefined`: the session store's client when it is connect-redis). */
  readonly coordinator: ResolvedCoordinator;
  /** `baseUrl`'s path + login path: where `requireAuth` sends browsers. */
  readonly loginUrlPath: string;
  readonly authorizationParams: Readonly<Record<string, string>>;
  /** The parameters `/login` forwards from its query (protocol parameters never among them). */
  readonly authorizationParamsFromQuery: readonly string[];
  /** The APIs asked for at login (RFC 8707 `resource`, with `resourceParameter` 'resource'); undefined: any, none asked for. */
  readonly resources: readonly string[] | undefined;
  readonly resourceParameter: 'resource' | 'audience';
  readonly maxAge: number | undefined;
  readonly clientAuthMethod: ClientAuthMethod;
  /** private_key_jwt's signing key (private part hidden). */
  readonly clientKey: ClientSigningKey | undefined;
  /** tls_client_auth's certificate (key hidden). */
  readonly clientCertificate: ClientTlsIdentity | undefined;
  /** Where the client's public JWKS is served (private_key_jwt), or false. */
  readonly jwksPath: string | false;
  /** PAR forced by the option (the provider's requirement is read from its metadata). */
  readonly pushedAuthorizationRequests: boolean;
  /** DPoP for new logins, with the alg of their keys; undefined when off. */
  readonly dpop: Readonly<{ alg: DPoPAlg }> | undefined;
  readonly idTokenSigningAlg: string;
  readonly additionalAudiences: readonly string[];
  /** A multi-tenant Entra issuer's allowed tenants (lower-case GUIDs) or 'any'; undefined for every other issuer. */
  readonly allowedTenants: readonly string[] | 'any' | undefined;
  readonly httpTimeout: number;
  readonly clockTolerance: number;
  /** Seconds a logout token without `exp` may be old (by its `iat`); false: `exp` is required. */
  readonly logoutTokenMaxAge: number | false;
  readonly transactionMaxAge: number;
  readonly maxPendingLogins: number;
  readonly defaultReturnTo: string;
  readonly allowInsecureHttp: boolean;
  readonly pendingLogins: 'cookie' | 'session';
  /** True when `pendingLogins` was given, false when it was chosen by the key at hand. */
  readonly pendingLoginsExplicit: boolean;
  /** The key ring of the pending-login cookies (cookie mode only). */
  readonly sealer: Sealer | undefined;
  /** Random values for this configuration's logins: state, nonce, PKCE verifier, cookie values, IVs. */
  readonly random: RandomPool;
  readonly responseMode: 'query' | 'form_post';
  /** `routes.frontchannelLogout` was set by the app (the route acts even when the provider does not advertise front-channel logout). */
  readonly frontchannelLogoutExplicit: boolean;
}

export interface ResolvedCoordinator {
  readonly redis: RedisCommandClient | false | undefined;
  readonly prefix: string | undefined;
  readonly timeout: number;
}
