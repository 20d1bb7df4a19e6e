/**
 * The example app: an Express 5 site with a public home page, a profile page and a JSON API
 * behind login, and an admin page for one group. It uses express-oidc-login exactly as an app
 * that installed it from npm would.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import helmet from 'helmet';
import createMemoryStore from 'memorystore';
import {
  authenticated,
  claimIncludes,
  isAuthenticated,
  oidcLogin,
  requireAuth,
  type LoginClaims,
} from 'express-oidc-login';
import { assets, FAVICON_PATH, html, page, type Html } from './html.js';
import { ORDERS_API_PATH, ordersApi } from './orders-api.js';

export interface AppSettings {
  /** The app's public URL (an origin, e.g. https://app.example.com): redirect URI is baseUrl + '/callback'. */
  baseUrl: string;
  /** The OpenID Provider's issuer URL. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Signs the session cookie. */
  sessionSecret: string;
  /** An express-session store; default an in-memory store that drops expired sessions. */
  sessionStore?: session.Store;
  /**
   * Serve the orders API (a second API with access tokens of its own) and its page /orders. Only
   * for a provider that issues JWT access tokens for the resource `baseUrl + '/orders-api'`
   * (RFC 8707), signed with the keys at `jwksUri`: the demo identity provider does.
   */
  ordersApi?: { jwksUri: string };
}

const SITE = 'express-oidc-login example';
const SESSION_MAX_AGE_MS = 8 * 60 * 60 * 1000;

/** True for localhost, 127.x.x.x and [::1]: the only hosts this app talks plain http with. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || /^127(?:\.\d{1,3}){3}$/.test(hostname) || hostname === '[::1]';
}

/** An https URL, or an http one on this machine. Throws a message naming `name` otherwise. */
export function checkHttpUrl(name: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${name} must be an absolute URL such as https://example.com; got ${JSON.stringify(value)}.`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    throw new Error(
      `${name} must use https (plain http is accepted for localhost, 127.0.0.1 and [::1] only); got ${value}.`,
    );
  }
  return url;
}

/** The app's public URL: an origin, https unless on this machine. */
export function checkBaseUrl(value: string): URL {
  const url = checkHttpUrl('BASE_URL', value);
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    throw new Error(`BASE_URL must be an origin without a path, such as https://app.example.com; got ${value}.`);
  }
  return url;
}

