import * as client from 'openid-client';
import createDebug from 'debug';
import type { IDToken } from 'openid-client';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { dpopNotBound, isDPoPTokenType } from './dpop.js';
import { OidcError } from '../util/errors.js';
import { emit } from './events.js';
import { decideRenewedLogin } from './after-callback.js';
import type { Provider } from './provider.js';
import { underRefreshLock } from './refresh-token-uses.js';
import { errorInTokenResponse, isIdTokenError, tokenEndpointError } from './provider-errors.js';
import { requireSession, saveSession, type OidcRequest } from '../session/express-session.js';
import { loginOf, nextRefresh, packLogin } from '../session/stored-login.js';
import { endOwnLogin } from '../session/session-index.js';
import type { StoredLogin } from '../types.js';
import { refreshedClaims } from './userinfo-claims.js';
import { findRotated, isNewer, pickTokens, readStored, type StoredState, type TokenFields } from './stored-tokens.js';

const debug = createDebug('express-oidc-login:refresh');

/**
 * What one refresh came to, shared by every request of the session that waited for it.
 * `ended`: the login is over (refresh token revoked, refreshed ID token invalid, logged out
 * elsewhere); each request removes it from its own `req.session`. Outages are rejections instead:
 * the login stays.
 */
type Outcome =
  | { ended: false; tokens: TokenFields & Partial<Pick<StoredLogin, 'data'>>; refreshed: boolean }
  | { ended: true; error: OidcError; reason: 'gone' | 'invalid_grant' | 'id_token' | 'dpop' | 'refused' };

function unauthenticated(message: string, cause?: unknown): OidcError {
  return new OidcError('ERR_OIDC_UNAUTHENTICATED', 401, message, cause === undefined ? undefined : { cause });
}

const NOT_LOGGED_IN = 'Not logged in. Log in to use this resource.';
const NO_REFRESH_TOKEN =
  'The access token has expired and the identity provider issued no refresh token to renew it ' +
  '(ask for the "offline_access" scope to get one). Log in again.';

/**
 * True when {@link getAccessToken} has work to do: the access token has expired, or expires within
 * `refreshLeeway` and there is a refresh token to renew it with. Synchronous and I/O-free (for the
 * hot path of `requireAuth`). A login without `expiresAt` (the provider sent no `expires_in`) is
 * taken as valid.
 */
export function needsRefresh(login: StoredLogin, config: ResolvedConfig, now = Date.now()): boolean {
  if (typeof login.expiresAt !== 'number') return false;
  const nowSeconds = now / 1000;
  if (login.expiresAt <= nowSeconds) return true;
  return login.refreshToken !== undefined && login.expiresAt - config.refreshLeeway <= nowSeconds;
}

/**
 * A valid access token for the request's login, refreshed first when needed (single-flight per
 * session). The new tokens are stored in `req.session` (and saved by the request that made the
 * token request; the others' sessions are updated in memory and saved by express-session).
 */
export async function getAccessToken(
  req: OidcRequest,
  config: ResolvedConfig,
  provider: Provider,
  options: { forceRefresh?: boolean } = {},
): Promise<string> {
  requireSession(req);
  const login = loginOf(req);
  if (!login) throw unauthenticated(NOT_LOGGED_IN);
  if (!(options.forceRefresh === true && login.refreshToken !== undefined) && !needsRefresh(login, config))
    return login.accessToken;
  const refreshToken = login.refreshToken;
  if (refreshToken === undefined) throw unauthenticated(NO_REFRESH_TOKEN);

  // Refreshes in flight, per middleware instance (its Provider), keyed by session id + refresh token.
  const flights = provider.refreshes as Map<string, Promise<Outcome>>;
  const key = `${req.sessionID ?? ''}\u0000${refreshToken}`;
  let flight = flights.get(key);
  if (flight === undefined) {
    const own = flights;
    // One use of the session's refresh token at a time, in this process and across instances (API
    // tokens use it too: resource-tokens.ts).
    flight = underRefreshLock(req, config, provider, () => lead(req, config, provider, login, refreshToken)).finally(
      () => own.delete(key),
    );
    flights.set(key, flight);
  } else {
    debug('joining the refresh in flight for this session');
  }
  const outcome = await flight;
  return settle(req, config, provider, refreshToken, outcome);
}

