import type { ResolvedConfig } from '../options/resolved-config.js';
import { OidcError } from '../util/errors.js';
import type { StoredLogin } from '../types.js';

/**
 * Step-up authentication: a route that needs a recent login (`max_age`) or a stronger one
 * (`acr_values`). `requireAuth({ maxAge, acrValues })` sends the browser to
 * `/login?max_age=...&acr_values=...`; the login route puts them in the authorization request and
 * the transaction; the callback checks the answer (`auth_time`, `acr`) and records what was asked
 * on the new login, so that the guard can tell a provider that does not comply from a login that
 * has simply aged (and answers 403 rather than sending the browser round again).
 */

/** What a route needs of the login itself. */
export interface StepUp {
  /** Seconds. */
  readonly maxAge?: number;
  readonly acrValues?: readonly string[];
}

/** The largest `max_age` accepted (nine digits: about 31 years). */
const MAX_MAX_AGE = 999_999_999;
const MAX_ACR_VALUES = 10;
const MAX_ACR_LENGTH = 256;
const MAX_ACR_VALUES_LENGTH = 1024;
/** An acr value: printable ASCII without space, `"` and `\` (so it fits a quoted header parameter). */
const ACR_VALUE = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
/**
 * How long after a step-up login an `acr` that does not satisfy the route it was asked for is
 * taken as the provider's answer (403) rather than as claims that changed since (a new step-up).
 */
const ACR_SETTLE_MS = 60_000;

export function isValidMaxAge(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_MAX_AGE;
}

export function isValidAcrValues(values: unknown): values is readonly string[] {
  return (
    Array.isArray(values) &&
    values.length > 0 &&
    values.length <= MAX_ACR_VALUES &&
    values.every((v) => typeof v === 'string' && v.length <= MAX_ACR_LENGTH && ACR_VALUE.test(v)) &&
    values.join(' ').length <= MAX_ACR_VALUES_LENGTH
  );
}

/**
 * `max_age` and `acr_values` from the login route's query. They can only make the login
 * stricter (and the callback enforces them), so taking them from the query is safe. A value that
 * is malformed, repeated or out of bounds is ignored, like an unsafe `returnTo`. `max_age` never
 * loosens the configured `authorizationParams.max_age`: the smaller one is used. `acr_values`
 * replaces a configured `authorizationParams.acr_values` for this login (that one is a wish the
 * provider may ignore, never checked; these are checked at the callback).
 */
export function stepUpFromQuery(
  query: URLSearchParams,
  config: ResolvedConfig,
): { maxAge?: number; acrValues?: string[] } {
  const result: { maxAge?: number; acrValues?: string[] } = {};
  const maxAges = query.getAll('max_age');
  if (maxAges.length === 1 && /^\d{1,9}$/.test(maxAges[0]!)) {
    const maxAge = Number(maxAges[0]);
    result.maxAge = config.maxAge === undefined ? maxAge : Math.min(maxAge, config.maxAge);
  }
  const acrs = query.getAll('acr_values');
  if (acrs.length === 1 && acrs[0]!.length <= MAX_ACR_VALUES_LENGTH) {
    const values = acrs[0]!.split(' ');
    if (isValidAcrValues(values)) result.acrValues = values;
  }
  return result;
}

/** The authorization request parameters of a step-up transaction. */
export function stepUpParams(stepUp: { maxAge?: number; acrValues?: readonly string[] }): Record<string, string> {
  return {
    ...(stepUp.maxAge !== undefined && { max_age: String(stepUp.maxAge) }),
    ...(stepUp.acrValues && { acr_values: stepUp.acrValues.join(' ') }),
  };
}

/** Which of the route's requirements the login does not meet. */
export interface Unmet {
  age: boolean;
  acr: boolean;
}

