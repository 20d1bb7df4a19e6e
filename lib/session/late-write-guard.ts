/**
 * Guard 2 against an ended login coming back (docs/design.md#session-index): the session store's
 * `set` is wrapped once per store object, so that a request in flight does not write back a
 * session that was logged out meanwhile, on whichever instance sharing the store it runs.
 */
import type { SessionData, Store } from 'express-session';
import createDebug from 'debug';
import type { OidcRequest } from './express-session.js';
import type { LoginMemory } from './login-memory.js';

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
export function guardLateWrites(req: OidcRequest, memory: LoginMemory): void {
  const store = req.sessionStore;
  if (store === undefined || store === memory.guardedStore) return;
  guardStore(store);
  memory.guardedStore = store;
}

const guardedStores = new WeakSet<Store>();

/**
 * Wraps `store.set` once: a write of a session that carries a login is skipped when the session's
 * tombstone is in the store (it was logged out while the request that writes it was in flight).
 * Other writes (sessions without a login, our own records) pass straight through.
 */
export function guardStore(store: Store): void {
  if (guardedStores.has(store)) return;
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