/** Builds the Express app (it does not listen). Throws on invalid settings. */
export function createApp(settings: AppSettings): express.Express {
  const baseUrl = checkBaseUrl(settings.baseUrl);
  const issuer = checkHttpUrl('the issuer URL', settings.issuer);
  const secure = baseUrl.protocol === 'https:';
  // The orders API's resource indicator: its tokens' audience.
  const ordersApiUrl = settings.ordersApi && `${baseUrl.origin}${ORDERS_API_PATH}`;

  const app = express();
  app.disable('x-powered-by');
  if (secure) {
    // Behind a TLS-terminating proxy: trust its X-Forwarded-Proto so the Secure cookie is set.
    app.set('trust proxy', 1);
  }

  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          // helmet's default also allows inline styles and any https: stylesheet; we need neither.
          styleSrc: ["'self'"],
          frameAncestors: ["'none'"],
          // Log-out is a form POST that the app answers with a redirect to the provider's
          // end_session_endpoint; browsers apply form-action to that redirect too.
          formAction: ["'self'", issuer.origin],
          // Over http (localhost) browsers must not be told to upgrade requests to https.
          upgradeInsecureRequests: secure ? [] : null,
        },
      },
      strictTransportSecurity: secure,
    }),
  );
  app.use('/assets', assets());
  // Browsers ask for /favicon.ico unless a page names its icon; ours is an SVG under /assets.
  app.get('/favicon.ico', (_req, res) => res.redirect(301, FAVICON_PATH));

  // Pages below depend on who is logged in: never cache them.
  app.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  if (settings.ordersApi && ordersApiUrl) {
    // An API of its own, before the session: it knows callers by their access token only.
    app.use(
      ORDERS_API_PATH,
      ordersApi({ issuer: settings.issuer, jwksUri: settings.ordersApi.jwksUri, audience: ordersApiUrl }),
    );
  }

  // Without a store (REDIS_URL unset), sessions live in this process's memory: memorystore drops
  // expired sessions, unlike express-session's own MemoryStore.
  const MemoryStore = createMemoryStore(session);
  // #region quick-start (the README shows this region as it is; test/docs.test.ts checks it)
  app.use(
    session({
      name: 'sid',
      secret: settings.sessionSecret,
      store: settings.sessionStore ?? new MemoryStore({ checkPeriod: 15 * 60 * 1000 }),
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax', secure, maxAge: SESSION_MAX_AGE_MS },
    }),
  );

  app.use(
    oidcLogin({
      issuer: settings.issuer,
      clientId: settings.clientId,
      clientSecret: settings.clientSecret,
      baseUrl: baseUrl.origin,
      scope: 'openid profile email offline_access groups',
      // The APIs the login asks tokens for (RFC 8707): the orders API, when the provider has it.
      ...(ordersApiUrl && { resources: [ordersApiUrl] }),
      // Only for a provider on this machine (checked above): anything else must be https.
      dangerouslyAllowInsecureHttp: issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname),
    }),
  );
  // #endregion

  // The logged-in user's name for the page header (with its log-out button).
  app.use((req, res, next) => {
    if (isAuthenticated(req)) res.locals.user = displayName(req.oidc.claims);
    next();
  });

  // A "Sign up" button: a login that asks the provider for its sign-up page (prompt=create, which
  // the demo identity provider supports; Auth0 takes screen_hint=signup instead).
  app.get('/signup', (req, _res, next) => {
    req.oidc!.login({ returnTo: '/profile', authorizationParams: { prompt: 'create' } }).catch(next);
  });

  app.get('/', (req, res) => {
    if (!isAuthenticated(req)) {
      send(
        res,
        'Home',
        html`<h1>Welcome</h1>
<p>This app shows how <code>express-oidc-login</code> logs people in with OpenID Connect.</p>
<p><a class="button" href="/login">Log in</a> <a class="button secondary" href="/signup">Sign up</a></p>
<p class="muted">After the login you will see your claims on <a href="/profile">your profile</a>.</p>`,
      );
      return;
    }
    const claims = req.oidc.claims;
    send(
      res,
      'Home',
      html`<h1>Hello, ${displayName(claims)}</h1>
<p>You are logged in.</p>
<ul class="links">
<li><a href="/profile">Your profile</a>: the claims of your ID token</li>
<li><a href="/api/me">/api/me</a>: the same as JSON</li>
<li><a href="/tokens">Your tokens</a>: the decoded ID token, the access token's expiry, a refresh</li>
<li><a href="/admin">Admin area</a>: for members of the group <code>admin</code></li>
</ul>`,
    );
  });

  app.get('/profile', requireAuth(), (req, res) => {
    const { claims, expiresAt, scope, refreshToken } = authenticated(req);
    send(
      res,
      'Profile',
      html`<h1>${displayName(claims)}</h1>
<h2>Claims</h2>
<table>
<tbody>
${Object.entries(claims).map(([name, value]) => html`<tr><th scope="row">${name}</th><td>${claimValue(name, value)}</td></tr>\n`)}
</tbody>
</table>
<h2>Tokens</h2>
<table>
<tbody>
<tr><th scope="row">Access token expires</th><td>${expiryTime(expiresAt)}</td></tr>
<tr><th scope="row">Granted scope</th><td>${scope ?? 'as requested'}</td></tr>
<tr><th scope="row">Refresh token</th><td>${refreshTokenNote(refreshToken, scope)}</td></tr>
</tbody>
</table>
<ul class="links">
<li><a href="/tokens">Your tokens</a>: the decoded ID token, and a refresh</li>
${ordersApiUrl ? html`<li><a href="/orders">Your orders</a>: from a second API, with an access token of its own</li>\n` : ''}<li><a href="/admin">Admin area</a>: for members of the group <code>admin</code></li>
<li><a href="/">Home</a></li>
</ul>`,
    );
  });

  app.get('/tokens', requireAuth(), (req, res) => {
    const { idToken, expiresAt, scope, refreshToken } = authenticated(req);
    const [header, payload] = idToken === undefined ? [] : idToken.split('.').slice(0, 2).map(decodeJwtPart);
    // Set by POST /tokens/refresh: the expiry before it, to show that the refresh happened.
    const refreshedFrom = Number(req.query.refreshed);
    const refreshed = Number.isInteger(refreshedFrom) && refreshedFrom > 0;
    send(
      res,
      'Tokens',
      html`<h1>Your tokens</h1>
${refreshed ? html`<p class="notice" role="status">Access token refreshed: it expired at ${expiryTime(refreshedFrom)}, the new one expires at ${expiryTime(expiresAt)}.</p>` : ''}
<h2>Access token</h2>
<table>
<tbody>
<tr><th scope="row">Expires</th><td id="expires-at">${expiryTime(expiresAt)}</td></tr>
<tr><th scope="row">Refresh token</th><td>${refreshTokenNote(refreshToken, scope)}</td></tr>
</tbody>
</table>
${refreshToken ? html`<form method="post" action="/tokens/refresh"><button type="submit">Refresh now</button></form>` : ''}
<h2>ID token header</h2>
<pre class="token">${JSON.stringify(header ?? null, null, 2)}</pre>
<h2>ID token claims</h2>
<pre class="token">${JSON.stringify(payload ?? null, null, 2)}</pre>
<p><a href="/profile">Your profile</a> · <a href="/">Home</a></p>`,
    );
  });

  // A POST that changes state: only from this app's own pages (no cross-site request forgery).
  app.post('/tokens/refresh', sameOrigin(baseUrl.origin), requireAuth(), async (req, res) => {
    const login = authenticated(req);
    const before = login.expiresAt;
    await login.getAccessToken({ forceRefresh: true });
    res.redirect(303, before === undefined ? '/tokens?refreshed=0' : `/tokens?refreshed=${before}`);
  });

  if (ordersApiUrl) {
    app.get('/orders', requireAuth(), async (req, res) => {
      const login = authenticated(req);
      // The orders API's own token (kept in the session), then the same call with it, as any API call.
      const token = await login.getAccessToken({ resource: ordersApiUrl });
      const audience = (decodeJwtPart(token.split('.')[1] ?? '') as { aud?: unknown } | null)?.aud;
      const answer = await login.fetch(`${ordersApiUrl}/orders`, { resource: ordersApiUrl });
      const { orders } = (await answer.json()) as { orders?: { id: string; item: string; quantity: number }[] };
      // The login's own access token (made for userinfo), shown to the same API.
      const own = await login.fetch(`${ordersApiUrl}/orders`);
      await own.body?.cancel();
      send(
        res,
        'Orders',
        html`<h1>Your orders</h1>
<p>From the orders API at <code>${ordersApiUrl}</code>, which takes only access tokens made for it: the login asked the provider for one (<code>resources</code>, RFC 8707).</p>
<table>
<thead><tr><th scope="col">Order</th><th scope="col">Item</th><th scope="col">Quantity</th></tr></thead>
<tbody>
${(orders ?? []).map((o) => html`<tr><td>${o.id}</td><td>${o.item}</td><td>${String(o.quantity)}</td></tr>\n`)}
</tbody>
</table>
<h2>Access tokens</h2>
<table>
<tbody>
<tr><th scope="row">The orders API's token: audience</th><td id="orders-audience">${claimValue('aud', audience)}</td></tr>
<tr><th scope="row">The orders API's token: the API answered</th><td id="orders-status">${String(answer.status)}</td></tr>
<tr><th scope="row">The login's own token: the API answered</th><td id="own-token-status">${String(own.status)}</td></tr>
</tbody>
</table>
<p><a href="/profile">Your profile</a> · <a href="/">Home</a></p>`,
      );
    });
  }

  app.get('/api/me', requireAuth(), (req, res) => {
    const { sub, ...claims } = authenticated(req).claims;
    res.json({ sub, ...claims });
  });

  app.get('/admin', requireAuth(claimIncludes('groups', 'admin')), (req, res) => {
    send(
      res,
      'Admin',
      html`<h1>Admin area</h1>
<p>Welcome, ${displayName(authenticated(req).claims)}: your <code>groups</code> claim includes <code>admin</code>.</p>
<p><a href="/profile">Your profile</a> · <a href="/">Home</a></p>`,
    );
  });

  app.use((_req, _res, next) => {
    next(Object.assign(new Error('There is no page at this address.'), { status: 404, expose: true }));
  });
  app.use(errorHandler);
  return app;
}

