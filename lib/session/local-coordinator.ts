import type { Store } from 'express-session';
import type { Coordinator, Release } from './coordinator.js';
import { ExpiringMap, MAX_ENDED } from './ended-logins.js';
import { addToRecord, recordMembers, storeDestroy } from './store-records.js';

/** What the local coordinators of one `oidcLogin()` share: its locks and used keys, in process. */
export class LocalState {
  readonly locks = new Map<string, Promise<void>>();
  readonly consumed = new ExpiringMap<true>(MAX_ENDED);
}

/**
 * In process: a lock is a queue of promises, "once" an expiring map (checked and set without an
 * await, so concurrent requests of this process see each other). The sets are index records in
 * the session store: `<key>` is kept as `oidc-<key>`.
 */
export class LocalCoordinator implements Coordinator {
  readonly shared = false;
  readonly #state: LocalState;
  readonly #store: Store | undefined;

  constructor(state: LocalState, store: Store | undefined) {
    this.#state = state;
    this.#store = store;
  }

  async lock(key: string): Promise<Release> {
    const locks = this.#state.locks;
    const previous = locks.get(key);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = (previous ?? Promise.resolve()).then(() => mine);
    locks.set(key, tail);
    if (previous) await previous;
    return async () => {
      release();
      if (locks.get(key) === tail) locks.delete(key);
    };
  }

  async consumeOnce(key: string, ttlMs: number): Promise<boolean> {
    if (this.#state.consumed.has(key)) return false;
    this.#state.consumed.set(key, true, ttlMs);
    return true;
  }

  async unconsume(key: string): Promise<void> {
    this.#state.consumed.delete(key);
  }

  async addToSets(keys: readonly string[], member: string, expiresAt: number): Promise<void> {
    const store = this.#requireStore();
    await Promise.all(keys.map((key) => addToRecord(store, recordKey(key), member, expiresAt)));
  }

  members(key: string): Promise<string[]> {
    return recordMembers(this.#requireStore(), recordKey(key));
  }

  deleteSet(key: string): Promise<void> {
    return storeDestroy(this.#requireStore(), recordKey(key));
  }

  #requireStore(): Store {
    if (!this.#store) throw new Error('express-oidc-login: no session store to keep the index in');
    return this.#store;
  }
}

/** `sid:<hash>` → `oidc-sid:<hash>`: the record keys of the first releases, kept. */
function recordKey(key: string): string {
  return 'oidc-' + key;
}
