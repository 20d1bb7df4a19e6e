import { describe, expect, it } from '@jest/globals';
import express from 'express';
import session from 'express-session';
import request from 'supertest';
import { authenticated, claimCheck, claimEquals, claimIncludes, requireAuth, type IDToken } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { login, newBrowser } from './support/flow.js';
import { useProvider } from './support/use-provider.js';

const op = useProvider();

const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe('requireAuth() when not logged in', () => {
  const { app } = createApp(testOptions({ issuer: 'http://127.0.0.1:9' }));

  it('sends a browser navigation to log in, with returnTo', async () => {
    const res = await request(app).get('/protected?a=1&b=%2F').set('Accept', HTML).expect(302);
    expect(res.headers.location).toBe(`/login?returnTo=${encodeURIComponent('/protected?a=1&b=%2F')}`);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('treats Sec-Fetch-Mode: navigate as a browser navigation', async () => {
    const res = await request(app).get('/protected').set('Sec-Fetch-Mode', 'navigate').expect(302);
    expect(res.headers.location).toBe('/login?returnTo=%2Fprotected');
  });

  it('answers fetch() from a page (Sec-Fetch-Mode: cors) with 401 JSON, even if it accepts HTML', async () => {
    const res = await request(app).get('/protected').set('Sec-Fetch-Mode', 'cors').set('Accept', HTML).expect(401);
    expect(res.body).toEqual({ error: 'unauthenticated', message: expect.any(String) });
  });

  it('answers an API request with 401 JSON', async () => {
    const res = await request(app).get('/protected').set('Accept', 'application/json').expect(401);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.error).toBe('unauthenticated');
  });

  it('answers XHR and non-GET requests with 401', async () => {
    await request(app).get('/protected').set('Accept', HTML).set('X-Requested-With', 'XMLHttpRequest').expect(401);
    const app2 = createApp(testOptions({ issuer: 'http://127.0.0.1:9' })).app;
    app2.post('/protected-post', requireAuth(), (_req, res) => res.send('no'));
    await request(app2).post('/protected-post').set('Accept', HTML).expect(401);
  });

  it('keeps a baseUrl path prefix in the login redirect', async () => {
    const prefixed = createApp(
      testOptions({ issuer: 'http://127.0.0.1:9' }, { baseUrl: 'http://app.localhost/app' }),
    ).app;
    const res = await request(prefixed).get('/protected').set('Accept', HTML).expect(302);
    expect(res.headers.location).toBe('/app/login?returnTo=%2Fprotected');
  });

  it('says plainly when oidcLogin() is not mounted', async () => {
    const bare = express();
    bare.use(session({ secret: 's', resave: false, saveUninitialized: false }));
    bare.get('/x', requireAuth(), (_req, res) => res.send('no'));
    bare.use(((err, _req, res, _next) => res.status(500).send(err.message)) as express.ErrorRequestHandler);
    const res = await request(bare).get('/x').expect(500);
    expect(res.text).toMatch(/mount app\.use\(oidcLogin/);
  });

  it('refuses a check that is not a function at start-up', () => {
    expect(() => requireAuth('admin' as never)).toThrow(/claim checks/);
  });
});

describe('requireAuth() when logged in', () => {
  it('lets the request through', async () => {
    const { app } = createApp(testOptions(op));
    const browser = newBrowser(app, op.issuer);
    await login(browser);
    const res = await browser.app.get('/protected').expect(200);
    expect(res.body.sub).toBe('alice');
  });

  it('gives 403 when a claim check fails: JSON for APIs, an ERR_OIDC_FORBIDDEN error for pages', async () => {
    const { app } = createApp(testOptions(op, { scope: 'openid profile groups' }));
    const alice = newBrowser(app, op.issuer);
    await login(alice, { account: 'alice' });
    const api = await alice.app.get('/admin').set('Accept', 'application/json').expect(403);
    expect(api.body.error).toBe('forbidden');
    const page = await alice.app.get('/admin').set('Accept', HTML).expect(403);
    expect(page.body.code).toBe('ERR_OIDC_FORBIDDEN');
    const bob = newBrowser(app, op.issuer);
    await login(bob, { account: 'bob' });
    await bob.app.get('/admin').expect(200);
  });

  it('authenticated(req) gives the login behind requireAuth(), and a 401 error without one', async () => {
    const { app } = createApp(testOptions(op), {
      routes: (app) => {
        app.get('/typed', requireAuth(), (req, res) => {
          const { claims, accessToken, provider } = authenticated(req);
          res.json({ sub: claims.sub, hasToken: accessToken.length > 0, provider });
        });
        app.get('/unguarded', (req, res) => res.json(authenticated(req).claims));
      },
    });
    const anonymous = await request(app).get('/unguarded').expect(401);
    expect(anonymous.body.code).toBe('ERR_OIDC_UNAUTHENTICATED');
    const browser = newBrowser(app, op.issuer);
    await login(browser);
    expect((await browser.app.get('/typed').expect(200)).body).toEqual({
      sub: 'alice',
      hasToken: true,
      provider: 'default',
    });
    expect((await browser.app.get('/unguarded').expect(200)).body.sub).toBe('alice');
  });
});

describe('claim checks', () => {
  const claims = { sub: 'u', groups: ['a', 'b'], scope: 'read write', email_verified: true } as unknown as IDToken;
  const req = {} as never;

  it('claimEquals compares strictly', () => {
    expect(claimEquals('email_verified', true)(claims, req)).toBe(true);
    expect(claimEquals('email_verified', 'true')(claims, req)).toBe(false);
    expect(claimEquals('missing', null)(claims, req)).toBe(false);
  });

  it('claimIncludes reads arrays and space-separated strings, and needs every value', () => {
    expect(claimIncludes('groups', 'a')(claims, req)).toBe(true);
    expect(claimIncludes('groups', 'a', 'b')(claims, req)).toBe(true);
    expect(claimIncludes('groups', 'a', 'c')(claims, req)).toBe(false);
    expect(claimIncludes('scope', 'write')(claims, req)).toBe(true);
    expect(claimIncludes('scope', 'wri')(claims, req)).toBe(false);
    expect(claimIncludes('missing', 'a')(claims, req)).toBe(false);
  });

  it('claimCheck runs a function', () => {
    expect(claimCheck((c) => c.sub === 'u')(claims, req)).toBe(true);
    expect(() => claimCheck('x' as never)).toThrow(TypeError);
  });
});

describe('routes', () => {
  it('can be renamed and turned off', async () => {
    const { app } = createApp(testOptions(op, { routes: { login: '/auth/start', callback: false } }), {
      probes: false,
      routes: (app) => {
        app.get('/callback', (_req, res) => res.send('the app owns /callback'));
      },
    });
    const res = await request(app).get('/auth/start').expect(302);
    expect(new URL(res.headers.location!).searchParams.get('redirect_uri')).toBe('http://app.localhost/callback');
    await request(app).get('/login').expect(404);
    const cb = await request(app).get('/callback').expect(200);
    expect(cb.text).toBe('the app owns /callback');
  });
});
