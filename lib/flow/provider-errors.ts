import * as client from 'openid-client';
import { OidcAuthorizationError, OidcError } from '../util/errors.js';
import type { ClientAuthMethod } from '../options/credential-types.js';
import { TENANT_PLACEHOLDER } from '../vendors/entra.js';

/**
 * openid-client's errors as the app sees them: the one place that reads openid-client's error
 * classes and codes and says which `OidcError` each becomes, for the requests the provider answers
 * with tokens (PAR, the code exchange, a refresh) and for any request that fails on the way.
 */

/** Seconds an app should wait before retrying while the provider is unreachable. */
const RETRY_AFTER = '5';

/** openid-client codes that are about the ID token. */
const ID_TOKEN_CODES = new Set(['OAUTH_JWT_CLAIM_COMPARISON_FAILED', 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED']);
/** openid-client codes that are about the ID token when their message says so. */
const ID_TOKEN_DETAIL_CODES = new Set(['OAUTH_INVALID_RESPONSE', 'OAUTH_PARSE_ERROR', 'OAUTH_UNSUPPORTED_OPERATION']);

/** openid-client's own ID token checks (iss, aud, exp, required claims, format) failed. */
export function isIdTokenError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return false;
  if (ID_TOKEN_CODES.has(code)) return true;
  // A malformed, encrypted or "crit" ID token is reported as a parse error or an unsupported
  // operation; '"response" body "id_token" property must be a string' means no ID token at all.
  const detail = `${(err as Error)?.message} ${((err as Error)?.cause as Error | undefined)?.message}`;
  return ID_TOKEN_DETAIL_CODES.has(code) && /ID Token|JWT|JWE|JWS|"id_token"/.test(detail);
}

/**
 * The OAuth error of a token response that says HTTP 200 but carries `{ error }` and no access
 * token, as GitHub answers (`bad_verification_code`, `incorrect_client_credentials`,
 * `bad_refresh_token`): openid-client reports it as a response without `access_token`. Only
 * well-formed error codes (`[a-z_]+`) are returned.
 */
export function errorInTokenResponse(err: unknown): string | undefined {
  if ((err as { code?: unknown })?.code !== 'OAUTH_INVALID_RESPONSE') return undefined;
  // openid-client wraps oauth4webapi's error, whose cause holds the body.
  const cause = (err as { cause?: { body?: unknown; cause?: { body?: unknown } } }).cause;
  const body = (cause?.body ?? cause?.cause?.body) as Record<string, unknown> | undefined;
  if (typeof body !== 'object' || body === null || body.access_token !== undefined) return undefined;
  return typeof body.error === 'string' && /^[a-z_]{1,64}$/.test(body.error) ? body.error : undefined;
}

/**
 * The client's credentials were refused. RFC 6749 5.2: a client that authenticated with the
 * Authorization header (client_secret_basic, the default) gets 401 + WWW-Authenticate for
 * invalid_client, which openid-client throws as a challenge error, not as a ResponseBodyError.
 */
function clientRefused(err: unknown): boolean {
  return (
    (err instanceof client.WWWAuthenticateChallengeError && err.status === 401) ||
    (err instanceof client.ResponseBodyError && (err.error === 'invalid_client' || err.error === 'unauthorized_client'))
  );
}

/** An OAuth error code as it may be shown: `[a-z_]`, else `invalid_error`. */
function safeCode(error: string): string {
  return /^[a-z_]{1,64}$/.test(error) ? error : 'invalid_error';
}

const CODE_REJECTED =
  'The identity provider rejected the login code (it may have been used already or expired). ' +
  'Start again from the login page.';

/** How each token-endpoint request tells its failures apart. */
const REQUESTS = {
  par: {
    clientRefused:
      "The identity provider refused this app's client credentials (pushed authorization " +
      'request): check clientId and clientAuthMethod with its secret, key or certificate.',
    rejected: (error: string, _status: number, cause: unknown): OidcError | undefined =>
      new OidcError(
        'ERR_OIDC_PROVIDER_RESPONSE',
        502,
        `The identity provider refused the pushed authorization request (${safeCode(error)}).`,
        { cause },
      ),
    errorInBody: false,
    idTokenInvalid: undefined,
  },
  code: {
    clientRefused:
      "The identity provider refused this app's client credentials: check clientId and " +
      'clientAuthMethod with its secret, key or certificate.',
    rejected: (_error: string, _status: number, cause: unknown): OidcError | undefined =>
      new OidcError('ERR_OIDC_TOKEN_REJECTED', 400, CODE_REJECTED, { cause }),
    errorInBody: true,
    idTokenInvalid: 'The ID token from the identity provider failed validation.',
  },
  // A refresh's invalid_grant (the login ends) and its ID token errors are told apart in refresh.ts first.
  refresh: {
    clientRefused:
      "The identity provider refused this app's client credentials when refreshing the access " +
      'token: check clientId and clientAuthMethod with its secret, key or certificate.',
    rejected: (error: string, status: number, cause: unknown): OidcError | undefined =>
      status < 500
        ? new OidcError(
            'ERR_OIDC_PROVIDER_RESPONSE',
            502,
            `The identity provider refused to refresh the access token (${safeCode(error)}).`,
            { cause },
          )
        : undefined,
    errorInBody: false,
    idTokenInvalid: undefined,
  },
} satisfies Record<
  string,
  {
    clientRefused: string;
    /** An OAuth error answer other than refused credentials; undefined: {@link providerError}'s. */
    rejected: (error: string, status: number, cause: unknown) => OidcError | undefined;
    /** GitHub's HTTP 200 + `{ error }` (see errorInTokenResponse) read as an error answer. */
    errorInBody: boolean;
    /** openid-client's ID token checks failing: this message; undefined: not told apart here. */
    idTokenInvalid: string | undefined;
  }
>;

/**
 * Refused client_secret_basic credentials may be right: some providers do not form-decode them
 * (RFC 6749 2.3.1), and a client id or secret with other characters than A-Z a-z 0-9 - . _ * then
 * reads as another client's.
 */
const BASIC_HINT =
  ' With clientAuthMethod "client_secret_basic", some providers do not decode the encoded ' +
  'credentials of a client id or secret with characters other than letters, digits and - . _ *: ' +
  "if the credentials are right, set clientAuthMethod: 'client_secret_post'.";

/**
 * openid-client refused the authorization response itself, before any token request: a
 * parameter twice, `iss` or `state` missing or not the expected one, a JARM `response`, tokens of
 * the implicit or hybrid flow. That is what the browser brought, never the provider's failure.
 * The callback checks all of it first (code-exchange.ts); this keeps the answer right if
 * openid-client refuses more than that one day.
 */
function isAuthorizationResponseError(err: unknown): boolean {
  if (err instanceof client.AuthorizationResponseError) return true;
  const code = (err as { code?: unknown })?.code;
  const cause = (err as { cause?: { message?: unknown; cause?: { parameters?: unknown } } })?.cause;
  const detail = typeof cause?.message === 'string' ? cause.message : '';
  if (code === 'OAUTH_UNSUPPORTED_OPERATION') return /implicit and hybrid flows/.test(detail);
  if (code !== 'OAUTH_INVALID_RESPONSE') return false;
  // oauth4webapi's validateAuthResponse() gives its errors the response's parameters.
  return cause?.cause?.parameters instanceof URLSearchParams || /parameter must be provided only once/.test(detail);
}

function invalidCallbackError(err: unknown): OidcError {
  if (err instanceof client.AuthorizationResponseError)
    return new OidcAuthorizationError(err.error, err.error_description, err);
  return new OidcError(
    'ERR_OIDC_INVALID_CALLBACK',
    400,
    'The login response is invalid: it is not an authorization code response this login can accept. ' +
      'Start again from the login page.',
    { cause: err },
  );
}

/**
 * A failed request to the token or PAR endpoint: refused client credentials (502), an OAuth error
 * answer (as `request` reports it), an invalid ID token (the code exchange: 400), or the provider
 * unreachable, slow or answering nonsense ({@link providerError}).
 */
export function tokenEndpointError(
  err: unknown,
  request: keyof typeof REQUESTS,
  clientAuthMethod?: ClientAuthMethod,
): OidcError {
  const how = REQUESTS[request];
  if (request === 'code' && isAuthorizationResponseError(err)) return invalidCallbackError(err);
  const message = clientAuthMethod === 'client_secret_basic' ? how.clientRefused + BASIC_HINT : how.clientRefused;
  const refused = () => new OidcError('ERR_OIDC_PROVIDER_RESPONSE', 502, message, { cause: err });
  // GitHub answers errors with HTTP 200 and { error } (bad_verification_code for a used code).
  const inBody = how.errorInBody ? errorInTokenResponse(err) : undefined;
  if (inBody !== undefined) {
    if (inBody === 'invalid_client' || inBody === 'unauthorized_client' || inBody === 'incorrect_client_credentials')
      return refused();
    return how.rejected(inBody, 200, err) ?? providerError(err, 'token');
  }
  if (clientRefused(err)) return refused();
  if (err instanceof client.ResponseBodyError) {
    const rejected = how.rejected(err.error, err.status, err);
    if (rejected) return rejected;
  }
  if (how.idTokenInvalid !== undefined && isIdTokenError(err))
    return new OidcError('ERR_OIDC_ID_TOKEN_INVALID', 400, how.idTokenInvalid, { cause: err });
  return providerError(err, request === 'par' ? 'par' : 'token');
}

/**
 * A request for one of the provider's resources (`what`: its userinfo endpoint, its API) failed:
 * {@link providerError}'s 502, 503 or 504, saying which.
 */
export function resourceError(err: unknown, what: string): OidcError {
  const mapped = providerError(err, 'token');
  const message =
    mapped.code === 'ERR_OIDC_PROVIDER_TIMEOUT'
      ? `The identity provider did not answer in time (${what}). Try again in a moment.`
      : mapped.code === 'ERR_OIDC_PROVIDER_UNREACHABLE'
        ? `The identity provider cannot be reached (${what}). Try again in a moment.`
        : `The identity provider sent an invalid answer (${what}).`;
  return new OidcError(mapped.code, mapped.status, message, {
    cause: err,
    ...(mapped.headers && { headers: mapped.headers }),
  });
}

/**
 * Discovery failed: {@link providerError}'s 502, 503 or 504, with a message that names the URL
 * fetched, what came back (the HTTP status, or the network error's code) and the option to check.
 * These are the usual setup mistakes (a wrong issuer path, a provider not running), so the message
 * says how to fix them; it names only configuration, never request input.
 */
export function discoveryError(err: unknown, url: URL, option: 'issuer'): OidcError {
  const mapped = providerError(err, 'discovery');
  if (mapped === err) return mapped;
  const fetched = responseOf(err)?.url || url.href;
  const status = responseOf(err)?.status;
  const check = `Check the "${option}" option: the provider publishes its discovery document under it.`;
  const message =
    mapped.code === 'ERR_OIDC_PROVIDER_TIMEOUT'
      ? `The identity provider did not answer in time: GET ${fetched} (discovery). ${check}`
      : mapped.code === 'ERR_OIDC_PROVIDER_UNREACHABLE'
        ? `The identity provider cannot be reached: GET ${fetched} failed (${networkCode(err) ?? 'network error'}). ` +
          `${check} Is the provider running at that address?`
        : status !== undefined && status !== 200
          ? `The identity provider has no discovery document at GET ${fetched}: it answered HTTP ${status}. ${check}`
          : `The identity provider sent an invalid discovery document (GET ${fetched}). ${check}`;
  return new OidcError(mapped.code, mapped.status, message, {
    cause: err,
    ...(mapped.headers && { headers: mapped.headers }),
  });
}

/** The HTTP response openid-client kept on its error (a status it did not expect). */
function responseOf(err: unknown): { url: string; status: number } | undefined {
  const cause = (err as { cause?: unknown })?.cause;
  return cause instanceof Response ? cause : undefined;
}

/** The network error's code under fetch()'s "fetch failed" TypeError: ECONNREFUSED, ENOTFOUND... */
function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
    if ((e as { message?: unknown }).message === 'bad port') return 'port not allowed by fetch()';
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The provider could not be reached or answered something unusable: 502, 503 or 504. */
export function providerError(err: unknown, during: 'discovery' | 'jwks' | 'token' | 'par'): OidcError {
  if (err instanceof OidcError) return err;
  const what =
    during === 'discovery'
      ? 'its discovery document'
      : during === 'jwks'
        ? 'its signing keys (JWKS)'
        : during === 'par'
          ? 'the pushed authorization request'
          : 'the token request';
  const code = (err as { code?: unknown })?.code;
  const name = (err as { name?: unknown })?.name;
  const cause = (err as { cause?: { name?: unknown; code?: unknown } })?.cause;
  if (code === 'OAUTH_TIMEOUT' || name === 'TimeoutError' || cause?.name === 'TimeoutError') {
    return new OidcError(
      'ERR_OIDC_PROVIDER_TIMEOUT',
      504,
      `The identity provider did not answer in time (${what}). Try again in a moment.`,
      {
        cause: err,
        headers: { 'Retry-After': RETRY_AFTER },
      },
    );
  }
  if ((name === 'TypeError' && code === undefined) || (code === undefined && cause?.name === 'TypeError')) {
    // fetch() rejects with a plain TypeError when the connection fails. Checked by name: the error
    // may come from another realm, and then openid-client wraps it in a ClientError.
    return new OidcError(
      'ERR_OIDC_PROVIDER_UNREACHABLE',
      503,
      `The identity provider cannot be reached (${what}). Try again in a moment.`,
      {
        cause: err,
        headers: { 'Retry-After': RETRY_AFTER },
      },
    );
  }
  return new OidcError('ERR_OIDC_PROVIDER_RESPONSE', 502, `The identity provider sent an invalid answer (${what}).`, {
    cause: err,
  });
}

/** " (cause: ...; ...)": the network error's own words, for the server log. */
export function causes(err: unknown): string {
  const messages: string[] = [];
  // Read by shape: fetch()'s errors may come from another realm.
  for (
    let e = err as { message?: unknown; cause?: unknown } | undefined;
    messages.length < 4;
    e = e.cause as typeof e
  ) {
    if (typeof e !== 'object' || e === null || typeof e.message !== 'string') break;
    messages.push(e.message);
  }
  return messages.length > 0 ? ` (cause: ${messages.join('; ')})` : '';
}

/** The issuer a discovery document announced, from openid-client's mismatch error. */
function announcedIssuer(err: unknown): string | undefined {
  const detail = (err as { cause?: { attribute?: unknown; body?: { issuer?: unknown } } })?.cause;
  if (detail?.attribute !== 'issuer') return undefined;
  return typeof detail.body?.issuer === 'string' ? detail.body.issuer : undefined;
}

/** The announced issuer, when it differs from the configured one by a trailing slash only. */
export function slashOnly(err: unknown, configured: URL): string | undefined {
  const announced = announcedIssuer(err);
  if (announced === undefined || announced === configured.href) return undefined;
  return announced.replace(/\/$/, '') === configured.href.replace(/\/$/, '') ? announced : undefined;
}

const TENANT_TEMPLATE_HINT =
  'It is Microsoft Entra ID\'s multi-tenant endpoint: set "issuer" to ' +
  'https://login.microsoftonline.com/organizations/v2.0 ' +
  '(or common, consumers) with "allowedTenants", or to your tenant\'s ' +
  'https://login.microsoftonline.com/<tenant id>/v2.0.';

export function tenantTemplateRefused(announced: string): OidcError {
  return new OidcError(
    'ERR_OIDC_PROVIDER_MISMATCH',
    502,
    `The identity provider's discovery document names the issuer template ` +
      `${JSON.stringify(announced)}, which no token can match. ${TENANT_TEMPLATE_HINT}`,
  );
}

/** The discovery document names another issuer: say which, so the fix is obvious. */
export function issuerMismatch(err: unknown, configured: URL): OidcError | undefined {
  const announced = announcedIssuer(err);
  if (announced === undefined) return undefined;
  return new OidcError(
    'ERR_OIDC_PROVIDER_MISMATCH',
    502,
    `The identity provider's discovery document names the issuer ${JSON.stringify(announced)}, not the configured ` +
      `"issuer" ${JSON.stringify(configured.href)}.` +
      (announced.includes(TENANT_PLACEHOLDER) ? ` ${TENANT_TEMPLATE_HINT}` : ' Check the "issuer" option.'),
    { cause: err },
  );
}

export function idTokenSignatureError(cause: unknown): OidcError {
  return new OidcError(
    'ERR_OIDC_ID_TOKEN_INVALID',
    400,
    "The ID token's signature could not be verified with the identity provider's keys.",
    { cause },
  );
}
