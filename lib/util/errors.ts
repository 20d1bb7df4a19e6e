import { redactTokens } from './redact.js';

/**
 * Every error the middleware passes to `next(err)` is an {@link OidcError}: match on its stable
 * `code`, not on the message. `status` is the HTTP status Express's (or Connect's) final handler
 * sends; `cause` carries the original openid-client / network error, unchanged but for the token
 * material it held (a malformed token response's tokens), which is `[REDACTED]`.
 */
export type OidcErrorCode =
  | 'ERR_OIDC_SESSION_UNAVAILABLE'
  | 'ERR_OIDC_SESSION_STORE'
  | 'ERR_OIDC_PROVIDER_UNREACHABLE'
  | 'ERR_OIDC_PROVIDER_TIMEOUT'
  | 'ERR_OIDC_PROVIDER_RESPONSE'
  | 'ERR_OIDC_PROVIDER_MISMATCH'
  | 'ERR_OIDC_INVALID_LOGIN_REQUEST'
  | 'ERR_OIDC_MISSING_STATE'
  | 'ERR_OIDC_MISSING_TRANSACTION'
  | 'ERR_OIDC_TRANSACTION_EXPIRED'
  | 'ERR_OIDC_TRANSACTION_INVALID'
  | 'ERR_OIDC_INVALID_CALLBACK'
  | 'ERR_OIDC_PROVIDER_MIXUP'
  | 'ERR_OIDC_ACCESS_DENIED'
  | 'ERR_OIDC_AUTHORIZATION_ERROR'
  | 'ERR_OIDC_TOKEN_REJECTED'
  | 'ERR_OIDC_ID_TOKEN_INVALID'
  | 'ERR_OIDC_USERINFO_INVALID'
  | 'ERR_OIDC_PROFILE_INVALID'
  | 'ERR_OIDC_LOGIN_REFUSED'
  | 'ERR_OIDC_CROSS_SITE'
  | 'ERR_OIDC_LOGOUT_TOKEN_INVALID'
  | 'ERR_OIDC_UNAUTHENTICATED'
  | 'ERR_OIDC_FORBIDDEN'
  | 'ERR_OIDC_TENANT_NOT_ALLOWED'
  | 'ERR_OIDC_STEP_UP_FAILED'
  | 'ERR_OIDC_METHOD_NOT_ALLOWED'
  | 'ERR_OIDC_DPOP_NOT_BOUND'
  | 'ERR_OIDC_RESOURCE_UNREACHABLE'
  | 'ERR_OIDC_RESOURCE_TIMEOUT'
  | 'ERR_OIDC_RESOURCE_REFUSED'
  | 'ERR_OIDC_NO_REFRESH_TOKEN';

/** The base class of every per-request error. */
export class OidcError extends Error {
  override readonly name: string;
  /** Stable, documented identifier; match on this. */
  readonly code: OidcErrorCode;
  /** HTTP status to answer with. */
  readonly status: number;
  /** Same as `status`, for error handlers that read `statusCode`. */
  readonly statusCode: number;
  /** The message is safe to show to the end user (it never echoes request input). */
  readonly expose = true;
  /** Headers the final handler should send (Express and Connect's finalhandler honour this). */
  readonly headers?: Record<string, string>;

  constructor(
    code: OidcErrorCode,
    status: number,
    message: string,
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    // Tokens out of the cause chain before the app's error handler (and its logger) sees it.
    super(message, options?.cause === undefined ? undefined : { cause: redactTokens(options.cause) });
    this.name = this.constructor.name;
    this.code = code;
    this.status = status;
    this.statusCode = status;
    if (options?.headers) this.headers = options.headers;
  }
}

/**
 * The authorization response (the callback, front channel) carries an error (`error=access_denied`,
 * ...): 401 for the user's refusals, else 400, whatever the code.
 */
export class OidcAuthorizationError extends OidcError {
  /** The OAuth `error` code, only when it is a well-formed token (`[a-z_]+`); else `invalid_error`. */
  readonly error: string;
  /** The provider's `error_description`, verbatim: escape it before putting it in HTML. */
  readonly errorDescription: string | undefined;

  constructor(error: string, errorDescription: string | undefined, cause?: unknown) {
    const safe = /^[a-z_]{1,64}$/.test(error) ? error : 'invalid_error';
    const denied = DENIED.has(safe);
    super(
      denied ? 'ERR_OIDC_ACCESS_DENIED' : 'ERR_OIDC_AUTHORIZATION_ERROR',
      // 400 even for server_error and temporarily_unavailable: the browser brings the response and
      // anyone can forge one, so it is never answered (and logged) as the provider's failure.
      denied ? 401 : 400,
      denied
        ? `The identity provider did not log you in (${safe}). Try logging in again.`
        : `The login response reports an error (${safe}). Start again from the login page.`,
      { cause },
    );
    this.error = safe;
    this.errorDescription = errorDescription;
  }
}

const DENIED = new Set([
  'access_denied',
  'login_required',
  'consent_required',
  'interaction_required',
  'account_selection_required',
]);

/** A start-up mistake in the options: thrown by `oidcLogin()`, never per request. */
export class OidcConfigError extends TypeError {
  override readonly name = 'OidcConfigError';
  readonly code = 'ERR_OIDC_INVALID_OPTION' as const;
}
