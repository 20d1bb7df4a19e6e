/**
 * # Finding and ending sessions without a query API on the session store
 *
 * Back-channel logout (OpenID Connect Back-Channel Logout 1.0) names a login by the provider's
 * session id (`sid`) and/or the user (`sub`), never by the app's express-session id. express-session
 * stores can only `get`, `set` and `destroy` by id, so this module keeps its own small index *in
 * the same store*, as records that look like sessions.
 *
 * ## Records (all written with `store.set(key, record)`)
 *
 * | key                              | holds                                   | lives                       |
 * | -------------------------------- | --------------------------------------- | --------------------------- |
 * | `oidc-sid:<sha256(iss, sid)>`    | the express-session ids of that `sid`   | as long as the longest login|
 * | `oidc-sub:<sha256(iss, sub)>`    | the express-session ids of that user    | as long as the longest login|
 * | `oidc-jti:<sha256(iss, jti)>`    | "this logout token was used"            | until the token's `exp`     |
 * (With `providers`, `iss` is the provider's name and the issuer: see `keyIssuer`.)
 * | `oidc-ended:<express-session id>`| "this session was logged out"           | one hour                    |
 *
 * Every record is `{ cookie: { originalMaxAge, maxAge, expires, path, httpOnly }, ... }`, so every
 * store (MemoryStore, memorystore, connect-redis, connect-mongo...) derives a TTL from it the way
 * it does for sessions and drops it on time. `iss`, `sid`, `sub` and `jti` come from the provider
 * and are hashed into the key (fixed length, no characters a store could misread: file stores use
 * the key as a file name). The keys contain `:`, which express-session ids never do, and session
 * cookies are signed, so no browser can load an index record as its session (and if one did, it
 * holds no login). Index records list sessions as `[{ id, exp }]`, pruned of expired entries and
 * capped at {@link MAX_SESSIONS_PER_RECORD} on every write.
 *
 * ## Login (`indexLogin`, called by the callback before the new session is saved)
 * Adds the new express-session id to the `sid` record (when the ID token has a `sid`) and to the
 * `sub` record. The TTL is the longer of the session cookie's `maxAge` and `absoluteDuration`
 * (whichever are known; 30 days when neither is). A failed index write fails the login (503
 * `ERR_OIDC_SESSION_STORE`): a login that back-channel logout could not find is not stored at all.
 * Nothing is indexed when the back-channel route is turned off (`routes.backchannelLogout: false`),
 * nor when the provider's metadata does not say `backchannel_logout_supported: true` and the app did
 * not set `routes.backchannelLogout` itself (the callback decides: no logout token can come then).
 * Cost: one `get` and one `set` per record, at login only.
 *
 * ## Back-channel logout (`endSessions`)
 * With a `sid`, the sessions of that provider session end (the token's `sub`, if also present,
 * does not widen it: oidc-provider sends both). With only a `sub`, every session of that user ends.
 * For each listed express-session id: a tombstone `oidc-ended:<id>` is written, then the session is
 * destroyed; the index record used is destroyed too. Any app instance sharing the store sees the
 * result, whichever instance received the logout token.
 *
 * `backchannel_logout_session_required`: register the client with it set to `true` (oidc-provider
 * then puts `sid` in ID tokens and logout tokens) so that logging out at the provider in one
 * browser ends only that browser's session here. Without it, tokens carry only `sub` and every
 * session of the user ends (all devices), which the Back-Channel Logout spec allows.
 *
 * ## A request in flight must not bring an ended session back
 * A request that loaded the session before the logout and saves it afterwards (express-session
 * saves a modified session at the end of the response) would write the login back. Two guards:
 * 1. In process, per `oidcLogin()` instance: the ended express-session ids, `sid`s and `sub`s
 *    (with the time of the logout) are kept in bounded, expiring maps ({@link MAX_ENDED} entries
 *    each, {@link ENDED_MEMORY_MS}). {@link dropEndedLogin}, called by the middleware on every
 *    request, deletes a login that matches (Map lookups only: no I/O, no crypto), so a session
 *    written back on this instance is logged out on its next request. A `sid` or `sub` entry drops
 *    only logins that began before the logout (a new login right after it stays). This also
 *    covers, on the instance that received the logout, a session the index missed.
 * 2. Across instances: the store's `set` is wrapped once (per store object). A write of a session
 *    that carries a login first reads `oidc-ended:<id>`; when the tombstone is there the write is
 *    skipped, so the destroyed session stays destroyed whichever instance the late request ran on.
 *    This costs one store `get` per *write* of a logged-in session (with `resave: false`: at
 *    login, when the activity time is noted (at most once a minute), on refresh, and when the app
 *    changes the session); reads and unmodified requests are untouched.
 * Residual race: a write whose tombstone read happened just before the tombstone was written,
 * and that lands after the destroy (a window of one store round trip).
 *
 * ## Replay of logout tokens (`rememberJti`)
 * A `jti` is recorded in process (checked and set synchronously, so concurrent deliveries to one
 * instance are caught) and in the store (so a replay to another instance is caught). Stores have
 * no compare-and-set: two deliveries of one token to two instances within one store round trip can
 * both pass; both then end the same sessions, which is harmless. When ending the sessions fails,
 * the `jti` is released again so that the provider may retry with the same token.
 *
 * ## Limits
 * - Concurrent logins of one user on two instances can lose one update of the `sub` record (no
 *   compare-and-set); a `sub`-only logout would then miss that session on other instances.
 *   `sid` records are written once per provider session and are not affected in practice.
 * - With `absoluteDuration: false` and rolling cookies, a session can outlive its index records.
 * - Without `req.sessionStore` (express-session not mounted before `oidcLogin()`), logins are not
 *   indexed and back-channel logout answers 400 `server_error` saying so.
 */
