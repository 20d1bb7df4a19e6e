/**
 * The back-channel logout index in the session store (records that look like sessions: `sid` and
 * `sub` index records, tombstones, used logout token ids), and ending the sessions it lists. How
 * and why, with the guards against an ended session coming back: docs/design.md#session-index.
 */
import { createHash } from 'node:crypto';
import type { SessionData, Store } from 'express-session';
import { recordCookie, storeDestroy, storeGet, storeSet } from './store-records.js';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { destroySession, requireSession, saveSession, storeError, type OidcRequest } from './express-session.js';
import { forgetLogin, loginOf } from './stored-login.js';
import { ENDED_MEMORY_MS, memoryKey } from './ended-logins.js';
import { requireCoordinator, requireLoginMemory, type LoginMemory } from './login-memory.js';
import { guardStore, tombstone, tombstoneKey, type Ended } from './late-write-guard.js';

const debug = createDebug('express-oidc-login:session-index');

/** How long a tombstone (`oidc-ended:<id>`) stays in the store. */
export const TOMBSTONE_TTL_MS = 60 * 60 * 1000;
/** Index TTL when neither the cookie's maxAge nor absoluteDuration is known. */
export const FALLBACK_INDEX_TTL_MS = 30 * 24 * 60 * 60 * 1000;
function hashKey(prefix: string, iss: string, value: string): string {
  return prefix + createHash('sha256').update(iss).update('\0').update(value).digest('base64url');
}

/** The coordinator's names (`oidc-<name>` as store records, `<prefix><name>` in Redis). */
export function sidKey(iss: string, sid: string): string {
  return hashKey('sid:', iss, sid);
}

export function subKey(iss: string, sub: string): string {
  return hashKey('sub:', iss, sub);
}

export function jtiKey(iss: string, jti: string): string {
  return hashKey('jti:', iss, jti);
}

/**
 * The issuer part of the store keys. With `providers`, the provider's name comes first: two
 * providers may be two clients of one issuer, and a logout token for one of them must not end the
 * other's logins. (The in-process maps are per provider already.)
 */
function keyIssuer(config: ResolvedConfig, iss: string): string {
  return config.providerName === undefined ? iss : `${config.providerName}\0${iss}`;
}

/** The index TTL: the longer of the session cookie's maxAge and absoluteDuration, when known. */
function indexTtl(req: OidcRequest, config: ResolvedConfig): number {
  const cookieMaxAge = req.session?.cookie?.originalMaxAge;
  const candidates = [
    typeof cookieMaxAge === 'number' && cookieMaxAge > 0 ? cookieMaxAge : 0,
    config.absoluteDuration !== false ? config.absoluteDuration * 1000 : 0,
  ];
  const ttl = Math.max(...candidates);
  return ttl > 0 ? ttl : FALLBACK_INDEX_TTL_MS;
}

/**
 * Records the request's (new) session under the login's `sid` and `sub`, so that a back-channel
 * or front-channel logout can find it later through the session store alone. Throws a 503
 * `ERR_OIDC_SESSION_STORE` when the store fails (the login then fails).
 */
export async function indexLogin(req: OidcRequest, config: ResolvedConfig): Promise<void> {
  if (config.backchannelLogoutPath === false && config.frontchannelLogoutPath === false) return;
  const store = req.sessionStore;
  const login = loginOf(req);
  const sessionId = req.sessionID;
  if (!store || !login || typeof sessionId !== 'string') {
    debug(
      'not indexing this login: %s',
      !store ? 'req.sessionStore is missing (is express-session mounted?)' : 'no login or session id',
    );
    return;
  }
  guardStore(store);
  const { sub, sid } = login.claims;
  // A plain OAuth 2.0 login (no ID token, no issuer in its claims) has no provider session that a
  // logout token could name.
  if (typeof login.claims.iss !== 'string') return;
  const iss = keyIssuer(config, login.claims.iss);
  const expiresAt = Date.now() + indexTtl(req, config);
  const keys = typeof sid === 'string' && sid !== '' ? [sidKey(iss, sid), subKey(iss, sub)] : [subKey(iss, sub)];
  try {
    await requireCoordinator(req).addToSets(keys, sessionId, expiresAt);
  } catch (err) {
    debug('indexing the login failed: %s', (err as Error)?.message);
    throw storeError(err);
  }
}

