import type { ServerResponse } from 'node:http';
import type { ResolvedConfig } from '../options/resolved-config.js';
import type { OidcRequest } from '../session/express-session.js';
import { isRandomCookieValue, OriginCookie, randomCookieValue } from '../util/cookies.js';
import { safeReturnTo, splitUrl } from '../util/url.js';
import { redirect } from '../util/respond.js';

/**
 * RP-Initiated Logout sends a `state`: Glewlwyd (2.7.5) never leaves its end-session page without
 * one. The provider appends it to `post_logout_redirect_uri`, which is the app's own page, so users
 * would land on `/?state=...`. The logout keeps the state in a short-lived cookie; when the browser
 * comes back with it, the middleware checks it and sends the browser to the same page without it.
 * The cookie is `__Host-oidc.logout` on an https `baseUrl` (see OriginCookie).
 */
const LOGOUT_STATE_COOKIE = 'oidc.logout';
/** Seconds: how long a logout at the provider may take (its confirmation page) and still come back clean. */
const LOGOUT_STATE_MAX_AGE = 600;

/** True when the request line's `url` is `path`, with or without a query. */
function isPath(url: string, path: string): boolean {
  return url.startsWith(path) && (url.length === path.length || url[path.length] === '?');
}

/** At the logout: a new state for the end-session URL, kept in the browser. */
export function rememberLogoutState(res: ServerResponse, config: ResolvedConfig): string {
  const state = randomCookieValue(config.random);
  new OriginCookie(LOGOUT_STATE_COOKIE, config.secureCookies).set(res, state, LOGOUT_STATE_MAX_AGE);
  return state;
}

/**
 * On a GET of `postLogoutRedirectUri`'s path: when the browser comes back from the provider's
 * logout with the state it was given, a 302 to the same URL without it (the rest of the query as it
 * was) and the cookie cleared; true when it answered. Made once per `oidcLogin()`: every request
 * passes here, and a request for another page costs one comparison of its path.
 */
export function logoutReturn(config: ResolvedConfig): (req: OidcRequest, res: ServerResponse) => boolean {
  const cookie = new OriginCookie(LOGOUT_STATE_COOKIE, config.secureCookies);
  const inHeader = `${cookie.name}=`;
  const returnPath = new URL(config.logout.postLogoutRedirectUri, 'http://x').pathname;
  return function returnFromLogout(req, res) {
    if (req.method !== 'GET') return false;
    // The path first: on every other page this is all it costs.
    const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    if (!isPath(url, returnPath) || !req.headers.cookie?.includes(inHeader)) return false;
    const { path, query } = splitUrl(url);
    const pairs = query.split('&');
    const states = pairs.filter((pair) => pair.startsWith('state='));
    const state = states.length === 1 ? states[0]!.slice('state='.length) : undefined;
    if (state === undefined || !isRandomCookieValue(state)) return false;
    if (!cookie.sent(req).includes(state)) return false;
    cookie.set(res, '', 0);
    const rest = pairs.filter((pair) => pair !== states[0]).join('&');
    res.setHeader('Cache-Control', 'no-store');
    // Checked as any returnTo: the request line is the browser's.
    redirect(res, safeReturnTo(rest === '' ? path : `${path}?${rest}`) ?? config.defaultReturnTo);
    return true;
  };
}
