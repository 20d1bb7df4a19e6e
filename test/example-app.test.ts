import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import request, { type Response } from 'supertest';
import { createApp } from '../example-app/app.js';
import { DEMO_USERS, startIdentityProvider, type IdentityProvider } from '../example-app/identity-provider.js';

// The example app (built against the package's dist/, as `npm start` runs it) and its demo
// identity provider, each on a random loopback port, driven the way a browser would drive them.

const XSS_NAME = `<script>alert("pwned")</script> & 'friends'`;

let server: Server;
let appUrl: string;
let idp: IdentityProvider;
let notices: jest.Spied<typeof console.warn>[] = [];

beforeAll(async () => {
  // The app's baseUrl must be its real address, so listen first and build the app afterwards.
  server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  appUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  idp = await startIdentityProvider({
    port: 0,
    host: '127.0.0.1',
    appBaseUrl: appUrl,
    users: {
      ...DEMO_USERS,
      mallory: { password: 'mallory-password', claims: { name: XSS_NAME, groups: ['users', '<b>admin</b>'] } },
    },
  });
  const app = createApp({
    baseUrl: appUrl,
    issuer: idp.issuer,
    clientId: idp.client.clientId,
    clientSecret: idp.client.clientSecret,
    sessionSecret: 'example-app-test-session-secret',
    ordersApi: { jwksUri: idp.jwksUri },
  });
  server.on('request', app);
  // oidc-provider's notices about unconfigured defaults (ttl, pages...) would show up here.
  notices = [jest.spyOn(console, 'info'), jest.spyOn(console, 'warn')];
});

afterAll(async () => {
  for (const spy of notices) spy.mockRestore();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await idp.close();
});

/** A browser: one cookie jar for the app, one for the identity provider. */
interface Browser {
  app: request.Agent;
  op: request.Agent;
}

interface Visit {
  res: Response;
  /** Where the browser ended up. */
  url: URL;
  /** Every response on the way, redirects included. */
  hops: Response[];
}

function newBrowser(): Browser {
  return { app: request.agent(appUrl), op: request.agent(idp.issuer) };
}

function agentFor(browser: Browser, url: URL): request.Agent {
  if (url.origin === new URL(appUrl).origin) return browser.app;
  if (url.origin === new URL(idp.issuer).origin) return browser.op;
  throw new Error(`the browser was sent to an unexpected origin: ${url.href}`);
}

async function follow(browser: Browser, first: Response, from: URL, hops: Response[] = [first]): Promise<Visit> {
  let res = first;
  let url = from;
  for (let step = 0; step < 15; step++) {
    const location = res.headers.location;
    if (res.status < 300 || res.status >= 400 || !location) return { res, url, hops };
    url = new URL(location, url);
    res = await agentFor(browser, url)
      .get(url.pathname + url.search)
      .set('Accept', 'text/html')
      .redirects(0);
    hops.push(res);
  }
  throw new Error('too many redirects');
}

/** A page load: GET with Accept: text/html, following redirects between the app and the provider. */
async function navigate(browser: Browser, path: string): Promise<Visit> {
  const url = new URL(path, appUrl);
  const res = await agentFor(browser, url)
    .get(url.pathname + url.search)
    .set('Accept', 'text/html')
    .redirects(0);
  return follow(browser, res, url);
}