// ---------------------------------------------------------------------------------------------
// Ending sessions.

/** Thrown when there is no session store to end sessions in. */
export class NoSessionStoreError extends Error {
  override readonly name = 'NoSessionStoreError';
}

/** Thrown when the session store failed while ending sessions. */
export class SessionStoreFailure extends Error {
  override readonly name = 'SessionStoreFailure';
}

function requireStore(req: OidcRequest): Store {
  const store = req.sessionStore;
  if (!store || typeof store.get !== 'function' || typeof store.destroy !== 'function') {
    throw new NoSessionStoreError(
      'req.sessionStore is missing: back-channel logout needs express-session (with a server-side store) mounted before oidcLogin().',
    );
  }
  guardStore(store);
  return store;
}

/** Tombstone, then destroy. Resolves to whether a logged-in session was there. */
async function endOne(store: Store, sessionId: string, memory: LoginMemory): Promise<boolean> {
  const existing = (await storeGet(store, sessionId)) as Partial<SessionData> | undefined;
  memory.forget(sessionId);
  await storeSet(store, tombstoneKey(sessionId), { cookie: recordCookie(TOMBSTONE_TTL_MS), ...tombstone('session') });
  await storeDestroy(store, sessionId);
  return existing?.oidc?.login !== undefined;
}

/**
 * Ends the sessions a logout names: by `sid` when it has one, else every session of `sub`.
 * Resolves to the number of logged-in sessions ended. `unsigned`: the request proves nothing
 * (front-channel logout), see below.
 * Throws {@link NoSessionStoreError} without a store, {@link SessionStoreFailure} when it fails.
 */
export async function endSessions(
  req: OidcRequest,
  config: ResolvedConfig,
  target: { iss: string; sid?: string | undefined; sub?: string | undefined },
  { unsigned = false }: { unsigned?: boolean } = {},
): Promise<number> {
  const store = requireStore(req);
  const memory = requireLoginMemory(req);
  const registry = memory.endedLogins(config);
  const { iss, sid, sub } = target;
  let key: string;
  let remember: () => void;
  if (sid !== undefined) {
    remember = () => registry.sids.set(memoryKey(iss, sid), Date.now(), ENDED_MEMORY_MS);
    key = sidKey(keyIssuer(config, iss), sid);
  } else if (sub !== undefined) {
    remember = () => registry.subs.set(memoryKey(iss, sub), Date.now(), ENDED_MEMORY_MS);
    key = subKey(keyIssuer(config, iss), sub);
  } else {
    return 0;
  }
  // A signed logout token is remembered first: a request on this instance right now already drops
  // the login. An unsigned request only once the index lists sessions for it: made-up sids must not
  // push real logouts out of the capped registry, nor cost a store write each.
  if (!unsigned) remember();
  try {
    const coordinator = requireCoordinator(req);
    const ids = await coordinator.members(key);
    if (unsigned) {
      if (ids.length === 0) return 0;
      remember();
    }
    for (const id of ids) registry.sessions.set(id, true, ENDED_MEMORY_MS);
    const ended = await Promise.all(ids.map((id) => endOne(store, id, memory)));
    await coordinator.deleteSet(key);
    const count = ended.filter(Boolean).length;
    debug('logout ended %d of %d indexed sessions', count, ids.length);
    return count;
  } catch (err) {
    throw new SessionStoreFailure(`The session store failed: ${(err as Error)?.message}`, { cause: err });
  }
}

