import { createServer as createNetServer, type Socket } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import { MemoryStore } from 'express-session';
import request from 'supertest';
import type { OidcEvent, OidcLoginOptions } from '../lib/index.js';
import { testOptions } from './support/app.js';
import { login, newBrowser, type Browser } from './support/flow.js';
import { createLogoutApp, sessionCookie, storedSession, type LogoutApp } from './support/logout-kit.js';
import {
  APP_BASE_URL,
  CLIENT_ID,
  CLIENT_SECRET,
  REDIRECT_URI,
  startProvider,
  type TestProvider,
} from './support/provider.js';
import { useProvider } from './support/use-provider.js';

/**
 * `POST /logout` and `GET /logout` against a real oidc-provider (RP-Initiated Logout 1.0 and
 * token revocation enabled): the local session ends first and for good, the browser goes to the
 * end_session_endpoint with the right parameters, a cross-site request logs nobody out.
 */

const op = useProvider();

const SAME_ORIGIN = { Origin: APP_BASE_URL };

interface Session {
  browser: Browser;
  kit: LogoutApp;
  /** The `sid=...` cookie of the login. */
  cookie: string;
  sessionId: string;
  idToken: string;
  refreshToken: string | null;
  events: { name: string; event: OidcEvent }[];
}

async function loggedIn(
  overrides: Partial<OidcLoginOptions> = {},
  provider: Pick<TestProvider, 'issuer'> = op,
  account = 'alice',
): Promise<Session> {
  const events: Session['events'] = [];
  const kit = createLogoutApp(
    testOptions(provider, {
      on: {
        logout: (event) => events.push({ name: 'logout', event }),
        login: (event) => events.push({ name: 'login', event }),
      },
      ...overrides,
    }),
  );
  const browser = newBrowser(kit.app, provider.issuer);
  const res = await login(browser, { account });
  expect(res.status).toBe(302);
  const probe = await browser.app.get('/probe/oidc').expect(200);
  expect(probe.body.isAuthenticated).toBe(true);
  return {
    browser,
    kit,
    cookie: sessionCookie(res),
    sessionId: probe.body.sessionId,
    idToken: probe.body.idToken,
    refreshToken: probe.body.refreshToken,
    events,
  };
}

async function isAuthenticated(s: Session): Promise<boolean> {
  return (await s.browser.app.get('/probe/oidc').expect(200)).body.isAuthenticated;
}

/** The refresh token used at the provider's token endpoint: its HTTP status. */
async function refreshStatus(refreshToken: string): Promise<number> {
  const res = await request(op.issuer)
    .post('/token')
    .auth(CLIENT_ID, CLIENT_SECRET)
    .type('form')
    .send({ grant_type: 'refresh_token', refresh_token: refreshToken });
  return res.status;
}

