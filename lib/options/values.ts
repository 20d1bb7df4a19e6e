import { fail } from './fail.js';

// The checks several options share: URLs, route paths, bounded numbers, loopback hosts.

/**
 * True for `localhost`, `*.localhost`, 127.0.0.0/8 and `[::1]`: hosts a browser keeps on this
 * machine (browsers pin `*.localhost` to loopback), for the browser-facing `baseUrl`.
 */
export function isLoopbackHost(hostname: string): boolean {
  return hostname.endsWith('.localhost') || isLoopbackTarget(hostname);
}

/**
 * True for `localhost`, 127.0.0.0/8 and `[::1]` only: hosts the server itself may send a token to
 * over plain http. Not `*.localhost`: Node resolves those names through DNS like any other.
 */
export function isLoopbackTarget(hostname: string): boolean {
  return hostname === 'localhost' || /^127(?:\.\d{1,3}){3}$/.test(hostname) || hostname === '[::1]';
}

/**
 * An absolute http(s) URL without credentials. Without `endpoint` (issuer, baseUrl...): no query
 * string or fragment. An `endpoint` of `server` may have a query, and must be https unless
 * `dangerouslyAllowInsecureHttp`.
 */
export function httpUrl(name: string, value: unknown, endpoint?: { allowInsecureHttp: boolean }): URL {
  if (typeof value !== 'string' || value === '') fail(`"${name}" must be an absolute URL string.`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    const example = endpoint ? 'https://example.com/oauth/token' : 'https://example.com';
    fail(`"${name}" must be an absolute URL, such as ${example}; got ${JSON.stringify(value)}.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    fail(`"${name}" must be an ${endpoint ? 'https' : 'http(s)'} URL.`);
  if (endpoint) {
    requireHttps(name, url, endpoint.allowInsecureHttp);
    if (url.hash) fail(`"${name}" must not have a fragment.`);
  } else if (url.search || url.hash) {
    fail(`"${name}" must not have a query string or fragment.`);
  }
  if (url.username || url.password) fail(`"${name}" must not contain credentials.`);
  return url;
}

/** A URL of the provider: https, or http with the loud switch. */
export function requireHttps(name: string, url: URL, allowInsecureHttp: boolean): void {
  if (url.protocol === 'http:' && !allowInsecureHttp) {
    fail(
      `"${name}" must use https. For a provider on your own machine during development only, set "dangerouslyAllowInsecureHttp: true".`,
    );
  }
}

/** A number in (0, max], or `fallback` when not given. */
export function positiveNumber(name: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max) {
    fail(`"${name}" must be a number greater than 0 and at most ${max}; got ${String(value)}.`);
  }
  return value;
}

/** A number in [0, max] of seconds, or `fallback` when not given. */
export function secondsUpTo(name: string, value: unknown, fallback: number, max: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max)
    fail(`"${name}" must be a number of seconds from 0 to ${max}.`);
  return v;
}

/** A `routes` entry: a path starting with a single "/", without its trailing "/"; `false` turns the route off. */
export function routePath(name: string, value: unknown, fallback: string): string | false {
  if (value === undefined) return fallback;
  if (value === false) return false;
  if (typeof value !== 'string' || !/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/.test(value) || value.startsWith('//')) {
    fail(`"routes.${name}" must be a path starting with a single "/" (or false to turn the route off).`);
  }
  return value.length > 1 && value.endsWith('/') ? value.slice(0, -1) : value;
}

/** A plain object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
