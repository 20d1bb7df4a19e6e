import type { Store } from 'express-session';
import type { ResolvedConfig, ResolvedCoordinator } from '../options/resolved-config.js';
import type { RedisCommandClient } from '../options/dependency-types.js';
import { COORDINATOR_PREFIX } from '../options/defaults.js';
import type { Coordinator } from './coordinator.js';
import { LocalCoordinator, LocalState } from './local-coordinator.js';
import { RedisCoordinator } from './redis-coordinator.js';
import type { OidcRequest } from './express-session.js';
import { createEndedLogins, type EndedLogins } from './ended-logins.js';
import type { StoredLogin } from '../types.js';

/**
 * What one `oidcLogin()` keeps in memory about logins, made once per instance: two instances in
 * one process share none of it. A request finds its instance's memory on `req.oidc` (see
 * {@link loginMemoryOf}), which the middleware sets before anything reads the login.
 */
export class LoginMemory {
  /**
   * The login last read (or stored) per session id, with the string it was read from: a session's
   * next request that brings the same string gets the same (frozen, so shareable) login without
   * parsing it again. At most {@link RECENT_MAX} sessions, the oldest dropped first; an entry is
   * replaced when the session's stored login changes, and forgotten when the session ends here.
   */
  readonly #recent = new Map<string, RecentLogin>();
  /** When the expired entries of #recent are looked for next (see {@link SWEEP_EVERY_MS}). */
  #nextSweep = 0;
  /** The logouts this instance saw, per provider (its configuration). */
  readonly #ended = new Map<ResolvedConfig, EndedLogins>();
  /** The session store last seen guarded against late writes: one comparison per request. */
  guardedStore: Store | undefined;
  /**
   * The middleware's check of a login read from the session, for a login read again during a
   * request (after `req.session.reload()`); true when it checked it.
   */
  readonly checkReadAgain: (req: OidcRequest) => boolean;

  /** The `coordinator` option; the coordinator made for each session store seen (one, usually). */
  readonly #coordinatorOptions: ResolvedCoordinator;
  readonly #coordinators = new WeakMap<object, Coordinator>();
  readonly #localState = new LocalState();
  #storeless: Coordinator | undefined;

  constructor(checkReadAgain: (req: OidcRequest) => boolean, coordinator: ResolvedCoordinator) {
    this.checkReadAgain = checkReadAgain;
    this.#coordinatorOptions = coordinator;
  }