/**
 * Before a local logout destroys the request's session, or a login ends in a session that lives
 * on: remembers its id in process and writes its tombstone (best effort: the destroy or save that
 * follows is what must succeed), so that a request still in flight does not write the login back.
 */
async function markSessionEnded(req: OidcRequest, config: ResolvedConfig, ended: Ended): Promise<void> {
  const sessionId = req.sessionID;
  if (typeof sessionId !== 'string') return;
  requireLoginMemory(req).endedLogins(config).sessions.set(sessionId, true, ENDED_MEMORY_MS);
  const store = req.sessionStore;
  if (!store) return;
  guardStore(store);
  try {
    await storeSet(store, tombstoneKey(sessionId), { cookie: recordCookie(TOMBSTONE_TTL_MS), ...tombstone(ended) });
  } catch (err) {
    debug('writing the tombstone of session %s failed: %s', sessionId, (err as Error)?.message);
  }
}

/**
 * Ends the request's own session (a logout): remembered as ended (above), its login forgotten in
 * process, then destroyed in the store. Rejects with 503 `ERR_OIDC_SESSION_STORE` when the destroy
 * fails: nobody is told "logged out" while the session lives on.
 */
export async function destroyOwnSession(req: OidcRequest, config: ResolvedConfig): Promise<void> {
  const session = requireSession(req);
  const sessionId = req.sessionID;
  await markSessionEnded(req, config, 'session');
  forgetLogin(req, sessionId);
  await destroySession(session);
}

/**
 * Ends the login of the request's own session, which lives on (a refresh the provider refused, a
 * renewed login the app's `afterCallback` refused): remembered as ended (above), as for a logout,
 * so that a request that loaded the session before does not write the login back (its other
 * changes to the session are written); then saved without it.
 */
export async function endOwnLogin(req: OidcRequest, config: ResolvedConfig): Promise<void> {
  const session = requireSession(req);
  delete session.oidc?.login;
  await markSessionEnded(req, config, 'login');
  forgetLogin(req, req.sessionID);
  await saveSession(session);
}

// ---------------------------------------------------------------------------------------------
// Logout token replay.

/**
 * Records a logout token's `jti` until `exp` (+ clock tolerance). Resolves to false when it was
 * seen before (a replay): with Redis, by any instance (SET NX); without, by this process, or by
 * another one whose record in the session store was written before this read (no compare-and-set).
 * Throws {@link NoSessionStoreError} or {@link SessionStoreFailure}.
 */
export async function rememberJti(
  req: OidcRequest,
  config: ResolvedConfig,
  iss: string,
  jti: string,
  exp: number,
): Promise<boolean> {
  const store = requireStore(req);
  const coordinator = requireCoordinator(req);
  const ttlMs = Math.max(1000, exp * 1000 + config.clockTolerance * 1000 - Date.now());
  const key = jtiKey(keyIssuer(config, iss), jti);
  try {
    if (!(await coordinator.consumeOnce(key, ttlMs))) return false;
    if (coordinator.shared) return true;
    const record = 'oidc-' + key;
    if ((await storeGet(store, record)) !== undefined) return false;
    await storeSet(store, record, { cookie: recordCookie(ttlMs), oidcJti: 1 });
    return true;
  } catch (err) {
    await coordinator.unconsume(key).catch(() => undefined);
    throw new SessionStoreFailure(`The session store failed: ${(err as Error)?.message}`, { cause: err });
  }
}

/** Forgets a `jti` again (the logout failed: the provider may retry with the same token). */
export async function forgetJti(req: OidcRequest, config: ResolvedConfig, iss: string, jti: string): Promise<void> {
  const coordinator = requireCoordinator(req);
  const key = jtiKey(keyIssuer(config, iss), jti);
  try {
    await coordinator.unconsume(key);
    if (!coordinator.shared && req.sessionStore) await storeDestroy(req.sessionStore, 'oidc-' + key);
  } catch (err) {
    debug('forgetting a jti failed: %s', (err as Error)?.message);
  }
}
