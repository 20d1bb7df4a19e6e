import { DEFAULTS } from '../defaults.js';
import { fail } from '../fail.js';
import { RESERVED_PARAMS } from '../keys.js';
import type { ResolvedConfig } from '../resolved-config.js';
import { isObject } from '../values.js';

/** The authorization request: `pushedAuthorizationRequests`, `authorizationParams` (and its `max_age`), `responseMode`. */
export function resolveAuthorizationRequest(
  o: Record<string, unknown>,
  openid: boolean,
): Pick<ResolvedConfig, 'pushedAuthorizationRequests' | 'authorizationParams' | 'maxAge' | 'responseMode'> {
  if (o.pushedAuthorizationRequests !== undefined && typeof o.pushedAuthorizationRequests !== 'boolean') {
    fail('"pushedAuthorizationRequests" must be a boolean.');
  }
  const authorizationParams: Record<string, string> = {};
  const rawParams = o.authorizationParams ?? {};
  if (!isObject(rawParams)) {
    fail('"authorizationParams" must be an object of parameter names to string values.');
  }
  for (const [key, value] of Object.entries(rawParams)) {
    if (RESERVED_PARAMS.has(key)) {
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
    maxAge,
    responseMode,
  };
}
