import type { SessionData, Store } from 'express-session';

/*
 * Session store reads as promises that reject on a store error, so a failing read fails the test
 * with the store's message instead of leaving it to time out.
 */

/** What the store holds under `sid` (null or undefined: nothing). */
export function storeGet<T = SessionData>(store: Store, sid: string): Promise<T | null | undefined> {
  return new Promise((resolve, reject) => {
    store.get(sid, (err, data) => (err ? reject(err) : resolve(data as T | null | undefined)));
  });
}

/** Every session in the store, by id (a store without `all()` is an error). */
export function storeAll<T = SessionData>(store: Store): Promise<Record<string, T>> {
  return new Promise((resolve, reject) => {
    if (!store.all) throw new Error('the session store has no all()');
    store.all((err, all) => (err ? reject(err) : resolve((all ?? {}) as Record<string, T>)));
  });
}