describe('POST /logout', () => {
  it('redirects (303) to the end_session_endpoint with id_token_hint, client_id and the exact post_logout_redirect_uri', async () => {
    const s = await loggedIn();
    const res = await s.browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
    expect(res.headers['cache-control']).toBe('no-store');
    const location = new URL(res.headers.location!);
    expect(location.origin + location.pathname).toBe(`${op.issuer}/session/end`);
    const params = location.searchParams;
    expect([...params.keys()].sort()).toEqual(['client_id', 'id_token_hint', 'post_logout_redirect_uri', 'state']);
    // The state is kept in the browser, to be checked and taken off the URL on the way back.
    expect(String(res.headers['set-cookie'])).toContain(`oidc.logout=${params.get('state')};`);
    expect(params.get('id_token_hint')).toBe(s.idToken);
    expect(params.get('client_id')).toBe(CLIENT_ID);
    expect(params.get('post_logout_redirect_uri')).toBe(`${APP_BASE_URL}/`);
    expect(s.events.filter((e) => e.name === 'logout')).toEqual([
      { name: 'logout', event: { sub: 'alice', sid: undefined, sessionId: s.sessionId, detail: 'provider' } },
    ]);

    // The provider accepts it: its logout page, "yes", back to the registered URI with the state,
    // and from there to the page as registered (no ?state=... for the user to see).
    const page = await s.browser.op.get(location.pathname + location.search).expect(200);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.text)![1]!;
    const done = await s.browser.op.post('/session/end/confirm').type('form').send({ xsrf, logout: 'yes' }).expect(303);
    expect(done.headers.location).toBe(`${APP_BASE_URL}/?state=${params.get('state')}`);
    const clean = await s.browser.app.get(`/?state=${params.get('state')}`).expect(302);
    expect(clean.headers.location).toBe('/');
  });

  it('sends the configured postLogoutRedirectUri, exactly, and the provider honours it', async () => {
    const s = await loggedIn({ logout: { postLogoutRedirectUri: `${APP_BASE_URL}/bye` } });
    const res = await s.browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
    const location = new URL(res.headers.location!);
    expect(location.searchParams.get('post_logout_redirect_uri')).toBe(`${APP_BASE_URL}/bye`);
    const page = await s.browser.op.get(location.pathname + location.search).expect(200);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.text)![1]!;
    const done = await s.browser.op.post('/session/end/confirm').type('form').send({ xsrf, logout: 'yes' }).expect(303);
    // The provider appends the logout's state; back at the app, the state is checked against the
    // browser's cookie and taken off the URL.
    const back = new URL(done.headers.location!);
    expect(back.origin + back.pathname).toBe(`${APP_BASE_URL}/bye`);
    expect(back.searchParams.get('state')).toBe(location.searchParams.get('state'));
    // Only at that page: elsewhere (also under a path it begins) the state is left to the app.
    await s.browser.app.get(`/elsewhere${back.search}`).expect(404);
    await s.browser.app.get(`/byes${back.search}`).expect(404);
    // The rest of the query comes through as it was.
    const clean = await s.browser.app.get(`${back.pathname}?lang&state=${back.searchParams.get('state')}`).expect(302);
    expect(clean.headers.location).toBe('/bye?lang');
    expect(String(clean.headers['set-cookie'])).toMatch(/oidc\.logout=; Path=\/; Max-Age=0/);
    // Another state, or none, is left to the app's page.
    await s.browser.app.get('/bye?state=' + 'x'.repeat(43)).expect(404);
  });

  it('destroys the local session before redirecting; the old cookie authenticates nothing afterwards', async () => {
    const s = await loggedIn();
    expect(await storedSession(s.kit.store, s.sessionId)).toBeDefined();
    await s.browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
    // The browser has not gone to the provider yet: the session is already gone from the store.
    expect(await storedSession(s.kit.store, s.sessionId)).toBeUndefined();
    const replay = await request(s.kit.app).get('/probe/oidc').set('Cookie', s.cookie).expect(200);
    expect(replay.body.isAuthenticated).toBe(false);
    expect(replay.body.sessionId).not.toBe(s.sessionId);
    expect(await isAuthenticated(s)).toBe(false);
  });

  it('cannot be made an open redirect: nothing in the request chooses the destination', async () => {
    const s = await loggedIn({ logout: { idpLogout: false } });
    const res = await s.browser.app
      .post('/logout?returnTo=https%3A%2F%2Fevil.example%2F&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F')
      .set(SAME_ORIGIN)
      .set('Host', 'evil.example')
      .set('X-Forwarded-Host', 'evil.example')
      .type('form')
      .send({ returnTo: 'https://evil.example/', post_logout_redirect_uri: 'https://evil.example/' })
      .expect(303);
    expect(res.headers.location).toBe(`${APP_BASE_URL}/`);
  });

  it('just redirects to the post-logout URL when nobody is logged in', async () => {
    const kit = createLogoutApp(testOptions(op));
    const res = await request(kit.app).post('/logout').set(SAME_ORIGIN).expect(303);
    expect(res.headers.location).toBe(`${APP_BASE_URL}/`);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('with idpLogout: false, ends the local session only and goes to the post-logout URL', async () => {
    const s = await loggedIn({ logout: { idpLogout: false } });
    const res = await s.browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
    expect(res.headers.location).toBe(`${APP_BASE_URL}/`);
    expect(await isAuthenticated(s)).toBe(false);
    expect(s.events.find((e) => e.name === 'logout')?.event.detail).toBe('local');
  });
});