import { createHash } from 'node:crypto';
import type { SessionData, Store } from 'express-session';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/config.js';
import { storeError, type OidcRequest } from './express-session.js';
import type { StoredLogin } from '../types.js';
import { forgetLogin, loginOf } from './stored-login.js';

const debug = createDebug('express-oidc-login:session-index');

/** How long this process remembers ended sessions, sids and subs. */
export const ENDED_MEMORY_MS = 24 * 60 * 60 * 1000;
/** Entries of each kind remembered at most; the oldest goes first. */
export const MAX_ENDED = 10_000;
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
  ended: 'oidc-ended:',
} as const;

// ---------------------------------------------------------------------------------------------
// In-process memory of ended sessions, per oidcLogin() instance.

/** A Map whose entries expire, capped in size (insertion order: the oldest goes first). */
class ExpiringMap<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, now = Date.now()): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  has(key: string, now = Date.now()): boolean {
    return this.get(key, now) !== undefined;
  }

  set(key: string, value: V, ttlMs: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: Date.now() + ttlMs });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}

interface Registry {
  /** Ended express-session ids. */
  readonly sessions: ExpiringMap<true>;
  /** Ended provider sessions, by `iss \0 sid`: the time of the logout. */
  readonly sids: ExpiringMap<number>;
  /** Users logged out everywhere, by `iss \0 sub`: the time of the logout. */
  readonly subs: ExpiringMap<number>;
  /** Logout token ids seen, by `iss \0 jti`. */
  readonly jtis: ExpiringMap<true>;
}

const registries = new WeakMap<ResolvedConfig, Registry>();

function registryFor(config: ResolvedConfig): Registry {
  let registry = registries.get(config);
  if (!registry) {
    registry = {
      sessions: new ExpiringMap(MAX_ENDED),
      sids: new ExpiringMap(MAX_ENDED),
      subs: new ExpiringMap(MAX_ENDED),
      jtis: new ExpiringMap(MAX_ENDED),
    };
    registries.set(config, registry);
  }
  return registry;
}

/** Plain-string keys for the in-process maps: no hashing on the hot path. */
function memoryKey(iss: string, value: string): string {
  return `${iss}\0${value}`;
}

/**
 * True when the request's login was ended by a logout (local or back-channel) seen by this
 * `oidcLogin()` instance. Map lookups only: no I/O, no crypto.
 */
export function isEnded(req: OidcRequest, config: ResolvedConfig): boolean {
  const login = loginOf(req);
  if (!login) return false;
  const registry = registries.get(config);
  if (!registry) return false;
  return loginEnded(registry, login, req.sessionID);
}