  /** The coordinator for requests on `store` (made on first use: the store is known per request). */
  coordinator(store: Store | undefined): Coordinator {
    if (store === undefined)
      return (this.#storeless ??= createCoordinator(this.#coordinatorOptions, this.#localState, undefined));
    let made = this.#coordinators.get(store);
    if (made === undefined) {
      made = createCoordinator(this.#coordinatorOptions, this.#localState, store);
      this.#coordinators.set(store, made);
    }
    return made;
  }

  /** The login kept for this session when it was read from (or stored as) this very string. */
  recent(sessionId: string, json: string): Readonly<StoredLogin> | undefined {
    const hit = this.#recent.get(sessionId);
    if (hit === undefined || hit.json !== json) return undefined;
    const now = Date.now();
    if (this.#sweepDue(now)) this.#sweep(now);
    // Kept too long (or the clock stepped back past it): the caller reads it again and keeps it anew.
    return isFresh(hit, now) ? hit.login : undefined;
  }

  /** Keeps the login a session holds as `json`, for the session's next requests. */
  remember(sessionId: string, json: string, login: Readonly<StoredLogin>): void {
    const now = Date.now();
    this.#recent.delete(sessionId);
    if (this.#recent.size >= RECENT_MAX || this.#sweepDue(now)) this.#sweep(now);
    this.#recent.set(sessionId, { json, login, at: now });
  }

  /** Drops what is kept of a session whose login ended (logout, expiry). */
  forget(sessionId: string | undefined): void {
    if (sessionId !== undefined) this.#recent.delete(sessionId);
  }

  /** The ids of the sessions whose logins are kept (for tests). */
  recentIds(): string[] {
    return [...this.#recent.keys()];
  }

  /** The logouts this instance saw for the provider of `config`. */
  endedLogins(config: ResolvedConfig): EndedLogins {
    let ended = this.#ended.get(config);
    if (ended === undefined) this.#ended.set(config, (ended = createEndedLogins()));
    return ended;
  }

  /** How many provider sessions (`sid`s) this instance remembers as ended, all providers (for tests). */
  endedSidCount(): number {
    let count = 0;
    for (const ended of this.#ended.values()) count += ended.sids.size;
    return count;
  }

  #sweepDue(now: number): boolean {
    return now >= this.#nextSweep || now < this.#nextSweep - SWEEP_EVERY_MS;
  }

  /** Oldest first (insertion order): drops the expired entries, then one more while full. */
  #sweep(now: number): void {
    this.#nextSweep = now + SWEEP_EVERY_MS;
    for (const [id, entry] of this.#recent) {
      if (isFresh(entry, now) && this.#recent.size < RECENT_MAX) break;
      this.#recent.delete(id);
    }
  }
}

interface RecentLogin {
  readonly json: string;
  readonly login: Readonly<StoredLogin>;
  readonly at: number;
}

const RECENT_MAX = 500;
/**
 * How long an entry is kept at most (an active session's login changes once a minute anyway, when
 * its activity is noted): the tokens of a session that ended elsewhere do not stay in memory.
 */
const RECENT_MS = 2 * 60_000;
/**
 * How often the expired entries are looked for: every 10 s of requests with a login, whenever the
 * map is full, and at once when the clock has stepped back.
 */
const SWEEP_EVERY_MS = 10_000;

/** Neither older than {@link RECENT_MS} nor stamped in the future (a clock that stepped back). */
function isFresh(entry: { readonly at: number }, now: number): boolean {
  const age = now - entry.at;
  return age >= 0 && age <= RECENT_MS;
}

/** Where an instance's memory hangs: on its request contexts (`req.oidc`) and its middleware function. */
export const LOGIN_MEMORY: unique symbol = Symbol('express-oidc-login: login memory');

/** The memory of the `oidcLogin()` that made `holder` (`req.oidc`, its middleware); `undefined` for anything else. */
export function loginMemoryOf(holder: unknown): LoginMemory | undefined {
  if ((typeof holder !== 'object' && typeof holder !== 'function') || holder === null) return undefined;
  const memory = (holder as { [LOGIN_MEMORY]?: unknown })[LOGIN_MEMORY];
  return memory instanceof LoginMemory ? memory : undefined;
}

/** How many provider sessions an `oidcLogin()` (its middleware) remembers as ended (for tests). */
export function endedSidCount(middleware: unknown): number {
  return loginMemoryOf(middleware)?.endedSidCount() ?? 0;
}

/** connect-redis (v7 and later): its node-redis client and key prefix. A cluster client is not used. */
function connectRedisClient(store: Store | undefined): { client: RedisCommandClient; prefix: string } | undefined {
  const candidate = store as { client?: unknown; prefix?: unknown } | undefined;
  const client = candidate?.client as { sendCommand?: unknown; masters?: unknown } | undefined;
  if (typeof client !== 'object' || client === null || typeof client.sendCommand !== 'function') return undefined;
  // node-redis's cluster client takes (firstKey, isReadonly, args): not ours to guess slots for.
  if (Array.isArray(client.masters)) return undefined;
  return {
    client: client as RedisCommandClient,
    prefix: typeof candidate?.prefix === 'string' ? candidate.prefix : '',
  };
}

/**
 * The coordinator for requests whose session store is `store`: the `coordinator.redis` client
 * when given, else the store's own client when it is connect-redis, else the local one.
 */
export function createCoordinator(
  options: ResolvedCoordinator,
  state: LocalState,
  store: Store | undefined,
): Coordinator {
  if (options.redis) {
    return new RedisCoordinator(options.redis, options.prefix ?? COORDINATOR_PREFIX, options.timeout);
  }
  const detected = options.redis === false ? undefined : connectRedisClient(store);
  if (detected) {
    return new RedisCoordinator(
      detected.client,
      options.prefix ?? detected.prefix + COORDINATOR_PREFIX,
      options.timeout,
    );
  }
  return new LocalCoordinator(state, store);
}

/** The coordinator of the `oidcLogin()` this request went through, for its session store. */
export function requireCoordinator(req: OidcRequest): Coordinator {
  return requireLoginMemory(req).coordinator(req.sessionStore);
}

/** The memory of the `oidcLogin()` this request went through; throws when it went through none. */
export function requireLoginMemory(req: OidcRequest): LoginMemory {
  const memory = loginMemoryOf(req.oidc);
  if (memory === undefined) throw new Error("express-oidc-login: req.oidc is not set by this middleware's oidcLogin()");
  return memory;
}