describe('GET /logout', () => {
  it('works for a same-origin navigation (302 to the end_session_endpoint)', async () => {
    const s = await loggedIn();
    const res = await s.browser.app.get('/logout').set('Sec-Fetch-Site', 'same-origin').expect(302);
    expect(new URL(res.headers.location!).pathname).toBe('/session/end');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(await isAuthenticated(s)).toBe(false);
  });

  it('works from the address bar (Sec-Fetch-Site: none)', async () => {
    const s = await loggedIn();
    await s.browser.app.get('/logout').set('Sec-Fetch-Site', 'none').expect(302);
    expect(await isAuthenticated(s)).toBe(false);
  });

  // A GET the browser does not show to be the user's own navigation here logs nobody out: it gets
  // a page of this origin whose button POSTs the logout (no script), and the POST does it.
  it.each<[string, Record<string, string>]>([
    ['none of Sec-Fetch-Site, Origin, Referer (a no-referrer page, a browser without Fetch Metadata)', {}],
    [
      'an image of a page of this origin',
      { 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'no-cors', 'Sec-Fetch-Dest': 'image' },
    ],
    ['a same-origin fetch()', { 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' }],
    [
      'a same-origin iframe',
      { 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'navigate', 'Sec-Fetch-Dest': 'iframe' },
    ],
    [
      'a prefetched link',
      {
        'Sec-Fetch-Site': 'same-origin',
        'Sec-Fetch-Mode': 'navigate',
        'Sec-Fetch-Dest': 'document',
        'Sec-Purpose': 'prefetch',
      },
    ],
  ])('with %s: a confirmation page that POSTs, nobody logged out', async (_name, headers) => {
    const s = await loggedIn();
    const res = await s.browser.app.get('/logout').set(headers).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-security-policy']).toBe(
      "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    );
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.text).toMatch(/<form method="post" action="\/logout">/);
    expect(res.text).not.toMatch(/<script/);
    expect(await isAuthenticated(s)).toBe(true);
    expect(s.events.filter((e) => e.name === 'logout')).toEqual([]);
    // The button: a same-origin POST.
    await s.browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
    expect(await isAuthenticated(s)).toBe(false);
  });

  it('logs out a top-level navigation from this origin, with full Fetch Metadata or a Referer of this origin', async () => {
    for (const headers of [
      { 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Mode': 'navigate', 'Sec-Fetch-Dest': 'document' },
      { Referer: `${APP_BASE_URL}/account` },
    ]) {
      const s = await loggedIn({ logout: { idpLogout: false } });
      await s.browser.app.get('/logout').set(headers).expect(302);
      expect(await isAuthenticated(s)).toBe(false);
    }
  });

  it('the confirmation form names the logout route as configured', async () => {
    const s = await loggedIn({ routes: { logout: '/sign-out' } });
    const res = await s.browser.app.get('/sign-out').expect(200);
    expect(res.text).toMatch(/action="\/sign-out"/);
  });

  it('can be turned off (405), POST still working', async () => {
    const s = await loggedIn({ logout: { allowGet: false } });
    const res = await s.browser.app.get('/logout').set('Sec-Fetch-Site', 'same-origin').expect(405);
    expect(res.body.code).toBe('ERR_OIDC_METHOD_NOT_ALLOWED');
    expect(res.headers.allow).toBe('POST');
    expect(await isAuthenticated(s)).toBe(true);
    await s.browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
    expect(await isAuthenticated(s)).toBe(false);
  });
});

describe('a cross-site logout request', () => {
  const CROSS_SITE: [string, 'get' | 'post', Record<string, string>][] = [
    ['POST, Sec-Fetch-Site: cross-site', 'post', { 'Sec-Fetch-Site': 'cross-site', Origin: 'https://evil.example' }],
    [
      'POST, Sec-Fetch-Site: same-site (a sibling subdomain)',
      'post',
      { 'Sec-Fetch-Site': 'same-site', Origin: 'http://evil.app.localhost' },
    ],
    ['POST, Origin of another site (no Sec-Fetch-Site)', 'post', { Origin: 'https://evil.example' }],
    ['POST, Origin: null (sandboxed frame, redirect chain)', 'post', { Origin: 'null' }],
    ['POST, Origin of the same host on another port', 'post', { Origin: 'http://app.localhost:8080' }],
    ['POST, Referer of another site (no Origin)', 'post', { Referer: 'https://evil.example/page' }],
    ['GET, Sec-Fetch-Site: cross-site', 'get', { 'Sec-Fetch-Site': 'cross-site' }],
    ['GET, Referer of another site', 'get', { Referer: 'https://evil.example/page' }],
  ];

  it.each(CROSS_SITE)(
    'is refused with 403 ERR_OIDC_CROSS_SITE and logs nobody out: %s',
    async (_name, method, headers) => {
      const s = await loggedIn();
      const res = await s.browser.app[method]('/logout').set(headers).expect(403);
      expect(res.body.code).toBe('ERR_OIDC_CROSS_SITE');
      expect(res.headers.location).toBeUndefined();
      expect(res.headers['cache-control']).toBe('no-store');
      expect(await isAuthenticated(s)).toBe(true);
      expect(await storedSession(s.kit.store, s.sessionId)).toBeDefined();
      expect(s.events.filter((e) => e.name === 'logout')).toEqual([]);
    },
  );

  it('passes with the app origin in Origin or Referer', async () => {
    for (const headers of [{ Origin: APP_BASE_URL }, { Referer: `${APP_BASE_URL}/account?x=1` }]) {
      const s = await loggedIn({ logout: { idpLogout: false } });
      await s.browser.app.post('/logout').set(headers).expect(303);
      expect(await isAuthenticated(s)).toBe(false);
    }
  });

  it('without any of Sec-Fetch-Site, Origin, Referer (curl, a script): the confirmation page, nobody logged out', async () => {
    const s = await loggedIn({ logout: { idpLogout: false } });
    const res = await s.browser.app.post('/logout').expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.text).toMatch(/<form method="post" action="\/logout">/);
    expect(await isAuthenticated(s)).toBe(true);
    expect(await storedSession(s.kit.store, s.sessionId)).toBeDefined();
    expect(s.events.filter((e) => e.name === 'logout')).toEqual([]);
  });
});

describe('logout and the provider', () => {
  it('goes to the post-logout URL when the provider has no end_session_endpoint', async () => {
    const plain = await startProvider({
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: [REDIRECT_URI],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      configuration: { features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: false } } },
    });
    try {
      const metadata = (await request(plain.issuer).get('/.well-known/openid-configuration').expect(200)).body;
      expect(metadata.end_session_endpoint).toBeUndefined();
      const s = await loggedIn({}, plain);
      const res = await s.browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
      expect(res.headers.location).toBe(`${APP_BASE_URL}/`);
      expect(await isAuthenticated(s)).toBe(false);
      expect(s.events.find((e) => e.name === 'logout')?.event.detail).toBe('local');
    } finally {
      await plain.close();
    }
  });

  it('revokes the refresh token at the provider (offline_access): it no longer works there', async () => {
    const s = await loggedIn({ scope: 'openid offline_access', authorizationParams: { prompt: 'consent' } });
    expect(typeof s.refreshToken).toBe('string');
    await s.browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
    expect(await refreshStatus(s.refreshToken!)).toBe(400);
  });

  it('leaves the refresh token alone with revokeTokens: false (the control of the test above)', async () => {
    const s = await loggedIn({
      scope: 'openid offline_access',
      authorizationParams: { prompt: 'consent' },
      logout: { revokeTokens: false },
    });
    await s.browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
    expect(await refreshStatus(s.refreshToken!)).toBe(200);
  });

  it('still logs out locally when the provider is unreachable, and then goes to the post-logout URL', async () => {
    const down = await startProvider();
    try {
      const s = await loggedIn({ scope: 'openid offline_access', authorizationParams: { prompt: 'consent' } }, down);
      await down.stop();
      const started = Date.now();
      const res = await s.browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(res.headers.location).toBe(`${APP_BASE_URL}/`);
      expect(await isAuthenticated(s)).toBe(false);
      expect(s.events.find((e) => e.name === 'logout')?.event.detail).toBe('local');
    } finally {
      await down.close();
    }
  });

  it('waits for a hanging provider no longer than httpTimeout, then logs out locally', async () => {
    const hanging = await startProvider();
    const sockets = new Set<Socket>();
    const blackHole = createNetServer((socket) => sockets.add(socket)); // accepts, never answers
    try {
      const s = await loggedIn(
        { scope: 'openid offline_access', authorizationParams: { prompt: 'consent' }, httpTimeout: 400 },
        hanging,
      );
      await hanging.stop();
      await new Promise<void>((resolve) => blackHole.listen(hanging.port, '127.0.0.1', resolve));
      const started = Date.now();
      const res = await s.browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(350);
      expect(took).toBeLessThan(2500); // slack for a loaded machine; without a bound it would hang
      expect(res.headers.location).toBe(`${APP_BASE_URL}/`);
      expect(await isAuthenticated(s)).toBe(false);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => (blackHole.listening ? blackHole.close(() => resolve()) : resolve()));
      await hanging.close();
    }
  });

  it('still logs out locally when the provider was never discovered and is down', async () => {
    const down = await startProvider();
    const s = await loggedIn({}, down);
    // A second app (another instance) that has not discovered the provider yet, sharing the store.
    const other = createLogoutApp(testOptions(down, { httpTimeout: 500 }), s.kit.store);
    await down.close();
    const res = await request(other.app).post('/logout').set('Cookie', s.cookie).set(SAME_ORIGIN).expect(303);
    expect(res.headers.location).toBe(`${APP_BASE_URL}/`);
    expect(await storedSession(s.kit.store, s.sessionId)).toBeUndefined();
  });
});

