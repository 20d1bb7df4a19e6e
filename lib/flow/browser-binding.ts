import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/resolved-config.js';
import type { OidcRequest } from '../session/express-session.js';
import type { StoredTransaction } from '../types.js';
import { isRandomCookieValue, OriginCookie, randomCookieValue } from '../util/cookies.js';
import { OidcError } from '../util/errors.js';
import { pendingLoginLifetimeMs } from './pending-logins.js';

const debug = createDebug('express-oidc-login:browser-binding');

/**
 * Pending logins are bound to the browser that started them (login CSRF by cookie tossing): a
 * pending login, in its sealed cookie or in the session, is a bearer credential for finishing a
 * login, and a sibling subdomain (`Domain=.example.com`) or a page over plain http can plant
 * cookies, a pending-login cookie or a session cookie, in a victim's browser. So `/login` gives
 * the browser a random value in a cookie only this origin over https can set (`__Host-`:
 * `Secure`, `Path=/`, no `Domain`), seals its SHA-256 into the pending login, and the callback
 * requires the browser to send it back. Over http (development) the prefix cannot be used: the
 * cookie is the same without it, and anyone who can plant cookies can plant it too.
 */

/** `__Host-oidc.browser` on an https `baseUrl` (see OriginCookie). */
const BROWSER_COOKIE = 'oidc.browser';

function browserCookie(config: ResolvedConfig): OriginCookie {
  return new OriginCookie(BROWSER_COOKIE, config.secureCookies);
}

function hashOf(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/**
 * At `/login`: the browser's binding cookie (its value kept when it has one, so that several
 * tabs share it; else a new one), set again with a fresh lifetime; returns the hash to seal into
 * the pending login.
 */
export function bindToBrowser(req: OidcRequest, res: ServerResponse, config: ResolvedConfig): string {
  const cookie = browserCookie(config);
  const value = cookie.sent(req).find(isRandomCookieValue) ?? randomCookieValue(config.random);
  // As long as a pending login's cookie, renewed at every login.
  cookie.set(res, value, Math.ceil(pendingLoginLifetimeMs(config) / 1000));
  return hashOf(value);
}

/**
 * At the callback, once the pending login is taken: the browser sends the binding cookie whose
 * hash is sealed in it. A pending login without one (sealed before this check existed) is refused
 * too. 400 `ERR_OIDC_TRANSACTION_INVALID`: the pending login is not this browser's.
 */
export function checkBrowserBinding(req: OidcRequest, tx: StoredTransaction, config: ResolvedConfig): void {
  const expected = typeof tx.browser === 'string' ? Buffer.from(tx.browser) : undefined;
  const sent = browserCookie(config).sent(req);
  if (expected && sent.some((value) => sameBytes(Buffer.from(hashOf(value)), expected))) return;
  debug('the pending login is not bound to this browser (%d binding cookies sent): refused', sent.length);
  throw new OidcError(
    'ERR_OIDC_TRANSACTION_INVALID',
    400,
    'This login cannot be completed: it was not started in this browser (or this browser no longer ' +
      'has the cookie that says it was). Nobody was logged in. Start again from the login page.',
  );
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
