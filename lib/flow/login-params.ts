import type { ResolvedConfig } from '../options/resolved-config.js';
import { MAX_APP_STATE_BYTES, MAX_QUERY_PARAM_LENGTH } from '../options/defaults.js';
import { isProtocolParam } from '../options/keys.js';
import { OidcError } from '../util/errors.js';
import type { JsonValue } from '../types.js';
import { isValidAcrValues, isValidMaxAge } from './step-up.js';

/**
 * The parameters of one login besides the app's configured ones: from `/login`'s query (the
 * names `authorizationParamsFromQuery` lists) or from the app's code (`req.oidc.login()`). The
 * protocol's own parameters are never among them.
 */

/** Printable text: no control characters (C0, DEL, C1), no U+FFFD left by a malformed %-encoding. */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\ufffd]/;
/** RFC 6749 3.3: scope tokens separated by single spaces. */
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*$/;

function invalidLoginRequest(reason: string): OidcError {
  return new OidcError(
    'ERR_OIDC_INVALID_LOGIN_REQUEST',
    400,
    `This login link is malformed: ${reason} Start again from the login page.`,
  );
}

/**
 * The parameters `authorizationParamsFromQuery` lists, from the login route's query. Absent or
 * empty: not sent. Repeated, too long, unprintable, or a `scope` without `openid`: 400 (the
 * message names the parameter, never echoes its value).
 */
export function paramsFromQuery(query: URLSearchParams, config: ResolvedConfig): Record<string, string> {
  const params: Record<string, string> = {};
  for (const name of config.authorizationParamsFromQuery) {
    const values = query.getAll(name);
    if (values.length === 0 || (values.length === 1 && values[0] === '')) continue;
    if (values.length > 1) throw invalidLoginRequest(`"${name}" is given more than once.`);
    const value = values[0]!;
    if (value.length > MAX_QUERY_PARAM_LENGTH)
      throw invalidLoginRequest(`"${name}" is longer than ${MAX_QUERY_PARAM_LENGTH} characters.`);
    if (UNPRINTABLE.test(value)) throw invalidLoginRequest(`"${name}" has characters that are not printable text.`);
    if (name === 'scope' && !isValidScope(value, config))
      throw invalidLoginRequest(
        `"scope" must be scope names separated by spaces${config.openid ? ', with "openid"' : ''}.`,
      );
    params[name] = value;
  }
  return params;
}

function isValidScope(value: string, config: ResolvedConfig): boolean {
  return SCOPE.test(value) && (!config.openid || value.split(' ').includes('openid'));
}

/** A mistake in the app's own call of `req.oidc.login()`: a `TypeError`, as for a bad argument. */
function badArgument(message: string): TypeError {
  return Object.assign(new TypeError(`express-oidc-login: req.oidc.login(): ${message}`), {
    code: 'ERR_INVALID_ARG_VALUE',
  });
}

/**
 * `req.oidc.login({ authorizationParams })`: the app's parameters for this login, as the
 * `authorizationParams` option takes them (strings or numbers), `scope` allowed (with `openid`).
 * `max_age` and `acr_values` are a step-up: checked at the callback, as `requireAuth()`'s are.
 */
export function paramsFromApp(
  value: unknown,
  config: ResolvedConfig,
): { params: Record<string, string>; stepUp: { maxAge?: number; acrValues?: string[] } } {
  const params: Record<string, string> = {};
  const stepUp: { maxAge?: number; acrValues?: string[] } = {};
  if (value === undefined) return { params, stepUp };
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw badArgument('"authorizationParams" must be an object of parameter names to values.');
  for (const [name, raw] of Object.entries(value)) {
    if (raw === undefined) continue;
    if (name !== 'scope' && isProtocolParam(name))
      throw badArgument(`"authorizationParams.${name}" is set by the middleware itself and cannot be overridden.`);
    const text = typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : raw;
    if (typeof text !== 'string') throw badArgument(`"authorizationParams.${name}" must be a string or a number.`);
    if (name === 'max_age') {
      const maxAge = Number(text);
      if (!/^\d{1,9}$/.test(text) || !isValidMaxAge(maxAge))
        throw badArgument('"authorizationParams.max_age" must be a whole number of seconds.');
      stepUp.maxAge = config.maxAge === undefined ? maxAge : Math.min(maxAge, config.maxAge);
    } else if (name === 'acr_values') {
      const acrValues = text.split(' ');
      if (!isValidAcrValues(acrValues))
        throw badArgument('"authorizationParams.acr_values" must be acr values separated by spaces.');
      stepUp.acrValues = acrValues;
    } else if (name === 'scope' && !isValidScope(text, config)) {
      throw badArgument(
        `"authorizationParams.scope" must be scope names separated by spaces${config.openid ? ', with "openid"' : ''}.`,
      );
    } else {
      params[name] = text;
    }
  }
  return { params, stepUp };
}

/**
 * `req.oidc.login({ appState })`: JSON, at most {@link MAX_APP_STATE_BYTES} bytes of it (it is
 * sealed into the pending login), returned as it will come back to `afterCallback`.
 */
export function appStateFromApp(value: unknown): JsonValue | undefined {
  if (value === undefined) return undefined;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    json = undefined;
  }
  if (json === undefined)
    throw badArgument('"appState" must be JSON data (objects, arrays, strings, numbers, booleans, null).');
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_APP_STATE_BYTES) {
    throw badArgument(
      `"appState" is ${bytes} bytes of JSON, more than the ${MAX_APP_STATE_BYTES} it may be (it travels in a cookie): ` +
        'keep larger data in the session and pass its key.',
    );
  }
  return JSON.parse(json) as JsonValue;
}

/** The scope a login asks for: its own (`scope` among its parameters), else the configured one. */
export function loginScope(params: Readonly<Record<string, string>>, config: ResolvedConfig): string {
  return params.scope ?? config.scope;
}