function loginEnded(registry: Registry, login: StoredLogin, sessionId: string | undefined): boolean {
  if (sessionId !== undefined && registry.sessions.size > 0 && registry.sessions.has(sessionId)) return true;
  const claims = login.claims;
  const iss = claims?.iss;
  if (typeof iss !== 'string') return false;
  // Only logins that began before the logout: the user may log in again right after it (and a
  // provider that reused a sid must not make the new login vanish).
  const loggedInAt = login.loggedInAt ?? 0;
  const sid = claims.sid;
  if (typeof sid === 'string' && registry.sids.size > 0) {
    const endedAt = registry.sids.get(memoryKey(iss, sid));
    if (endedAt !== undefined && loggedInAt <= endedAt) return true;
  }
  if (typeof claims.sub === 'string' && registry.subs.size > 0) {
    const endedAt = registry.subs.get(memoryKey(iss, claims.sub));
    if (endedAt !== undefined && loggedInAt <= endedAt) return true;
  }
  return false;
}

/**
 * The middleware's hot-path check: deletes the request's login when a logout ended it (see
 * {@link isEnded}); express-session then saves the session without it. Returns true when a
 * login was dropped.
 */
export function dropEndedLogin(req: OidcRequest, config: ResolvedConfig): boolean {
  if (!isEnded(req, config)) return false;
  debug('dropping a login ended by a logout (session %s)', req.sessionID);
  delete req.session!.oidc!.login;
  return true;
}

/** The store last seen guarded: one comparison per request instead of a WeakSet lookup. */
let lastGuarded: Store | undefined;

/** Makes sure the request's session store is guarded against late writes of ended sessions (once per store object). */
export function guardLateWrites(req: OidcRequest): void {
  const store = req.sessionStore;
  if (store === undefined || store === lastGuarded) return;
  if (!guardedStores.has(store)) guardStore(store);
  lastGuarded = store;
}

// ---------------------------------------------------------------------------------------------
// The store: promisified access and session-shaped records.

type Callback = (err?: unknown) => void;

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

export function tombstoneKey(sessionId: string): string {
  return KEY_PREFIX.ended + sessionId;
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
 * logout can find it later through the session store alone. Throws a 503
 * `ERR_OIDC_SESSION_STORE` when the store fails (the login then fails).
 */
export async function indexLogin(req: OidcRequest, config: ResolvedConfig): Promise<void> {
  if (config.backchannelLogoutPath === false) return;
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
  if (!guardedStores.has(store)) guardStore(store);
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
  if (!guardedStores.has(store)) guardStore(store);
  return store;
}

/** Tombstone, then destroy. Resolves to whether a logged-in session was there. */
async function endOne(store: Store, sessionId: string): Promise<boolean> {
  const existing = (await storeGet(store, sessionId)) as Partial<SessionData> | undefined;
  forgetLogin(sessionId);
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
  const registry = registryFor(config);
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
    const ended = await Promise.all(ids.map((id) => endOne(store, id)));
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
  registryFor(config).sessions.set(sessionId, true, ENDED_MEMORY_MS);
  const store = req.sessionStore;
  if (!store) return;
  if (!guardedStores.has(store)) guardStore(store);
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
  const registry = registryFor(config);
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
  registryFor(config).jtis.delete(memoryKey(iss, jti));
  const store = req.sessionStore;
  if (!store) return;
  try {
    await storeDestroy(store, jtiKey(keyIssuer(config, iss), jti));
  } catch (err) {
    debug('forgetting a jti failed: %s', (err as Error)?.message);
  }
}

// ---------------------------------------------------------------------------------------------
// The store guard against late writes of ended sessions.

const guardedStores = new WeakSet<Store>();

/**
 * Wraps `store.set` once: a write of a session that carries a login is skipped when the session's
 * tombstone is in the store (it was logged out while the request that writes it was in flight).
 * Other writes (sessions without a login, our own records) pass straight through.
 */
function guardStore(store: Store): void {
  guardedStores.add(store);
  const originalSet = store.set;
  if (typeof originalSet !== 'function' || typeof store.get !== 'function') return;
  const guardedSet = function (this: Store, sessionId: string, data: SessionData, callback?: Callback): void {
    if (!(data as Partial<SessionData> | undefined)?.oidc?.login || typeof sessionId !== 'string') {
      originalSet.call(this, sessionId, data, callback);
      return;
    }
    this.get(tombstoneKey(sessionId), (err: unknown, tombstone?: unknown) => {
      if (!err && tombstone) {
        debug('not writing back session %s: it was logged out while this request was in flight', sessionId);
        callback?.();
        return;
      }
      // A failed read does not block the write: the store's own answer to it is what counts.
      originalSet.call(this, sessionId, data, callback);
    });
  };
  store.set = guardedSet as Store['set'];
}
