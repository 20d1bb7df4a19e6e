import type { IncomingMessage, ServerResponse } from 'node:http';
import createDebug from 'debug';
import type { OidcLoginOptions } from './options/types.js';
import { checkFirstRequest, report, sessionMountedTwice } from './options/config-check.js';
import { contextActiveAt, createContext, noteActivity, type ContextInstance } from './context.js';
import { OidcError } from './util/errors.js';
import { emit } from './flow/events.js';
import { DEFAULT_PROVIDER, resolveProviders, type ProviderEntry, type ProviderSet } from './flow/provider-set.js';
import { backchannelLogoutHandler } from './routes/backchannel-logout.js';
import { callbackHandler } from './routes/callback.js';
import { frontchannelLogoutHandler } from './routes/frontchannel-logout.js';
import { chooseProviderHandler } from './routes/choose-provider.js';
import { jwksHandler } from './routes/jwks.js';
import { appLogin, loginHandler, loginStarter, type StartLogin } from './routes/login.js';
import { logoutHandler } from './routes/logout.js';
import { dropEndedLogin } from './session/ended-logins.js';
import { guardLateWrites } from './session/late-write-guard.js';
import type { Next, OidcRequest } from './session/express-session.js';
import { LOGIN_MEMORY, LoginMemory } from './session/login-memory.js';
import { loginOf, packLogin, unpackLogin } from './session/stored-login.js';
import { createPendingLogins } from './flow/pending-login-store.js';
import { logoutReturn } from './routes/logout-return.js';
import { LoginHosts } from './flow/login-hosts.js';
import type { StoredOidcState } from './types.js';

type Handler = (req: OidcRequest, res: ServerResponse) => Promise<void>;
interface Route {
  methods: readonly string[];
  handler: Handler;
}

const debug = createDebug('express-oidc-login:middleware');

/** How often a login's last-activity time is written to the session (for `idleDuration`). */
const ACTIVITY_RESOLUTION_MS = 60_000;

/**
 * The login middleware. Mount it once, at the app's root, after express-session (or give it `session`):
 * it answers `GET /login`, `GET /callback`, `POST /logout` (and `GET /logout` unless
 * `logout.allowGet: false`), for OpenID Connect `POST /backchannel-logout` and `GET /frontchannel-logout`,
 * with `clientPrivateKey` `GET /jwks.json`, and sets `req.oidc` on every other request. With `providers`,
 * each named provider has its own `/login/<name>`, `/callback/<name>`, `/backchannel-logout/<name>` and
 * `/frontchannel-logout/<name>`; `/logout` and `/jwks.json` are shared and
 * `GET /login` goes to `defaultProvider` or shows a chooser page.
 * Options are validated here, once; a mistake throws at start-up with the fix in the message.
 *
 * It is a plain `(req, res, next)` function using Node's own request and response, so it mounts
 * the same way in Express 4, Express 5 and Connect.
 *
 * With the `session` option, express-session runs inside it (first), in the same router layer.
 *
 * @example
 * app.use(session({ secret, resave: false, saveUninitialized: false }));
 * app.use(oidcLogin({ issuer, clientId, clientSecret, baseUrl: 'https://app.example.com' }));
 * app.use(oidcLogin({ issuer, clientId, clientSecret, baseUrl, session: session({ secret, resave: false, saveUninitialized: false }) }));
 * app.use(oidcLogin({ baseUrl, providers: { staff: { issuer, clientId, clientSecret }, partners: { ... } } }));
 * @see https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth
 */