/**
 * The requirements `login` does not meet, or undefined. Its age is taken from `auth_time`, else
 * from the time of the login, and compared as openid-client does at the callback (whole seconds,
 * with `clockTolerance`): a login the callback accepted for a `max_age` meets that `max_age`.
 * A login without an ID token (plain OAuth 2.0) has no verified `auth_time` or `acr`: its age is
 * the time of the login here and `acrValues` are never met, whatever its claims say.
 */
export function unmetStepUp(
  login: StoredLogin,
  stepUp: StepUp,
  config: ResolvedConfig,
  now: number,
): Unmet | undefined {
  const verified = login.idToken !== undefined;
  let age = false;
  if (stepUp.maxAge !== undefined) {
    const authTime =
      verified && typeof login.claims.auth_time === 'number'
        ? login.claims.auth_time
        : Math.floor(login.loggedInAt / 1000);
    age = Math.floor(now / 1000) - authTime > stepUp.maxAge + config.clockTolerance;
  }
  const acr =
    stepUp.acrValues !== undefined &&
    !(verified && typeof login.claims.acr === 'string' && stepUp.acrValues.includes(login.claims.acr));
  return age || acr ? { age, acr } : undefined;
}

/**
 * True when `login` is the provider's answer to a step-up that asked for (at least) what the
 * route needs and still does not meet it: sending the browser round again would loop.
 * A login that has since aged past `maxAge` is not such an answer: a new step-up is due.
 */
export function stepUpAnswered(login: StoredLogin, stepUp: StepUp, unmet: Unmet, now: number): boolean {
  const asked = login.requested;
  if (!asked) return false;
  const since = now - login.loggedInAt;
  if (unmet.age) {
    const routeMaxAge = stepUp.maxAge!;
    if (asked.maxAge === undefined || asked.maxAge > routeMaxAge || since > routeMaxAge * 1000) return false;
  }
  if (unmet.acr) {
    const acceptable = stepUp.acrValues!;
    if (!asked.acrValues || !asked.acrValues.every((v) => acceptable.includes(v)) || since > ACR_SETTLE_MS)
      return false;
  }
  return true;
}

/** The `WWW-Authenticate` challenge of RFC 9470 (OAuth 2.0 Step Up Authentication Challenge). */
export function stepUpChallenge(stepUp: StepUp, unmet: Unmet): string {
  const description = unmet.acr ? 'A stronger authentication is required' : 'A more recent authentication is required';
  let challenge = `Bearer error="insufficient_user_authentication", error_description="${description}"`;
  if (stepUp.maxAge !== undefined) challenge += `, max_age="${stepUp.maxAge}"`;
  if (stepUp.acrValues) challenge += `, acr_values="${stepUp.acrValues.join(' ')}"`;
  return challenge;
}

export function stepUpFailed(message: string, cause?: unknown): OidcError {
  return new OidcError('ERR_OIDC_STEP_UP_FAILED', 403, message, cause === undefined ? undefined : { cause });
}

/**
 * openid-client's `auth_time` errors for a transaction that asked for `max_age`: the provider did
 * not log the user in again (or did not say when it did).
 */
export function stepUpTokenError(err: unknown, askedMaxAge: number | undefined): OidcError | undefined {
  if (askedMaxAge === undefined) return undefined;
  // openid-client's ClientError wraps oauth4webapi's error, whose cause says which claim failed.
  const code = (err as { code?: unknown })?.code;
  const inner = (err as { cause?: { message?: unknown; cause?: { claim?: unknown } } })?.cause;
  const message = `${(err as Error)?.message} ${String(inner?.message)}`;
  if (code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED' && inner?.cause?.claim === 'auth_time') {
    return stepUpFailed(
      'The identity provider did not log you in again as this page requires: its login is older ' +
        'than allowed. Try again, or log out and in.',
      err,
    );
  }
  if (code === 'OAUTH_INVALID_RESPONSE' && message.includes('"auth_time"')) {
    return stepUpFailed('The identity provider did not say when you logged in, which this page requires.', err);
  }
  return undefined;
}
