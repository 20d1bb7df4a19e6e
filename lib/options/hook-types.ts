import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerMetadata, TokenEndpointResponse } from 'openid-client';
import type { JsonValue, StoredLogin } from '../types.js';

// The functions an app gives in its options (profile, logout.idpLogoutUrl, afterCallback, on), and
// what they are given.

/** What `profile` returns: the login's claims. `sub` is required; the rest must be JSON. */
export interface MappedProfile {
  sub: string;
  [claim: string]: unknown;
}

/** What `profile` is given besides the userinfo response: the provider's API, with the login's access token. */
export interface ProfileApi {
  /**
   * GETs a JSON resource of the provider's API with the login's access token (GitHub's
   * `https://api.github.com/user/emails`...), bounded by `httpTimeout`. Rejects with an `OidcError`:
   * 502 for an HTTP error or an answer that is not JSON, 503 unreachable, 504 timeout. Only URLs on
   * the userinfo endpoint's origin or one of `profileApiOrigins` are requested: any other rejects
   * with a `TypeError` (`code: 'ERR_INVALID_ARG_VALUE'`) and sends nothing.
   */
  get(url: string | URL): Promise<unknown>;
}

/**
 * `profile(userinfo, tokens, api)`: the claims of a plain OAuth 2.0 login, from the userinfo
 * response. A throw fails the login (502 `ERR_OIDC_PROFILE_INVALID`, or the `OidcError` thrown).
 */
export type ProfileMapper = (
  userinfo: Record<string, unknown>,
  tokens: TokenEndpointResponse,
  api: ProfileApi,
) => MappedProfile | Promise<MappedProfile>;

/** What `logout.idpLogoutUrl` is given: nothing from the request. */
export interface IdpLogoutContext {
  /** The ID token of the login being ended (`undefined` for a plain OAuth 2.0 login). */
  idToken: string | undefined;
  clientId: string;
  /** `logout.postLogoutRedirectUri`: the one place the provider may send the browser back to. */
  postLogoutRedirectUri: string;
  /** A fresh random value, for providers that echo a `state`. */
  state: string;
  /** The provider's discovery metadata. */
  metadata: Readonly<ServerMetadata>;
}

/** `logout.idpLogoutUrl`: the provider's logout URL (https), or `undefined` for the standard one. */
export type IdpLogoutUrl = (ctx: IdpLogoutContext) => URL | string | undefined;

/** What `afterCallback` is told about the login besides its tokens. */
export interface AfterCallbackDetails {
  /**
   * Why it runs: `'login'` at the callback; `'refresh'` when a refresh brought a new ID token;
   * `'userinfo'` after `req.oidc.fetchUserInfo()`. Each time the login it is given holds the
   * provider's claims as they are now (and the login's `data` as the hook left it), so that what
   * it decides (groups narrowed, roles added) holds after a refresh too.
   */
  reason: 'login' | 'refresh' | 'userinfo';
  /**
   * The `appState` given to `req.oidc.login()`, as it was given (`reason: 'login'` only); `undefined`
   * for a login from `/login`, and when the hook runs again after a refresh or `fetchUserInfo()`.
   */
  appState: JsonValue | undefined;
}

/**
 * `afterCallback(req, res, login, details)`: accept (return the login), change, or refuse (throw)
 * a login; run again whenever the provider's claims are renewed (`details.reason`).
 */
export type AfterCallback = (
  req: IncomingMessage,
  res: ServerResponse,
  login: StoredLogin,
  details: AfterCallbackDetails,
  // eslint-disable-next-line @typescript-eslint/no-invalid-void-type -- a hook that only reads returns nothing
) => StoredLogin | undefined | void | Promise<StoredLogin | undefined | void>;

/** What an audit hook is told. Never tokens. */
export interface OidcEvent {
  sub?: string;
  sid?: string;
  /** The express-session id concerned. */
  sessionId?: string;
  /**
   * For logout, why: 'local' (ended here only), 'provider' (also at the provider), 'expired'
   * (`absoluteDuration` or `idleDuration`), 'refresh_failed' (the provider refused the refresh token),
   * 'frontchannel' (the provider's front-channel logout); for back-channel logout: how many sessions ended.
   */
  detail?: string | number;
  /** With `providers`: the name of the provider concerned. */
  provider?: string;
}

/**
 * The audit hooks (`on`). A hook may be `async`; what it throws or rejects with is logged (`DEBUG`)
 * and ignored, and nothing waits for it.
 */
export interface OidcEventHandlers {
  login?: (event: OidcEvent, req: IncomingMessage) => void;
  logout?: (event: OidcEvent, req: IncomingMessage) => void;
  refresh?: (event: OidcEvent, req: IncomingMessage) => void;
  backchannelLogout?: (event: OidcEvent, req: IncomingMessage) => void;
  /** A login that failed, with the error's code. */
  loginFailed?: (event: OidcEvent & { code: string }, req: IncomingMessage) => void;
  /**
   * A back-channel logout request refused: `error` is the OAuth error answered (`invalid_request`,
   * `temporarily_unavailable`, `server_error`), `detail` why. Nobody was logged out. `sub` and `sid`
   * are there once the token's claims passed their checks: as the token claims them, unverified when
   * its signature is what failed.
   */
  backchannelLogoutFailed?: (event: OidcEvent & { error: string }, req: IncomingMessage) => void;
}
