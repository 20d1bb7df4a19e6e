import { randomBytes } from 'node:crypto';
import type { TestUser } from './types.js';

/* What the test provider accepts from a test (users, seconds, a baseUrl), and its small helpers. */

/** Claims the provider sets itself: a login cannot choose them. */
const PROTOCOL_CLAIMS = [
  'iss',
  'aud',
  'exp',
  'iat',
  'nbf',
  'nonce',
  'azp',
  'at_hash',
  'c_hash',
  'jti',
  'events',
] as const;
/** Claims about the authentication, not the user: in the ID token, not in userinfo. */
export const SESSION_CLAIMS = new Set(['sid', 'auth_time', 'acr', 'amr']);
export const ASYMMETRIC_ALGS = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);
/** `algs` of the DPoP challenge: what the provider verifies proofs with. */
export const DPOP_ALGS = [...ASYMMETRIC_ALGS].join(' ');

/** Checks a login's claims; throws a TypeError that says what is wrong. */
export function checkUser(user: unknown, where: string): TestUser {
  if (typeof user !== 'object' || user === null || Array.isArray(user)) {
    throw new TypeError(
      `${where}: the user must be an object of ID token claims, such as { sub: 'alice', groups: ['admin'] }.`,
    );
  }
  const u = user as Record<string, unknown>;
  if (typeof u.sub !== 'string' || u.sub === '' || u.sub.length > 255) {
    throw new TypeError(`${where}: "sub" is required: a non-empty string of at most 255 characters.`);
  }
  for (const claim of PROTOCOL_CLAIMS) {
    if (claim in u) {
      throw new TypeError(
        `${where}: "${claim}" is set by the test provider itself, as a real provider would` +
          (claim === 'exp' ? ' (use { expiresIn } or the accessTokenTtl / idTokenTtl options).' : '.'),
      );
    }
  }
  if (u.sid !== undefined && (typeof u.sid !== 'string' || u.sid === ''))
    throw new TypeError(`${where}: "sid" must be a non-empty string.`);
  if (u.auth_time !== undefined && (typeof u.auth_time !== 'number' || !Number.isInteger(u.auth_time))) {
    throw new TypeError(`${where}: "auth_time" must be a whole number of seconds since the epoch.`);
  }
  try {
    JSON.stringify(u);
  } catch (err) {
    throw new TypeError(`${where}: the claims must be JSON.`, { cause: err });
  }
  return structuredClone(u) as TestUser;
}

export function checkSeconds(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
    throw new TypeError(`${name} must be a whole number of seconds, 0 or more.`);
  return value;
}

export function random(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** `baseUrl` as express-oidc-login normalizes it: origin + path prefix, no trailing slash. */
export function normalizeBaseUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError(
      `startTestProvider: "baseUrl" must be an absolute URL such as http://localhost:3000; got ${JSON.stringify(baseUrl)}.`,
    );
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}