/** One part of a JWT, decoded for display (the ID token was verified at login). */
function decodeJwtPart(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return '(not decodable)';
  }
}

/** Refuses a request another site made the browser send (by Sec-Fetch-Site, else Origin). */
function sameOrigin(origin: string) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const site = req.get('sec-fetch-site');
    const from = req.get('origin');
    const ok = site !== undefined ? site === 'same-origin' : from === undefined || from === origin;
    next(
      ok
        ? undefined
        : Object.assign(new Error('This form must be sent from this site.'), { status: 403, expose: true }),
    );
  };
}

/** A time in seconds since the epoch, as the pages show it. */
function expiryTime(seconds: number | undefined): string {
  return seconds === undefined ? 'unknown' : new Date(seconds * 1000).toISOString();
}

/**
 * Whether the login has a refresh token, and why when the granted scope does not say: a provider
 * may issue one without granting `offline_access` (OpenID Connect grants it only with
 * `prompt=consent`; the demo provider issues refresh tokens to its clients all the same).
 */
function refreshTokenNote(refreshToken: string | undefined, scope: string | undefined): string {
  if (!refreshToken) return 'no';
  if (scope === undefined || scope.split(' ').includes('offline_access')) return 'yes';
  return 'yes, though offline_access is not in the granted scope: the provider issues one without it';
}

