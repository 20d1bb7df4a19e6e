export { oidcLogin } from './middleware.js';
export { requireAuth, claimEquals, claimIncludes, claimCheck, isAuthenticated } from './guard.js';
export type { ClaimCheck } from './guard.js';
export { OidcError, OidcAuthorizationError, OidcConfigError } from './errors.js';
export type { OidcErrorCode } from './errors.js';
export { safeReturnTo } from './url.js';
export { loginFromSession } from './stored-login.js';
export { guardSessionStore } from './store-guard.js';
export type { GuardSessionStoreOptions } from './store-guard.js';
export type { OidcLoginOptions, ClientAuthMethod, LogoutOptions, AfterCallback, OidcEvent, OidcEventHandlers } from './config.js';
export type { ServerEndpoints, ProfileMapper, MappedProfile, ProfileApi } from './config.js';
export { github, google } from './presets.js';
export type { ProviderPreset, GitHubOptions, GoogleOptions } from './presets.js';
export type { DPoPOptions } from './config.js';
export type { ProviderOptions, AppLevelOption } from './config.js';
export type {
  OidcContext,
  AuthenticatedOidcContext,
  OpenIdLoginContext,
  OAuthLoginContext,
  LoginClaims,
  ProfileClaims,
  JsonValue,
  StoredLogin,
  StoredTransaction,
  StoredOidcState,
  StoredDPoPKey,
  DPoPAlg,
  IDToken,
  TokenEndpointResponse,
} from './types.js';
export type { RequireAuthOptions, RequireAuthHandler } from './guard.js';
export { auth0Logout, cognitoLogout } from './logout-adapters.js';
export type { IdpLogoutUrl, IdpLogoutContext } from './config.js';
export type { ClientPrivateKey, ClientPrivateKeyMaterial, ClientAssertionAlg, ClientCertificate } from './client-auth.js';