/** Submits the provider's login form shown by `page` (or its Cancel button), then follows redirects. */
async function submitLogin(
  browser: Browser,
  page: Visit,
  fields: { login: string; password: string } | 'cancel',
): Promise<Visit> {
  expect(page.url.origin).toBe(new URL(idp.issuer).origin);
  const pattern = fields === 'cancel' ? /formaction="([^"]+)"/ : /<form[^>]*action="([^"]+)"/;
  const action = pattern.exec(page.res.text)?.[1];
  if (!action) throw new Error(`no login form on ${page.url.href}: ${page.res.text.slice(0, 300)}`);
  const target = new URL(action, page.url);
  const res = await agentFor(browser, target)
    .post(target.pathname)
    .type('form')
    .set('Accept', 'text/html')
    .send(fields === 'cancel' ? {} : fields)
    .redirects(0);
  return follow(browser, res, target);
}

/** Opens `path` logged out, logs in at the provider's form, and returns where the browser lands. */
async function loginAs(browser: Browser, login: string, password: string, path = '/profile'): Promise<Visit> {
  const form = await navigate(browser, path);
  expect(form.res.status).toBe(200);
  return submitLogin(browser, form, { login, password });
}

describe('example app, logged out', () => {
  it('shows a home page with a login link', async () => {
    const res = await request(appUrl).get('/').set('Accept', 'text/html').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toContain('href="/login"');
    expect(res.text).toContain('<link rel="stylesheet" href="/assets/style.css">');
  });

  it('serves its stylesheet', async () => {
    const res = await request(appUrl).get('/assets/style.css').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/css/);
  });

  it('has an icon: named by every page, and /favicon.ico leads to it (no 404 in the log)', async () => {
    const home = await request(appUrl).get('/').set('Accept', 'text/html').expect(200);
    expect(home.text).toContain('<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">');
    const ico = await request(appUrl).get('/favicon.ico').expect(301);
    expect(ico.headers.location).toBe('/assets/favicon.svg');
    const svg = await request(appUrl).get('/assets/favicon.svg').expect(200);
    expect(svg.headers['content-type']).toMatch(/^image\/svg\+xml/);
  });

  it("sends helmet's headers with a strict Content-Security-Policy (no inline scripts or styles)", async () => {
    const res = await request(appUrl).get('/').expect(200);
    const csp = res.headers['content-security-policy'];
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    // Plain http on loopback: browsers must not be asked to upgrade to https.
    expect(csp).not.toContain('upgrade-insecure-requests');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('redirects /profile to the login with returnTo', async () => {
    const res = await request(appUrl).get('/profile').set('Accept', 'text/html').expect(302);
    expect(res.headers.location).toBe('/login?returnTo=%2Fprofile');
  });

  it('answers /api/me with 401 JSON', async () => {
    const res = await request(appUrl).get('/api/me').set('Accept', 'application/json').expect(401);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({ error: 'unauthenticated', message: expect.any(String) });
  });

  it('answers unknown pages with 404: a page for browsers, JSON under /api', async () => {
    const page = await request(appUrl).get('/nowhere').set('Accept', 'text/html').expect(404);
    expect(page.text).toContain('<h1>Page not found</h1>\n<p>There is no page at this address.</p>');
    // A missing page is not a login problem: the way out is home, not the login.
    expect(page.text).toContain('<p class="actions"><a class="button" href="/">Home</a></p>');
    expect(page.text).not.toContain('href="/login"');
    const api = await request(appUrl).get('/api/nowhere').expect(404);
    expect(api.body).toEqual({ error: 'not_found', message: 'There is no page at this address.' });
  });

  it('keeps a started login in an HttpOnly, SameSite=Lax cookie for the callback only; the session cookie sid comes with the login', async () => {
    const browser = newBrowser();
    const start = await browser.app.get('/login').expect(302);
    expect(start.headers.location).toMatch(new RegExp(`^${idp.issuer}/auth\\?`));
    const cookies = ([] as string[]).concat(start.headers['set-cookie'] ?? []);
    expect(cookies.find((c) => c.startsWith('sid='))).toBeUndefined();
    const tx = cookies.find((c) => c.startsWith('oidc.tx.'));
    expect(tx).toMatch(/; Path=\/callback; /);
    expect(tx).toMatch(/; HttpOnly/);
    expect(tx).toMatch(/; SameSite=Lax/);
    expect(tx).not.toMatch(/; Secure/);
    const landed = await submitLogin(browser, await follow(browser, start, new URL('/login', appUrl)), {
      login: 'alice',
      password: 'alice',
    });
    // The hop that answered the callback: the one that clears the pending login's cookie.
    const callback = landed.hops.find((h) =>
      ([] as string[]).concat(h.headers['set-cookie'] ?? []).some((c) => c.startsWith('oidc.tx.')),
    )!;
    expect(landed.url.pathname).toBe('/');
    const sid = ([] as string[]).concat(callback.headers['set-cookie'] ?? []).find((c) => c.startsWith('sid='));
    expect(sid).toMatch(/; HttpOnly/);
    expect(sid).toMatch(/; SameSite=Lax/);
    expect(sid).not.toMatch(/; Secure/);
    // The pending login's cookie is cleared by the callback.
    expect(([] as string[]).concat(callback.headers['set-cookie'] ?? []).find((c) => c.startsWith('oidc.tx.'))).toMatch(
      /^oidc\.tx\.[^=]+=; .*Max-Age=0/,
    );
  });

  it('with an https BASE_URL (behind a TLS proxy): Secure cookies, HSTS, upgrade-insecure-requests', async () => {
    const publicUrl = 'https://app.example.com';
    const idp2 = await startIdentityProvider({ port: 0, host: '127.0.0.1', appBaseUrl: publicUrl });
    try {
      const behindProxy = createApp({
        baseUrl: publicUrl,
        issuer: idp2.issuer,
        clientId: idp2.client.clientId,
        clientSecret: idp2.client.clientSecret,
        sessionSecret: 'example-app-test-session-secret',
      });
      const res = await request(behindProxy).get('/login').set('X-Forwarded-Proto', 'https').expect(302);
      const tx = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('oidc.tx.'))!;
      const browserCookie = ([] as string[])
        .concat(res.headers['set-cookie'] ?? [])
        .find((c) => c.startsWith('__Host-oidc.browser='))!;
      expect(browserCookie).toMatch(/; Path=\/; .*; Secure$/);
      expect(tx).toMatch(/; Secure/);
      expect(tx).toMatch(/; SameSite=Lax/);
      expect(res.headers['strict-transport-security']).toBeDefined();
      expect(res.headers['content-security-policy']).toContain('upgrade-insecure-requests');
      expect(new URL(res.headers.location!).searchParams.get('redirect_uri')).toBe(`${publicUrl}/callback`);
      // Through the provider's login form, then back to the callback (as the proxy forwards it).
      const op = request.agent(idp2.issuer);
      let at = new URL(res.headers.location!);
      let hop = await op.get(at.pathname + at.search).redirects(0);
      for (let step = 0; step < 10 && !(hop.headers.location ?? '').startsWith(publicUrl); step++) {
        const action = /<form[^>]*action="([^"]+)"/.exec(hop.text ?? '')?.[1];
        if (hop.status === 200 && action) {
          at = new URL(action, at);
          hop = await op.post(at.pathname).type('form').send({ login: 'alice', password: 'alice' }).redirects(0);
        } else {
          at = new URL(hop.headers.location!, at);
          hop = await op.get(at.pathname + at.search).redirects(0);
        }
      }
      const callback = new URL(hop.headers.location!);
      expect(callback.origin + callback.pathname).toBe(`${publicUrl}/callback`);
      const done = await request(behindProxy)
        .get(callback.pathname + callback.search)
        .set('X-Forwarded-Proto', 'https')
        // The pending login's cookie and the browser-binding cookie (__Host-: https).
        .set('Cookie', `${tx.split(';')[0]!}; ${browserCookie.split(';')[0]!}`)
        .expect(302);
      const sid = ([] as string[]).concat(done.headers['set-cookie'] ?? []).find((c) => c.startsWith('sid='));
      expect(sid).toMatch(/; Secure/);
      expect(sid).toMatch(/; SameSite=Lax/);
    } finally {
      await idp2.close();
    }
  });

  it('refuses plain http for anything but this machine', () => {
    const settings = { issuer: idp.issuer, clientId: 'c', clientSecret: 's', sessionSecret: 'x' };
    expect(() => createApp({ ...settings, baseUrl: 'http://app.example.com' })).toThrow(/BASE_URL must use https/);
    expect(() => createApp({ ...settings, baseUrl: appUrl, issuer: 'http://idp.example.com' })).toThrow(
      /must use https/,
    );
    expect(() => createApp({ ...settings, baseUrl: 'https://app.example.com/sub' })).toThrow(/without a path/);
    expect(() => createApp({ ...settings, baseUrl: 'http://[::1]:3000' })).not.toThrow();
  });
});