function send(res: Response, title: string, body: Html, status = 200): void {
  const user = typeof res.locals.user === 'string' ? res.locals.user : undefined;
  res
    .status(status)
    .type('html')
    .send(page({ site: SITE, title, body, user }));
}

function displayName(claims: LoginClaims): string {
  for (const name of ['name', 'preferred_username', 'email'] as const) {
    const value = claims[name];
    if (typeof value === 'string' && value !== '') return value;
  }
  return claims.sub;
}

const TIMESTAMP_CLAIMS = new Set(['iat', 'exp', 'auth_time', 'nbf', 'updated_at']);

function claimValue(name: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && TIMESTAMP_CLAIMS.has(name))
    return `${value} (${new Date(value * 1000).toISOString()})`;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join(', ');
  return JSON.stringify(value) ?? String(value);
}

/** The error page's heading, by status: short, as the message below it says the rest. */
const TITLES: Readonly<Record<number, string>> = {
  400: 'This request could not be completed',
  401: 'You are not logged in',
  403: 'Not allowed',
  404: 'Page not found',
  405: 'Not allowed here',
  502: 'The identity provider answered something this app cannot use',
  503: 'A service this app needs is unavailable',
  504: 'The identity provider did not answer in time',
};

const ERROR_NAMES: Readonly<Record<number, string>> = {
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
};

interface HttpErrorLike {
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  code?: unknown;
  message?: unknown;
  headers?: unknown;
}

/**
 * Every error ends here: errors from express-oidc-login (an `OidcError` with `status`, `code` and
 * a message meant for users), from Express, and from the routes above. Browsers get a page,
 * /api/* gets JSON. Never a stack trace; unexpected errors are logged and not described.
 */
function errorHandler(err: unknown, req: Request, res: Response, next: NextFunction): void {
  if (res.headersSent) {
    next(err);
    return;
  }
  const e: HttpErrorLike = typeof err === 'object' && err !== null ? err : {};
  const rawStatus = typeof e.status === 'number' ? e.status : e.statusCode;
  const status =
    typeof rawStatus === 'number' && Number.isInteger(rawStatus) && rawStatus >= 400 && rawStatus <= 599
      ? rawStatus
      : 500;
  // http-errors and OidcError mark messages fit for users with `expose`; others stay in the log.
  const message =
    e.expose === true && typeof e.message === 'string'
      ? e.message
      : status >= 500
        ? 'The details are in the server log.'
        : 'Check the address, or go back and try again.';
  const code = typeof e.code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(e.code) ? e.code : undefined;
  if (status >= 500) {
    // Known failures (provider down, session store down...) in one line with their causes;
    // anything unexpected with its stack. Only in the server log, never in the response.
    if (e.expose === true) console.error(`${req.method} ${req.path}: ${status} ${code ?? ''} ${causeChain(err)}`);
    else console.error(`${req.method} ${req.path}: ${status}`, err);
  }

  if (isRecord(e.headers)) {
    for (const [name, value] of Object.entries(e.headers)) if (typeof value === 'string') res.set(name, value);
  }
  if (req.path.startsWith('/api/') || req.accepts(['html', 'json']) === 'json') {
    res
      .status(status)
      .json({ error: code ?? ERROR_NAMES[status] ?? (status >= 500 ? 'server_error' : 'bad_request'), message });
    return;
  }
  // Logging in again helps when a login failed or is missing; a permission or a missing page, no.
  const loginAgain = status === 401 || (status !== 403 && LOGIN_PATHS.has(req.path));
  const title =
    status < 500 && LOGIN_PATHS.has(req.path)
      ? 'The login did not finish'
      : (TITLES[status] ?? (status >= 500 ? 'Something went wrong on our side' : 'Something went wrong'));
  send(
    res,
    `Error ${status}`,
    html`<h1>${title}</h1>
<p>${message}</p>
${code ? html`<p class="muted">Error ${status}, <code>${code}</code></p>` : html`<p class="muted">Error ${status}</p>`}
<p class="actions">${loginAgain ? html`<a class="button" href="/login">Log in again</a> <a href="/">Home</a>` : html`<a class="button" href="/">Home</a>`}</p>`,
    status,
  );
}

/** The library's login routes: an error there is a login that did not finish. */
const LOGIN_PATHS = new Set(['/login', '/callback']);

/** "message (cause: message; message)" along the error's `cause` chain. */
function causeChain(err: unknown): string {
  const messages: string[] = [];
  for (let e: unknown = err; e instanceof Error && messages.length < 5; e = e.cause) messages.push(e.message);
  const [first, ...causes] = messages;
  return causes.length ? `${first} (cause: ${causes.join('; ')})` : (first ?? String(err));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
