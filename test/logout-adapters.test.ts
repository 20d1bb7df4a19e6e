import { describe, expect, it } from '@jest/globals';
import express from 'express';
import session, { MemoryStore } from 'express-session';
import * as client from 'openid-client';
import request from 'supertest';
import {
  auth0Logout,
  cognitoLogout,
  oidcLogin,
  type IdpLogoutContext,
  type IdpLogoutUrl,
  type OidcEvent,
  type OidcLoginOptions,
} from '../lib/index.js';
import { testOptions } from './support/app.js';
import { expectConfigError } from './support/config-error.js';
import { login as loginAtProvider, newBrowser } from './support/flow.js';
import { startHostileProvider } from './support/hostile-provider.js';
import { useHostileProvider } from './support/use-hostile-provider.js';
import { createLogoutApp, storedSession } from './support/logout-kit.js';
import { APP_BASE_URL, CLIENT_ID, CLIENT_SECRET } from './support/provider.js';
import { useProvider } from './support/use-provider.js';

/**
 * `logout.idpLogoutUrl`, for providers whose logout is not RP-Initiated Logout, and the two
 * ready-made adapters: Auth0 (`/v2/logout`) and Cognito (`/logout`). The hostile provider has no
 * end_session_endpoint, like those two; the local session ends in every case, and only the
 * configured post-logout URI goes into the provider's URL.
 */

const op = useHostileProvider();

const SAME_ORIGIN = { Origin: APP_BASE_URL };

interface LoggedIn {
  agent: request.Agent;
  store: MemoryStore;
  sessionId: string;
  idToken: string;
  events: OidcEvent[];
}

/** An app with `logout` options, logged in through the hostile provider. */
async function loggedIn(
  logout: OidcLoginOptions['logout'],
  overrides: Partial<OidcLoginOptions> = {},
  issuer: string = op.issuer,
): Promise<LoggedIn> {
  const events: OidcEvent[] = [];
  const store = new MemoryStore();
  const { app } = createLogoutApp(
    testOptions({ issuer }, { logout, on: { logout: (e) => events.push(e) }, ...overrides }),
    store,
  );
  const agent = request.agent(app);
  const start = await agent.get('/login').expect(302);
  const atProvider = await fetch(start.headers.location!, { redirect: 'manual' });
  const callback = new URL(atProvider.headers.get('location')!);
  await agent.get(callback.pathname + callback.search).expect(302);
  const probe = (await agent.get('/probe/oidc').expect(200)).body;
  expect(probe.isAuthenticated).toBe(true);
  return { agent, store, sessionId: probe.sessionId, idToken: probe.idToken, events };
}

