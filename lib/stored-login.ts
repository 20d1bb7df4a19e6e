import { inspect } from 'node:util';
import type { OidcRequest } from './session.js';
import type { StoredLogin } from './types.js';

/**
 * How a login sits in the session: one JSON string, not a tree of some 25 values.
 *
 * express-session hashes the whole session with a `JSON.stringify` replacer three or four times on
 * every request (at load, before the headers, at the end, and again before a touch), and the
 * store parses and serializes it on every load and touch. To each of those passes a login kept as
 * one string is one value, so every request of a logged-in user costs less than with the same
 * login stored as an object (≈ 4% of the whole request in bench/micro/stack.mjs, which is more
 * than the middleware's own code costs).
 *
 * In memory a login is a deeply frozen object whose `toJSON()` returns that string, made once:
 * a change is a new object ({@link packLogin}), so the string cannot go stale, and code that
 * tries to change a login in place throws instead of losing the change.
 */
class PackedLogin {
  /** The JSON this login was read from or made into; `undefined` for a login read as an object. */
  readonly #json: string | undefined;

  constructor(data: object, json: string | undefined) {
    Object.assign(this, data);
    this.#json = json;
    deepFreeze(this);
  }

  /**
   * What express-session and the store serialize. A login read as an object (stored by an older
   * version, or by a store that keeps objects) stays one, so reading it is not a change that
   * makes express-session write the session back; its next change packs it.
   */
  toJSON(): string | object {
    return this.#json ?? { ...this };
  }

  /** `console.log(req.session)` and `util.inspect` show the login without its tokens. */
  [inspect.custom](): object {
    const shown = { ...this } as Record<string, unknown>;
    for (const key of ['idToken', 'accessToken', 'refreshToken', 'dpop']) if (shown[key] !== undefined) shown[key] = '[REDACTED]';
    return shown;
  }
}

/** True for a login as {@link packLogin} and {@link unpackLogin} make it. */
export function isPackedLogin(value: unknown): boolean {
  return value instanceof PackedLogin;
}

/** Freezes the login and everything in it (JSON data: objects and arrays, no cycles). */
function deepFreeze(value: object): void {
  Object.freeze(value);
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    const v = (value as Record<string, unknown>)[keys[i]!];
    if (typeof v === 'object' && v !== null) deepFreeze(v);
  }
}

/**
 * A login for the session, from plain data: a copy through JSON (exactly what the store will
 * hold, so this request sees what the next ones will), frozen, with its JSON kept.
 */
export function packLogin(login: StoredLogin): Readonly<StoredLogin> {
  if (login instanceof PackedLogin) return login;
  const json = JSON.stringify(login);
  return new PackedLogin(JSON.parse(json) as object, json) as unknown as StoredLogin;
}

/**
 * The login last read per session id, with the string it was read from: a session's next request
 * that brings the same string gets the same (frozen, so shareable) login without parsing it
 * again. At most {@link RECENT_MAX} sessions, the oldest read dropped first; an entry is replaced
 * when the session's stored login changes, and forgotten when the session ends here.
 */
const recent = new Map<string, { readonly json: string; readonly login: PackedLogin; readonly at: number }>();
const RECENT_MAX = 500;
/**
 * How long an entry is kept at most (an active session's login changes once a minute anyway, when
 * its activity is noted): the tokens of a session that ended elsewhere do not stay in memory.
 */
const RECENT_MS = 2 * 60_000;

/**
 * The login of a session as the store gave it: a string (this version), a plain object (an older
 * version, or a store that keeps objects), or already unpacked; `undefined` for anything else.
 * A string that is not a login's JSON is not a login. With the session's id, a login read before
 * from the very same string is reused.
 */
export function unpackLogin(stored: unknown, sessionId?: string): Readonly<StoredLogin> | undefined {
  if (stored instanceof PackedLogin) return stored as unknown as StoredLogin;
  if (typeof stored === 'string') {
    if (sessionId !== undefined) {
      const hit = recent.get(sessionId);
      if (hit !== undefined && hit.json === stored) {
        const now = Date.now();
        if (sweepDue(now)) sweep(now);
        // Kept too long (or the clock stepped back past it): read again below, and kept anew.
        if (isFresh(hit, now)) return hit.login as unknown as StoredLogin;
      }
    }
    let data: unknown;
    try {
      data = JSON.parse(stored);
    } catch {
      return undefined;
    }
    if (!isLoginShaped(data)) return undefined;
    const login = new PackedLogin(data, stored);
    if (sessionId !== undefined) remember(sessionId, stored, login);
    return login as unknown as StoredLogin;
  }
  return isLoginShaped(stored) ? (new PackedLogin(stored, undefined) as unknown as StoredLogin) : undefined;
}

/**
 * When the expired entries are looked for next: every 10 s of requests with a login, whenever the
 * map is full, and at once when the clock has stepped back.
 */
let nextSweep = 0;
const SWEEP_EVERY_MS = 10_000;

function sweepDue(now: number): boolean {
  return now >= nextSweep || now < nextSweep - SWEEP_EVERY_MS;
}

/** Neither older than {@link RECENT_MS} nor stamped in the future (a clock that stepped back). */
function isFresh(entry: { readonly at: number }, now: number): boolean {
  const age = now - entry.at;
  return age >= 0 && age <= RECENT_MS;
}

/** Oldest first (insertion order): drops the expired entries, then one more while full. */
function sweep(now: number): void {
  nextSweep = now + SWEEP_EVERY_MS;
  for (const [id, entry] of recent) {
    if (isFresh(entry, now) && recent.size < RECENT_MAX) break;
    recent.delete(id);
  }
}

function remember(sessionId: string, json: string, login: PackedLogin): void {
  const now = Date.now();
  recent.delete(sessionId);
  if (recent.size >= RECENT_MAX || sweepDue(now)) sweep(now);
  recent.set(sessionId, { json, login, at: now });
}

/**
 * The request's login wherever it is read: unpacked (and put back) when the session holds it as
 * the store gave it, as after `req.session.reload()` or before the middleware ran; a stored value
 * that is not a login is removed.
 */
export function loginOf(req: OidcRequest): Readonly<StoredLogin> | undefined {
  const oidc = req.session?.oidc;
  const stored: unknown = oidc?.login;
  if (stored === undefined || stored instanceof PackedLogin) return stored as Readonly<StoredLogin> | undefined;
  const login = unpackLogin(stored, req.sessionID);
  if (login) oidc!.login = login;
  else delete oidc!.login;
  return login;
}

/** Drops what {@link unpackLogin} keeps of a session whose login ended (logout, expiry). */
export function forgetLogin(sessionId: string | undefined): void {
  if (sessionId !== undefined) recent.delete(sessionId);
}

/** The ids of the sessions whose logins are kept for reuse (for tests). */
export function recentLogins(): string[] {
  return [...recent.keys()];
}

/**
 * A login's shape: an object with claims and an access token. A top-level "__proto__" (an own
 * member after JSON.parse) is refused: copied onto the login it would replace its prototype.
 */
export function isLoginShaped(data: unknown): data is object {
  if (typeof data !== 'object' || data === null || Array.isArray(data) || Object.hasOwn(data, '__proto__')) return false;
  const { claims, accessToken } = data as { claims?: unknown; accessToken?: unknown };
  return typeof claims === 'object' && claims !== null && !Array.isArray(claims) && typeof accessToken === 'string';
}
