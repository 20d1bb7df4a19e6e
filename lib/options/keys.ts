// The names the options layer knows: every option, the members of the object options, the
// aliases it suggests, and the authorization parameters it owns. Values and limits are in defaults.ts.

/**
 * Options that belong to the app, not to one provider: with `providers`, they are set at the top
 * level only. Every other option is provider-level.
 */
export const APP_LEVEL_OPTIONS = [
  'baseUrl',
  'routes',
  'transactionMaxAge',
  'maxPendingLogins',
  'defaultReturnTo',
  'absoluteDuration',
  'idleDuration',
  'silentLogin',
  'afterCallback',
  'on',
  'logger',
  'session',
  'coordinator',
  // Where the app keeps started logins, and the key of their cookies: one for the app (each
  // provider's cookies are apart anyway: their own callback path, their redirect URI in the seal).
  'pendingLogins',
  'secret',
  // The app's own session fields: the session is the app's, whichever provider logs in.
  'keepSessionData',
] as const;

/** Options about one provider and its client: with `providers`, set per provider (or as defaults at the top level). */
export const PROVIDER_LEVEL_OPTIONS = [
  'issuer',
  'discovery',
  'discoveryMaxAge',
  'server',
  'profile',
  'profileApiOrigins',
  'clientId',
  'clientSecret',
  'configuration',
  'scope',
  'authorizationParams',
  'authorizationParamsFromQuery',
  'clientAuthMethod',
  'clientPrivateKey',
  'clientCertificate',
  'pushedAuthorizationRequests',
  'dpop',
  'idTokenSigningAlg',
  'additionalAudiences',
  'allowedTenants',
  'httpTimeout',
  'clockTolerance',
  'logoutTokenMaxAge',
  'dangerouslyAllowInsecureHttp',
  'logout',
  'refreshLeeway',
  'autoRefresh',
  'fetchUserInfo',
  'responseMode',
  'resources',
  'resourceParameter',
] as const;

/** Every top-level option. */
export const KNOWN_OPTIONS = [...PROVIDER_LEVEL_OPTIONS, ...APP_LEVEL_OPTIONS, 'providers', 'defaultProvider'] as const;

/** Names used by the peers (express-openid-connect, passport) that people will carry over. */
export const ALIASES: Record<string, string> = {
  issuerbaseurl: 'issuer',
  issuerurl: 'issuer',
  baseurl: 'baseUrl',
  clientid: 'clientId',
  clientsecret: 'clientSecret',
  callbackurl: 'baseUrl (the callback URL is baseUrl + routes.callback)',
  redirecturi: 'baseUrl (the redirect URI is baseUrl + routes.callback)',
  redirect_uri: 'baseUrl (the redirect URI is baseUrl + routes.callback)',
  client_id: 'clientId',
  client_secret: 'clientSecret',
  token_endpoint_auth_method: 'clientAuthMethod',
  timeout: 'httpTimeout',
  discoverycachemaxage: 'discoveryMaxAge (in seconds)',
  response_mode: 'responseMode',
  responsemode: 'responseMode',
  cookiesecret: 'secret',
  authorizationparameters: 'authorizationParams',
  params: 'authorizationParams',
};

export const ROUTE_KEYS = ['login', 'callback', 'logout', 'backchannelLogout', 'frontchannelLogout', 'jwks'] as const;
export const SERVER_KEYS = [
  'issuer',
  'authorizationEndpoint',
  'tokenEndpoint',
  'userinfoEndpoint',
  'revocationEndpoint',
  'jwksUri',
] as const;
export const LOGOUT_KEYS = ['idpLogout', 'postLogoutRedirectUri', 'allowGet', 'revokeTokens', 'idpLogoutUrl'] as const;
export const COORDINATOR_KEYS = ['redis', 'prefix', 'timeout'] as const;
export const EVENT_KEYS = [
  'login',
  'logout',
  'refresh',
  'backchannelLogout',
  'loginFailed',
  'backchannelLogoutFailed',
] as const;

/** Authorization parameters the middleware owns; setting them would weaken or break the flow. */
export const RESERVED_PARAMS = new Set([
  'client_id',
  'redirect_uri',
  'response_type',
  'response_mode',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'scope',
  'request',
  'request_uri',
]);

/**
 * Parameters that `/login` never takes from its query, whatever `authorizationParamsFromQuery`
 * says: the protocol's own (besides {@link RESERVED_PARAMS}: the PKCE, DPoP and client
 * authentication parameters), and those the login route reads itself (`returnTo`, `silent`, and
 * the step-up's `max_age` and `acr_values`, which it checks at the callback).
 */
const NEVER_FROM_QUERY = new Set([
  'code_verifier',
  'dpop_jkt',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
  'returnTo',
  'silent',
  'max_age',
  'acr_values',
]);

/**
 * True for a parameter the middleware owns: set by anyone else it would weaken or break the flow.
 * `code_challenge*` covers the PKCE parameters a later extension may add.
 */
export function isProtocolParam(name: string): boolean {
  return RESERVED_PARAMS.has(name) || name.startsWith('code_challenge');
}

/** True for a parameter `authorizationParamsFromQuery` may not name (`scope` may be named). */
export function isRefusedFromQuery(name: string): boolean {
  return name !== 'scope' && (isProtocolParam(name) || NEVER_FROM_QUERY.has(name));
}
