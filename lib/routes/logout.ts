import type { ServerResponse } from 'node:http';
import * as client from 'openid-client';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { OidcError } from '../util/errors.js';
import { emit } from '../flow/events.js';
import type { Provider } from '../flow/provider.js';
import { providerError } from '../flow/provider-errors.js';
import { destroyOwnSession } from '../session/session-index.js';
import { requireSession, type OidcRequest } from '../session/express-session.js';
import { loginOf } from '../session/stored-login.js';
import type { StoredLogin } from '../types.js';
import { rememberLogoutState } from './logout-return.js';
import { redirect } from '../util/respond.js';
import { pathPrefix } from '../options/validate/urls.js';
import { escapeHtml } from '../util/html.js';

const debug = createDebug('express-oidc-login:logout');

/**
 * `POST /logout` (and `GET /logout` from this origin unless `logout.allowGet` is false): ends the local
 * session, then RP-Initiated Logout at the provider.
 *
 * 1. A cross-site request is refused (403 `ERR_OIDC_CROSS_SITE`) and logs nobody out.
 * 2. Not logged in: straight to the post-logout URL.
 * 2a. A GET the browser does not show to be the user's own navigation on this origin (no
 *    browser metadata at all, a prefetch, an image), or a POST with none of `Sec-Fetch-Site`,
 *    `Origin`, `Referer` (nothing says where it comes from): a page whose button POSTs the logout.
 * 3. The refresh token is revoked (best effort; `logout.revokeTokens` and a `revocation_endpoint`).
 * 4. The session is destroyed (a store failure is a 503: nobody is told "logged out" while the
 *    session lives on), its id remembered as ended (see session-index.ts).
 * 5. 303 (after POST) / 302 (after GET) to the provider's `end_session_endpoint` with
 *    `id_token_hint`, `client_id`, `post_logout_redirect_uri` and a `state` (logout-return.ts), when
 *    `logout.idpLogout` is on and the provider has one (or to `logout.idpLogoutUrl`'s URL, for
 *    providers without a standard one); else to `logout.postLogoutRedirectUri`.
 *
 * Talking to the provider (discovery, revocation) is bounded by `httpTimeout` in all; an
 * unreachable provider makes it a local logout. The destination never comes from the request.
 */
export function logoutHandler(config: ResolvedConfig, provider: Provider) {
  const appOrigin = config.baseUrl.origin;
  const postLogout = config.logout.postLogoutRedirectUri;
  // The logout route as the browser requests it (baseUrl's path prefix included).
  const confirmAction = `${pathPrefix(config.baseUrl)}${config.logoutPath || ''}`;

  return async function logout(req: OidcRequest, res: ServerResponse): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    const saysWhereFrom = assertSameOrigin(req, appOrigin);
    const status = req.method === 'POST' ? 303 : 302;
    requireSession(req);
    const login = loginOf(req);
    if (!login) {
      redirect(res, postLogout, status);
      return;
    }
    if (req.method === 'GET' ? !isOwnNavigation(req, appOrigin) : !saysWhereFrom) {
      // Nothing says this request is the user's own: they confirm with a POST from this origin.
      // (Browsers send Origin with every POST; without it, a tool or a script logs nobody out.)
      sendLogoutConfirmation(res, confirmAction);
      return;
    }

    const { location, detail } = await endAtProvider(config, provider, login, res);
    const sessionId = req.sessionID;
    await destroyOwnSession(req, config);
    debug('logged out (%s)', detail);
    emit(
      config,
      'logout',
      { sub: login.claims.sub, sid: login.claims.sid as string | undefined, sessionId, detail },
      req,
    );
    redirect(res, location, status);
  };
}

/** Where the browser goes after the local logout, and whether that ends the login at the provider too. */
interface LogoutDestination {
  location: string;
  detail: 'provider' | 'local';
}

/**
 * The provider's part of a logout, within `httpTimeout` in all: the refresh token revoked (best
 * effort), then where the browser goes: the provider's own logout URL (`logout.idpLogoutUrl`), its
 * `end_session_endpoint`, or, with a provider out of reach or without either, the post-logout page.
 */
