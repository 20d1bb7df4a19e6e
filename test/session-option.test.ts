import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import connect from 'connect';
import express, { type Express } from 'express';
import session, { MemoryStore, type SessionData } from 'express-session';
import express4 from 'express4';
import { guardSessionStore, oidcLogin, requireAuth, type OidcLoginOptions } from '../lib/index.js';
import { connectProtected, jsonErrors, testOptions } from './support/app.js';
import { expectConfigError } from './support/config-error.js';
import { authorizeAt, login, newBrowser, startLogin, visitCallback } from './support/flow.js';
import { APP_BASE_URL, CLIENT_ID, CLIENT_SECRET, startProvider, type TestProvider } from './support/provider.js';

/**
 * The `session` option: express-session given to oidcLogin() and run inside it, first, instead of
 * in its own app.use(). Everything a separately mounted session gives must still hold.
 */

let op: TestProvider;
beforeAll(async () => {
  op = await startProvider();
});
afterAll(async () => {
  await op.close();
});

/** express-session that counts how often it runs. */
function countedSession(store: session.Store = new MemoryStore()) {
  const inner = session({ secret: 'session-option-secret', resave: false, saveUninitialized: false, store, name: 'sid' });
  const counted = {
    runs: 0,
    middleware: (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => {
      counted.runs++;
      (inner as unknown as typeof counted.middleware)(req, res, next);
    },
  };
  return counted;
}

function appWith(options: OidcLoginOptions, framework: typeof express = express): Express {
  const app = framework();
  app.use(oidcLogin(options));
  app.get('/probe', (req, res) => {
    res.json({ sessionId: req.sessionID ?? null, hasSession: req.session !== undefined, sub: req.oidc?.claims?.sub ?? null });
  });
  app.get('/protected', requireAuth(), (req, res) => {
    res.json({ sub: req.oidc!.claims!.sub });
  });
  app.use(jsonErrors);
  return app;
}

describe('oidcLogin({ session })', () => {
  it.each(['cookie', 'session'] as const)(
    'logs in (pending logins in a %s), with a new session id, protects routes and logs out, running express-session once per request',
    async (pendingLogins) => {
      const counted = countedSession();
      const app = appWith(testOptions(op, { pendingLogins, secret: 'a-secret-of-at-least-32-characters!!', session: counted.middleware }));
      const browser = newBrowser(app, op.issuer);
      let appRequests = 0;

      // Without a login: an API gets 401, a page load is sent to log in.
      await browser.app.get('/protected').set('Accept', 'application/json').expect(401);
      const page = await browser.app.get('/protected').set('Accept', 'text/html').expect(302);
      expect(page.headers.location).toBe('/login?returnTo=%2Fprotected');
      appRequests += 2;

      // The session exists on the app's own routes too.
      const before = await browser.app.get('/probe').expect(200);
      expect(before.body).toMatchObject({ hasSession: true, sub: null });
      appRequests++;

      const authorizationUrl = await startLogin(browser, '?returnTo=/protected');
      appRequests++;
      expect(authorizationUrl.searchParams.get('code_challenge_method')).toBe('S256');
      const atLogin = await browser.app.get('/probe').expect(200);
      appRequests++;
      if (pendingLogins === 'session') expect(atLogin.body.sessionId).toEqual(expect.any(String));

      const callback = await authorizeAt(browser, authorizationUrl);
      const done = await visitCallback(browser, callback).expect(302);
      appRequests++;
      expect(done.headers.location).toBe('/protected');

      const after = await browser.app.get('/probe').expect(200);
      appRequests++;
      expect(after.body.sub).toBe('alice');
      // Session fixation: the login gets a session id of its own.
      expect(after.body.sessionId).not.toBe(before.body.sessionId);
      if (pendingLogins === 'session') expect(after.body.sessionId).not.toBe(atLogin.body.sessionId);
      expect((await browser.app.get('/protected').expect(200)).body.sub).toBe('alice');
      appRequests++;

      await browser.app.post('/logout').expect(303);
      appRequests++;
      await browser.app.get('/protected').set('Accept', 'application/json').expect(401);
      appRequests++;

      expect(counted.runs).toBe(appRequests);
    },
  );

  it('works in Express 4 and in Connect', async () => {
    const on4 = appWith(testOptions(op, { session: countedSession().middleware }), express4 as unknown as typeof express);
    const b4 = newBrowser(on4, op.issuer);
    expect((await login(b4, { query: '?returnTo=/protected' })).headers.location).toBe('/protected');
    expect((await b4.app.get('/protected').expect(200)).body.sub).toBe('alice');

    const app = connect();
    app.use(oidcLogin(testOptions(op, { session: countedSession().middleware })));
    connectProtected(app);
    const browser = newBrowser(app, op.issuer);
    await browser.app.get('/protected').set('Accept', 'application/json').expect(401);
    await login(browser);
    expect((await browser.app.get('/protected').expect(200)).body.sub).toBe('alice');
  });

  it('passes a failing session store on as a 503, without running the route or the login middleware', async () => {
    class FailingStore extends MemoryStore {
      failing = false;
      override get(sid: string, cb: (err: unknown, s?: SessionData | null) => void): void {
        if (this.failing) return cb(new Error('ECONNRESET'));
        super.get(sid, cb);
      }
    }
    const store = guardSessionStore(new FailingStore(), { timeout: 500 });
    const app = appWith(testOptions(op, { session: countedSession(store).middleware }));
    const browser = newBrowser(app, op.issuer);
    await login(browser);
    store.failing = true;
    const down = await browser.app.get('/protected').set('Accept', 'application/json').expect(503);
    expect(down.body.code).toBe('ERR_OIDC_SESSION_STORE');
    expect(down.headers['retry-after']).toBe('5');
    // The callback with a valid-looking request is not reached either: the error comes first.
    expect((await browser.app.get('/callback?code=x&state=y').expect(503)).body.code).toBe('ERR_OIDC_SESSION_STORE');
    store.failing = false;
    expect((await browser.app.get('/protected').expect(200)).body.sub).toBe('alice');
  });

  it('warns once when express-session is also mounted with app.use(), and still works', async () => {
    const warnings: string[] = [];
    const logger = { warn: (m: string) => void warnings.push(m), error: (m: string) => void warnings.push(m) };
    const counted = countedSession();
    const app = express();
    app.use(session({ secret: 'outer-secret', resave: false, saveUninitialized: false, name: 'sid' }));
    app.use(oidcLogin(testOptions(op, { session: counted.middleware, logger })));
    app.get('/protected', requireAuth(), (req, res) => void res.json({ sub: req.oidc!.claims!.sub }));
    const browser = newBrowser(app, op.issuer);
    await login(browser);
    expect((await browser.app.get('/protected').expect(200)).body.sub).toBe('alice');
    expect(warnings.filter((w) => /session-mounted-twice|mounted with app\.use\(\)/.test(w))).toHaveLength(1);
    expect(warnings.join('\n')).toMatch(/express-session is also mounted/);
  });

  it('does not warn when express-session runs only inside', async () => {
    const warnings: string[] = [];
    const logger = { warn: (m: string) => void warnings.push(m), error: (m: string) => void warnings.push(m) };
    const app = appWith(testOptions(op, { session: countedSession().middleware, logger }));
    await login(newBrowser(app, op.issuer));
    expect(warnings.filter((w) => /session/.test(w))).toEqual([]);
  });

  it('refuses what is not a middleware, and a "session" inside one of "providers"', () => {
    expectConfigError(testOptions(op, { session: { secret: 's' } as never }), /"session" must be a session middleware \(req, res, next\)/);
    expectConfigError(
      {
        baseUrl: APP_BASE_URL,
        dangerouslyAllowInsecureHttp: true,
        providers: { main: { issuer: op.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, session: countedSession().middleware } },
      },
      /"providers\.main\.session" is an app-level option/,
    );
  });

  it('with "providers": given once at the top level, it serves every provider', async () => {
    const other = await startProvider({
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: [`${APP_BASE_URL}/callback/main`],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
    });
    try {
      const counted = countedSession();
      const app = appWith({
        baseUrl: APP_BASE_URL,
        dangerouslyAllowInsecureHttp: true,
        httpTimeout: 2000,
        session: counted.middleware,
        providers: { main: { issuer: other.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } },
      });
      const browser = newBrowser(app, other.issuer);
      // GET /login sends the browser on to the only provider's /login/main.
      expect((await browser.app.get('/login').expect(302)).headers.location).toBe('/login/main');
      const done = await login(browser, { query: '/main?returnTo=/protected' });
      expect(done.headers.location).toBe('/protected');
      expect((await browser.app.get('/protected').expect(200)).body.sub).toBe('alice');
      expect(counted.runs).toBe(4);
    } finally {
      await other.close();
    }
  });
});
