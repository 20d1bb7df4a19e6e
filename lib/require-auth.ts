import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResolvedConfig } from './options/resolved-config.js';
import { contextConfig } from './context.js';
import { OidcError } from './util/errors.js';
import { needsRefresh } from './flow/refresh.js';
import type { Next, OidcRequest } from './session/express-session.js';
import {
  isValidAcrValues,
  isValidMaxAge,
  stepUpAnswered,
  stepUpChallenge,
  stepUpFailed,
  stepUpParams,
  unmetStepUp,
  type StepUp,
  type Unmet,
} from './flow/step-up.js';
import type { AuthenticatedOidcContext, LoginClaims, OidcContext } from './types.js';
import { safeReturnTo } from './util/url.js';
import { redirect } from './util/respond.js';
import { loginOf } from './session/stored-login.js';

/**
 * A claim check for {@link requireAuth}: true lets the request through, false answers 403. It is
 * given the ID token's claims, or a plain OAuth 2.0 login's mapped profile.
 */
export type ClaimCheck = (claims: LoginClaims, req: IncomingMessage) => boolean;

/** What {@link requireAuth} needs of the login itself (step-up authentication). */
export interface RequireAuthOptions {
  /**
   * The login must be at most this many seconds old (by the ID token's `auth_time`, else the time
   * of the login; with `clockTolerance`). An older one logs in again with `max_age`.
   */
  maxAge?: number;
  /** The ID token's `acr` must be one of these. Another (or none) logs in again with `acr_values`. */
  acrValues?: readonly string[];
}

/** The middleware {@link requireAuth} returns. */
export type RequireAuthHandler = (req: IncomingMessage, res: ServerResponse, next: Next) => void;

/**
 * True when the request carries a completed login; narrows `req.oidc` for TypeScript.
 *
 * @example
 * if (isAuthenticated(req)) res.send(`Hello ${req.oidc.claims.sub}`);
 */
export function isAuthenticated<R extends { oidc?: OidcContext }>(
  req: R,
): req is R & { oidc: AuthenticatedOidcContext } {
  return req.oidc?.isAuthenticated() === true;
}

/**
 * The login of a request that `requireAuth()` let through, typed so that a route behind it needs
 * no `!`: `claims`, `accessToken` and `provider` are there. Throws `ERR_OIDC_UNAUTHENTICATED` (401)
 * when the request has no login (the route was mounted without `requireAuth()`): Express passes
 * the throw to the error handler. `idToken !== undefined` tells an OpenID Connect login from a
 * plain OAuth 2.0 one, as for {@link isAuthenticated}.
 *
 * Express's types cannot carry what one handler checked over to the next, so the route asks.
 *
 * @example
 * app.get('/profile', requireAuth(), (req, res) => res.json(authenticated(req).claims));
 */
export function authenticated(req: { oidc?: OidcContext }): AuthenticatedOidcContext {
  if (!isAuthenticated(req)) {
    throw new OidcError('ERR_OIDC_UNAUTHENTICATED', 401, 'You are not logged in. Log in to open this page.');
  }
  return req.oidc;
}

/** A browser page load (not fetch/XHR/API): these are sent to log in, the rest get 401 JSON. */
function isBrowserNavigation(req: IncomingMessage): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const mode = req.headers['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  if (req.headers['x-requested-with'] !== undefined) return false;
  return (req.headers.accept ?? '').includes('text/html');
}

function sendJson(res: ServerResponse, status: number, body: object): void {
  const json = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}

/**
 * Protects a route. Logged-in requests that pass every claim check go on; a browser navigation
 * without a login is redirected to the login route with `returnTo` set to the page it asked for;
 * any other request without a login gets `401` JSON. A failed claim check is a `403`: JSON for
 * API requests, an {@link OidcError} `ERR_OIDC_FORBIDDEN` passed to `next` for page loads so your
 * error page renders.
 *
 * An options object first asks for step-up authentication: a login older than `maxAge` seconds,
 * or whose `acr` is not one of `acrValues`, is sent (page loads) to log in again with `max_age` /
 * `acr_values`; other requests get `401` JSON `insufficient_authentication` with an RFC 9470
 * `WWW-Authenticate` challenge. When the provider's answer to that still does not do, `403`
 * `ERR_OIDC_STEP_UP_FAILED` rather than another round.
 *
 * @example
 * app.get('/profile', requireAuth(), (req, res) => res.json(authenticated(req).claims));
 * app.get('/admin', requireAuth(claimIncludes('groups', 'admin')), adminPage);
 * app.post('/transfer', requireAuth({ maxAge: 300, acrValues: ['urn:mfa'] }), transfer);
 */