async function endAtProvider(
  config: ResolvedConfig,
  provider: Provider,
  login: StoredLogin,
  res: ServerResponse,
): Promise<LogoutDestination> {
  const local: LogoutDestination = { location: config.logout.postLogoutRedirectUri, detail: 'local' };
  const revoke = config.logout.revokeTokens && typeof login.refreshToken === 'string';
  if (!config.logout.idpLogout && !revoke) return local;
  const deadline = Date.now() + config.httpTimeout;
  let configuration: client.Configuration;
  try {
    configuration = await withDeadline(provider.getConfiguration(), deadline);
  } catch (err) {
    debug('the provider is unavailable, logging out locally only: %s', (err as Error)?.message);
    return local;
  }
  if (revoke && !(await revokeRefreshToken(provider, configuration, login.refreshToken!, deadline))) return local;
  if (!config.logout.idpLogout) return local;
  // logout.idpLogoutUrl (auth0Logout(), cognitoLogout()...): the provider's own logout URL.
  const custom = customLogoutUrl(config, provider, configuration, login.idToken);
  if (custom) return { location: custom, detail: 'provider' };
  if (!provider.metadata(configuration).end_session_endpoint) return local;
  try {
    const location = client.buildEndSessionUrl(configuration, {
      // None for a plain OAuth 2.0 login: client_id (which openid-client adds) names the app then.
      ...(login.idToken !== undefined && { id_token_hint: login.idToken }),
      post_logout_redirect_uri: config.logout.postLogoutRedirectUri,
      // Some providers need one to come back (Glewlwyd); checked and taken off the URL when
      // the browser returns (logout-return.ts).
      state: rememberLogoutState(res, config),
    }).href;
    return { location, detail: 'provider' };
  } catch (err) {
    // An end_session_endpoint openid-client refuses (http without dangerouslyAllowInsecureHttp).
    debug('no RP-initiated logout: %s', (err as Error)?.message);
    return local;
  }
}

/**
 * Revokes the refresh token where the provider has a `revocation_endpoint` (best effort). False
 * when the provider is out of reach: it would then only show the browser an error page at its
 * logout URL, so the logout is local only.
 */
async function revokeRefreshToken(
  provider: Provider,
  configuration: client.Configuration,
  refreshToken: string,
  deadline: number,
): Promise<boolean> {
  if (!provider.metadata(configuration).revocation_endpoint) return true;
  try {
    await withDeadline(
      client.tokenRevocation(configuration, refreshToken, { token_type_hint: 'refresh_token' }),
      deadline,
    );
    debug('refresh token revoked');
    return true;
  } catch (err) {
    const code = err instanceof DeadlineError ? 'ERR_OIDC_PROVIDER_TIMEOUT' : providerError(err, 'token').code;
    debug('revoking the refresh token failed (ignored): %s', (err as Error)?.message);
    return code !== 'ERR_OIDC_PROVIDER_TIMEOUT' && code !== 'ERR_OIDC_PROVIDER_UNREACHABLE';
  }
}

/**
 * `logout.idpLogoutUrl`'s answer, when it is one: an absolute https URL (http only with
 * `dangerouslyAllowInsecureHttp`), without credentials. It is given only the configuration and the
 * session's ID token, never the request. A throw or anything else keeps the standard behaviour.
 */
function customLogoutUrl(
  config: ResolvedConfig,
  provider: Provider,
  configuration: client.Configuration,
  idToken: string | undefined,
): string | undefined {
  const build = config.logout.idpLogoutUrl;
  if (!build) return undefined;
  let value: URL | string | undefined;
  try {
    value = build({
      idToken,
      clientId: provider.clientMetadata(configuration).client_id,
      postLogoutRedirectUri: config.logout.postLogoutRedirectUri,
      state: config.random.base64url(32),
      // The app's own copy, as before: a hook that changes it must not change everyone's.
      metadata: configuration.serverMetadata(),
    });
  } catch (err) {
    debug('logout.idpLogoutUrl threw, ignored: %s', (err as Error)?.message);
    return undefined;
  }
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value instanceof URL ? value.href : String(value));
  } catch {
    debug('logout.idpLogoutUrl returned no absolute URL, ignored');
    return undefined;
  }
  const secure = url.protocol === 'https:' || (url.protocol === 'http:' && config.allowInsecureHttp);
  if (!secure || url.username || url.password) {
    debug('logout.idpLogoutUrl returned a URL that is not https (or has credentials), ignored');
    return undefined;
  }
  return url.href;
}

