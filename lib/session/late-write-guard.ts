/**
 * Guard 2 against an ended login coming back (docs/design.md#session-index): the session store's
 * `set` is wrapped once per store object, so that a request in flight does not write back a
 * session that was logged out meanwhile, on whichever instance sharing the store it runs.
 */
import type { SessionData, Store } from 'express-session';
import createDebug from 'debug';
import { STORE_TIMEOUT_MS } from '../options/defaults.js';
import { laterStoredLogin, loginFromSession, mayHoldLaterLogin } from './stored-login.js';

const debug = createDebug('express-oidc-login:session-index');

type Callback = (err?: unknown) => void;

/** The key of the record that says "this session was logged out" (`oidc-ended:<express-session id>`). */
export function tombstoneKey(sessionId: string): string {
  return 'oidc-ended:' + sessionId;
}

/**
 * What a tombstone says ended: the whole session (a logout; it was destroyed, so a late write of it
 * is skipped), or only its login (the session lives on: a late write goes through without the login).
 */
export type Ended = 'session' | 'login';

/** The tombstone record's data (`oidcEnded: 1` for a session, as written before logins could end alone). */
export function tombstone(ended: Ended): { oidcEnded: 1 | 'login' } {
  return { oidcEnded: ended === 'login' ? 'login' : 1 };
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

/**
 * What a guarded store holds (under {@link STORE_GUARD}): the sessions made at login, with their ids,
 * and the guarded write of each session id in progress.
 */
interface StoreGuard {
  readonly newSessions: WeakMap<object, string>;
  /**
   * Each session's guarded writes, one after the other: a write reads the store only once the one
   * before it has landed (or the time it had has passed: landedOrLate), so that two writes of one
   * session in one process cannot both read the copy before either (the later refresh would then be
   * overwritten by the older copy).
   */
  readonly writes: Map<string, Promise<void>>;
}

/** Where a store's guard hangs: on the store itself, which it wraps once whichever instances share it. */
const STORE_GUARD: unique symbol = Symbol('express-oidc-login: late-write guard');

/**
 * Wraps `store.set` once: a write of a session that carries a login is skipped when the session's
 * tombstone is in the store (it was logged out while the request that writes it was in flight),
 * and carries the store's later copy of its login when another request or instance refreshed it
 * meanwhile (see laterStoredLogin). Both are read at once, one read each, on these writes only
 * (a login, an activity note a minute, the app's own changes), and one session's writes in this
 * process go one after the other. Other writes (sessions without a login, our own records, a
 * session just made at login) pass straight through.
 */
export function guardStore(store: Store): StoreGuard {
  const existing = (store as { [STORE_GUARD]?: StoreGuard })[STORE_GUARD];
  if (existing !== undefined) return existing;
  const guard: StoreGuard = { newSessions: new WeakMap(), writes: new Map() };
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
    const previous = guard.writes.get(sessionId);
    const write = () => guardedWrite(this, originalSet, sessionId, data, callback);
    const run = () => landedOrLate(write());
    const tail = previous === undefined ? run() : previous.then(run);
    guard.writes.set(sessionId, tail);
    void tail.then(() => {
      if (guard.writes.get(sessionId) === tail) guard.writes.delete(sessionId);
    });
  };
  store.set = guardedSet as Store['set'];
  return guard;
}

/**
 * One guarded write: the tombstone and the stored session read together, then the write (with the
 * store's later copy of the login, if any) or none (logged out meanwhile). Resolves once the store
 * has answered the write; never rejects (the store's answer, an error too, goes to `callback`).
 */
function guardedWrite(
  store: Store,
  originalSet: Store['set'],
  sessionId: string,
  data: SessionData,
  callback: Callback | undefined,
): Promise<void> {
  return new Promise((landed) => {
    let found: unknown;
    let stored: unknown;
    let reads = 2;
    // The write is answered once, however often the store calls back.
    let answered = false;
    const answer = (err?: unknown) => {
      if (answered) return;
      answered = true;
      landed();
      try {
        callback?.(err);
      } catch (thrown) {
        // What the caller's own callback throws is the caller's, as from any store's callback.
        process.nextTick(() => {
          throw thrown;
        });
      }
    };
    const write = () => {
      if ((found as { oidcEnded?: unknown } | undefined)?.oidcEnded === 'login') {
        debug('writing session %s without its login: the login ended while this request was in flight', sessionId);
        delete data.oidc!.login;
      } else if (found) {
        debug('not writing back session %s: it was logged out while this request was in flight', sessionId);
        answer();
        return;
      } else keepLaterLogin(data, stored);
      // A store that throws answers the write with its error.
      try {
        originalSet.call(store, sessionId, data, answer);
      } catch (err) {
        answer(err);
      }
    };
    // A failed read (an error, or a store that throws) does not block the write: the store's own
    // answer to the write is what counts. Each read counts once, however often the store calls back.
    const read = (key: string, keep: (value: unknown) => void) => {
      let seen = false;
      const done = (err: unknown, value?: unknown) => {
        if (seen) return;
        seen = true;
        if (!err) keep(value);
        if (--reads === 0) write();
      };
      try {
        store.get(key, done);
      } catch (err) {
        done(err);
      }
    };
    read(tombstoneKey(sessionId), (value) => (found = value));
    read(sessionId, (value) => (stored = value));
  });
}

/**
 * A guarded write landed, or the time a store that answers has for it passed: its two reads and
 * its write, each within STORE_TIMEOUT_MS (guardSessionStore()'s default). Counted from the write's
 * own start, so that a store that never answers one write does not hold up the session's next
 * writes for good, and a slow one that answers does not have them overlap.
 */
function landedOrLate(write: Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 2 * STORE_TIMEOUT_MS);
    timer.unref();
    void write.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Puts the store's later copy of the session's login (if it has one) into the session being written. */
function keepLaterLogin(data: SessionData, stored: unknown): void {
  // In a store's callback: a session that cannot be read is written as it is, not thrown out of it.
  try {
    const writing = loginFromSession(data);
    if (writing === undefined || !mayHoldLaterLogin(writing, stored)) return;
    const later = laterStoredLogin(writing, loginFromSession(stored));
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
