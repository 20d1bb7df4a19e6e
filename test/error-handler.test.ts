import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import connect from 'connect';
import express from 'express';
import session from 'express-session';
import request from 'supertest';
import { claimIncludes, oidcErrorHandler, oidcLogin, requireAuth, type OidcLoginOptions } from '../lib/index.js';
import { loginAs, startTestProvider, type TestProvider } from '../lib/testing/index.js';
import { freePort } from './support/net.js';

const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/** An app as the minimal example builds it, with oidcErrorHandler() last and its log captured. */
function createApp(oidc: OidcLoginOptions, logged: unknown[][], handlerOptions = {}) {
  const app = express();
  app.use(session({ secret: 'a-test-session-secret', resave: false, saveUninitialized: false }));
  app.use(oidcLogin(oidc));
  app.get('/admin', requireAuth(claimIncludes('groups', 'admin')), (_req, res) => {
    res.send('admin');
  });
  app.get('/boom', () => {
    throw new Error('database password is hunter2');
  });
  app.get('/gone', (_req, _res, next) => {
    next(Object.assign(new Error('That item was deleted.'), { status: 410, expose: true }));
  });
  app.get('/half', (_req, res, next) => {
    res.write('partial');
    next(new Error('after the headers'));
  });
  app.use(oidcErrorHandler({ log: (...args) => logged.push(args), ...handlerOptions }));
  return app;
}

let provider: TestProvider;
beforeAll(async () => {
  provider = await startTestProvider();
});
afterAll(() => provider.close());

describe('oidcErrorHandler()', () => {
  it('answers a failed claim check (403) with a page for a browser, JSON for an API client, and logs nothing', async () => {
    const logged: unknown[][] = [];
    const app = createApp(provider.options(), logged);
    const agent = await loginAs(app, { sub: 'alice', groups: ['users'] });

    const page = await agent.get('/admin').set('Accept', HTML).expect(403);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe("default-src 'none'; style-src 'unsafe-inline'");
    expect(page.text).toContain('<h1>Access denied</h1>');
    expect(page.text).toContain('<p>You are logged in, but your account may not open this page.</p>');
    // A permission problem: home, not another login.
    expect(page.text).toContain('<a href="/">Home</a>');
    expect(page.text).not.toContain('Log in again');

    // requireAuth answers API requests itself; an error another handler passes on gets JSON here.
    const api = await agent.get('/gone').set('Accept', 'application/json').expect(410);
    expect(api.body).toEqual({ error: 'gone', message: 'That item was deleted.' });
    expect(logged).toEqual([]);
  });

  it('offers to log in again after a failed login, with the code in JSON', async () => {
    const logged: unknown[][] = [];
    const app = createApp(provider.options(), logged);
    const page = await request(app).get('/callback?state=nothing-pending&code=x').set('Accept', HTML).expect(400);
    expect(page.text).toContain('<a href="/login">Log in again</a><a href="/">Home</a>');

    const api = await request(app).get('/callback?state=nothing-pending&code=x').expect(400);
    expect(api.body).toMatchObject({ error: 'bad_request', code: 'ERR_OIDC_MISSING_TRANSACTION' });
    expect(logged).toEqual([]);
  });

  it("links the login route under baseUrl's path (an app served under a prefix by its proxy)", async () => {
    const app = createApp({ ...provider.options(), baseUrl: 'http://127.0.0.1:3000/app' }, []);
    const page = await request(app).get('/callback?state=nothing-pending&code=x').set('Accept', HTML).expect(400);
    expect(page.text).toContain('<a href="/app/login">Log in again</a>');
  });

  it('hides what an unexpected error says (no message, no stack) and logs it once, without the query', async () => {
    const logged: unknown[][] = [];
    const app = createApp(provider.options(), logged);
    const page = await request(app).get('/boom?token=secret').set('Accept', HTML).expect(500);
    expect(page.text).toContain('Something went wrong on our side. Try again in a moment.');
    expect(page.text).not.toMatch(/hunter2|at |\.ts:/);
    const api = await request(app).get('/boom').expect(500);
    expect(api.body).toEqual({
      error: 'internal_server_error',
      message: 'Something went wrong on our side. Try again in a moment.',
    });

    expect(logged).toHaveLength(2);
    expect(logged[0]![0]).toBe('GET /boom answered 500');
    expect((logged[0]![1] as Error).message).toBe('database password is hunter2');
  });

  it("sends a 5xx OidcError's status, message and Retry-After, and logs it once", async () => {
    const logged: unknown[][] = [];
    const issuer = `http://127.0.0.1:${await freePort()}`; // nobody listens
    const app = createApp({ ...provider.options(), issuer }, logged);
    const res = await request(app).get('/login').set('Accept', HTML).expect(503);
    expect(res.headers['retry-after']).toBeDefined();
    expect(res.text).toContain('<h1>Something went wrong</h1>');
    expect(logged).toHaveLength(1);
    expect(logged[0]![0]).toBe('GET /login answered 503 (ERR_OIDC_PROVIDER_UNREACHABLE)');
  });

  it('passes an error on when the response has begun, and sends no body to HEAD', async () => {
    const logged: unknown[][] = [];
    const app = createApp(provider.options(), logged, { log: false });
    await expect(request(app).get('/half')).rejects.toThrow();
    const head = await request(app).head('/gone').expect(410);
    expect(head.text).toBeUndefined();
    expect(logged).toEqual([]);
  });

  it('escapes the message and links, and works in a Connect app', async () => {
    const app = connect();
    app.use((_req: unknown, _res: unknown, next: (err?: unknown) => void) => {
      next(Object.assign(new Error('<script>x</script>'), { statusCode: 404, expose: true }));
    });
    app.use(oidcErrorHandler({ homePath: '/"home"', loginPath: false }));
    const res = await request(app).get('/').set('Accept', HTML).expect(404);
    expect(res.text).toContain('<p>&lt;script&gt;x&lt;/script&gt;</p>');
    expect(res.text).toContain('<a href="/&quot;home&quot;">Home</a>');
  });

  it("renders the page with the app's own layout, given the text and links", async () => {
    const logged: unknown[][] = [];
    const pages: unknown[] = [];
    const app = createApp(provider.options(), logged, {
      render: (view: unknown) => {
        pages.push(view);
        return '<main>own layout</main>';
      },
    });
    const res = await request(app).get('/callback?state=nothing-pending&code=x').set('Accept', HTML).expect(400);
    expect(res.text).toBe('<main>own layout</main>');
    expect(res.headers['content-security-policy']).toBeUndefined();
    expect(pages).toEqual([
      {
        status: 400,
        title: 'Login failed',
        message: expect.any(String),
        code: 'ERR_OIDC_MISSING_TRANSACTION',
        homePath: '/',
        loginPath: '/login',
      },
    ]);
  });
});
