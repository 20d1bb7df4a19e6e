import type { IncomingMessage, ServerResponse } from 'node:http';
import type connect from 'connect';
import express, { type ErrorRequestHandler, type Express } from 'express';
import session, { MemoryStore, type SessionOptions, type Store } from 'express-session';
import { claimIncludes, oidcLogin, requireAuth, type OidcContext, type OidcLoginOptions } from '../../lib/index.js';
import { APP_BASE_URL, CLIENT_ID, CLIENT_SECRET, type TestProvider } from './provider.js';

export interface TestApp<S extends Store = MemoryStore> {
  app: Express;
  store: S;
  /** The app's oidcLogin() middleware (its instance). */
  middleware: ReturnType<typeof oidcLogin>;
}

/** The options of a test app against `provider`, with `overrides` on top. */
export function testOptions(
  provider: Pick<TestProvider, 'issuer'>,
  overrides: Partial<OidcLoginOptions> = {},
): OidcLoginOptions {
  return {
    issuer: provider.issuer,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    baseUrl: APP_BASE_URL,
    dangerouslyAllowInsecureHttp: true,
    httpTimeout: 2000,
    ...overrides,
  };
}

/** Answers every error as JSON `{ status, code, message }`, so tests assert on data. */
export const jsonErrors: ErrorRequestHandler = (err, _req, res, _next) => {
  const status = typeof err?.status === 'number' ? err.status : 500;
  if (err?.headers) res.set(err.headers);
  res.status(status).json({ status, code: err?.code, message: err?.message });
};

/** How a test app is put together around oidcLogin; every part has a default. */
export interface AppSetup<S extends Store = MemoryStore> {
  /** express (5) by default; Express 4 to run the same app on it. */
  framework?: typeof express;
  /** The session store (default: a new MemoryStore). */
  store?: S;
  /** express-session options over the defaults: a fixed secret, resave and saveUninitialized false, cookie `sid`. */
  session?: Partial<SessionOptions>;
  /** Middleware in front of the session (a body parser, a request counter). */
  before?: (app: Express) => void;
  /** The test's own routes, after oidcLogin and ahead of the probes (a route of the same path wins). */
  routes?: (app: Express) => void;
  /** false: none of the probe routes below, only `routes`. */
  probes?: boolean;
}

/**
 * The one test app: express + express-session + `oidcLogin(options)`, then `setup.routes`, then
 * probe routes that show state as JSON (`/probe/oidc`, `/protected`, `/admin`, `/`), then
 * {@link jsonErrors}.
 */
export function createApp<S extends Store = MemoryStore>(
  options: OidcLoginOptions,
  setup: AppSetup<S> = {},
): TestApp<S> {
  const store = setup.store ?? (new MemoryStore() as unknown as S);
  const app = (setup.framework ?? express)();
  setup.before?.(app);
  app.use(
    session({
      secret: 'test-session-secret',
      resave: false,
      saveUninitialized: false,
      store,
      name: 'sid',
      ...setup.session,
    }),
  );
  const middleware = oidcLogin(options);
  app.use(middleware);
  setup.routes?.(app);
  if (setup.probes !== false) probeRoutes(app);
  app.use(jsonErrors);
  return { app, store, middleware };
}

function probeRoutes(app: Express): void {
  app.get('/probe/oidc', (req, res) => {
    const oidc = req.oidc!;
    res.json({
      isAuthenticated: oidc.isAuthenticated(),
      claims: oidc.claims ?? null,
      idToken: oidc.idToken ?? null,
      accessToken: oidc.accessToken ?? null,
      refreshToken: oidc.refreshToken ?? null,
      expiresAt: oidc.expiresAt ?? null,
      scope: oidc.scope ?? null,
      sessionId: req.sessionID,
      pending: Object.keys(req.session.oidc?.tx ?? {}).length,
    });
  });
  app.get('/protected', requireAuth(), (req, res) => {
    res.json({ sub: req.oidc!.claims!.sub, path: req.originalUrl });
  });
  app.get('/admin', requireAuth(claimIncludes('groups', 'admin')), (_req, res) => {
    res.json({ admin: true });
  });
  app.get('/', (_req, res) => {
    res.send('home');
  });
}

/** A Connect app's `/protected`: `requireAuth()`, then the login's `sub` as JSON, with plain Node req/res. */
export function connectProtected(app: connect.Server): void {
  app.use('/protected', requireAuth());
  app.use('/protected', (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ sub: (req as IncomingMessage & { oidc?: OidcContext }).oidc?.claims?.sub }));
  });
}