export function requireAuth(...checks: ClaimCheck[]): RequireAuthHandler;
export function requireAuth(options: RequireAuthOptions, ...checks: ClaimCheck[]): RequireAuthHandler;
export function requireAuth(...args: (RequireAuthOptions | ClaimCheck)[]): RequireAuthHandler {
  const first = args[0];
  const hasOptions = first !== null && typeof first === 'object' && !Array.isArray(first);
  const stepUp = hasOptions ? stepUpOptions(first) : undefined;
  const checks = (hasOptions ? args.slice(1) : args) as ClaimCheck[];
  for (const check of checks) {
    if (typeof check !== 'function') {
      throw new TypeError(
        'requireAuth() takes claim checks such as claimEquals("email_verified", true); got a ' + typeof check + '.',
      );
    }
  }
  return function requireAuthMiddleware(req: IncomingMessage, res: ServerResponse, next: Next): void {
    const r = req as OidcRequest;
    const oidc = r.oidc;
    const config = oidc && contextConfig(oidc);
    if (!oidc || !config) {
      next(
        new Error('requireAuth() found no req.oidc: mount app.use(oidcLogin({ ... })) before the routes it protects.'),
      );
      return;
    }
    if (!r.session) {
      next(
        new OidcError(
          'ERR_OIDC_SESSION_UNAVAILABLE',
          503,
          'The session is unavailable (express-session missing, or its store is down).',
          {
            headers: { 'Retry-After': '5' },
          },
        ),
      );
      return;
    }
    const login = loginOf(r);
    if (login && config.autoRefresh && needsRefresh(login, config)) {
      // Only an expired (or nearly expired) access token costs anything here: one refresh,
      // shared with the session's other requests.
      oidc
        .getAccessToken()
        .then(
          () => authorize(req, res, next, oidc, config, checks, stepUp),
          (err: unknown) => {
            // 401 (not logged in, refresh token revoked, expired without refresh token), or a
            // refresh that ended the login (a bad refreshed ID token): not logged in. An outage or a
            // store failure is an error for this request; the login stays.
            if ((err as { status?: unknown })?.status === 401 || !oidc.isAuthenticated()) sendToLogin(req, res, config);
            else next(err);
          },
        )
        // A claim check that throws.
        .catch(next);
      return;
    }
    authorize(req, res, next, oidc, config, checks, stepUp);
  };
}

/** Validates `requireAuth()`'s options once, when the route is defined. */
function stepUpOptions(options: object): StepUp | undefined {
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== 'maxAge' && key !== 'acrValues')
      throw new TypeError(`requireAuth() options are { maxAge, acrValues }; got "${key}".`);
  }
  if (o.maxAge !== undefined && !isValidMaxAge(o.maxAge)) {
    throw new TypeError('requireAuth({ maxAge }) must be a whole number of seconds, 0 or more.');
  }
  if (o.acrValues !== undefined && !isValidAcrValues(o.acrValues)) {
    throw new TypeError(
      'requireAuth({ acrValues }) must be an array of 1 to 10 acr values, such as ["urn:mfa"] ' +
        '(printable ASCII without spaces, quotes or backslashes).',
    );
  }
  if (o.maxAge === undefined && o.acrValues === undefined) return undefined;
  return Object.freeze({
    ...(o.maxAge !== undefined && { maxAge: o.maxAge as number }),
    ...(o.acrValues !== undefined && { acrValues: Object.freeze([...(o.acrValues as string[])]) }),
  });
}

/** The login route, for a browser navigation; 401 JSON for anything else. */
function sendToLogin(req: IncomingMessage, res: ServerResponse, config: ResolvedConfig): void {
  if (isBrowserNavigation(req)) {
    const returnTo = safeReturnTo((req as OidcRequest).originalUrl ?? req.url);
    const query = new URLSearchParams();
    if (returnTo) query.set('returnTo', returnTo);
    // A silent login (prompt=none) first, once per session; the login route keeps it to once.
    if (config.silentLogin && !(req as OidcRequest).session?.oidc?.silentTried) query.set('silent', '1');
    const search = query.toString();
    const location = search ? `${config.loginUrlPath}?${search}` : config.loginUrlPath;
    res.setHeader('Cache-Control', 'no-store');
    redirect(res, location);
    return;
  }
  sendJson(res, 401, { error: 'unauthenticated', message: 'Log in to use this resource.' });
}