/** The session is gone from the store and the cookie authenticates nothing. */
async function expectLoggedOut(s: LoggedIn): Promise<void> {
  expect(await storedSession(s.store, s.sessionId)).toBeUndefined();
  expect((await s.agent.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(false);
}

const issuerHost = (): string => new URL(op.issuer).host;

describe('auth0Logout()', () => {
  it('redirects POST /logout to https://<issuer host>/v2/logout with client_id and returnTo, and ends the local session', async () => {
    const s = await loggedIn({ idpLogoutUrl: auth0Logout() });
    const res = await s.agent.post('/logout').set(SAME_ORIGIN).expect(303);
    expect(res.headers.location).toBe(
      `https://${issuerHost()}/v2/logout?client_id=${CLIENT_ID}&returnTo=${encodeURIComponent(`${APP_BASE_URL}/`)}`,
    );
    expect(res.headers['cache-control']).toBe('no-store');
    await expectLoggedOut(s);
    expect(s.events).toEqual([expect.objectContaining({ sub: 'hostile-user-1', detail: 'provider' })]);
  });

  it('uses the given domain and the configured postLogoutRedirectUri', async () => {
    const s = await loggedIn({
      idpLogoutUrl: auth0Logout({ domain: 'login.example.com' }),
      postLogoutRedirectUri: `${APP_BASE_URL}/bye`,
    });
    const res = await s.agent.post('/logout').set(SAME_ORIGIN).expect(303);
    const url = new URL(res.headers.location!);
    expect(url.origin + url.pathname).toBe('https://login.example.com/v2/logout');
    expect([...url.searchParams]).toEqual([
      ['client_id', CLIENT_ID],
      ['returnTo', `${APP_BASE_URL}/bye`],
    ]);
    await expectLoggedOut(s);
  });

  it('answers GET /logout with a 302 to the same URL', async () => {
    const s = await loggedIn({ idpLogoutUrl: auth0Logout() });
    const res = await s.agent.get('/logout').set('Sec-Fetch-Site', 'same-origin').expect(302);
    expect(res.headers.location).toMatch(new RegExp(`^https://${issuerHost().replace(/\./g, '\\.')}/v2/logout\\?`));
    await expectLoggedOut(s);
  });

  it('takes an https origin as domain, and refuses anything but a host name', () => {
    expect(typeof auth0Logout({ domain: 'https://tenant.eu.auth0.com' })).toBe('function');
    expect(typeof auth0Logout({ domain: 'tenant.eu.auth0.com:8443' })).toBe('function');
    for (const domain of [
      '',
      'http://tenant.auth0.com',
      'tenant.auth0.com/v2',
      'https://u:p@tenant.auth0.com',
      'tenant.auth0.com?x=1',
      'a b',
      42,
    ]) {
      expectConfigError(() => auth0Logout({ domain: domain as string }));
    }
  });
});

describe('cognitoLogout({ domain })', () => {
  const domain = 'myapp.auth.eu-west-1.amazoncognito.com';

  it('redirects POST /logout to https://<domain>/logout with client_id and logout_uri, and ends the local session', async () => {
    const s = await loggedIn({ idpLogoutUrl: cognitoLogout({ domain }) });
    const res = await s.agent.post('/logout').set(SAME_ORIGIN).expect(303);
    expect(res.headers.location).toBe(
      `https://${domain}/logout?client_id=${CLIENT_ID}&logout_uri=${encodeURIComponent(`${APP_BASE_URL}/`)}`,
    );
    await expectLoggedOut(s);
    expect(s.events).toEqual([expect.objectContaining({ detail: 'provider' })]);
  });

  it("needs a domain (the hosted UI domain is not the issuer's host)", () => {
    expectConfigError(() => cognitoLogout(undefined as never));
    expectConfigError(() => cognitoLogout({} as never), /needs "domain"/);
    expectConfigError(() => cognitoLogout({ domain: 'http://myapp.auth.eu-west-1.amazoncognito.com' }), /https/);
    expect(typeof cognitoLogout({ domain: `https://${domain}/` })).toBe('function');
  });
});

describe('logout.idpLogoutUrl: a function of your own', () => {
  it('is given the ID token, client id, post-logout URI, a fresh state and the metadata, and nothing from the request', async () => {
    const seen: IdpLogoutContext[] = [];
    const s = await loggedIn({
      postLogoutRedirectUri: `${APP_BASE_URL}/bye`,
      idpLogoutUrl: (ctx) => {
        seen.push(ctx);
        const url = new URL('https://sso.example.com/signout');
        url.searchParams.set('app', ctx.clientId);
        url.searchParams.set('next', ctx.postLogoutRedirectUri);
        return url;
      },
    });
    const res = await s.agent
      .post('/logout?returnTo=https://evil.example&post_logout_redirect_uri=https://evil.example')
      .set(SAME_ORIGIN)
      .set('Referer', `${APP_BASE_URL}/page?next=https://evil.example`)
      .type('form')
      .send({ returnTo: 'https://evil.example' })
      .expect(303);
    expect(res.headers.location).toBe(
      `https://sso.example.com/signout?app=${CLIENT_ID}&next=${encodeURIComponent(`${APP_BASE_URL}/bye`)}`,
    );
    expect(seen).toHaveLength(1);
    const ctx = seen[0]!;
    expect(Object.keys(ctx).sort()).toEqual(['clientId', 'idToken', 'metadata', 'postLogoutRedirectUri', 'state']);
    expect(ctx.idToken).toBe(s.idToken);
    expect(ctx.clientId).toBe(CLIENT_ID);
    expect(ctx.postLogoutRedirectUri).toBe(`${APP_BASE_URL}/bye`);
    expect(ctx.state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(ctx.metadata.issuer).toBe(op.issuer);
    expect(JSON.stringify(ctx)).not.toContain('evil');
    await expectLoggedOut(s);
  });

  it('may return a string', async () => {
    const s = await loggedIn({
      idpLogoutUrl: ({ postLogoutRedirectUri }) =>
        `https://sso.example.com/out?to=${encodeURIComponent(postLogoutRedirectUri)}`,
    });
    const res = await s.agent.post('/logout').set(SAME_ORIGIN).expect(303);
    expect(res.headers.location).toBe(`https://sso.example.com/out?to=${encodeURIComponent(`${APP_BASE_URL}/`)}`);
    await expectLoggedOut(s);
  });

  it.each<[string, IdpLogoutUrl]>([
    ['returns undefined', () => undefined],
    [
      'throws',
      () => {
        throw new Error('bug in the app');
      },
    ],
    ['returns a relative URL', () => '/v2/logout'],
    ['returns a javascript: URL', () => 'javascript:alert(1)'],
    ['returns an ftp URL', () => new URL('ftp://example.com/logout')],
    ['returns a URL with credentials', () => 'https://user:secret@sso.example.com/logout'],
  ])(
    'keeps the standard behaviour when it %s: here (no end_session_endpoint) straight to the post-logout URI',
    async (_name, idpLogoutUrl) => {
      const s = await loggedIn({ idpLogoutUrl });
      const res = await s.agent.post('/logout').set(SAME_ORIGIN).expect(303);
      expect(res.headers.location).toBe(`${APP_BASE_URL}/`);
      await expectLoggedOut(s);
      expect(s.events).toEqual([expect.objectContaining({ detail: 'local' })]);
    },
  );

  it('refuses an http URL unless dangerouslyAllowInsecureHttp is on', async () => {
    const idpLogoutUrl = () => 'http://sso.example.com/logout';
    const dev = await loggedIn({ idpLogoutUrl });
    expect((await dev.agent.post('/logout').set(SAME_ORIGIN).expect(303)).headers.location).toBe(
      'http://sso.example.com/logout',
    );

    // In production (an https provider, no dangerouslyAllowInsecureHttp): a ready-made
    // Configuration, and a login put in the session directly, so that nothing goes over the network.
    const configuration = new client.Configuration(
      {
        issuer: 'https://idp.example.com',
        authorization_endpoint: 'https://idp.example.com/authorize',
        token_endpoint: 'https://idp.example.com/token',
      },
      CLIENT_ID,
      CLIENT_SECRET,
    );
    const prod = (url: string): request.Agent => {
      const app = express();
      app.use(session({ secret: 'test-session-secret', resave: false, saveUninitialized: false, name: 'sid' }));
      app.use(oidcLogin({ configuration, baseUrl: APP_BASE_URL, logger: false, logout: { idpLogoutUrl: () => url } }));
      app.get('/seed', (req, res) => {
        const now = Date.now();
        const claims = { iss: 'https://idp.example.com', sub: 'u1', aud: CLIENT_ID, iat: 0, exp: 0 };
        req.session.oidc = {
          login: { idToken: 'x.y.z', accessToken: 'at', tokenType: 'Bearer', claims, loggedInAt: now, activeAt: now },
        };
        res.end();
      });
      app.get('/probe/oidc', (req, res) => res.json({ isAuthenticated: req.oidc!.isAuthenticated() }));
      return request.agent(app);
    };
    for (const [url, location] of [
      ['http://sso.example.com/logout', `${APP_BASE_URL}/`],
      ['https://sso.example.com/logout', 'https://sso.example.com/logout'],
    ] as const) {
      const agent = prod(url);
      await agent.get('/seed').expect(200);
      expect((await agent.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(true);
      expect((await agent.post('/logout').set(SAME_ORIGIN).expect(303)).headers.location).toBe(location);
      expect((await agent.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(false);
    }
  });

  it('is not called with logout.idpLogout: false (a local logout)', async () => {
    let calls = 0;
    const s = await loggedIn({
      idpLogout: false,
      idpLogoutUrl: () => {
        calls++;
        return 'https://sso.example.com/logout';
      },
    });
    const res = await s.agent.post('/logout').set(SAME_ORIGIN).expect(303);
    expect(res.headers.location).toBe(`${APP_BASE_URL}/`);
    expect(calls).toBe(0);
    await expectLoggedOut(s);
  });

  it('is not called without a login; a cross-site request still logs nobody out', async () => {
    let calls = 0;
    const s = await loggedIn({
      idpLogoutUrl: () => {
        calls++;
        return 'https://sso.example.com/logout';
      },
    });
    await s.agent.post('/logout').set('Origin', 'https://evil.example').expect(403);
    expect((await s.agent.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(true);
    await s.agent.post('/logout').set(SAME_ORIGIN).expect(303);
    await s.agent.post('/logout').set(SAME_ORIGIN).expect(303).expect('Location', `${APP_BASE_URL}/`);
    expect(calls).toBe(1);
  });

  it('is refused at start-up when it is not a function', () => {
    expectConfigError(
      testOptions(op, { logout: { idpLogoutUrl: 'https://sso.example.com/logout' as never } }),
      /logout\.idpLogoutUrl/,
    );
  });
});

describe('logout.idpLogoutUrl with a provider that has an end_session_endpoint', () => {
  const real = useProvider();

  it('is used in place of the end_session_endpoint', async () => {
    const store = new MemoryStore();
    const { app } = createLogoutApp(
      testOptions(real, { logout: { idpLogoutUrl: auth0Logout({ domain: 'login.example.com' }) } }),
      store,
    );
    const browser = newBrowser(app, real.issuer);
    await loginAtProvider(browser);
    const { sessionId } = (await browser.app.get('/probe/oidc').expect(200)).body;
    const res = await browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
    expect(res.headers.location).toBe(
      `https://login.example.com/v2/logout?client_id=${CLIENT_ID}&returnTo=${encodeURIComponent(`${APP_BASE_URL}/`)}`,
    );
    expect(await storedSession(store, sessionId)).toBeUndefined();
  });

  it('returning undefined keeps the standard RP-Initiated Logout', async () => {
    const { app } = createLogoutApp(testOptions(real, { logout: { idpLogoutUrl: () => undefined } }));
    const browser = newBrowser(app, real.issuer);
    await loginAtProvider(browser);
    const res = await browser.app.post('/logout').set(SAME_ORIGIN).expect(303);
    expect(res.headers.location!.startsWith(`${real.issuer}/session/end?`)).toBe(true);
  });
});

describe('a provider that cannot be reached at logout', () => {
  it("still gets the adapter's URL (built from the metadata fetched at login: no request to the provider) and ends the local session", async () => {
    const down = await startHostileProvider();
    let calls = 0;
    const s = await loggedIn(
      {
        idpLogoutUrl: (ctx) => {
          calls++;
          return cognitoLogout({ domain: 'myapp.auth.eu-west-1.amazoncognito.com' })(ctx);
        },
      },
      {},
      down.issuer,
    );
    await down.close();
    // The discovery document was fetched at login: logout needs no request to the provider.
    const res = await s.agent.post('/logout').set(SAME_ORIGIN).expect(303);
    expect(res.headers.location).toBe(
      'https://myapp.auth.eu-west-1.amazoncognito.com/logout?client_id=test-app&logout_uri=http%3A%2F%2Fapp.localhost%2F',
    );
    expect(calls).toBe(1);
    await expectLoggedOut(s);
  });
});
