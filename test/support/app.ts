import type { IncomingMessage, ServerResponse } from 'node:http';
import type connect from 'connect';
import express, { type ErrorRequestHandler, type Express } from 'express';
import session, { MemoryStore, type Store } from 'express-session';
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

/**
 * express + express-session (MemoryStore) + oidcLogin, with probe routes that show state as JSON.
 * `framework` lets the same app run on Express 4.
 */
export function createApp<S extends Store = MemoryStore>(
  options: OidcLoginOptions,
  framework: typeof express = express,
  sessionStore?: S,
): TestApp<S> {
  const store = sessionStore ?? (new MemoryStore() as unknown as S);
  const app = framework();
  app.use(session({ secret: 'test-session-secret', resave: false, saveUninitialized: false, store, name: 'sid' }));
  const middleware = oidcLogin(options);
  app.use(middleware);
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
  app.use(jsonErrors);
  return { app, store, middleware };
}

/** A Connect app's `/protected`: `requireAuth()`, then the login's `sub` as JSON, with plain Node req/res. */
export function connectProtected(app: connect.Server): void {
  app.use('/protected', requireAuth());
  app.use('/protected', (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ sub: (req as IncomingMessage & { oidc?: OidcContext }).oidc?.claims?.sub }));
  });
}
