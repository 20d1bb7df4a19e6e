export { oidcLogin } from './middleware.js';
export { requireAuth, claimEquals, claimIncludes, claimCheck, isAuthenticated, authenticated } from './require-auth.js';
export type { ClaimCheck } from './require-auth.js';
export { OidcError, OidcAuthorizationError, OidcConfigError } from './util/errors.js';
export type { OidcErrorCode } from './util/errors.js';
export { safeReturnTo } from './util/url.js';
export { loginFromSession } from './session/stored-login.js';
export { guardSessionStore } from './session/store-guard.js';
export type { GuardSessionStoreOptions } from './session/store-guard.js';
export type { OidcLoginOptions, LogoutOptions, ServerEndpoints } from './options/types.js';
export type { ClientAuthMethod } from './options/credential-types.js';
export type { AfterCallback, AfterCallbackDetails, OidcEvent, OidcEventHandlers } from './options/hook-types.js';
export type { ProfileMapper, MappedProfile, ProfileApi } from './options/hook-types.js';
export { github, google } from './vendors/presets.js';
export type { ProviderPreset, GitHubOptions, GoogleOptions } from './vendors/presets.js';
export type { DPoPOptions } from './options/types.js';
export type { ProviderOptions, AppLevelOption } from './options/types.js';
export type {
  OidcContext,
  AuthenticatedOidcContext,
  OpenIdLoginContext,
  OAuthLoginContext,
  LoginOptions,
  LoginClaims,
  ProfileClaims,
  JsonValue,
  StoredLogin,
  StoredTransaction,
  StoredOidcState,
  StoredDPoPKey,
  StoredResourceToken,
  ResourceOptions,
  AccessTokenOptions,
  DPoPAlg,
  IDToken,
  TokenEndpointResponse,
} from './types.js';
export type { RequireAuthOptions, RequireAuthHandler } from './require-auth.js';
export { auth0Logout, cognitoLogout } from './vendors/logout-adapters.js';
export type { IdpLogoutUrl, IdpLogoutContext } from './options/hook-types.js';
export type {
  ClientPrivateKey,
  ClientPrivateKeyMaterial,
  ClientAssertionAlg,
  ClientCertificate,
} from './options/credential-types.js';
export { oidcErrorHandler } from './error-handler.js';
export type { OidcErrorHandler, OidcErrorHandlerOptions, OidcErrorPage } from './error-handler.js';
