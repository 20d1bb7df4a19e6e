/**
 * The back-channel logout index in the session store (records that look like sessions: `sid` and
 * `sub` index records, tombstones, used logout token ids), and ending the sessions it lists. How
 * and why, with the guards against an ended session coming back: docs/design.md#session-index.
 */
import { createHash } from 'node:crypto';
import type { SessionData, Store } from 'express-session';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { storeError, type OidcRequest } from './express-session.js';
import { loginOf } from './stored-login.js';
import { ENDED_MEMORY_MS, memoryKey } from './ended-logins.js';
import { requireLoginMemory, type LoginMemory } from './login-memory.js';
import { guardStore, tombstoneKey } from './late-write-guard.js';

const debug = createDebug('express-oidc-login:session-index');

/** How long a tombstone (`oidc-ended:<id>`) stays in the store. */
export const TOMBSTONE_TTL_MS = 60 * 60 * 1000;
/** Index TTL when neither the cookie's maxAge nor absoluteDuration is known. */
export const FALLBACK_INDEX_TTL_MS = 30 * 24 * 60 * 60 * 1000;
/** Sessions listed in one sid or sub record at most (the newest are kept). */
export const MAX_SESSIONS_PER_RECORD = 100;

const KEY_PREFIX = {
  sid: 'oidc-sid:',
  sub: 'oidc-sub:',
  jti: 'oidc-jti:',
} as const;

// ---------------------------------------------------------------------------------------------
// The store: promisified access and session-shaped records.

function storeGet(store: Store, key: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    store.get(key, (err: unknown, value?: unknown) => (err ? reject(err) : resolve(value ?? undefined)));
  });
}

function storeSet(store: Store, key: string, record: object): Promise<void> {
  return new Promise((resolve, reject) => {
    store.set(key, record as SessionData, (err?: unknown) => (err ? reject(err) : resolve()));
  });
}

function storeDestroy(store: Store, key: string): Promise<void> {
  return new Promise((resolve, reject) => {
    store.destroy(key, (err?: unknown) => (err ? reject(err) : resolve()));
  });
}

/** What express-session's Cookie serializes to (plus `maxAge`, which memorystore reads). */
function recordCookie(ttlMs: number, now = Date.now()) {
  const ms = Math.max(1000, Math.ceil(ttlMs));
  return { originalMaxAge: ms, maxAge: ms, expires: new Date(now + ms), path: '/', httpOnly: true };
}

function hashKey(prefix: string, iss: string, value: string): string {
  return prefix + createHash('sha256').update(iss).update('\0').update(value).digest('base64url');
}

export function sidKey(iss: string, sid: string): string {
  return hashKey(KEY_PREFIX.sid, iss, sid);
}

export function subKey(iss: string, sub: string): string {
  return hashKey(KEY_PREFIX.sub, iss, sub);
}

export function jtiKey(iss: string, jti: string): string {
  return hashKey(KEY_PREFIX.jti, iss, jti);
}

/**
 * The issuer part of the store keys. With `providers`, the provider's name comes first: two
 * providers may be two clients of one issuer, and a logout token for one of them must not end the
 * other's logins. (The in-process maps are per provider already.)
 */
function keyIssuer(config: ResolvedConfig, iss: string): string {
  return config.providerName === undefined ? iss : `${config.providerName}\0${iss}`;
}

interface IndexEntry {
  id: string;
  exp: number;
}

function entriesOf(record: unknown): IndexEntry[] {
  const sessions = (record as { oidcIndex?: { sessions?: unknown } } | undefined)?.oidcIndex?.sessions;
  if (!Array.isArray(sessions)) return [];
  return sessions.filter(
    (e): e is IndexEntry =>
      typeof e === 'object' && e !== null && typeof e.id === 'string' && e.id !== '' && typeof e.exp === 'number',
  );
}

