import type { ServerResponse } from 'node:http';
import type { ServerMetadata } from 'openid-client';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { emit } from '../flow/events.js';
import type { Provider } from '../flow/provider.js';
import { destroyOwnSession, endSessions, NoSessionStoreError } from '../session/session-index.js';
import type { OidcRequest } from '../session/express-session.js';
import { loginOf } from '../session/stored-login.js';
import { isProviderIssuer, providerIssuers } from '../vendors/entra.js';
import { splitUrl } from '../util/url.js';
import { escapeHtml } from '../util/html.js';
import { MAX_SUB_LENGTH } from '../flow/tokens.js';

const debug = createDebug('express-oidc-login:frontchannel-logout');

/** The longest `iss` and `sid` read: a `sub`'s limit, as for a logout token's `sub` and `sid`. */
const MAX_PARAM_LENGTH = MAX_SUB_LENGTH;

/**
 * Whether front-channel logout acts for this provider: the app set `routes.frontchannelLogout`,
 * or the provider says it sends front-channel logouts. Logins are indexed by `sid` then (see
 * session-index.ts), so that a request without the session cookie can find them.
 */
export function frontchannelLogoutActive(config: ResolvedConfig, metadata: Readonly<ServerMetadata>): boolean {
  return (
    config.frontchannelLogoutPath !== false &&
    (config.frontchannelLogoutExplicit || metadata.frontchannel_logout_supported === true)
  );
}

/**
 * `GET /frontchannel-logout` (OpenID Connect Front-Channel Logout 1.0 §2): the provider's logout
 * page frames it, in the user's browser, often as a third-party iframe that carries no cookie.
 *
 * 1. Not active for this provider (see {@link frontchannelLogoutActive}): 404, nobody logged out.
 * 2. `iss`, when given, must name this provider (Entra sends `sid` alone: the route is this
 *    provider's own, so a `sid` without `iss` is taken as this provider's).
 * 3. With `sid`: the sessions of that provider session end through the session index and its
 *    tombstones, as for a back-channel logout (no cookie needed); the `sid` is remembered as
 *    ended only when the index listed sessions for it.
 * 4. Without `sid`: the request's own session, when its cookie came, it holds a login of this
 *    provider, and the browser says the request is a frame's (`Sec-Fetch-Dest: iframe`).
 *
 * The answer is a tiny page that only the provider's origins may frame, never cached. An
 * unsigned request can do no more than end a session whose `sid` it knows: docs explain why the
 * specification accepts that.
 */
export function frontchannelLogoutHandler(config: ResolvedConfig, provider: Provider) {
  return async function frontchannelLogout(req: OidcRequest, res: ServerResponse): Promise<void> {
    let configuration;
    try {
      configuration = await provider.getConfiguration();
    } catch (err) {
      debug('the provider is unavailable: %s', (err as Error)?.message);
      return answer(res, 503, providerOrigins(config), 'The identity provider is unavailable; nobody was logged out.');
    }
    const metadata = provider.metadata(configuration);
    const origins = providerOrigins(config, metadata);
    if (!frontchannelLogoutActive(config, metadata)) {
      return answer(res, 404, origins, 'Front-channel logout is not enabled for this identity provider.');
    }
    const query = readQuery(req.url ?? '');
    if (typeof query === 'string') return answer(res, 400, origins, query);
    const { iss, sid } = query;
    if (iss !== undefined && !isProviderIssuer(iss, metadata.issuer, config.allowedTenants)) {
      return answer(
        res,
        400,
        origins,
        'The logout request names another identity provider ("iss"); nobody was logged out.',
      );
    }
    try {
      const ended =
        sid === undefined
          ? await endOwnSession(req, config)
          : await endSessionsOfSid(req, config, sid, iss ?? providerIssuers(metadata.issuer, config.allowedTenants));
      debug('front-channel logout ended %d session(s)', ended);
      // Only what happened is reported: audit logs must not show logouts that ended nothing.
      if (ended === 0) return answer(res, 200, origins, 'No session of this application was logged in there.');
      emit(config, 'logout', { ...(sid !== undefined && { sid }), detail: 'frontchannel' }, req);
    } catch (err) {
      debug('front-channel logout failed: %s', (err as Error)?.message);
      const status = err instanceof NoSessionStoreError ? 500 : 503;
      return answer(res, status, origins, 'The logout could not be completed; try again.');
    }
    answer(res, 200, origins, 'You are logged out of this application.');
  };
}

