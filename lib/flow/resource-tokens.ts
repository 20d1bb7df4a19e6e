import * as client from 'openid-client';
import createDebug from 'debug';
import { MAX_RESOURCE_TOKENS } from '../options/defaults.js';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { resourceProblem } from '../options/validate/resources.js';
import { dpopNotBound, isDPoPTokenType } from './dpop.js';
import { OidcError } from '../util/errors.js';
import type { Provider } from './provider.js';
import { underRefreshLock } from './refresh-token-uses.js';
import { errorInTokenResponse, tokenEndpointError } from './provider-errors.js';
import { findRotated, isNewer, pickTokens, readStored, type StoredState, type TokenFields } from './stored-tokens.js';
import { requireSession, saveSession, type OidcRequest } from '../session/express-session.js';
import { loginOf, nextRefresh, packLogin, sameUser } from '../session/stored-login.js';
import type { ResourceOptions, StoredLogin, StoredResourceToken } from '../types.js';

const debug = createDebug('express-oidc-login:resource-tokens');

/** The longest `scope` asked for with a resource, characters. */
const MAX_SCOPE_LENGTH = 1024;

/**
 * What one token request for an API came to, shared by the requests of the session that waited
 * for it: the token, the login's tokens as the store had them when newer than the request's, and
 * the refresh token that replaced the one used (rotation), if any.
 */
interface Fetched {
  token: StoredResourceToken;
  adopted: TokenFields | undefined;
  usedRefreshToken: string;
  rotatedRefreshToken: string | undefined;
  /** The provider answered with a token that is not DPoP-bound (not stored; the rotation is). */
  refused?: OidcError;
}

function invalidArgument(message: string): TypeError {
  return Object.assign(new TypeError(`express-oidc-login: getAccessToken({ resource }): ${message}`), {
    code: 'ERR_INVALID_ARG_VALUE',
  });
}

/** The key of a resource's token in the session: the resource, and the scope after a space. */
function tokenKey(resource: string, scope: string | undefined): string {
  return scope === undefined ? resource : `${resource} ${scope}`;
}

/** The resource and scope as given, checked (a mistake of the app's code: a TypeError). */
function checkRequest(config: ResolvedConfig, options: ResourceOptions): { resource: string; scope?: string } {
  const { resource, scope } = options;
  const problem = resourceProblem(resource, config.resourceParameter);
  if (problem) throw invalidArgument(problem);
  if (config.resources !== undefined && !config.resources.includes(resource!)) {
    throw invalidArgument(
      `${JSON.stringify(resource)} is not one of the "resources" option, which are asked for at login: add it there.`,
    );
  }
  if (scope !== undefined && (typeof scope !== 'string' || scope.trim() === '' || scope.length > MAX_SCOPE_LENGTH)) {
    throw invalidArgument(`"scope" must be a non-empty string of at most ${MAX_SCOPE_LENGTH} characters.`);
  }
  return { resource: resource!, ...(scope !== undefined && { scope: scope.trim().split(/\s+/).join(' ') }) };
}

/** Valid for at least `refreshLeeway` more seconds (a token without expiry: valid). */
function isFresh(token: StoredResourceToken | undefined, config: ResolvedConfig, now = Date.now()): boolean {
  if (token === undefined) return false;
  return typeof token.expiresAt !== 'number' || token.expiresAt - config.refreshLeeway > now / 1000;
}

/**
 * An access token for another API (`getAccessToken({ resource, scope })`): the one kept in the
 * session while valid, else a new one from the refresh grant with `resource` (RFC 8707 §2.2) or
 * `audience`, kept for the next calls. One token request per session and resource at a time in
 * this process (the requests of the session that ask meanwhile share it), and one use of the
 * session's refresh token at a time (see {@link underRefreshLock}).
 *
 * The login stays whatever the provider answers: a refused resource is 403
 * `ERR_OIDC_RESOURCE_REFUSED` with the provider's error; without a refresh token, 403
 * `ERR_OIDC_NO_REFRESH_TOKEN`.
 */
