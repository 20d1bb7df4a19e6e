import { ASYMMETRIC_ALGS, DEFAULTS, MAX_CLOCK_TOLERANCE } from '../defaults.js';
import { fail } from '../fail.js';
import type { ResolvedConfig } from '../resolved-config.js';
import { secondsUpTo } from '../values.js';

/** How ID tokens are checked: `idTokenSigningAlg` (asymmetric only), `additionalAudiences`, `clockTolerance`. */
export function resolveIdTokenChecks(
  o: Record<string, unknown>,
): Pick<ResolvedConfig, 'idTokenSigningAlg' | 'additionalAudiences' | 'clockTolerance'> {
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
  };
}
