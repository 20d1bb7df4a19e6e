import {
  DEFAULTS,
  MAX_HTTP_TIMEOUT,
  MAX_PENDING_LOGINS,
  MAX_REFRESH_LEEWAY,
  MAX_TRANSACTION_AGE,
  MAX_DISCOVERY_MAX_AGE,
  MIN_DISCOVERY_MAX_AGE,
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
  | 'maxPendingLogins'
  | 'transactionMaxAge'
  | 'refreshLeeway'
  | 'absoluteDuration'
  | 'idleDuration'
  | 'httpTimeout'
  | 'discoveryMaxAge'
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
    discoveryMaxAge: discoveryMaxAge(o),
  };
}

/** How long discovered metadata is used before it is fetched again: seconds, or `false` (never again). */
function discoveryMaxAge(o: Record<string, unknown>): number | false {
  const v = o.discoveryMaxAge;
  if (v !== undefined && (o.server !== undefined || o.configuration !== undefined)) {
    fail(
      `"discoveryMaxAge" is for metadata found by discovery; with "${o.server !== undefined ? 'server' : 'configuration'}" ` +
        'nothing is discovered: remove it.',
    );
  }
  if (v === undefined) return DEFAULTS.discoveryMaxAge;
  if (v === false) return false;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < MIN_DISCOVERY_MAX_AGE || v > MAX_DISCOVERY_MAX_AGE) {
    fail(
      `"discoveryMaxAge" must be a number of seconds from ${MIN_DISCOVERY_MAX_AGE} to ${MAX_DISCOVERY_MAX_AGE}, or false; got ${String(v)}.`,
    );
  }
  return v;
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