/**
 * Refuses a cross-site request: `Sec-Fetch-Site` when the browser sends it (`same-origin` and
 * `none`, a typed URL or a bookmark, pass; `same-site` does not: a sibling subdomain is another
 * app), else `Origin` (must be baseUrl's origin), else `Referer`'s origin, else (no browser
 * metadata at all: curl, a test client) the request passes here, to a confirmation page.
 * Returns whether the request said where it comes from at all (false: none of the three).
 */
export function assertSameOrigin(req: OidcRequest, appOrigin: string): boolean {
  const fetchSite = header(req, 'sec-fetch-site');
  if (fetchSite !== undefined) {
    if (fetchSite === 'same-origin' || fetchSite === 'none') return true;
    throw crossSite();
  }
  const origin = header(req, 'origin');
  if (origin !== undefined) {
    if (originOf(origin) === appOrigin) return true;
    throw crossSite();
  }
  const referer = header(req, 'referer');
  if (referer !== undefined) {
    if (originOf(referer) === appOrigin) return true;
    throw crossSite();
  }
  return false;
}

/**
 * A GET that the browser says is the user's own navigation on this app: Fetch Metadata
 * `same-origin` or `none` (typed, a bookmark) for a top-level document that is not a prefetch
 * (an `<img src=/logout>` in a page of this origin, or a link prefetched, logs nobody out); without
 * Fetch Metadata, this origin in `Origin` or `Referer`. With none of them (a no-referrer page in a
 * browser without Fetch Metadata, a tool), it is not. Cross-site requests were refused before.
 */
function isOwnNavigation(req: OidcRequest, appOrigin: string): boolean {
  const fetchSite = header(req, 'sec-fetch-site');
  if (fetchSite !== undefined) {
    const mode = header(req, 'sec-fetch-mode');
    const dest = header(req, 'sec-fetch-dest');
    return (
      (fetchSite === 'same-origin' || fetchSite === 'none') &&
      (mode === undefined || mode === 'navigate') &&
      (dest === undefined || dest === 'document') &&
      header(req, 'sec-purpose') === undefined &&
      header(req, 'purpose') === undefined
    );
  }
  const origin = header(req, 'origin');
  if (origin !== undefined) return originOf(origin) === appOrigin;
  const referer = header(req, 'referer');
  return referer !== undefined && originOf(referer) === appOrigin;
}

/**
 * A page of this origin whose one button POSTs the logout: a plain form, no script. Its own
 * Content-Security-Policy allows nothing but that form; it may not be framed (a button under
 * someone else's page would be clickjacking).
 */
function sendLogoutConfirmation(res: ServerResponse, action: string): void {
  const html =
    '<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">' +
    '<title>Log out?</title></head><body>' +
    `<form method="post" action="${escapeHtml(action)}"><p>Log out of this site?</p>` +
    '<button type="submit">Log out</button></form></body></html>';
  res.statusCode = 200;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader(
    'Content-Security-Policy',
    "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  );
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Content-Length', Buffer.byteLength(html));
  res.end(html);
}

function header(req: OidcRequest, name: string): string | undefined {
  const value = req.headers[name];
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value.join(',') : value).trim().toLowerCase();
}

function originOf(value: string): string | undefined {
  try {
    const origin = new URL(value).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

function crossSite(): OidcError {
  return new OidcError('ERR_OIDC_CROSS_SITE', 403, 'Logout must be requested from this site. Nobody was logged out.');
}

class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
  constructor() {
    super('the provider did not answer in time');
  }
}

/** Races `promise` against `deadline` (ms since the epoch); what it does after losing is ignored. */
function withDeadline<T>(promise: Promise<T>, deadline: number): Promise<T> {
  promise.catch(() => {});
  const ms = deadline - Date.now();
  if (ms <= 0) return Promise.reject(new DeadlineError());
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
