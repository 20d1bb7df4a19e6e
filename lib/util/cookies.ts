import type { RandomPool } from './random-pool.js';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The few cookie operations the middleware needs for its own cookies, without a dependency: read
 * them from the `Cookie` header, and add `Set-Cookie` lines next to the ones express-session (or
 * the app) sets.
 */

/**
 * The values of the request's cookies whose name passes `wanted`, in header order. A name can
 * appear more than once (cookies of the same name with other paths or domains): all are kept.
 */
export function readCookies(req: IncomingMessage, wanted: (name: string) => boolean): [name: string, value: string][] {
  const header = req.headers.cookie;
  if (typeof header !== 'string' || header === '') return [];
  const found: [string, string][] = [];
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    const name = pair.slice(0, eq).trim();
    if (!wanted(name)) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    // An empty value is a cleared cookie that a client kept anyway.
    if (value !== '') found.push([name, value]);
  }
  return found;
}

export interface CookieAttributes {
  path: string;
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
  secure: boolean;
}

const EPOCH = new Date(0).toUTCString();

/**
 * A `Set-Cookie` value, always `HttpOnly; SameSite=Lax`; `name` and `value` must be cookie-safe
 * already (ours are base64url). `Expires` too, for clients that ignore `Max-Age` (the cookie jar
 * of superagent and supertest).
 */
export function serializeCookie(name: string, value: string, a: CookieAttributes, now = Date.now()): string {
  const maxAge = Math.max(0, Math.floor(a.maxAge));
  const expires = maxAge === 0 ? EPOCH : new Date(now + maxAge * 1000).toUTCString();
  return `${name}=${value}; Path=${a.path}; Max-Age=${maxAge}; Expires=${expires}; HttpOnly; SameSite=Lax${a.secure ? '; Secure' : ''}`;
}

/**
 * One of our cookies for the whole origin: `__Host-<name>` on https, which only this origin can set
 * (no sibling subdomain, no page over plain http); `<name>` over http (development), where the
 * prefix cannot be used, since it requires `Secure`. `Path=/`, no `Domain`, `Secure` on https.
 */
export class OriginCookie {
  readonly name: string;
  readonly #secure: boolean;

  constructor(name: string, secure: boolean) {
    this.name = secure ? `__Host-${name}` : name;
    this.#secure = secure;
  }

  /** The values the browser sent under this name: several when one was planted beside ours. */
  sent(req: IncomingMessage): string[] {
    return readCookies(req, (n) => n === this.name).map(([, value]) => value);
  }

  /** Sets it for `maxAge` seconds; 0 clears it. */
  set(res: ServerResponse, value: string, maxAge: number): void {
    appendSetCookie(res, [serializeCookie(this.name, value, { path: '/', maxAge, secure: this.#secure })]);
  }
}

/** Adds `Set-Cookie` lines, keeping those already set (express-session appends its own the same way). */
export function appendSetCookie(res: ServerResponse, lines: readonly string[]): void {
  if (lines.length === 0) return;
  const previous = res.getHeader('Set-Cookie');
  const kept = previous === undefined ? [] : Array.isArray(previous) ? previous : [String(previous)];
  res.setHeader('Set-Cookie', [...kept, ...lines]);
}

/** A value for one of our cookies that the browser gives back to prove something: 32 random bytes, base64url. */
export function randomCookieValue(random: RandomPool): string {
  return random.base64url(32);
}

const RANDOM_COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

/** True for what {@link randomCookieValue} makes: anything else was not set by us. */
export function isRandomCookieValue(value: string): boolean {
  return RANDOM_COOKIE_VALUE.test(value);
}
