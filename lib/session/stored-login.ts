import { inspect } from 'node:util';
import { SCRUB_AS_DATA } from '../util/redact.js';
import type { OidcRequest } from './express-session.js';
import { loginMemoryOf, type LoginMemory } from './login-memory.js';
import type { StoredLogin } from '../types.js';
import { deepFreeze } from '../util/deep-freeze.js';

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
 * The string does not hold the claims when they are the ID token's own payload (`"claims":"idToken"`
 * instead): they are read back from the stored token when the string is parsed (once per session,
 * see login-memory.ts), without verifying it again; it was verified at login, and the store is the
 * server's. Without them a session is 19–27% smaller in the bench, and every one of those per-request
 * passes is over all of the session's bytes (bench/README.md, 2026-12-02 morning). Claims that differ
 * from the token's (changed by `afterCallback`, a plain OAuth 2.0 profile, an encrypted ID token)
 * are stored as they are.
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

  /** Redacted as data: `redactTokens()` copies its members without the tokens. */
  get [SCRUB_AS_DATA](): true {
    return true;
  }

  /** `console.log(req.session)` and `util.inspect` show the login without its tokens. */
  [inspect.custom](): object {
    const shown = { ...this } as Record<string, unknown>;
    for (const key of ['idToken', 'accessToken', 'refreshToken', 'dpop'])
      if (shown[key] !== undefined) shown[key] = '[REDACTED]';
    return shown;
  }
}

/**
 * A login for the session, from plain data: a copy through JSON (exactly what the store will
 * hold, so this request sees what the next ones will), frozen, with its JSON kept. With the
 * request whose session it goes into, it is kept for the session's next request (which then
 * does not parse it again).
 */
export function packLogin(login: StoredLogin, req?: OidcRequest): Readonly<StoredLogin> {
  if (login instanceof PackedLogin) return login;
  // What the store will hold, first: the comparison below is of that, not of getters or toJSON()s.
  const whole = JSON.stringify(login);
  const data = JSON.parse(whole) as Record<string, unknown>;
  const fromToken = claimsOfIdToken(login, data);
  let json = whole;
  if (fromToken !== undefined) {
    data.claims = CLAIMS_IN_ID_TOKEN;
    json = JSON.stringify(data);
    data.claims = fromToken;
  }
  const packed = new PackedLogin(data, json) as unknown as StoredLogin;
  if (fromToken !== undefined) tokenClaims.set(fromToken, data.idToken as string);
  if (req?.sessionID !== undefined) loginMemoryOf(req.oidc)?.remember(req.sessionID, json, packed);
  return packed;
}

/**
 * What a stored login has for `claims` when they are its ID token's payload (see the top of this
 * file): `"claims":"idToken"`. A stored login without `claims` is not one, as before.
 */
const CLAIMS_IN_ID_TOKEN = 'idToken';

/**
 * The claims objects that are their login's ID token payload, with that token: a login changed
 * in anything else (its activity noted, its access token refreshed) is packed without comparing
 * them again. Each is frozen before it is put here, so it stays what was compared.
 */
const tokenClaims = new WeakMap<object, string>();

/**
 * The claims to keep in memory when `data` (a login as it will be stored) has for claims exactly
 * its ID token's payload (the same JSON), so that they need not be stored; `undefined` when they
 * differ or there is no readable token. `login` is what `data` was made from: its own `claims`,
 * when known to be that token's, spare the comparison.
 */
function claimsOfIdToken(login: StoredLogin, data: Record<string, unknown>): object | undefined {
  const { claims, idToken } = data;
  if (typeof idToken !== 'string' || typeof claims !== 'object' || claims === null) return undefined;
  const own = Object.getOwnPropertyDescriptor(login, 'claims');
  if (
    own !== undefined &&
    'value' in own &&
    typeof own.value === 'object' &&
    own.value !== null &&
    tokenClaims.get(own.value) === idToken
  ) {
    return own.value as object;
  }
  const payload = idTokenPayloadJson(idToken);
  return payload !== undefined && payload === JSON.stringify(claims) ? (JSON.parse(payload) as object) : undefined;
}

