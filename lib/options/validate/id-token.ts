import { ASYMMETRIC_ALGS, DEFAULTS, MAX_CLOCK_TOLERANCE, MAX_LOGOUT_TOKEN_AGE } from '../defaults.js';
import { fail } from '../fail.js';
import type { ResolvedConfig } from '../resolved-config.js';
import { secondsUpTo } from '../values.js';

/**
 * How ID tokens (and logout tokens) are checked: `idTokenSigningAlg` (asymmetric only),
 * `additionalAudiences`, `clockTolerance`, `logoutTokenMaxAge`.
 */
export function resolveIdTokenChecks(
  o: Record<string, unknown>,
): Pick<ResolvedConfig, 'idTokenSigningAlg' | 'additionalAudiences' | 'clockTolerance' | 'logoutTokenMaxAge'> {
  const idTokenSigningAlg = o.idTokenSigningAlg ?? DEFAULTS.idTokenSigningAlg;
  if (typeof idTokenSigningAlg !== 'string' || !(ASYMMETRIC_ALGS as readonly string[]).includes(idTokenSigningAlg)) {
    fail(
      `"idTokenSigningAlg" must be one of ${ASYMMETRIC_ALGS.join(', ')}; got ${JSON.stringify(idTokenSigningAlg)}. ` +
        'Symmetric (HS*) and unsigned (none) ID tokens are not accepted.',
    );
  }

  const additionalAudiences = o.additionalAudiences ?? [];
  if (!Array.isArray(additionalAudiences) || !additionalAudiences.every((a) => typeof a === 'string' && a !== '')) {
    fail('"additionalAudiences" must be an array of non-empty strings.');
  }
  return {
    idTokenSigningAlg,
    additionalAudiences: Object.freeze([...(additionalAudiences as string[])]),
    clockTolerance: secondsUpTo('clockTolerance', o.clockTolerance, DEFAULTS.clockTolerance, MAX_CLOCK_TOLERANCE),
    logoutTokenMaxAge: resolveLogoutTokenMaxAge(o.logoutTokenMaxAge),
  };
}

function resolveLogoutTokenMaxAge(value: unknown): number | false {
  if (value === false) return false;
  const v = value ?? DEFAULTS.logoutTokenMaxAge;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_LOGOUT_TOKEN_AGE) {
    fail(
      `"logoutTokenMaxAge" must be a number of seconds from 0 to ${MAX_LOGOUT_TOKEN_AGE}, or false to refuse ` +
        'logout tokens without "exp".',
    );
  }
  return v;
}
