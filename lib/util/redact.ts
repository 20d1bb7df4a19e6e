/**
 * Token material out of the errors the app's error handler is given (and may log): openid-client's
 * errors carry the response they failed on, so a malformed token response puts its access, refresh
 * and ID tokens in `err.cause.cause.body`. {@link redactTokens} replaces them in a cause chain,
 * keeping every error as it was otherwise (class, name, code, message, status, the rest of a body).
 */

/**
 * Members that hold a token, in token responses (RFC 6749 names) and in stored logins, and a
 * stored login's DPoP key (its private JWK).
 */
const TOKEN_MEMBERS = new Set([
  'access_token',
  'refresh_token',
  'id_token',
  'accessToken',
  'refreshToken',
  'idToken',
  'dpop',
]);
/**
 * A compact JWS (3 parts) or JWE (5 parts), whose header is a base64url JSON object ("ey..."): an
 * ID token given as the cause itself (openid-client's "JWE decryption is not configured"), or in a member.
 */
const COMPACT_JWT = /^ey[\w-]+\.[\w-]*\.[\w-]*(?:\.[\w-]*\.[\w-]*)?$/;
const REDACTED = '[REDACTED]';
/**
 * Marks objects that are not plain but hold tokens in their members, to be scrubbed as plain
 * objects are (a stored login: frozen, of its own class, its JSON with every token in it).
 */
export const SCRUB_AS_DATA: unique symbol = Symbol('express-oidc-login: scrub as data');
/** How deep a cause chain and its bodies are walked (an error logger's depth, and then some). */
const MAX_DEPTH = 12;

/**
 * Checked by shape, not `instanceof`: a parsed body or a fetch() error may come from another realm
 * (undici's `response.json()` under a VM context, as in Jest).
 */
function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === null || Object.getPrototypeOf(proto) === null;
}

function tagOf(value: object): string {
  return Object.prototype.toString.call(value);
}

/** What one redaction has visited: errors (changed in place) and the copies made of bodies. */
interface Seen {
  errors: WeakSet<Error>;
  copies: WeakMap<object, unknown>;
}

/** A copy of a JSON-like value without token members or JWT strings; anything else as it is. */
function scrub(value: unknown, depth: number, seen: Seen): unknown {
  if (typeof value === 'string') return COMPACT_JWT.test(value) ? REDACTED : value;
  if (depth > MAX_DEPTH || typeof value !== 'object' || value === null) return value;
  if (value instanceof Error || tagOf(value) === '[object Error]') {
    redactError(value as Error, depth + 1, seen);
    return value;
  }
  if (value instanceof Response || tagOf(value) === '[object Response]') {
    const response = value as Response;
    // An unread body (a token endpoint's answer with an unexpected status) is not left readable.
    if (!response.bodyUsed && response.body && !response.body.locked) response.body.cancel().catch(() => {});
    return value;
  }
  // One copy per object: a body referenced twice (or a cycle) is replaced by the same copy.
  const known = seen.copies.get(value);
  if (known !== undefined) return known;
  if (Array.isArray(value)) {
    const copy: unknown[] = [];
    seen.copies.set(value, copy);
    for (const v of value) copy.push(scrub(v, depth + 1, seen));
    return copy;
  }
  // A stored login (see SCRUB_AS_DATA): its members, scrubbed, as a plain copy.
  if (!isPlainObject(value) && !(SCRUB_AS_DATA in value)) return value;
  const copy: Record<string, unknown> = {};
  seen.copies.set(value, copy);
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    copy[key] = TOKEN_MEMBERS.has(key) && v !== undefined ? REDACTED : scrub(v, depth + 1, seen);
  }
  return copy;
}

/** The error's own members scrubbed in place (those that can be written: `cause`, `body`...). */
function redactError(err: Error, depth: number, seen: Seen): void {
  if (seen.errors.has(err)) return;
  seen.errors.add(err);
  for (const key of Object.getOwnPropertyNames(err)) {
    if (key === 'stack' || key === 'message' || key === 'name') continue;
    const descriptor = Object.getOwnPropertyDescriptor(err, key);
    if (!descriptor || !('value' in descriptor)) continue;
    const value: unknown = descriptor.value;
    const next = TOKEN_MEMBERS.has(key) && typeof value === 'string' ? REDACTED : scrub(value, depth, seen);
    if (next !== value && descriptor.writable) (err as unknown as Record<string, unknown>)[key] = next;
  }
}

/**
 * `cause` with token material replaced by `[REDACTED]`: token members (`access_token`,
 * `refresh_token`, `id_token`) and compact JWTs, in the errors of the chain (changed in place, so
 * they keep their class) and in the bodies they carry (replaced by scrubbed copies).
 */
export function redactTokens<T>(cause: T): T {
  return scrub(cause, 0, { errors: new WeakSet(), copies: new WeakMap() }) as T;
}
