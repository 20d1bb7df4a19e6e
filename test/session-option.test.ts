import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from '@jest/globals';
import connect from 'connect';
import express, { type Express } from 'express';
import session, { MemoryStore, type SessionData } from 'express-session';
import express4 from 'express4';
import { guardSessionStore, oidcLogin, requireAuth, type OidcLoginOptions } from '../lib/index.js';
import { connectProtected, jsonErrors, testOptions } from './support/app.js';
import { expectConfigError } from './support/config-error.js';
import request from 'supertest';
import { authorizeAt, login, newBrowser, startLogin, visitCallback } from './support/flow.js';
import { APP_BASE_URL, CLIENT_ID, CLIENT_SECRET, startProvider } from './support/provider.js';
import { useProvider } from './support/use-provider.js';
import { storeGet } from './support/store.js';

/**
 * The `session` option: express-session given to oidcLogin() and run inside it, first, instead of
 * in its own app.use(). Everything a separately mounted session gives must still hold.
 */

const op = useProvider();

/** express-session that counts how often it runs. */
function countedSession(store: session.Store = new MemoryStore()) {
  const inner = session({
    secret: 'session-option-secret',
    resave: false,
    saveUninitialized: false,
    store,
    name: 'sid',
  });
  const counted = {
    runs: 0,
    middleware: (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => {
      counted.runs++;
      (inner as unknown as typeof counted.middleware)(req, res, next);
    },
  };
  return counted;
}

/** What the store holds for a session id (null: nothing). */
function stored(store: MemoryStore, sid: string): Promise<SessionData | null | undefined> {
  return storeGet(store, sid);
}

function appWith(options: OidcLoginOptions, framework: typeof express = express): Express {
  const app = framework();
  app.use(oidcLogin(options));
  app.get('/probe', (req, res) => {
    res.json({
      sessionId: req.sessionID ?? null,
      hasSession: req.session !== undefined,
      sub: req.oidc?.claims?.sub ?? null,
    });
  });
  // Writes the session, so that it is stored (saveUninitialized: false) before a login.
  app.post('/visit', (req, res) => {
    req.session.visits = (req.session.visits ?? 0) + 1;
    res.json({ sessionId: req.sessionID });
  });
  app.get('/protected', requireAuth(), (req, res) => {
    res.json({ sub: req.oidc!.claims!.sub });
  });
  // Whether the login middleware ran before the error.
  app.use((err: unknown, req: express.Request, res: express.Response, next: express.NextFunction) => {
    res.set('X-Had-Oidc', String(req.oidc !== undefined));
    next(err);
  });
  app.use(jsonErrors);
  return app;
}

declare module 'express-session' {
  interface SessionData {
    visits?: number;
  }
}

describe('oidcLogin({ session })', () => {
  it.each(['cookie', 'session'] as const)(
    'logs in (pending logins in a %s), with a new session id, protects routes and logs out, running express-session once per request',
    async (pendingLogins) => {
      const store = new MemoryStore();
      const counted = countedSession(store);
      const app = appWith(
        testOptions(op, { pendingLogins, secret: 'a-secret-of-at-least-32-characters!!', session: counted.middleware }),
      );
      const browser = newBrowser(app, op.issuer);
      let appRequests = 0;

      // Without a login: an API gets 401, a page load is sent to log in.
      await browser.app.get('/protected').set('Accept', 'application/json').expect(401);
      const page = await browser.app.get('/protected').set('Accept', 'text/html').expect(302);
      expect(page.headers.location).toBe('/login?returnTo=%2Fprotected');
      appRequests += 2;

      // The session exists on the app's own routes too, and is stored once written.
      expect((await browser.app.get('/probe').expect(200)).body).toMatchObject({ hasSession: true, sub: null });
      const before = await browser.app.post('/visit').expect(200);
      expect(await stored(store, before.body.sessionId)).toMatchObject({ visits: 1 });
      appRequests += 2;

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
      // Session fixation: the login gets a session id of its own, and the old one is gone from the store.
      expect(after.body.sessionId).not.toBe(before.body.sessionId);
      expect((await stored(store, before.body.sessionId)) ?? null).toBeNull();
      if (pendingLogins === 'session') expect(after.body.sessionId).not.toBe(atLogin.body.sessionId);
      expect((await browser.app.get('/protected').expect(200)).body.sub).toBe('alice');
      appRequests++;

      await browser.app.post('/logout').set('Sec-Fetch-Site', 'same-origin').expect(303);
      appRequests++;
      await browser.app.get('/protected').set('Accept', 'application/json').expect(401);
      appRequests++;

      expect(counted.runs).toBe(appRequests);
    },
  );

  it('works in Express 4 and in Connect', async () => {
    const on4 = appWith(
      testOptions(op, { session: countedSession().middleware }),
      express4 as unknown as typeof express,
    );
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
    expect(down.headers['x-had-oidc']).toBe('false');
    expect(down.headers['retry-after']).toBe('5');
    // The callback with a valid-looking request is not reached either: the error comes first.
    expect((await browser.app.get('/callback?code=x&state=y').expect(503)).body.code).toBe('ERR_OIDC_SESSION_STORE');
    store.failing = false;
    expect((await browser.app.get('/protected').expect(200)).body.sub).toBe('alice');
  });

  it("turns a throw in the login middleware into the request's error, once, when express-session calls back from its store", async () => {
    // Another instance's login, in the same store: the next request's session comes from store.get().
    const store = new MemoryStore();
    const first = appWith(testOptions(op, { session: countedSession(store).middleware }));
    const browser = newBrowser(first, op.issuer);
    await login(browser);
    const cookie = browser.app.jar.getCookie('sid', { domain: '127.0.0.1', path: '/', secure: false, script: false });
    expect(cookie).toBeTruthy();
    // A logger that throws, on the first request's start-up check (X-Forwarded-Proto without trust proxy).
    const logger = {
      warn: () => {
        throw new Error('logger down');
      },
      error: () => undefined,
    };
    const second = appWith(testOptions(op, { session: countedSession(store).middleware, logger }));
    const res = await request(second)
      .get('/protected')
      .set('Cookie', `sid=${cookie!.value}`)
      .set('X-Forwarded-Proto', 'https')
      .set('Accept', 'application/json');
    expect(res.status).toBe(500);
    expect(res.body.message).toBe('logger down');
    // The instance goes on serving.
    expect((await request(second).get('/protected').set('Cookie', `sid=${cookie!.value}`).expect(200)).body.sub).toBe(
      'alice',
    );
  });

  it('runs the chain once when the store calls back twice (the second time from its own catch)', async () => {
    class TwiceStore extends MemoryStore {
      twice = false;
      override get(sid: string, cb: (err: unknown, s?: SessionData | null) => void): void {
        super.get(sid, (err, data) => {
          cb(err, data);
          if (this.twice) cb(new Error('called back again'));
        });
      }
    }
    const store = new TwiceStore();
    const app = express();
    let passes = 0;
    const errors: unknown[] = [];
    app.use(oidcLogin(testOptions(op, { session: countedSession(store).middleware })));
    app.use((_req, _res, next) => {
      passes++;
      next();
    });
    app.get('/protected', requireAuth(), (req, res) => void res.json({ sub: req.oidc!.claims!.sub }));
    app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      errors.push(err);
      if (!res.headersSent) res.status(500).end();
    });
    const browser = newBrowser(app, op.issuer);
    await login(browser);
    store.twice = true;
    passes = 0;
    expect((await browser.app.get('/protected').expect(200)).body.sub).toBe('alice');
    await new Promise((resolve) => setImmediate(resolve));
    expect(passes).toBe(1);
    expect(errors).toEqual([]);
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

  it('refuses what is not a middleware (express-session\'s factory uncalled), and a "session" inside one of "providers"', () => {
    expectConfigError(
      testOptions(op, { session: { secret: 's' } as never }),
      /"session" must be a session middleware \(req, res, next\)/,
    );
    expectConfigError(
      testOptions(op, { session: session as never }),
      /not a function of 1 parameter: did you mean session\(\{ secret, \.\.\. \}\)\?/,
    );
    // A middleware that takes its arguments as a rest parameter, or names two and passes the rest on, is one.
    expect(() =>
      oidcLogin(
        testOptions(op, {
          session: (req: IncomingMessage, res: ServerResponse, ...rest: [(err?: unknown) => void]) =>
            countedSession().middleware(req, res, ...rest),
        }),
      ),
    ).not.toThrow();
    expect(() =>
      oidcLogin(
        testOptions(op, {
          session: (...args: Parameters<ReturnType<typeof countedSession>['middleware']>) =>
            countedSession().middleware(...args),
        }),
      ),
    ).not.toThrow();
    expectConfigError(
      {
        baseUrl: APP_BASE_URL,
        dangerouslyAllowInsecureHttp: true,
        providers: {
          main: {
            issuer: op.issuer,
            clientId: CLIENT_ID,
            clientSecret: CLIENT_SECRET,
            session: countedSession().middleware,
          },
        },
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
