import { DEFAULTS } from '../defaults.js';
import { fail } from '../fail.js';
import type { AfterCallback, OidcEventHandlers } from '../hook-types.js';
import { EVENT_KEYS } from '../keys.js';
import type { ResolvedConfig } from '../resolved-config.js';
import type { OidcLogger, SessionMiddleware } from '../dependency-types.js';
import { isObject } from '../values.js';

/** What the app plugs in (`on`, `session`, `afterCallback`, `logger`) and the switches (`autoRefresh`, `fetchUserInfo`, `silentLogin`). */
export function resolveBehaviour(
  o: Record<string, unknown>,
  openid: boolean,
): Pick<
  ResolvedConfig,
  'on' | 'session' | 'afterCallback' | 'logger' | 'autoRefresh' | 'fetchUserInfo' | 'silentLogin'
> {
  const on = o.on ?? {};
  if (!isObject(on)) fail('"on" must be an object of event handlers.');
  for (const [key, fn] of Object.entries(on)) {
    if (!(EVENT_KEYS as readonly string[]).includes(key))
      fail(`unknown event "on.${key}". Known: ${EVENT_KEYS.join(', ')}.`);
    if (typeof fn !== 'function') fail(`"on.${key}" must be a function.`);
  }
  if (o.session !== undefined && typeof o.session !== 'function') {
    fail(
      '"session" must be a session middleware (req, res, next), e.g. session({ secret, resave: ' +
        'false, saveUninitialized: false }) from express-session.',
    );
  }
  // express-session's own factory is session(options): given uncalled, every request would hang.
  if (typeof o.session === 'function' && o.session.length === 1) {
    fail(
      '"session" takes the middleware (req, res, next) that session({ ... }) returns, not a ' +
        'function of 1 parameter: did you mean session({ secret, ... })?',
    );
  }
  if (o.afterCallback !== undefined && typeof o.afterCallback !== 'function')
    fail('"afterCallback" must be a function (req, res, login) => login.');
  for (const key of ['autoRefresh', 'silentLogin'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean') fail(`"${key}" must be a boolean.`);
  }
  if (o.fetchUserInfo !== undefined && typeof o.fetchUserInfo !== 'boolean' && o.fetchUserInfo !== 'auto')
    fail(`"fetchUserInfo" must be 'auto', true or false; got ${JSON.stringify(o.fetchUserInfo)}.`);
  if (!openid && o.silentLogin === true) {
    fail(
      '"silentLogin" needs OpenID Connect ("prompt=none", "openid" in "scope"): a plain OAuth ' +
        '2.0 provider has no silent login.',
    );
  }
  return {
    on: Object.freeze({ ...(on as OidcEventHandlers) }),
    session: o.session as SessionMiddleware | undefined,
    afterCallback: o.afterCallback as AfterCallback | undefined,
    logger: resolveLogger(o.logger),
    autoRefresh: o.autoRefresh === true,
    fetchUserInfo: (o.fetchUserInfo as boolean | 'auto' | undefined) ?? DEFAULTS.fetchUserInfo,
    silentLogin: o.silentLogin === true,
  };
}

/** `logger`: console by default, `false` for none. */
function resolveLogger(value: unknown): OidcLogger | undefined {
  if (value === false) return undefined;
  if (value === undefined) return console;
  const l = value as Partial<OidcLogger>;
  if (typeof l !== 'object' || l === null || typeof l.warn !== 'function' || typeof l.error !== 'function') {
    fail('"logger" must have warn(message) and error(message) methods (console, pino, winston...), or be false.');
  }
  return l as OidcLogger;
}