describe('a request in flight during the logout', () => {
  it('does not bring the session back when it saves the session after the logout', async () => {
    const s = await loggedIn({ logout: { idpLogout: false } });
    const held = s.kit.hold();
    // Another tab: a request that loaded the logged-in session and will save it when it ends.
    const inFlight = s.browser.app.get('/slow').then((r) => r);
    await held.entered;
    await s.browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
    held.release();
    expect((await inFlight).status).toBe(200);
    expect(await storedSession(s.kit.store, s.sessionId)).toBeUndefined();
    const replay = await request(s.kit.app).get('/probe/oidc').set('Cookie', s.cookie).expect(200);
    expect(replay.body.isAuthenticated).toBe(false);
  });

  it('does not bring it back on another app instance sharing the store either', async () => {
    const s = await loggedIn({ logout: { idpLogout: false } });
    const store = s.kit.store as MemoryStore;
    const other = createLogoutApp(testOptions(op, { logout: { idpLogout: false } }), store);
    const held = other.hold();
    const inFlight = request(other.app)
      .get('/slow')
      .set('Cookie', s.cookie)
      .then((r) => r);
    await held.entered;
    await s.browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
    held.release();
    expect((await inFlight).status).toBe(200);
    expect(await storedSession(store, s.sessionId)).toBeUndefined();
    const replay = await request(other.app).get('/probe/oidc').set('Cookie', s.cookie).expect(200);
    expect(replay.body.isAuthenticated).toBe(false);
  });

  it('drops a login written back past the store guard on its next request (the in-process guard)', async () => {
    const s = await loggedIn({ logout: { idpLogout: false } });
    const store = s.kit.store as MemoryStore;
    const data = await storedSession(store, s.sessionId);
    await s.browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
    // A write that skips every check (MemoryStore's own set, not the guarded one).
    await new Promise<void>((resolve, reject) =>
      MemoryStore.prototype.set.call(store, s.sessionId, data!, (err?: unknown) => (err ? reject(err) : resolve())),
    );
    const replay = await request(s.kit.app).get('/probe/oidc').set('Cookie', s.cookie).expect(200);
    expect(replay.body.sessionId).toBe(s.sessionId);
    expect(replay.body.isAuthenticated).toBe(false);
    expect((await storedSession(store, s.sessionId))?.oidc?.login).toBeUndefined();
  });
});
