import type { ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { ResolvedConfig } from '../options/resolved-config.js';
import type { OidcRequest } from '../session/express-session.js';
import { appendSetCookie, readCookies, serializeCookie } from '../util/cookies.js';
import { safeReturnTo, splitUrl } from '../util/url.js';
import { redirect } from '../util/respond.js';

/**
 * RP-Initiated Logout sends a `state`: Glewlwyd (2.7.5) never leaves its end-session page without
 * one. The provider appends it to `post_logout_redirect_uri`, which is the app's own page, so users
 * would land on `/?state=...`. The logout keeps the state in a short-lived cookie; when the browser
 * comes back with it, the middleware checks it and sends the browser to the same page without it.
 */
export const LOGOUT_STATE_COOKIE = 'oidc.logout';
/** Seconds: how long a logout at the provider may take (its confirmation page) and still come back clean. */
const LOGOUT_STATE_MAX_AGE = 600;
const VALUE = /^[A-Za-z0-9_-]{43}$/;

/** At the logout: a new state for the end-session URL, kept in the browser. */
export function rememberLogoutState(res: ServerResponse, config: ResolvedConfig): string {
  const state = randomBytes(32).toString('base64url');
  const attributes = { path: '/', maxAge: LOGOUT_STATE_MAX_AGE, secure: config.secureCookies };
  appendSetCookie(res, [serializeCookie(LOGOUT_STATE_COOKIE, state, attributes)]);
  return state;
}

/**
 * On any GET: when the browser comes back from the provider's logout with the state it was given,
 * a 302 to the same URL without it (and the cookie cleared); true when it answered. Costs one
 * substring search of the Cookie header on other requests.
 */
export function returnFromLogout(req: OidcRequest, res: ServerResponse, config: ResolvedConfig): boolean {
  if (req.method !== 'GET' || !req.headers.cookie?.includes(`${LOGOUT_STATE_COOKIE}=`)) return false;
  const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  const { path, query } = splitUrl(url);
  const params = new URLSearchParams(query);
  const states = params.getAll('state');
  if (states.length !== 1) return false;
  const kept = readCookies(req, (n) => n === LOGOUT_STATE_COOKIE).map(([, v]) => v);
  if (!VALUE.test(states[0]!) || !kept.includes(states[0]!)) return false;
  params.delete('state');
  appendSetCookie(res, [
    serializeCookie(LOGOUT_STATE_COOKIE, '', { path: '/', maxAge: 0, secure: config.secureCookies }),
  ]);
  const rest = params.toString();
  res.setHeader('Cache-Control', 'no-store');
  // Checked as any returnTo: the request line is the browser's.
  redirect(res, safeReturnTo(rest === '' ? path : `${path}?${rest}`) ?? config.defaultReturnTo);
  return true;
}