function authorize(
  req: IncomingMessage,
  res: ServerResponse,
  next: Next,
  oidc: OidcContext,
  config: ResolvedConfig,
  checks: ClaimCheck[],
  stepUp?: StepUp,
): void {
  const claims = oidc.claims;
  if (!claims) {
    sendToLogin(req, res, config);
    return;
  }
  if (stepUp) {
    const login = loginOf(req as OidcRequest);
    const now = Date.now();
    const unmet = login && unmetStepUp(login, stepUp, config, now);
    if (unmet) {
      if (stepUpAnswered(login, stepUp, unmet, now)) refuseStepUp(req, res, next);
      else sendToStepUp(req, res, config, stepUp, unmet);
      return;
    }
  }
  for (const check of checks) {
    if (!check(claims, req)) {
      if (isBrowserNavigation(req)) {
        next(new OidcError('ERR_OIDC_FORBIDDEN', 403, 'You are logged in, but your account may not open this page.'));
      } else {
        sendJson(res, 403, { error: 'forbidden', message: 'Your account may not use this resource.' });
      }
      return;
    }
  }
  next();
}

/** Log in again with `max_age` / `acr_values`: a page load goes to the login route, the rest get 401. */
function sendToStepUp(
  req: IncomingMessage,
  res: ServerResponse,
  config: ResolvedConfig,
  stepUp: StepUp,
  unmet: Unmet,
): void {
  if (isBrowserNavigation(req)) {
    const returnTo = safeReturnTo((req as OidcRequest).originalUrl ?? req.url);
    const query = new URLSearchParams({ ...(returnTo && { returnTo }), ...stepUpParams(stepUp) });
    res.setHeader('Cache-Control', 'no-store');
    redirect(res, `${config.loginUrlPath}?${query.toString()}`);
    return;
  }
  res.setHeader('WWW-Authenticate', stepUpChallenge(stepUp, unmet));
  sendJson(res, 401, {
    error: 'insufficient_authentication',
    message: unmet.acr
      ? 'Log in again with a stronger method to use this resource.'
      : 'Log in again to use this resource.',
    ...(stepUp.maxAge !== undefined && { max_age: stepUp.maxAge }),
    ...(stepUp.acrValues && { acr_values: stepUp.acrValues.join(' ') }),
  });
}

/** The provider's answer to a step-up for this route still does not do: 403, not another round. */
function refuseStepUp(req: IncomingMessage, res: ServerResponse, next: Next): void {
  if (isBrowserNavigation(req)) {
    next(
      stepUpFailed(
        'The identity provider did not confirm the recent or stronger login this page needs. Try again later, or log out and in.',
      ),
    );
  } else {
    sendJson(res, 403, {
      error: 'step_up_failed',
      message: 'The identity provider did not confirm the recent or stronger login this resource needs.',
    });
  }
}

/**
 * Passes when the claim equals `value` (strict equality).
 *
 * @example
 * requireAuth(claimEquals('email_verified', true))
 */
export function claimEquals(claim: string, value: string | number | boolean | null): ClaimCheck {
  return (claims) => claims[claim] === value;
}

/**
 * Passes when the claim, an array or a space-separated string, contains every one of `values`.
 *
 * @example
 * requireAuth(claimIncludes('groups', 'admin'))
 */
export function claimIncludes(claim: string, ...values: (string | number)[]): ClaimCheck {
  return (claims) => {
    const actual = claims[claim];
    const list = Array.isArray(actual) ? actual : typeof actual === 'string' ? actual.split(' ') : [];
    return values.every((v) => list.includes(v));
  };
}

/**
 * Passes when `fn(claims, req)` returns true.
 *
 * @example
 * requireAuth(claimCheck((claims) => String(claims.email).endsWith('@example.com')))
 */
export function claimCheck(fn: ClaimCheck): ClaimCheck {
  if (typeof fn !== 'function') throw new TypeError('claimCheck() takes a function (claims, req) => boolean.');
  return fn;
}
