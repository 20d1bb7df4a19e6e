/**
 * Guard 1 against an ended login coming back (docs/design.md#session-index): what one
 * `oidcLogin()` instance remembers of the logouts it saw (held by its LoginMemory), in bounded,
 * expiring maps, checked on every request with Map lookups only (no I/O, no crypto).
 */
import createDebug from 'debug';
import type { OidcRequest } from './express-session.js';
import type { StoredLogin } from '../types.js';

const debug = createDebug('express-oidc-login:session-index');

/** How long this process remembers ended sessions, sids and subs. */
export const ENDED_MEMORY_MS = 24 * 60 * 60 * 1000;
/** Entries of each kind remembered at most; the oldest goes first. */
export const MAX_ENDED = 10_000;

/** A Map whose entries expire, capped in size (insertion order: the oldest goes first). */
export class ExpiringMap<V> {
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

/** The logouts one `oidcLogin()` instance saw for one provider (held by its LoginMemory). */
export interface EndedLogins {
  /** Ended express-session ids. */
  readonly sessions: ExpiringMap<true>;
  /** Ended provider sessions, by `iss \0 sid`: the time of the logout. */
  readonly sids: ExpiringMap<number>;
  /** Users logged out everywhere, by `iss \0 sub`: the time of the logout. */
  readonly subs: ExpiringMap<number>;
}

export function createEndedLogins(): EndedLogins {
  return {
    sessions: new ExpiringMap(MAX_ENDED),
    sids: new ExpiringMap(MAX_ENDED),
    subs: new ExpiringMap(MAX_ENDED),
  };
}

/** Plain-string keys for the in-process maps: no hashing on the hot path. */
export function memoryKey(iss: string, value: string): string {
  return `${iss}\0${value}`;
}

/** True when a logout (local or back-channel) that this instance saw ended the login. */
function loginEnded(ended: EndedLogins, login: StoredLogin, sessionId: string | undefined): boolean {
  if (sessionId !== undefined && ended.sessions.size > 0 && ended.sessions.has(sessionId)) return true;
  const claims = login.claims;
  const iss = claims?.iss;
  if (typeof iss !== 'string') return false;
  // Only logins that began before the logout: the user may log in again right after it (and a
  // provider that reused a sid must not make the new login vanish).
  const loggedInAt = login.loggedInAt ?? 0;
  const sid = claims.sid;
  if (typeof sid === 'string' && ended.sids.size > 0) {
    const endedAt = ended.sids.get(memoryKey(iss, sid));
    if (endedAt !== undefined && loggedInAt <= endedAt) return true;
  }
  if (typeof claims.sub === 'string' && ended.subs.size > 0) {
    const endedAt = ended.subs.get(memoryKey(iss, claims.sub));
    if (endedAt !== undefined && loggedInAt <= endedAt) return true;
  }
  return false;
}

/**
 * The middleware's hot-path check of the request's login: deleted when a logout ended it;
 * express-session then saves the session without it. Returns true when it was dropped.
 */
export function dropEndedLogin(req: OidcRequest, login: StoredLogin, ended: EndedLogins): boolean {
  if (!loginEnded(ended, login, req.sessionID)) return false;
  debug('dropping a login ended by a logout (session %s)', req.sessionID);
  delete req.session!.oidc!.login;
  return true;
}