export function oidcLogin(options: OidcLoginOptions) {
  const providers = resolveProviders(options);
  const { app } = providers;
  const config = app.config;
  // What this instance keeps in memory about logins; a login read again during a request (after
  // `req.session.reload()`) is checked as at its start.
  const memory: LoginMemory = new LoginMemory((req) => {
    const oidc = req.session?.oidc;
    if (oidc === undefined) return false;
    noteActivity(req.oidc!, checkLogin(req, oidc, providers, memory, contextActiveAt(req.oidc)));
    return true;
  }, config.coordinator);
  const routes = new Map<string, Route>();
  // Each provider's way to start a login, for its route and for req.oidc.login().
  const starters = new Map<string, StartLogin>();
  for (const { name, config: c, provider } of providers.entries) {
    // Each provider keeps its pending logins apart (cookies for its own callback, or the session).
    const pending = createPendingLogins(c);
    const hosts = new LoginHosts(c);
    const start = loginStarter(c, provider, pending, hosts);
    starters.set(name, start);
    // GET only: a HEAD (a link preview, a prefetch) must not start a login or use up a callback.
    if (c.loginPath !== false) routes.set(c.loginPath, { methods: ['GET'], handler: loginHandler(c, start) });
    if (c.callbackPath !== false) {
      routes.set(c.callbackPath, {
        // form_post: the provider's page POSTs the response (GET still answers providers that ignore response_mode).
        methods: c.responseMode === 'form_post' ? ['GET', 'POST'] : ['GET'],
        handler: callbackHandler(c, provider, pending, hosts),
      });
    }
    if (c.backchannelLogoutPath !== false) {
      routes.set(c.backchannelLogoutPath, { methods: ['POST'], handler: backchannelLogoutHandler(c, provider) });
    }
    if (c.frontchannelLogoutPath !== false) {
      routes.set(c.frontchannelLogoutPath, { methods: ['GET'], handler: frontchannelLogoutHandler(c, provider) });
    }
  }
  // Several providers: GET /login goes to the default one, or shows the chooser.
  if (providers.multi && config.loginPath !== false)
    routes.set(config.loginPath, { methods: ['GET'], handler: chooseProviderHandler(providers) });
  if (config.logoutPath !== false) {
    routes.set(config.logoutPath, {
      methods: config.logout.allowGet ? ['POST', 'GET'] : ['POST'],
      handler: providers.multi ? sharedLogoutHandler(providers) : logoutHandler(config, app.provider),
    });
  }
  // private_key_jwt: the client's public JWKS, for the provider's jwks_uri.
  if (providers.jwks)
    routes.set(providers.jwks.path, { methods: ['GET', 'HEAD'], handler: jwksHandler(providers.jwks) });

  const table = routeTable(routes);
  const returnFromLogout = logoutReturn(config);
  const instance: ContextInstance = { providers, memory, startLogin: appLogin(providers, starters) };
  // The start-up findings of the app-level options logged already (each once).
  const reported = new Set<string>();
  let checked = false;

  function oidcLoginMiddleware(req: IncomingMessage, res: ServerResponse, next: Next): void {
    const r = req as OidcRequest;
    if (!checked) {
      // The start-up check of what only a request shows (session middleware, cookie, store, proxy).
      checked = true;
      report(config, checkFirstRequest(req, config), reported);
    }
    const context = createContext(r, res, instance);
    r.oidc = context;
    guardLateWrites(r.sessionStore, memory);
    const oidc = r.session?.oidc;
    if (oidc?.login !== undefined) noteActivity(context, checkLogin(r, oidc, providers, memory));
    if (returnFromLogout(r, res)) return;
    const route = findRoute(table, req.url);
    if (!route) {
      next();
      return;
    }
    if (!route.methods.includes(req.method ?? '')) {
      res.setHeader('Allow', route.methods.join(', '));
      next(new OidcError('ERR_OIDC_METHOD_NOT_ALLOWED', 405, `This route answers ${route.methods.join(', ')} only.`));
      return;
    }
    route.handler(r, res).catch(next);
  }

  // The `session` option: express-session runs here, first, in this one router layer.
  const sessionMiddleware = config.session;
  if (sessionMiddleware === undefined) return withMemory(oidcLoginMiddleware, memory);
  let sessionChecked = false;
  const withSession = function oidcLoginWithSession(req: IncomingMessage, res: ServerResponse, next: Next): void {
    if (!sessionChecked) {
      sessionChecked = true;
      if ((req as OidcRequest).session !== undefined) report(config, [sessionMountedTwice()], reported);
    }
    let called = false;
    sessionMiddleware(req, res, (err?: unknown) => {
      // Once: a store that calls back again from its own catch must not run the chain twice.
      if (called) return;
      called = true;
      if (err !== undefined && err !== null) {
        next(err);
        return;
      }
      // express-session calls back from the store's callback, outside the router's try/catch:
      // what throws here is the request's error, not an uncaught exception. Once `next` has run,
      // a throw is the later middleware's, and goes on up.
      let passed = false;
      const onward: Next = (e) => {
        passed = true;
        next(e);
      };
      try {
        oidcLoginMiddleware(req, res, onward);
      } catch (thrown) {
        if (passed) throw thrown;
        next(thrown);
      }
    });
  };
  return withMemory(withSession, memory);
}