export async function getResourceToken(
  req: OidcRequest,
  config: ResolvedConfig,
  provider: Provider,
  options: ResourceOptions & { forceRefresh?: boolean },
): Promise<string> {
  const { resource, scope } = checkRequest(config, options);
  requireSession(req);
  const login = loginOf(req);
  if (!login) throw new OidcError('ERR_OIDC_UNAUTHENTICATED', 401, 'Not logged in. Log in to use this resource.');
  const key = tokenKey(resource, scope);
  const cached = login.resources?.[key];
  if (options.forceRefresh !== true && isFresh(cached, config)) return cached!.accessToken;
  if (login.refreshToken === undefined) throw noRefreshToken();

  const flightKey = `${req.sessionID ?? ''}\u0000${key}`;
  const flights = provider.resourceTokens as Map<string, Promise<Fetched>>;
  let flight = flights.get(flightKey);
  if (flight === undefined) {
    // Under the session's refresh lock, as the login's own refresh: one use of the session's
    // refresh token at a time, in this process and across instances (Redis).
    flight = underRefreshLock(req, config, provider, async () => {
      const fetched = await fetchResourceToken(req, config, provider, login, key, resource, scope);
      // Saved before the session's next use of the refresh token starts (it reads the store).
      await saveSession(apply(req, key, fetched));
      return fetched;
    }).finally(() => flights.delete(flightKey));
    flights.set(flightKey, flight);
  } else {
    debug('joining the token request in flight for %s', resource);
    const fetched = await flight;
    // Another request of this session: its own req.session gets the outcome too.
    apply(req, key, fetched);
  }
  const fetched = await flight;
  if (fetched.refused) throw fetched.refused;
  return fetched.token.accessToken;
}

/** The token request, with the newest refresh token of the session. */
async function fetchResourceToken(
  req: OidcRequest,
  config: ResolvedConfig,
  provider: Provider,
  login: StoredLogin,
  key: string,
  resource: string,
  scope: string | undefined,
): Promise<Fetched> {
  // The store first: a refresh of this session that ran meanwhile (here, or on another instance)
  // may have rotated the refresh token, or fetched this token already.
  let current = login;
  let adopted: TokenFields | undefined;
  const stored: StoredState = await readStored(req).catch(() => ({ kind: 'unknown' }) as const);
  if (stored.kind === 'gone') {
    throw new OidcError('ERR_OIDC_UNAUTHENTICATED', 401, 'This login has ended (logged out). Log in again.');
  }
  if (stored.kind === 'login' && sameUser(stored.login, login)) {
    const theirs = stored.login.resources?.[key];
    if (stored.login.refreshToken !== undefined && isNewer(stored.login, login)) {
      current = stored.login;
      adopted = pickTokens(current);
    }
    if (isFresh(theirs, config) && theirs!.accessToken !== login.resources?.[key]?.accessToken) {
      return { token: theirs!, adopted, usedRefreshToken: current.refreshToken!, rotatedRefreshToken: undefined };
    }
  }
  const refreshToken = current.refreshToken;
  if (refreshToken === undefined) throw noRefreshToken();

  const configuration = await provider.configurationForLogin({ iss: current.claims.iss, tid: current.claims.tid });
  // The login's DPoP key: the API's token is bound to it as the login's own are.
  const dpop = current.dpop ? await provider.dpopKeys.of(current.dpop).handle(configuration) : undefined;
  const parameters: Record<string, string> = { [config.resourceParameter]: resource, ...(scope && { scope }) };
  let tokens: client.TokenEndpointResponse;
  try {
    debug('fetching an access token for %s', resource);
    tokens = await client.refreshTokenGrant(configuration, refreshToken, parameters, dpop && { DPoP: dpop });
  } catch (err) {
    // Another instance may have rotated the refresh token a moment ago: once with its new one.
    const rotated = isInvalidGrant(err) ? await findRotated(req, current) : undefined;
    if (rotated?.refreshToken === undefined) throw refusal(err, resource, config);
    debug('invalid_grant, but the refresh token was rotated meanwhile: asking again with the new one');
    const again = await fetchResourceToken(req, config, provider, rotated, key, resource, scope);
    // Adopted relative to the request's own login, not to `rotated`: apply() then puts the rotated
    // tokens in, and the refresh token this answer rotated to on top of them.
    return { ...again, adopted: again.adopted ?? pickTokens(rotated) };
  }
  const rotatedRefreshToken = typeof tokens.refresh_token === 'string' ? tokens.refresh_token : undefined;
  const token: StoredResourceToken = {
    accessToken: tokens.access_token,
    tokenType: tokens.token_type,
    ...(typeof tokens.expires_in === 'number' && { expiresAt: Math.floor(Date.now() / 1000) + tokens.expires_in }),
    ...(typeof tokens.scope === 'string' && { scope: tokens.scope }),
  };
  const fetched: Fetched = { token, adopted, usedRefreshToken: refreshToken, rotatedRefreshToken };
  if (current.dpop && !isDPoPTokenType(tokens.token_type)) fetched.refused = dpopNotBound('refresh', tokens.token_type);
  return fetched;
}