async function addToIndex(store: Store, key: string, sessionId: string, expiresAt: number): Promise<void> {
  const now = Date.now();
  const entries = entriesOf(await storeGet(store, key)).filter((e) => e.exp > now && e.id !== sessionId);
  entries.push({ id: sessionId, exp: expiresAt });
  entries.sort((a, b) => b.exp - a.exp);
  const kept = entries.slice(0, MAX_SESSIONS_PER_RECORD);
  const recordExpiry = kept[0]!.exp;
  await storeSet(store, key, { cookie: recordCookie(recordExpiry - now, now), oidcIndex: { v: 1, sessions: kept } });
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
  try {
    await Promise.all([
      typeof sid === 'string' && sid !== '' ? addToIndex(store, sidKey(iss, sid), sessionId, expiresAt) : undefined,
      addToIndex(store, subKey(iss, sub), sessionId, expiresAt),
    ]);
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
  await storeSet(store, tombstoneKey(sessionId), { cookie: recordCookie(TOMBSTONE_TTL_MS), oidcEnded: 1 });
  await storeDestroy(store, sessionId);
  return existing?.oidc?.login !== undefined;
}

/**
 * Ends the sessions a back-channel logout token names: by `sid` when it has one, else every
 * session of `sub`. Resolves to the number of logged-in sessions ended.
 * Throws {@link NoSessionStoreError} without a store, {@link SessionStoreFailure} when it fails.
 */
export async function endSessions(
  req: OidcRequest,
  config: ResolvedConfig,
  target: { iss: string; sid?: string | undefined; sub?: string | undefined },
): Promise<number> {
  const store = requireStore(req);
  const memory = requireLoginMemory(req);
  const registry = memory.endedLogins(config);
  const { iss, sid, sub } = target;
  let key: string;
  // Remembered first: a request on this instance right now already drops the login.
  if (sid !== undefined) {
    registry.sids.set(memoryKey(iss, sid), Date.now(), ENDED_MEMORY_MS);
    key = sidKey(keyIssuer(config, iss), sid);
  } else if (sub !== undefined) {
    registry.subs.set(memoryKey(iss, sub), Date.now(), ENDED_MEMORY_MS);
    key = subKey(keyIssuer(config, iss), sub);
  } else {
    return 0;
  }
  try {
    const ids = [...new Set(entriesOf(await storeGet(store, key)).map((e) => e.id))];
    for (const id of ids) registry.sessions.set(id, true, ENDED_MEMORY_MS);
    const ended = await Promise.all(ids.map((id) => endOne(store, id, memory)));
    await storeDestroy(store, key);
    const count = ended.filter(Boolean).length;
    debug('back-channel logout ended %d of %d indexed sessions', count, ids.length);
    return count;
  } catch (err) {
    throw new SessionStoreFailure(`The session store failed: ${(err as Error)?.message}`, { cause: err });
  }
}

/**
 * Before a local logout destroys the request's session: remembers its id in process and writes
 * its tombstone (best effort: the destroy that follows is what must succeed).
 */
export async function markSessionEnded(req: OidcRequest, config: ResolvedConfig): Promise<void> {
  const sessionId = req.sessionID;
  if (typeof sessionId !== 'string') return;
  requireLoginMemory(req).endedLogins(config).sessions.set(sessionId, true, ENDED_MEMORY_MS);
  const store = req.sessionStore;
  if (!store) return;
  guardStore(store);
  try {
    await storeSet(store, tombstoneKey(sessionId), { cookie: recordCookie(TOMBSTONE_TTL_MS), oidcEnded: 1 });
  } catch (err) {
    debug('writing the tombstone of session %s failed: %s', sessionId, (err as Error)?.message);
  }
}

// ---------------------------------------------------------------------------------------------
// Logout token replay.

/**
 * Records a logout token's `jti` until `exp` (+ clock tolerance). Resolves to false when it was
 * seen before (a replay), in this process or in the store. Throws {@link NoSessionStoreError} or
 * {@link SessionStoreFailure}.
 */
export async function rememberJti(
  req: OidcRequest,
  config: ResolvedConfig,
  iss: string,
  jti: string,
  exp: number,
): Promise<boolean> {
  const store = requireStore(req);
  const registry = requireLoginMemory(req).endedLogins(config);
  const memory = memoryKey(iss, jti);
  const ttlMs = Math.max(1000, exp * 1000 + config.clockTolerance * 1000 - Date.now());
  // Checked and set before any await: concurrent deliveries to this process see each other.
  if (registry.jtis.has(memory)) return false;
  registry.jtis.set(memory, true, ttlMs);
  const key = jtiKey(keyIssuer(config, iss), jti);
  try {
    if ((await storeGet(store, key)) !== undefined) return false;
    await storeSet(store, key, { cookie: recordCookie(ttlMs), oidcJti: 1 });
    return true;
  } catch (err) {
    registry.jtis.delete(memory);
    throw new SessionStoreFailure(`The session store failed: ${(err as Error)?.message}`, { cause: err });
  }
}

/** Forgets a `jti` again (the logout failed: the provider may retry with the same token). */
export async function forgetJti(req: OidcRequest, config: ResolvedConfig, iss: string, jti: string): Promise<void> {
  requireLoginMemory(req).endedLogins(config).jtis.delete(memoryKey(iss, jti));
  const store = req.sessionStore;
  if (!store) return;
  try {
    await storeDestroy(store, jtiKey(keyIssuer(config, iss), jti));
  } catch (err) {
    debug('forgetting a jti failed: %s', (err as Error)?.message);
  }
}