/**
 * The refresh this process makes for a session, under the session's lock (see underRefreshLock in
 * refresh-token-uses.ts): the store is read again once the lock is held (another instance may have refreshed
 * meanwhile: its tokens are used, no token request), and the new tokens are saved before the lock
 * is given back, so that the next holder finds them.
 */
async function lead(
  req: OidcRequest,
  config: ResolvedConfig,
  provider: Provider,
  login: StoredLogin,
  usedRefreshToken: string,
): Promise<Outcome> {
  const outcome = await refresh(req, config, provider, login);
  await commit(req, config, usedRefreshToken, outcome);
  return outcome;
}

/** The leader's session: the outcome applied and saved (when it changed what the store holds), and reported. */
async function commit(
  req: OidcRequest,
  config: ResolvedConfig,
  usedRefreshToken: string,
  outcome: Outcome,
): Promise<void> {
  const session = requireSession(req);
  const login = loginOf(req);
  if (!login || login.refreshToken !== usedRefreshToken) return;
  if (outcome.ended) {
    // A login that ended elsewhere ('gone') was reported, and marked as ended, there.
    if (outcome.reason === 'gone') {
      delete session.oidc!.login;
      await saveSession(session);
      return;
    }
    emit(config, 'logout', { sub: login.claims.sub, sessionId: req.sessionID, detail: 'refresh_failed' }, req);
    await endOwnLogin(req, config);
    return;
  }
  const refreshed = packLogin({ ...login, ...outcome.tokens }, req);
  session.oidc!.login = refreshed;
  // Tokens adopted from the store are there already; express-session saves this session anyway.
  if (!outcome.refreshed) return;
  await saveSession(session);
  emit(config, 'refresh', { sub: refreshed.claims.sub, sessionId: req.sessionID }, req);
}

/** Applies a refresh's outcome to this request's own session (the leader's is done: commit()). */
async function settle(
  req: OidcRequest,
  config: ResolvedConfig,
  provider: Provider,
  usedRefreshToken: string,
  outcome: Outcome,
): Promise<string> {
  const session = requireSession(req);
  const login = loginOf(req);
  if (outcome.ended) {
    if (login && login.refreshToken === usedRefreshToken) delete session.oidc!.login;
    throw outcome.error;
  }
  if (!login) throw unauthenticated('The login ended while its access token was being refreshed. Log in again.');
  if (login.refreshToken !== usedRefreshToken) {
    // Applied already (the leader, another call of this request), or the login changed meanwhile.
    if (login.accessToken === outcome.tokens.accessToken) return login.accessToken;
    return getAccessToken(req, config, provider);
  }
  // The new tokens in place of the old; a field the refresh did not return (no new refresh token,
  // no expiry, no scope, no DPoP key) is gone, as JSON drops what is undefined.
  const refreshed = packLogin({ ...login, ...outcome.tokens }, req);
  session.oidc!.login = refreshed;
  return refreshed.accessToken;
}