/** The middleware, with its instance's memory where tests find it (see `recentLogins`). */
function withMemory<F extends (req: IncomingMessage, res: ServerResponse, next: Next) => void>(
  middleware: F,
  memory: LoginMemory,
): F {
  Object.defineProperty(middleware, LOGIN_MEMORY, { value: memory });
  return middleware;
}

/** With `providers`: `/logout` ends the login at the provider that made it. */
function sharedLogoutHandler(providers: ProviderSet): Handler {
  const handlers = new Map<ProviderEntry, Handler>(
    providers.entries.map((e) => [e, logoutHandler(e.config, e.provider)]),
  );
  // Not logged in: the app-level logout options (postLogoutRedirectUri).
  const notLoggedIn = logoutHandler(providers.app.config, providers.app.provider);
  return function logout(req: OidcRequest, res: ServerResponse): Promise<void> {
    const login = loginOf(req);
    const entry = login && providers.of(login);
    return (entry ? handlers.get(entry)! : notLoggedIn)(req, res);
  };
}

/**
 * The request's login, once per request, before anything reads it (and again when it is read
 * again after a reload): unpacked from the session (see stored-login.ts), then removed when its
 * provider is not configured (any more: nothing of it may go to another provider), when a logout
 * ended it, or past `absoluteDuration` or `idleDuration`. Activity is noted at most once a minute,
 * so an active user's session is written once a minute, not on every request. Returns the time it
 * found the login active, `undefined` when it removed it; `activeSince` is an earlier such time of
 * this request, which the idle time counts from at the latest.
 */
function checkLogin(
  req: OidcRequest,
  oidc: StoredOidcState,
  providers: ProviderSet,
  memory: LoginMemory,
  activeSince?: number,
): number | undefined {
  const login = unpackLogin(oidc.login, memory, req.sessionID);
  if (!login) {
    debug('dropping a stored login that is not one');
    delete oidc.login;
    return undefined;
  }
  oidc.login = login;
  const entry = providers.of(login);
  if (!entry) {
    debug('dropping a login of provider %s, which is not configured', login.provider ?? DEFAULT_PROVIDER);
    delete oidc.login;
    memory.forget(req.sessionID);
    return undefined;
  }
  const config = entry.config;
  if (dropEndedLogin(req, login, memory.endedLogins(config))) {
    memory.forget(req.sessionID);
    return undefined;
  }
  const now = Date.now();
  const loggedInAt = login.loggedInAt ?? now;
  // Read again during a request: the request itself was activity, noted at its start in memory
  // only (a reload drops that), so the idle time counts from then at the latest.
  const activeAt = Math.max(login.activeAt ?? loggedInAt, activeSince ?? 0);
  if (
    (config.absoluteDuration !== false && now - loggedInAt > config.absoluteDuration * 1000) ||
    (config.idleDuration !== false && now - activeAt > config.idleDuration * 1000)
  ) {
    delete oidc.login;
    memory.forget(req.sessionID);
    emit(config, 'logout', { sub: login.claims.sub, sessionId: req.sessionID, detail: 'expired' }, req);
    return undefined;
  }
  if (now - activeAt >= ACTIVITY_RESOLUTION_MS) oidc.login = packLogin({ ...login, activeAt: now }, req);
  return now;
}

interface RouteTable {
  /** The routes by the length of their path: most requests are told apart by their length alone. */
  readonly byLength: readonly (readonly (readonly [string, Route])[] | undefined)[];
}

function routeTable(routes: Map<string, Route>): RouteTable {
  const byLength: [string, Route][][] = [];
  for (const [path, route] of routes) (byLength[path.length] ??= []).push([path, route]);
  return { byLength };
}

/**
 * The route of a request, matched on the path without query and without one trailing slash
 * ("/login/" is "/login"). Every request passes here, so it allocates nothing: no sliced path,
 * no hashing of it; an app's own path is usually refused by its length.
 */
function findRoute(table: RouteTable, url: string | undefined): Route | undefined {
  if (!url) return undefined;
  let end = url.indexOf('?');
  if (end === -1) end = url.length;
  if (end > 1 && url.charCodeAt(end - 1) === 0x2f /* / */) end--;
  const bucket = table.byLength[end];
  if (bucket === undefined) return undefined;
  for (const [path, route] of bucket) if (url.startsWith(path)) return route;
  return undefined;
}