/**
 * The payload of a compact JWS (three parts) when it is a JSON object, as `JSON.stringify` writes
 * it (so that its values are what a store's round trip would give: no `-0`, `Infinity` as null);
 * else `undefined` (a JWE, an opaque string, not JSON). Not verified here: this reads back a token
 * that was verified at login, from the server's own session store.
 */
function idTokenPayloadJson(idToken: string): string | undefined {
  const first = idToken.indexOf('.');
  const second = first === -1 ? -1 : idToken.indexOf('.', first + 1);
  if (first <= 0 || second === -1 || idToken.indexOf('.', second + 1) !== -1) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(idToken.slice(first + 1, second), 'base64url').toString('utf8'));
    return typeof payload === 'object' && payload !== null && !Array.isArray(payload)
      ? JSON.stringify(payload)
      : undefined;
  } catch {
    // Not JSON, or nested too deeply to write back.
    return undefined;
  }
}

/**
 * Stored data whose claims are marked as its ID token's gets them from the token (see
 * {@link packLogin}); true when it did. With the mark and no readable token, its claims stay the
 * mark: it is not a login.
 */
function addTokenClaims(data: unknown): boolean {
  if (typeof data !== 'object' || data === null || (data as { claims?: unknown }).claims !== CLAIMS_IN_ID_TOKEN)
    return false;
  const { idToken } = data as { idToken?: unknown };
  const payload = typeof idToken === 'string' ? idTokenPayloadJson(idToken) : undefined;
  if (payload === undefined) return false;
  (data as Record<string, unknown>).claims = JSON.parse(payload);
  return true;
}

/**
 * The login of a session as the store gave it: a string (this version), a plain object (an older
 * version, or a store that keeps objects), or already unpacked; `undefined` for anything else.
 * A string that is not a login's JSON is not a login. With an instance's memory and the session's
 * id, a login read (or stored) before as the very same string is reused.
 */
export function unpackLogin(
  stored: unknown,
  memory?: LoginMemory,
  sessionId?: string,
): Readonly<StoredLogin> | undefined {
  if (stored instanceof PackedLogin) return stored as unknown as StoredLogin;
  if (typeof stored === 'string') {
    const kept = sessionId === undefined ? undefined : memory?.recent(sessionId, stored);
    if (kept !== undefined) return kept;
    let data: unknown;
    try {
      data = JSON.parse(stored);
    } catch {
      return undefined;
    }
    const claimsFromToken = addTokenClaims(data);
    if (!isLoginShaped(data)) return undefined;
    let login: PackedLogin;
    try {
      login = new PackedLogin(data, stored);
    } catch {
      // Nested too deeply to freeze: not a login this middleware made.
      return undefined;
    }
    if (claimsFromToken) tokenClaims.set((data as StoredLogin).claims, (data as StoredLogin).idToken!);
    if (sessionId !== undefined) memory?.remember(sessionId, stored, login as unknown as StoredLogin);
    return login as unknown as StoredLogin;
  }
  if (!isLoginShaped(stored)) return undefined;
  try {
    return new PackedLogin(stored, undefined) as unknown as StoredLogin;
  } catch {
    return undefined;
  }
}

/**
 * The request's login wherever it is read: unpacked (and put back) when the session holds it as
 * the store gave it, as after `req.session.reload()` or before the middleware ran; a stored value
 * that is not a login is removed. On a request the middleware has seen, a login read again (after
 * `reload()`) is checked as the middleware checks every request's: a login that a logout ended, or
 * that is past its lifetime, meanwhile, is not given.
 */
export function loginOf(req: OidcRequest): Readonly<StoredLogin> | undefined {
  const oidc = req.session?.oidc;
  const stored: unknown = oidc?.login;
  if (stored === undefined || stored instanceof PackedLogin) return stored as Readonly<StoredLogin> | undefined;
  const memory = loginMemoryOf(req.oidc);
  if (memory?.checkReadAgain(req)) {
    const checked: unknown = req.session?.oidc?.login;
    return checked instanceof PackedLogin ? (checked as unknown as StoredLogin) : undefined;
  }
  const login = unpackLogin(stored, memory, req.sessionID);
  if (login) oidc!.login = login;
  else delete oidc!.login;
  return login;
}