describe('logging in at the demo identity provider', () => {
  it('shows a login form with a strict CSP that lets the form lead back to the app', async () => {
    const page = await navigate(newBrowser(), '/profile');
    expect(page.url.origin).toBe(new URL(idp.issuer).origin);
    expect(page.url.pathname).toMatch(/^\/interaction\//);
    expect(page.res.status).toBe(200);
    expect(page.res.text).toContain('name="password"');
    expect(page.res.text).not.toMatch(/<script|style=/);
    const csp = page.res.headers['content-security-policy'];
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain(`form-action 'self' ${appUrl}`);
  });

  it('logs alice in with her password and ends on /profile with her claims', async () => {
    const browser = newBrowser();
    const end = await loginAs(browser, 'alice', 'alice');
    expect(end.url.href).toBe(`${appUrl}/profile`);
    expect(end.res.status).toBe(200);
    expect(end.res.text).toContain('Alice Liddell');
    expect(end.res.text).toContain('alice@example.com');
    // The demo provider issues a refresh token without granting offline_access: the page says so.
    expect(end.res.text).toMatch(/Granted scope<\/th><td>openid profile email groups<\/td>/);
    expect(end.res.text).toMatch(/Refresh token<\/th><td>yes, though offline_access is not in the granted scope/);
    expect(end.res.text).toContain('<a href="/tokens">');
    expect(end.res.text).toContain('<a href="/admin">');
    // The session cookie set at the callback.
    const callback = end.hops.find((r) => r.headers['set-cookie'] && r.headers.location === '/profile');
    expect(callback).toBeDefined();

    const me = await browser.app.get('/api/me').expect(200);
    expect(me.body).toMatchObject({
      sub: 'alice',
      name: 'Alice Liddell',
      email: 'alice@example.com',
      groups: ['users'],
    });
    expect(Object.keys(me.body)[0]).toBe('sub');

    const home = await browser.app.get('/').set('Accept', 'text/html').expect(200);
    expect(home.text).toContain('Hello, Alice Liddell');
    expect(home.text).toContain('href="/profile"');
    // One log-out button: the header's.
    expect(home.text.match(/action="\/logout"/g)).toHaveLength(1);
  });

  it("signs up: the home page's button asks the provider for prompt=create, whose sign-up page logs in", async () => {
    const home = await request(appUrl).get('/').set('Accept', 'text/html').expect(200);
    expect(home.text).toContain('href="/signup"');
    const browser = newBrowser();
    const page = await navigate(browser, '/signup');
    const authorization = page.hops.find((r) => r.headers.location?.startsWith(`${idp.issuer}/`));
    expect(new URL(authorization!.headers.location!).searchParams.get('prompt')).toBe('create');
    expect(page.res.status).toBe(200);
    expect(page.res.text).toContain('<h1>Sign up</h1>');
    const end = await submitLogin(browser, page, { login: 'alice', password: 'alice' });
    expect(end.url.href).toBe(`${appUrl}/profile`);
    expect(end.res.text).toContain('Alice Liddell');
  });

  it('refuses a wrong password at the provider: the form again, with an error, and no way back to the app', async () => {
    const browser = newBrowser();
    const form = await navigate(browser, '/login');
    const refused = await submitLogin(browser, form, { login: 'alice', password: 'not-alice' });
    expect(refused.hops).toHaveLength(1);
    expect(refused.res.status).toBe(200);
    expect(refused.res.headers.location).toBeUndefined();
    expect(refused.url.origin).toBe(new URL(idp.issuer).origin);
    expect(refused.res.text).toContain('Wrong user name or password.');
    expect(refused.res.text).toContain('name="password"');
    expect(refused.res.text).toContain('value="alice"');
    await browser.app.get('/api/me').expect(401);

    // An unknown user is refused the same way.
    const unknown = await submitLogin(browser, refused, { login: 'carol', password: 'carol' });
    expect(unknown.res.status).toBe(200);
    expect(unknown.res.text).toContain('Wrong user name or password.');

    // The same form then accepts the right password.
    const end = await submitLogin(browser, unknown, { login: 'alice', password: 'alice' });
    expect(end.url.href).toBe(`${appUrl}/`);
    expect(end.res.text).toContain('Hello, Alice Liddell');
  });

  it('lets bob open /admin and gives alice a 403 page', async () => {
    const bob = newBrowser();
    const admin = await loginAs(bob, 'bob', 'bob', '/admin');
    expect(admin.url.href).toBe(`${appUrl}/admin`);
    expect(admin.res.status).toBe(200);
    expect(admin.res.text).toContain('Admin area');

    const alice = newBrowser();
    await loginAs(alice, 'alice', 'alice');
    const denied = await navigate(alice, '/admin');
    expect(denied.url.href).toBe(`${appUrl}/admin`);
    expect(denied.res.status).toBe(403);
    expect(denied.res.headers['content-type']).toMatch(/^text\/html/);
    // A heading, then the sentence once; the way out is home (logging in again changes nothing).
    expect(denied.res.text).toContain('<h1>Not allowed</h1>');
    expect(denied.res.text.match(/may not open this page/g)).toHaveLength(1);
    expect(denied.res.text).toContain('ERR_OIDC_FORBIDDEN');
    expect(denied.res.text).toContain('<p class="actions"><a class="button" href="/">Home</a></p>');
    expect(denied.res.text).not.toContain('href="/login"');
    const api = await alice.app.get('/api/me').expect(200);
    expect(api.body.sub).toBe('alice');
  });

  it('escapes claims in HTML', async () => {
    const browser = newBrowser();
    const profile = await loginAs(browser, 'mallory', 'mallory-password');
    expect(profile.res.status).toBe(200);
    const escaped = '&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &#39;friends&#39;';
    expect(profile.res.text).toContain(escaped);
    expect(profile.res.text).toContain('&lt;b&gt;admin&lt;/b&gt;');
    expect(profile.res.text).not.toContain('<script');
    expect(profile.res.text).not.toContain('<b>admin');
    const home = await browser.app.get('/').set('Accept', 'text/html').expect(200);
    expect(home.text).toContain(`Hello, ${escaped}`);
    // JSON carries the value as it is; `<b>admin</b>` is not the group admin.
    const me = await browser.app.get('/api/me').expect(200);
    expect(me.body.name).toBe(XSS_NAME);
    await browser.app.get('/admin').set('Accept', 'text/html').expect(403);
  });

  it('shows a readable error page, without a stack trace, when the user cancels the login', async () => {
    const browser = newBrowser();
    const form = await navigate(browser, '/profile');
    const end = await submitLogin(browser, form, 'cancel');
    expect(end.url.pathname).toBe('/callback');
    expect(end.res.status).toBe(401);
    expect(end.res.headers['content-type']).toMatch(/^text\/html/);
    expect(end.res.text).toContain('<h1>The login did not finish</h1>');
    expect(end.res.text).toContain('The identity provider did not log you in (access_denied).');
    expect(end.res.text).toContain('ERR_OIDC_ACCESS_DENIED');
    expect(end.res.text).toMatch(/<a class="button" href="\/login">Log in again<\/a> <a href="\/">Home<\/a>/);
    expect(end.res.text).not.toMatch(/\bat .*\.(?:js|ts):\d+/);
    expect(end.res.text).not.toContain('node_modules');
    await browser.app.get('/api/me').expect(401);
  });

  it('"Refresh now" refreshes the access token and says so, with the old and the new expiry', async () => {
    const browser = newBrowser();
    const tokens = await loginAs(browser, 'bob', 'bob', '/tokens');
    expect(tokens.res.status).toBe(200);
    expect(tokens.res.text).not.toContain('class="notice"');
    const before = /<td id="expires-at">([^<]+)<\/td>/.exec(tokens.res.text)![1]!;
    const refreshed = await browser.app.post('/tokens/refresh').set('Origin', appUrl).expect(303);
    const location = refreshed.headers.location!;
    expect(location).toBe(`/tokens?refreshed=${Date.parse(before) / 1000}`);
    const page = await browser.app.get(location).set('Accept', 'text/html').expect(200);
    expect(page.text).toMatch(
      new RegExp(
        `<p class="notice" role="status">Access token refreshed: it expired at ${before}, the new one expires at [^<]+\\.</p>`,
      ),
    );
  });

  it("shows /orders from the orders API, with a token made for that API; the API refuses the login's own token", async () => {
    const ordersApi = `${appUrl}/orders-api`;
    const browser = newBrowser();
    const form = await navigate(browser, '/profile');
    // The login asks for the orders API (RFC 8707): the provider issues its tokens only then.
    const authorization = form.hops.find((r) => r.headers.location?.startsWith(`${idp.issuer}/auth?`));
    expect(new URL(authorization!.headers.location!).searchParams.getAll('resource')).toEqual([ordersApi]);
    const profile = await submitLogin(browser, form, { login: 'alice', password: 'alice' });
    expect(profile.res.text).toContain('<a href="/orders">');

    const orders = await navigate(browser, '/orders');
    expect(orders.url.href).toBe(`${appUrl}/orders`);
    expect(orders.res.status).toBe(200);
    expect(orders.res.text).toContain('<tr><td>A-1001</td><td>Teapot</td><td>1</td></tr>');
    expect(orders.res.text).toContain(`<td id="orders-audience">${ordersApi}</td>`);
    expect(orders.res.text).toContain('<td id="orders-status">200</td>');
    expect(orders.res.text).toContain('<td id="own-token-status">401</td>');

    // The API itself: a Bearer token made for it, nothing else.
    const none = await request(appUrl).get('/orders-api/orders').expect(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(none.body).toEqual({ error: 'invalid_token', message: expect.any(String) });
    await request(appUrl).get('/orders-api/orders').set('Authorization', 'Bearer not-a-token').expect(401);
  });

  it('shows no orders page without the orders API (a provider that does not issue its tokens)', async () => {
    const plain = createApp({
      baseUrl: appUrl,
      issuer: idp.issuer,
      clientId: idp.client.clientId,
      clientSecret: idp.client.clientSecret,
      sessionSecret: 'example-app-test-session-secret',
    });
    await request(plain).get('/orders').set('Accept', 'text/html').expect(404);
    await request(plain).get('/orders-api/orders').expect(404);
    const start = await request(plain).get('/login').expect(302);
    expect(new URL(start.headers.location!).searchParams.has('resource')).toBe(false);
  });

  it('refuses a replayed login form', async () => {
    const browser = newBrowser();
    const form = await navigate(browser, '/profile');
    await submitLogin(browser, form, { login: 'alice', password: 'alice' });
    const replay = await submitLogin(browser, form, { login: 'alice', password: 'alice' });
    expect(replay.res.status).toBe(400);
    expect(replay.res.text).toContain('expired or was already used');
  });

  it('got through every login above without an oidc-provider notice about missing configuration', () => {
    const messages = notices.flatMap((spy) => spy.mock.calls.map((args) => String(args[0])));
    expect(messages.filter((m) => m.startsWith('oidc-provider '))).toEqual([]);
  });
});
