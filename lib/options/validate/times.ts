import {
  DEFAULTS,
  MAX_HTTP_TIMEOUT,
  MAX_PENDING_LOGINS,
  MAX_REFRESH_LEEWAY,
  MAX_TRANSACTION_AGE,
} from '../defaults.js';
import { fail } from '../fail.js';
import type { ResolvedConfig } from '../resolved-config.js';
import { positiveNumber, secondsUpTo } from '../values.js';

/**
 * Times and counts: how many logins may wait at once and for how long, the refresh leeway, the
 * session lifetimes, the provider requests' timeout. Each bounded by its limit in defaults.ts.
 */
export function resolveTimes(
  o: Record<string, unknown>,
): Pick<
  ResolvedConfig,
  'maxPendingLogins' | 'transactionMaxAge' | 'refreshLeeway' | 'absoluteDuration' | 'idleDuration' | 'httpTimeout'
> {
  const maxPendingLogins = positiveNumber(
    'maxPendingLogins',
    o.maxPendingLogins,
    DEFAULTS.maxPendingLogins,
    MAX_PENDING_LOGINS,
  );
  if (!Number.isInteger(maxPendingLogins)) fail('"maxPendingLogins" must be a whole number.');
  return {
    maxPendingLogins,
    transactionMaxAge: positiveNumber(
      'transactionMaxAge',
      o.transactionMaxAge,
      DEFAULTS.transactionMaxAge,
      MAX_TRANSACTION_AGE,
    ),
    refreshLeeway: secondsUpTo('refreshLeeway', o.refreshLeeway, DEFAULTS.refreshLeeway, MAX_REFRESH_LEEWAY),
    absoluteDuration: duration(o, 'absoluteDuration'),
    idleDuration: duration(o, 'idleDuration'),
    httpTimeout: positiveNumber('httpTimeout', o.httpTimeout, DEFAULTS.httpTimeout, MAX_HTTP_TIMEOUT),
  };
}

/** A session lifetime: seconds, or `false` for none. */
function duration(o: Record<string, unknown>, name: 'absoluteDuration' | 'idleDuration'): number | false {
  const v = o[name];
  if (v === undefined) return DEFAULTS[name];
  if (v === false) return false;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    fail(`"${name}" must be a number of seconds greater than 0, or false.`);
  return v;
}
