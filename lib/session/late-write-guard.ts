/**
 * Guard 2 against an ended login coming back (docs/design.md#session-index): the session store's
 * `set` is wrapped once per store object, so that a request in flight does not write back a
 * session that was logged out meanwhile, on whichever instance sharing the store it runs.
 */
import type { SessionData, Store } from 'express-session';
import createDebug from 'debug';
import { laterStoredLogin, loginFromSession } from './stored-login.js';

const debug = createDebug('express-oidc-login:session-index');

type Callback = (err?: unknown) => void;

/** The key of the record that says "this session was logged out" (`oidc-ended:<express-session id>`). */
export function tombstoneKey(sessionId: string): string {
  return 'oidc-ended:' + sessionId;
}

/**
 * Makes sure the request's session store is guarded against late writes of ended sessions (once per
 * store object); the instance's memory holds the store it saw last: one comparison per request.
 */
export function guardLateWrites(store: Store | undefined, memory: { guardedStore: Store | undefined }): void {
  if (store === undefined || store === memory.guardedStore) return;
  guardStore(store);
  memory.guardedStore = store;
}

/** What a guarded store holds (under {@link STORE_GUARD}): the sessions made at login, with their ids. */
interface StoreGuard {
  readonly newSessions: WeakMap<object, string>;
}

/** Where a store's guard hangs: on the store itself, which it wraps once whichever instances share it. */
const STORE_GUARD: unique symbol = Symbol('express-oidc-login: late-write guard');

/**
 * Wraps `store.set` once: a write of a session that carries a login is skipped when the session's
 * tombstone is in the store (it was logged out while the request that writes it was in flight),
 * and carries the store's later copy of its login when another request or instance refreshed it
 * meanwhile (see laterStoredLogin). Both are read at once, one read each, on these writes only
 * (a login, an activity note a minute, the app's own changes). Other writes (sessions without a
 * login, our own records, a session just made at login) pass straight through.
 */
export function guardStore(store: Store): StoreGuard {
  const existing = (store as { [STORE_GUARD]?: StoreGuard })[STORE_GUARD];
  if (existing !== undefined) return existing;
  const guard: StoreGuard = { newSessions: new WeakMap() };
  Object.defineProperty(store, STORE_GUARD, { value: guard });
  const originalSet = store.set;
  if (typeof originalSet !== 'function' || typeof store.get !== 'function') return guard;
  const guardedSet = function (this: Store, sessionId: string, data: SessionData, callback?: Callback): void {
    if (
      !(data as Partial<SessionData> | undefined)?.oidc?.login ||
      typeof sessionId !== 'string' ||
      guard.newSessions.get(data) === sessionId
    ) {
      originalSet.call(this, sessionId, data, callback);
      return;
    }
    let tombstone: unknown;
    let stored: unknown;
    let reads = 2;
    // A failed read does not block the write: the store's own answer to it is what counts.
    const read = (keep: (value: unknown) => void) => (err: unknown, value?: unknown) => {
      if (!err) keep(value);
      if (--reads === 0) write();
    };
    const write = () => {
      if (tombstone) {
        debug('not writing back session %s: it was logged out while this request was in flight', sessionId);
        callback?.();
        return;
      }
      keepLaterLogin(data, stored);
      originalSet.call(this, sessionId, data, callback);
    };
    this.get(
      tombstoneKey(sessionId),
      read((value) => (tombstone = value)),
    );
    this.get(
      sessionId,
      read((value) => (stored = value)),
    );
  };
  store.set = guardedSet as Store['set'];
  return guard;
}

/** Puts the store's later copy of the session's login (if it has one) into the session being written. */
function keepLaterLogin(data: SessionData, stored: unknown): void {
  // In a store's callback: a session that cannot be read is written as it is, not thrown out of it.
  try {
    const writing = loginFromSession(data);
    const later = writing && laterStoredLogin(writing, loginFromSession(stored));
    if (later === undefined) return;
    debug('keeping the later refresh of the login in the session being written back');
    data.oidc!.login = later;
  } catch (err) {
    debug('comparing the session being written with the stored one failed: %s', (err as Error).message);
  }
}

/**
 * The session `regenerate()` just made at login, under its new id, while `unmark()` is not called:
 * its writes skip the tombstone read. Only for a login that was not indexed for back-channel
 * logout: a tombstone names an id found in an index record, or a session a browser's cookie named,
 * and until the response is sent no browser has this id (docs/design.md#session-index).
 */
export function markNewSession(store: Store | undefined, session: object, sessionId: string): () => void {
  if (store === undefined) return () => {};
  const { newSessions } = guardStore(store);
  newSessions.set(session, sessionId);
  return () => newSessions.delete(session);
}
