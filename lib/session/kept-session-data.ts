import type { ResolvedConfig } from '../options/resolved-config.js';
import { isAppSessionField } from '../options/validate/session-data.js';

/**
 * The app's own session fields that a login carries into the session it regenerates
 * (`keepSessionData`): all of them, those listed, or none. Never the middleware's `oidc` (an
 * earlier login, pending logins) nor express-session's `cookie` and methods.
 */
export function keptSessionData(
  session: object | undefined,
  keep: ResolvedConfig['keepSessionData'],
): Record<string, unknown> | undefined {
  if (keep === false || session === undefined) return undefined;
  let kept: Record<string, unknown> | undefined;
  for (const name of keep === 'all' ? Object.keys(session) : keep) {
    if (!Object.hasOwn(session, name) || !isAppSessionField(name)) continue;
    const value = (session as Record<string, unknown>)[name];
    if (value === undefined || typeof value === 'function') continue;
    (kept ??= {})[name] = value;
  }
  return kept;
}