/**
 * The login in a session as the store gives it (`store.get()`, `store.all()`, an admin page), with
 * its claims (read from the ID token when they were stored without them); `undefined` when the
 * session holds none. It is frozen; nothing is cached.
 *
 * @example
 * store.all((err, sessions) => { for (const data of Object.values(sessions ?? {})) console.log(loginFromSession(data)?.claims.sub); });
 */
export function loginFromSession(data: unknown): Readonly<StoredLogin> | undefined {
  const stored = (data as { oidc?: { login?: unknown } } | null | undefined)?.oidc?.login;
  return stored === undefined ? undefined : unpackLogin(stored);
}

/** The `refreshes` of a login whose tokens a refresh-token grant has just changed. */
export function nextRefresh(login: StoredLogin): number {
  return (login.refreshes ?? 0) + 1;
}

/** The same user: the same `sub` from the same issuer (the configured provider's name is not compared). */
export function sameUser(a: StoredLogin, b: StoredLogin): boolean {
  return a.claims?.iss === b.claims.iss && a.claims?.sub === b.claims.sub;
}

/**
 * The login to write in place of `writing` when the store holds a later copy of it: the same login
 * (user, provider, login time) after more refreshes. A request that loaded the session before a
 * refresh of another request (or instance) and saves it afterwards would otherwise put back the
 * refresh token that refresh spent: with rotation, the next refresh then fails and the login ends,
 * and a provider with reuse detection revokes the whole grant. The later copy is kept, with this
 * request's activity; `undefined` when `writing` is as late as the store's (or another login).
 */
export function laterStoredLogin(writing: StoredLogin, stored: StoredLogin | undefined): StoredLogin | undefined {
  if (
    stored === undefined ||
    !refreshedMore(stored, writing) ||
    stored.loggedInAt !== writing.loggedInAt ||
    stored.provider !== writing.provider ||
    !sameUser(stored, writing)
  ) {
    return undefined;
  }
  return packLogin({ ...stored, activeAt: Math.max(stored.activeAt ?? 0, writing.activeAt ?? 0) });
}

/**
 * Whether the session as the store gives it may hold a later copy of `writing` (see
 * {@link laterStoredLogin}): its login went through more refreshes. Read from the stored value
 * without unpacking it (no claims read back from the ID token, nothing frozen), since on most
 * writes it has not, and then that is all there is to know.
 */
export function mayHoldLaterLogin(writing: StoredLogin, session: unknown): boolean {
  let stored = (session as { oidc?: { login?: unknown } } | null | undefined)?.oidc?.login;
  if (typeof stored === 'string') {
    try {
      stored = JSON.parse(stored);
    } catch {
      return false;
    }
  }
  if (typeof stored !== 'object' || stored === null) return false;
  return refreshedMore(stored as Pick<StoredLogin, 'refreshes'>, writing);
}

/** `stored` went through more refreshes than `writing`: the test for a later copy, written once. */
function refreshedMore(stored: Pick<StoredLogin, 'refreshes'>, writing: Pick<StoredLogin, 'refreshes'>): boolean {
  return !((stored.refreshes ?? 0) <= (writing.refreshes ?? 0));
}

/**
 * Drops what the request's `oidcLogin()` keeps of a session whose login ended (logout, expiry):
 * the request's own session by default.
 */
export function forgetLogin(req: OidcRequest, sessionId = req.sessionID): void {
  loginMemoryOf(req.oidc)?.forget(sessionId);
}

/** The ids of the sessions whose logins an `oidcLogin()` (its middleware) keeps for reuse (for tests). */
export function recentLogins(middleware: unknown): string[] {
  return loginMemoryOf(middleware)?.recentIds() ?? [];
}

/**
 * A login's shape: an object with claims and an access token. A top-level "__proto__" (an own
 * member after JSON.parse) is refused: copied onto the login it would replace its prototype.
 */
export function isLoginShaped(data: unknown): data is object {
  if (typeof data !== 'object' || data === null || Array.isArray(data) || Object.hasOwn(data, '__proto__'))
    return false;
  const { claims, accessToken } = data as { claims?: unknown; accessToken?: unknown };
  return typeof claims === 'object' && claims !== null && !Array.isArray(claims) && typeof accessToken === 'string';
}
