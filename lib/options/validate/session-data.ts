import { DEFAULTS } from '../defaults.js';
import { fail } from '../fail.js';
import type { ResolvedConfig } from '../resolved-config.js';

/**
 * Names a session's data cannot have: express-session's own (the cookie, and the session's
 * methods and properties), and the middleware's `oidc`, which a login never carries over.
 */
const NOT_APP_DATA = new Set([
  'cookie',
  'oidc',
  'id',
  'req',
  'regenerate',
  'destroy',
  'reload',
  'save',
  'touch',
  'resetMaxAge',
  '__proto__',
  'constructor',
  'prototype',
]);

/** True for a session field that is the app's own (not express-session's, not ours). */
export function isAppSessionField(name: string): boolean {
  return !NOT_APP_DATA.has(name);
}

/** `keepSessionData`: the app's session fields that a login carries into the new session. */
export function resolveKeepSessionData(o: Record<string, unknown>): Pick<ResolvedConfig, 'keepSessionData'> {
  const value = o.keepSessionData ?? DEFAULTS.keepSessionData;
  if (value === false || value === 'all') return { keepSessionData: value };
  if (!Array.isArray(value)) {
    fail(
      `"keepSessionData" must be 'all', a list of session field names (e.g. ['cart', 'locale']) or false; ` +
        `got ${JSON.stringify(o.keepSessionData)}.`,
    );
  }
  for (const name of value) {
    if (typeof name !== 'string' || name === '') fail('"keepSessionData" must list session field names (strings).');
    if (!isAppSessionField(name)) {
      fail(
        `"keepSessionData" cannot name "${name}": ` +
          (name === 'oidc'
            ? "it is the middleware's (the login itself), never carried over."
            : "it is express-session's own, not the app's data."),
      );
    }
  }
  return { keepSessionData: Object.freeze([...new Set(value as string[])]) };
}