/** One refresh for one session: the work every waiting request shares. */
async function refresh(
  req: OidcRequest,
  config: ResolvedConfig,
  provider: Provider,
  login: StoredLogin,
): Promise<Outcome> {
  let current = login;
  // The store first: another instance (or a request of this process that loaded the session
  // before) may have refreshed already. Using the old, rotated refresh token would then get
  // invalid_grant, and a provider with reuse detection revokes the whole grant for it.
  let stored: StoredState;
  try {
    stored = await readStored(req);
  } catch (err) {
    debug('reading the session store before refreshing failed: %s', (err as Error).message);
    stored = { kind: 'unknown' };
  }
  if (stored.kind === 'gone') {
    debug('the login is gone from the store (logged out elsewhere): not refreshing');
    return { ended: true, reason: 'gone', error: unauthenticated('This login has ended (logged out). Log in again.') };
  }
  if (stored.kind === 'login' && isNewer(stored.login, current)) {
    debug('the store has newer tokens for this login: using them');
    current = stored.login;
    if (!needsRefresh(current, config)) return { ended: false, tokens: pickTokens(current), refreshed: false };
  }

  let configuration: client.Configuration;
  try {
    configuration = await provider.configurationForLogin({ iss: current.claims.iss, tid: current.claims.tid });
  } catch (err) {
    // An Entra multi-tenant login whose tenant is no longer allowed ends; an outage does not.
    if (
      err instanceof OidcError &&
      (err.code === 'ERR_OIDC_TENANT_NOT_ALLOWED' || err.code === 'ERR_OIDC_ID_TOKEN_INVALID')
    ) {
      return { ended: true, reason: 'id_token', error: err };
    }
    throw err;
  }
  for (let attempt = 0; ; attempt++) {
    if (current.refreshToken === undefined) throw unauthenticated(NO_REFRESH_TOKEN);
    let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
    // A DPoP login refreshes with a proof of its own key: the new access token is bound to it too.
    const dpop = current.dpop ? await provider.dpopKeys.of(current.dpop).handle(configuration) : undefined;
    try {
      debug('refreshing the access token');
      tokens = await client.refreshTokenGrant(configuration, current.refreshToken, undefined, dpop && { DPoP: dpop });
    } catch (err) {
      const inBody = errorInTokenResponse(err);
      // GitHub answers a revoked or used refresh token with HTTP 200 and { error: 'bad_refresh_token' }.
      if (
        (err instanceof client.ResponseBodyError && err.error === 'invalid_grant') ||
        inBody === 'invalid_grant' ||
        inBody === 'bad_refresh_token'
      ) {
        if (attempt === 0) {
          const rotated = await findRotated(req, current);
          if (rotated) {
            debug('invalid_grant, but another instance has rotated the refresh token: using its tokens');
            current = rotated;
            if (!needsRefresh(current, config)) return { ended: false, tokens: pickTokens(current), refreshed: false };
            continue;
          }
        }
        debug('invalid_grant: the refresh token was revoked or has expired; ending the login');
        return {
          ended: true,
          reason: 'invalid_grant',
          error: unauthenticated(
            "The identity provider no longer accepts this login's refresh token (revoked or expired), " +
              'so the login has ended. Log in again.',
            err,
          ),
        };
      }
      // openid-client's own ID token checks (iss, aud, exp, required claims, format) failed.
      if (isIdTokenError(err))
        return { ended: true, reason: 'id_token', error: invalidIdToken('openid-client refused it.', err) };
      throw tokenEndpointError(err, 'refresh', config.clientAuthMethod);
    }
    return decideRefreshed(
      req,
      config,
      current,
      await validateRefreshed(tokens, current, config, provider, configuration),
    );
  }
}

/**
 * A refresh that brought a new ID token: the app decides about its claims again (`afterCallback`,
 * reason `'refresh'`), as at the callback, so the login's claims stay what the app decided. A
 * refusal ends the login: its old refresh token may be spent, and the new claims were not accepted.
 */
async function decideRefreshed(
  req: OidcRequest,
  config: ResolvedConfig,
  current: StoredLogin,
  outcome: Outcome,
): Promise<Outcome> {
  // The claims object is the login's own unless an ID token came (even one equal to the stored
  // token: RS256 is deterministic, so a refresh in the login's second can return the same bytes).
  if (outcome.ended || outcome.tokens.claims === current.claims) return outcome;
  let decided: StoredLogin;
  try {
    decided = await decideRenewedLogin(config, req, { ...current, ...outcome.tokens }, 'refresh');
  } catch (err) {
    if (!(err instanceof OidcError && err.code === 'ERR_OIDC_LOGIN_REFUSED')) throw err;
    debug('afterCallback refused the refreshed login: ending it');
    return { ended: true, reason: 'refused', error: err };
  }
  return { ...outcome, tokens: { ...pickTokens(decided), data: decided.data } };
}

/**
 * The refreshed tokens as they go into the session. A new ID token is checked like the first
 * (signature, with the one allowed algorithm) and, per OpenID Connect Core 12.2, must be about the
 * same authentication: same `iss`, `sub`, `aud`, `azp`, and `auth_time` (when present).
 */