function readQuery(url: string): { iss?: string; sid?: string } | string {
  const params = new URLSearchParams(splitUrl(url).query);
  const out: { iss?: string; sid?: string } = {};
  for (const name of ['iss', 'sid'] as const) {
    const values = params.getAll(name);
    if (values.length === 0) continue;
    const value = values[0]!;
    if (values.length > 1 || value === '' || value.length > MAX_PARAM_LENGTH) {
      return `"${name}" must be given once, non-empty, at most ${MAX_PARAM_LENGTH} characters; nobody was logged out.`;
    }
    out[name] = value;
  }
  return out;
}

/** The sessions of a provider session, under each issuer its logins can have (one, but for Entra multi-tenant). */
async function endSessionsOfSid(
  req: OidcRequest,
  config: ResolvedConfig,
  sid: string,
  issuers: string | readonly string[],
): Promise<number> {
  let ended = 0;
  for (const iss of typeof issuers === 'string' ? [issuers] : issuers) {
    ended += await endSessions(req, config, { iss, sid }, { unsigned: true });
  }
  return ended;
}

/**
 * The request's own session, when its cookie came and it holds a login of this provider, in a
 * frame only. Framed, as the provider does it, a Lax cookie comes only same-site.
 */
async function endOwnSession(req: OidcRequest, config: ResolvedConfig): Promise<number> {
  const login = loginOf(req);
  const session = req.session;
  if (!login || !session || login.provider !== config.providerName) return 0;
  // Only in a frame, as the provider's logout page loads it: an <img> on a page of this origin, a
  // sibling subdomain's request, a link (or a browser without Fetch Metadata, which cannot tell)
  // must not log the user out, as for GET /logout.
  if (req.headers['sec-fetch-dest'] !== 'iframe') {
    debug('without sid, outside a frame (Sec-Fetch-Dest %s): nobody logged out', req.headers['sec-fetch-dest']);
    return 0;
  }
  await destroyOwnSession(req, config);
  return 1;
}

/**
 * The origins that may frame the answer: the provider's logout page is at its
 * `end_session_endpoint`, usually on the issuer's origin.
 */
function providerOrigins(config: ResolvedConfig, metadata?: Readonly<ServerMetadata>): string[] {
  const urls = [metadata?.end_session_endpoint, metadata?.issuer, config.issuer?.href];
  const origins = new Set<string>();
  for (const url of urls) {
    if (typeof url !== 'string') continue;
    try {
      const { origin } = new URL(url);
      if (origin !== 'null') origins.add(origin);
    } catch {
      // Not a URL: nothing to allow.
    }
  }
  return [...origins];
}

/** A tiny page: no script, no style, framed only by the provider, never cached. */
function answer(res: ServerResponse, status: number, frameAncestors: readonly string[], message: string): void {
  const body =
    '<!doctype html><html><head><meta charset="utf-8"><title>Logout</title></head>' +
    `<body><p>${escapeHtml(message)}</p></body></html>`;
  res.statusCode = status;
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader(
    'Content-Security-Policy',
    `default-src 'none'; frame-ancestors ${frameAncestors.length > 0 ? frameAncestors.join(' ') : "'none'"}`,
  );
  // frame-ancestors decides; an app-wide X-Frame-Options (helmet's SAMEORIGIN) would block the provider.
  res.removeHeader('X-Frame-Options');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