/**
 * The provider's OAuth error answer (`invalid_target`, `invalid_scope`, `access_denied`...): 403
 * with it; the login stays (a revoked refresh token ends it at its own next refresh). Refused
 * client credentials and outages: as for any token request (502, 503, 504).
 */
function refusal(err: unknown, resource: string, config: ResolvedConfig): OidcError {
  const body = err instanceof client.ResponseBodyError ? err : undefined;
  const error = body?.error ?? errorInTokenResponse(err);
  if (error === undefined || error === 'invalid_client' || error === 'unauthorized_client') {
    return tokenEndpointError(err, 'refresh', config.clientAuthMethod);
  }
  const code = /^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,64}$/.test(error) ? error : 'error';
  const description =
    typeof body?.error_description === 'string' && /^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,300}$/.test(body.error_description)
      ? `: ${body.error_description}`
      : '';
  return Object.assign(
    new OidcError(
      'ERR_OIDC_RESOURCE_REFUSED',
      403,
      `The identity provider refused an access token for ${JSON.stringify(resource)} (${code}${description}). ` +
        'The login stays; check that the client may use this API and scope at the provider.',
      { cause: err },
    ),
    { error: code },
  );
}

function noRefreshToken(): OidcError {
  return new OidcError(
    'ERR_OIDC_NO_REFRESH_TOKEN',
    403,
    'An access token for another API comes from the refresh token, and the identity provider issued none ' +
      'for this login. Add "offline_access" to "scope" (most providers issue refresh tokens only then), and log in again.',
  );
}

function isInvalidGrant(err: unknown): boolean {
  const error = err instanceof client.ResponseBodyError ? err.error : errorInTokenResponse(err);
  return error === 'invalid_grant' || error === 'bad_refresh_token';
}

/**
 * Applies a token request's outcome to this request's own session: the token kept, with the
 * rotated refresh token and the store's newer tokens when the request's were older.
 */
function apply(req: OidcRequest, key: string, fetched: Fetched) {
  const session = requireSession(req);
  const login = loginOf(req);
  if (!login) throw new OidcError('ERR_OIDC_UNAUTHENTICATED', 401, 'The login ended meanwhile. Log in again.');
  const next: StoredLogin = { ...login, ...fetched.adopted };
  if (fetched.rotatedRefreshToken !== undefined && next.refreshToken === fetched.usedRefreshToken) {
    next.refreshToken = fetched.rotatedRefreshToken;
    next.refreshes = nextRefresh(next);
  }
  if (!fetched.refused) next.resources = keep(login.resources, key, fetched.token);
  session.oidc!.login = packLogin(next, req);
  return session;
}

/** The session's API tokens with `token` added last; expired ones and the oldest beyond the cap dropped. */
function keep(
  resources: StoredLogin['resources'],
  key: string,
  token: StoredResourceToken,
  now = Date.now() / 1000,
): Record<string, StoredResourceToken> {
  const kept: [string, StoredResourceToken][] = Object.entries(resources ?? {}).filter(
    ([k, t]) => k !== key && (typeof t.expiresAt !== 'number' || t.expiresAt > now),
  );
  kept.push([key, token]);
  return Object.fromEntries(kept.slice(-MAX_RESOURCE_TOKENS));
}
