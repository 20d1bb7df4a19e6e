/**
 * What app instances agree on: a lock per key (one refresh of a login at a time), "used once"
 * (a callback's state, a logout token's `jti`), and the sets of sessions per `sid`/`sub` that
 * back-channel logout ends. Two implementations:
 * - Redis (`RedisCoordinator`, redis-coordinator.ts): atomic across every instance sharing it;
 * - `LocalCoordinator` (local-coordinator.ts): locks and "once" within this process only, the index as records in
 *   the session store (no compare-and-set). What that cannot guarantee: docs/design.md#session-index.
 * Which one a request gets: `requireCoordinator()` (login-memory.ts). Never called on an authenticated request
 * that needs no refresh (the hot path).
 */

/** Gives a lock back. Never rejects (a lock that could not be given back expires). */
export type Release = () => Promise<void>;

export interface LockOptions {
  /**
   * How long the lock holds after its holder was last heard of, in milliseconds: a holder that
   * crashed loses it then. A live holder renews it (Redis), so a slow refresh keeps it.
   */
  ttlMs: number;
  /** How long to wait for it at most, in milliseconds; then a 503. */
  waitMs: number;
}

export interface Coordinator {
  /** True when locks and "once" hold across instances (Redis); false: within this process only. */
  readonly shared: boolean;
  /** Waits for the lock on `key`; rejects with a 503 `OidcError` when the wait runs out or Redis fails. */
  lock(key: string, options: LockOptions): Promise<Release>;
  /** True the first time `key` is consumed within `ttlMs`, false afterwards. */
  consumeOnce(key: string, ttlMs: number): Promise<boolean>;
  /** Makes a consumed `key` usable again (the work it guarded failed and may be retried). */
  unconsume(key: string): Promise<void>;
  /** Adds `member` to each set, which lives at least until `expiresAt` (epoch milliseconds). */
  addToSets(keys: readonly string[], member: string, expiresAt: number): Promise<void>;
  /** The members of a set that have not expired. */
  members(key: string): Promise<string[]>;
  deleteSet(key: string): Promise<void>;
}