async function validateRefreshed(
  tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers,
  current: StoredLogin,
  config: ResolvedConfig,
  provider: Provider,
  configuration: client.Configuration,
): Promise<Outcome> {
  if (current.dpop && !isDPoPTokenType(tokens.token_type)) {
    // A Bearer token for a DPoP login: not stored. The refresh token it came with may have
    // replaced ours, so the login cannot go on; it ends (the safe side of a downgrade).
    debug('the provider answered a DPoP refresh with a %s token: ending the login', tokens.token_type);
    return { ended: true, reason: 'dpop', error: dpopNotBound('refresh', tokens.token_type) };
  }
  const now = Date.now();
  const fields: TokenFields = {
    idToken: current.idToken,
    claims: current.claims,
    accessToken: tokens.access_token,
    refreshToken: typeof tokens.refresh_token === 'string' ? tokens.refresh_token : current.refreshToken,
    tokenType: tokens.token_type,
    expiresAt: typeof tokens.expires_in === 'number' ? Math.floor(now / 1000) + tokens.expires_in : undefined,
    scope: typeof tokens.scope === 'string' ? tokens.scope : current.scope,
    dpop: current.dpop,
    refreshes: nextRefresh(current),
  };
  if (typeof tokens.id_token === 'string' && current.idToken === undefined) {
    // A plain OAuth 2.0 login asked for no ID token: one sent anyway is neither trusted nor kept.
    debug('ignoring the ID token in the refresh response of a plain OAuth 2.0 login');
  } else if (typeof tokens.id_token === 'string') {
    const claims = tokens.claims();
    if (!claims) return { ended: true, reason: 'id_token', error: invalidIdToken('it could not be read.') };
    try {
      await provider.verifySignature(
        tokens.id_token,
        provider.clientMetadata(configuration).id_token_signed_response_alg ?? config.idTokenSigningAlg,
      );
    } catch (err) {
      // A bad signature ends the login; a JWKS outage is an outage (the login stays).
      if (err instanceof OidcError && err.code === 'ERR_OIDC_ID_TOKEN_INVALID')
        return { ended: true, reason: 'id_token', error: err };
      throw err;
    }
    const mismatch = compareClaims(current.claims as IDToken, claims, config, now);
    if (mismatch) {
      debug('the refreshed ID token does not match the login: %s', mismatch);
      return { ended: true, reason: 'id_token', error: invalidIdToken(mismatch) };
    }
    fields.idToken = tokens.id_token;
    fields.claims = refreshedClaims(current, claims);
  }
  debug('access token refreshed');
  return { ended: false, tokens: fields, refreshed: true };
}

function invalidIdToken(reason: string, cause?: unknown): OidcError {
  return new OidcError(
    'ERR_OIDC_ID_TOKEN_INVALID',
    400,
    `The refreshed ID token failed validation: ${reason} The login has ended. Log in again.`,
    cause === undefined ? undefined : { cause },
  );
}

function sameAudience(a: IDToken['aud'], b: IDToken['aud']): boolean {
  const left = new Set(Array.isArray(a) ? a : [a]);
  const right = new Set(Array.isArray(b) ? b : [b]);
  return left.size === right.size && [...left].every((x) => right.has(x));
}

/** OpenID Connect Core 12.2; returns what is wrong, or undefined. */
function compareClaims(original: IDToken, refreshed: IDToken, config: ResolvedConfig, now: number): string | undefined {
  if (refreshed.iss !== original.iss) return '"iss" differs from the original ID token\'s.';
  if (refreshed.sub !== original.sub) return '"sub" differs from the original ID token\'s (another user).';
  if (!sameAudience(refreshed.aud, original.aud)) return '"aud" differs from the original ID token\'s.';
  if (refreshed.azp !== original.azp) return '"azp" differs from the original ID token\'s.';
  if (config.allowedTenants !== undefined && refreshed.tid !== original.tid)
    return '"tid" differs from the original ID token\'s (another tenant).';
  if (refreshed.auth_time !== undefined && refreshed.auth_time !== original.auth_time) {
    return '"auth_time" differs from the original authentication\'s.';
  }
  if (refreshed.nonce !== undefined && refreshed.nonce !== original.nonce)
    return '"nonce" differs from the original ID token\'s.';
  if (typeof refreshed.iat !== 'number' || refreshed.iat > now / 1000 + config.clockTolerance)
    return '"iat" lies in the future.';
  return undefined;
}
