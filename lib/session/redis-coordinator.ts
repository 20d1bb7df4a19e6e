/**
 * The coordinator on Redis: SET NX PX for locks and "once", sorted sets (score: expiry) for the
 * back-channel index. One round trip per operation; every command bounded by `timeout` (a Redis
 * that hangs is a 503, not a hanging request). Commands go through `sendCommand(args)`, which
 * node-redis has had since v4, so no Redis library is imported here.
 */
import { randomBytes } from 'node:crypto';
import createDebug from 'debug';
import type { RedisCommandClient } from '../options/dependency-types.js';
import { OidcError } from '../util/errors.js';
import { storeError } from './express-session.js';
import type { Coordinator, LockOptions, Release } from './coordinator.js';

const debug = createDebug('express-oidc-login:coordinator');

/** Deletes the lock only while it is still ours (a lock that expired may be someone else's now). */
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/** Extends the lock to ARGV[2] ms only while it is still ours; 0 when it is not (any more). */
const RENEW =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

/**
 * A held lock is renewed every third of its lifetime, so that a holder still at work does not lose it
 * (its steps are each bounded, but not their sum: discovery, the token request, a rotation race, the
 * JWKS, the app's afterCallback, the save); up to this many lifetimes in all, so that a holder that
 * hangs does not lock the login's other instances out for good.
 */
const MAX_LOCK_LIFETIMES = 10;

/**
 * Adds ARGV[1] with score ARGV[3] (its expiry) to every set in KEYS, drops the members that expired
 * by ARGV[2], and lets each set live as long as its longest member: one atomic step, no lost update.
 */
const ADD_TO_SETS = `
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[3], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[2])
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', key, last[2])
end
return 1`;

/** Polling a held lock: the first retry soon (a refresh is one token request), then every 100 ms. */
const FIRST_RETRY_MS = 10;
const MAX_RETRY_MS = 100;

export class RedisCoordinator implements Coordinator {
  readonly shared = true;
  readonly #client: RedisCommandClient;
  readonly #prefix: string;
  readonly #timeout: number;

  constructor(client: RedisCommandClient, prefix: string, timeout: number) {
    this.#client = client;
    this.#prefix = prefix;
    this.#timeout = timeout;
  }

  async lock(key: string, { ttlMs, waitMs }: LockOptions): Promise<Release> {
    const name = `${this.#prefix}lock:${key}`;
    const token = randomBytes(16).toString('base64url');
    const ttl = String(Math.ceil(ttlMs));
    let renewal: NodeJS.Timeout | undefined;
    const release: Release = async () => {
      clearInterval(renewal);
      try {
        await this.#command(['EVAL', RELEASE, '1', name, token]);
      } catch (err) {
        // It expires after ttlMs anyway; the command may still reach Redis (then it is deleted).
        debug('giving back the lock %s failed: %s', name, (err as Error).message);
      }
    };
    const deadline = Date.now() + waitMs;
    for (let delay = FIRST_RETRY_MS; ; delay = Math.min(delay * 2, MAX_RETRY_MS)) {
      let taken: unknown;
      try {
        taken = await this.#command(['SET', name, token, 'NX', 'PX', ttl]);
      } catch (err) {
        // The SET may still land once Redis answers again: the release goes after it, on the same connection.
        void release();
        throw err;
      }
      if (taken !== null && taken !== undefined) {
        renewal = this.#renewWhileHeld(name, token, ttlMs, ttl);
        return release;
      }
      if (Date.now() >= deadline) throw lockBusy();
      await sleep(delay);
    }
  }

  /** Renews a lock just taken until it is given back (see MAX_LOCK_LIFETIMES); the timer is the release's to clear. */
  #renewWhileHeld(name: string, token: string, ttlMs: number, ttl: string): NodeJS.Timeout {
    const every = Math.max(1, Math.floor(ttlMs / 3));
    // The last renewal's lifetime ends MAX_LOCK_LIFETIMES lifetimes after the lock was taken.
    let left = Math.floor(((MAX_LOCK_LIFETIMES - 1) * ttlMs) / every);
    const timer = setInterval(() => {
      if (--left < 0) {
        debug('the lock %s was held for %d lifetimes: no longer renewed', name, MAX_LOCK_LIFETIMES);
        clearInterval(timer);
        return;
      }
      this.#command(['EVAL', RENEW, '1', name, token, ttl]).then(
        (renewed) => {
          if (renewed === 0) clearInterval(timer);
        },
        // Redis did not answer in time: the next tick tries again, within the lock's lifetime.
        (err: unknown) => debug('renewing the lock %s failed: %s', name, (err as Error).message),
      );
    }, every);
    // The release clears it; until then it must not keep a process alive that is otherwise done.
    timer.unref();
    return timer;
  }

  async consumeOnce(key: string, ttlMs: number): Promise<boolean> {
    const reply = await this.#command(['SET', `${this.#prefix}once:${key}`, '1', 'NX', 'PX', String(Math.ceil(ttlMs))]);
    return reply !== null && reply !== undefined;
  }

  async unconsume(key: string): Promise<void> {
    await this.#command(['DEL', `${this.#prefix}once:${key}`]);
  }

  async addToSets(keys: readonly string[], member: string, expiresAt: number): Promise<void> {
    if (keys.length === 0) return;
    const names = keys.map((k) => this.#prefix + k);
    await this.#command([
      'EVAL',
      ADD_TO_SETS,
      String(names.length),
      ...names,
      member,
      String(Date.now()),
      String(Math.ceil(expiresAt)),
    ]);
  }

  async members(key: string): Promise<string[]> {
    const reply = await this.#command(['ZRANGEBYSCORE', this.#prefix + key, `(${Date.now()}`, '+inf']);
    return Array.isArray(reply) ? reply.map(String) : [];
  }

  async deleteSet(key: string): Promise<void> {
    await this.#command(['DEL', this.#prefix + key]);
  }

  /** One command, answered within the timeout or a 503. */
  #command(args: string[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(storeError(new Error(`Redis did not answer ${args[0]} within ${this.#timeout} ms`))),
        this.#timeout,
      );
      timer.unref?.();
      let sent: Promise<unknown>;
      try {
        sent = Promise.resolve(this.#client.sendCommand(args));
      } catch (err) {
        sent = Promise.reject(err);
      }
      sent.then(
        (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(storeError(err));
        },
      );
    });
  }
}

function lockBusy(): OidcError {
  return new OidcError(
    'ERR_OIDC_SESSION_STORE',
    503,
    'Another request is still renewing the tokens of this login. Try again in a moment.',
    { headers: { 'Retry-After': '1' } },
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
