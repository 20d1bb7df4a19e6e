import { DEFAULTS } from '../defaults.js';
import { fail } from '../fail.js';
import { isProtocolParam, isRefusedFromQuery } from '../keys.js';
import type { ResolvedConfig } from '../resolved-config.js';
import { isObject } from '../values.js';

/**
 * The authorization request: `pushedAuthorizationRequests`, `authorizationParams` (and its
 * `max_age`), `authorizationParamsFromQuery`, `responseMode`.
 */
export function resolveAuthorizationRequest(
  o: Record<string, unknown>,
  openid: boolean,
): Pick<
  ResolvedConfig,
  'pushedAuthorizationRequests' | 'authorizationParams' | 'authorizationParamsFromQuery' | 'maxAge' | 'responseMode'
> {
  if (o.pushedAuthorizationRequests !== undefined && typeof o.pushedAuthorizationRequests !== 'boolean') {
    fail('"pushedAuthorizationRequests" must be a boolean.');
  }
  const authorizationParams: Record<string, string> = {};
  const rawParams = o.authorizationParams ?? {};
  if (!isObject(rawParams)) {
    fail('"authorizationParams" must be an object of parameter names to string values.');
  }
  for (const [key, value] of Object.entries(rawParams)) {
    if (isProtocolParam(key)) {
      fail(
        key === 'scope'
          ? 'set the scope with the "scope" option, not "authorizationParams.scope".'
          : `"authorizationParams.${key}" is set by the middleware itself and cannot be overridden.`,
      );
    }
    if (typeof value === 'number' && Number.isFinite(value)) authorizationParams[key] = String(value);
    else if (typeof value === 'string') authorizationParams[key] = value;
    else fail(`"authorizationParams.${key}" must be a string or a number.`);
  }
  let maxAge: number | undefined;
  if (authorizationParams.max_age !== undefined) {
    maxAge = Number(authorizationParams.max_age);
    if (!Number.isInteger(maxAge) || maxAge < 0)
      fail('"authorizationParams.max_age" must be a whole number of seconds.');
    if (!openid) {
      fail(
        '"authorizationParams.max_age" needs an ID token ("auth_time"): a plain OAuth 2.0 provider ' +
          '(no "openid" in "scope") cannot confirm when the user logged in.',
      );
    }
  }
  const responseMode = o.responseMode ?? DEFAULTS.responseMode;
  if (responseMode !== 'query' && responseMode !== 'form_post')
    fail(`"responseMode" must be 'query' or 'form_post'; got ${JSON.stringify(o.responseMode)}.`);
  return {
    pushedAuthorizationRequests: o.pushedAuthorizationRequests === true,
    authorizationParams: Object.freeze(authorizationParams),
    authorizationParamsFromQuery: resolveParamsFromQuery(o.authorizationParamsFromQuery),
    maxAge,
    responseMode,
  };
}

/** An authorization parameter's name: what providers use (`login_hint`, `ext-foo`, `x.y`). */
const PARAM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * `authorizationParamsFromQuery`: the parameters `/login` forwards from its query (none by
 * default). The protocol's own are refused here, so that no list can let a link set them.
 */
function resolveParamsFromQuery(value: unknown): readonly string[] {
  if (value === undefined) return Object.freeze([]);
  if (!Array.isArray(value))
    fail("\"authorizationParamsFromQuery\" must be an array of parameter names, e.g. ['login_hint', 'ui_locales'].");
  for (const name of value) {
    if (typeof name !== 'string' || !PARAM_NAME.test(name))
      fail(`"authorizationParamsFromQuery" must list parameter names; got ${JSON.stringify(name)}.`);
    if (isRefusedFromQuery(name)) {
      fail(
        `"authorizationParamsFromQuery" cannot name "${name}": ` +
          (name === 'returnTo' || name === 'silent' || name === 'max_age' || name === 'acr_values'
            ? 'the login route reads it itself.'
            : 'the middleware sets it, and a link must never be able to.'),
      );
    }
  }
  return Object.freeze([...new Set(value as string[])]);
}
