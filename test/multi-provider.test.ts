import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import express, { type Express } from 'express';
import session, { MemoryStore } from 'express-session';
import type { ClientMetadata } from 'oidc-provider';
import * as client from 'openid-client';
import request, { type Response } from 'supertest';
import { github, oidcLogin, requireAuth, type OidcEvent, type OidcLoginOptions } from '../lib/index.js';
import { loginAs, startTestProvider } from '../lib/testing/index.js';
import { createApp } from './support/app.js';
import { GH_CLIENT_ID, GH_CLIENT_SECRET, startFakeGitHub, type FakeGitHub } from './support/fake-github.js';
import { authorizeAt, pathOf, txCookies, type Agent } from './support/flow.js';
import {
  listenLoopback,
  logoutAtProvider,
  logoutClaims,
  providerKey,
  sessionCookie,
  signLogoutToken,
  storedSession,
  type LoopbackServer,
} from './support/logout-kit.js';
import { APP_BASE_URL, startProvider, type TestProvider } from './support/provider.js';
import { expireAccessToken, patchStoredLogin } from './support/refresh-kit.js';
import type { SigningKey } from './support/hostile-provider.js';

/**
 * Several named providers in one oidcLogin(): two real in-process oidc-provider instances, A and B,
 * each with its own client of the app (redirect URIs /callback/a and /callback/b). The user `alice`
 * exists at both with the same `sub`. Every request either provider receives at its token
 * endpoint is counted (by oidc-provider's events), so "no token request" is measured.
 */

const SECRET_A = 'secret-of-the-app-at-provider-a-0123456789abcdef';
const SECRET_B = 'secret-of-the-app-at-provider-b-0123456789abcdef';

interface Op {
  server: TestProvider;
  key: SigningKey;
  clientId: string;
  /** Requests to the token endpoint (codes and refreshes, good or bad). */
  tokenRequests: number;
  /** Revocation requests the provider refused. */
  revocationErrors: number;
}

let a: Op;
let b: Op;
let backchannel: LoopbackServer;

async function startOp(name: 'a' | 'b', secret: string, backchannelUrl: string): Promise<Op> {
  const { key, jwk } = await providerKey();
  const clientId = `app-at-${name}`;
  const server = await startProvider({
    signingKey: jwk,
    backchannelLogoutUri: `${backchannelUrl}/backchannel-logout/${name}`,
    clients: [
      {
        client_id: clientId,
        client_secret: secret,
        redirect_uris: [`${APP_BASE_URL}/callback/${name}`],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        post_logout_redirect_uris: [`${APP_BASE_URL}/`],
        backchannel_logout_uri: `${backchannelUrl}/backchannel-logout/${name}`,
        backchannel_logout_session_required: true,
      },
    ],
  });
  const op: Op = { server, key, clientId, tokenRequests: 0, revocationErrors: 0 };
  // Every request to the token endpoint ends in one of these (oidc-provider wraps the endpoint in
  // an error handler that emits grant.error, or server_error for a 500).
  server.provider.on('grant.success', () => op.tokenRequests++);
  server.provider.on('grant.error', () => op.tokenRequests++);
  server.provider.on('server_error', (ctx: { oidc?: { route?: string } }) => {
    if (ctx.oidc?.route === 'token') op.tokenRequests++;
  });
  server.provider.on('revocation.error', () => op.revocationErrors++);
  return op;
}

function providerOptions(op: Op, secret: string) {
  return { issuer: op.server.issuer, clientId: op.clientId, clientSecret: secret };
}

/** Both providers; `overrides` on top (top-level options, or `providers` replaced). */
function multiOptions(overrides: Partial<OidcLoginOptions> = {}): OidcLoginOptions {
  return {
    baseUrl: APP_BASE_URL,
    dangerouslyAllowInsecureHttp: true,
    httpTimeout: 2000,
    scope: 'openid profile email offline_access',
    providers: {
      a: { ...providerOptions(a, SECRET_A), label: 'Provider A' },
      b: { ...providerOptions(b, SECRET_B), label: 'Provider <B> & "co"' },
    },
    ...overrides,
  };
}

interface MultiApp {
  app: Express;
  store: MemoryStore;
  events: { name: string; event: OidcEvent }[];
}

function createMultiApp(options: OidcLoginOptions, store = new MemoryStore()): MultiApp {
  const events: MultiApp['events'] = [];
  const withEvents: OidcLoginOptions = {
    on: {
      login: (event) => events.push({ name: 'login', event }),
      loginFailed: (event) => events.push({ name: 'loginFailed', event }),
      logout: (event) => events.push({ name: 'logout', event }),
      refresh: (event) => events.push({ name: 'refresh', event }),
      backchannelLogout: (event) => events.push({ name: 'backchannelLogout', event }),
    },
    ...options,
  };
  const { app } = createApp(withEvents, {
    store,
    probes: false,
    routes: (app) => {
      app.get('/probe', (req, res) => {
        const oidc = req.oidc!;
        res.json({
          isAuthenticated: oidc.isAuthenticated(),
          provider: oidc.provider ?? null,
          sub: oidc.claims?.sub ?? null,
          iss: oidc.claims?.iss ?? null,
          sessionId: req.sessionID,
          pending: Object.values(req.session.oidc?.tx ?? {}).map((t) => t.provider ?? null),
          refreshToken: oidc.refreshToken ?? null,
          stored: req.session.oidc?.login?.provider ?? null,
        });
      });
      app.get('/token', async (req, res, next) => {
        try {
          res.json({ accessToken: await req.oidc!.getAccessToken() });
        } catch (err) {
          next(err);
        }
      });
      app.get('/protected', requireAuth(), (req, res) => res.json({ provider: req.oidc!.provider }));
      app.get('/recent', requireAuth({ maxAge: 300 }), (req, res) => res.json({ provider: req.oidc!.provider }));
    },
  });
  return { app, store, events };
}

/** A browser: one cookie-keeping agent for the app, one for each provider. */
interface Browser {
  app: Agent;
  ops: Record<'a' | 'b', Agent>;
}

function newBrowser(app: Express): Browser {
  return { app: request.agent(app), ops: { a: request.agent(a.server.issuer), b: request.agent(b.server.issuer) } };
}

/** `GET /login/<name>` and the user at that provider; resolves with the callback URL, not yet visited. */
async function authorizeWith(browser: Browser, name: 'a' | 'b', query = '', account = 'alice'): Promise<URL> {
  const res = await browser.app.get(`/login/${name}${query}`).expect(302);
  const authorizationUrl = new URL(res.headers.location!);
  return authorizeAt({ app: browser.app, op: browser.ops[name] }, authorizationUrl, account);
}

/** A complete login at provider `name`; resolves with the callback's response. */
async function loginAt(browser: Browser, name: 'a' | 'b', query = '', account = 'alice'): Promise<Response> {
  const callback = await authorizeWith(browser, name, query, account);
  return browser.app.get(pathOf(callback.href));
}

async function probe(browser: Browser): Promise<{
  isAuthenticated: boolean;
  provider: string | null;
  sub: string | null;
  iss: string | null;
  sessionId: string;
  pending: (string | null)[];
  refreshToken: string | null;
  stored: string | null;
}> {
  return (await browser.app.get('/probe').expect(200)).body;
}

/**
 * The providers with a login pending in this browser, sorted: in the session
 * (pendingLogins: 'session'; a default-provider transaction is null), or, by default, as sealed
 * cookies for each provider's own callback (the agent holds them: the app cannot list them).
 */
async function pendingOf(agent: Agent): Promise<(string | null)[]> {
  const inSession = (await agent.get('/probe').expect(200)).body.pending as (string | null)[];
  const inCookies = ['a', 'b', 'github'].flatMap((name) =>
    [...txCookies(agent, '127.0.0.1', `/callback/${name}`).keys()].map(() => name),
  );
  return [...inSession, ...inCookies].sort();
}

beforeAll(async () => {
  backchannel = await listenLoopback();
  [a, b] = await Promise.all([startOp('a', SECRET_A, backchannel.url), startOp('b', SECRET_B, backchannel.url)]);
});
afterAll(async () => {
  await Promise.all([a.server.close(), b.server.close(), backchannel.close()]);
});

describe('two providers in one app', () => {
  let m: MultiApp;
  beforeAll(() => {
    m = createMultiApp(multiOptions());
    backchannel.serve(m.app);
  });
  beforeEach(() => {
    m.events.length = 0;
  });

  it.each(['a', 'b'] as const)('logs in at provider %s, with its own client and redirect URI', async (name) => {
    const op = name === 'a' ? a : b;
    const browser = newBrowser(m.app);
    const started = await browser.app.get(`/login/${name}`).expect(302);
    const authorizationUrl = new URL(started.headers.location!);
    expect(authorizationUrl.origin).toBe(op.server.issuer);
    expect(authorizationUrl.searchParams.get('client_id')).toBe(op.clientId);
    expect(authorizationUrl.searchParams.get('redirect_uri')).toBe(`${APP_BASE_URL}/callback/${name}`);
    expect(await pendingOf(browser.app)).toEqual([name]);

    const callback = await authorizeAt({ app: browser.app, op: browser.ops[name] }, authorizationUrl);
    expect(callback.pathname).toBe(`/callback/${name}`);
    expect(callback.searchParams.get('iss')).toBe(op.server.issuer);
    const before = { a: a.tokenRequests, b: b.tokenRequests };
    const done = await browser.app.get(pathOf(callback.href)).expect(302);
    expect(done.headers.location).toBe('/');
    expect({ a: a.tokenRequests - before.a, b: b.tokenRequests - before.b }).toEqual(
      name === 'a' ? { a: 1, b: 0 } : { a: 0, b: 1 },
    );

    const after = await probe(browser);
    expect(after).toMatchObject({
      isAuthenticated: true,
      provider: name,
      stored: name,
      sub: 'alice',
      iss: op.server.issuer,
      pending: [],
    });
    expect(await pendingOf(browser.app)).toEqual([]);
    expect(m.events.find((e) => e.name === 'login')?.event).toMatchObject({ sub: 'alice', provider: name });
  });

  it('keeps returnTo through /login/<name>', async () => {
    const browser = newBrowser(m.app);
    const done = await loginAt(browser, 'b', '?returnTo=%2Forders%3Fpage%3D2');
    expect(done.status).toBe(302);
    expect(done.headers.location).toBe('/orders?page=2');
  });

  it('a new login at the other provider replaces the first one', async () => {
    const browser = newBrowser(m.app);
    await loginAt(browser, 'a').then((r) => expect(r.status).toBe(302));
    await loginAt(browser, 'b').then((r) => expect(r.status).toBe(302));
    expect(await probe(browser)).toMatchObject({ isAuthenticated: true, provider: 'b', iss: b.server.issuer });
  });

  describe('mix-up defence', () => {
    // The sealed transaction names its provider too, but a cookie for a's callback is never even
    // sent to b's: the binding to the provider is checked where the transaction is readable, in the
    // session (pendingLogins: 'session'); the cookie mode is tested below.
    let ms: MultiApp;
    beforeAll(() => {
      ms = createMultiApp(multiOptions({ pendingLogins: 'session' }));
    });
    beforeEach(() => {
      ms.events.length = 0;
    });

    it.each([
      ['a', 'b'],
      ['b', 'a'],
    ] as const)(
      "refuses %s's code and state at %s's callback (session mode): 400, no token request anywhere, the transaction gone",
      async (from, to) => {
        const m = ms;
        const browser = newBrowser(m.app);
        const callback = await authorizeWith(browser, from);
        const before = { a: a.tokenRequests, b: b.tokenRequests };

        const res = await browser.app.get(`/callback/${to}${callback.search}`).expect(400);
        expect(res.body.code).toBe('ERR_OIDC_PROVIDER_MIXUP');
        expect(res.headers['cache-control']).toBe('no-store');
        expect({ a: a.tokenRequests, b: b.tokenRequests }).toEqual(before);
        expect(await probe(browser)).toMatchObject({ isAuthenticated: false, pending: [] });
        expect(m.events.find((e) => e.name === 'loginFailed')?.event).toMatchObject({
          code: 'ERR_OIDC_PROVIDER_MIXUP',
          provider: to,
        });

        // The transaction was consumed: not even the right callback can use it now.
        const retry = await browser.app.get(pathOf(callback.href)).expect(400);
        expect(retry.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
        expect({ a: a.tokenRequests, b: b.tokenRequests }).toEqual(before);
      },
    );

    it.each([
      ['a', 'b'],
      ['b', 'a'],
    ] as const)(
      "refuses %s's code and state at %s's callback (cookie mode): the cookie is not sent there, and moved there it does not open",
      async (from, to) => {
        const browser = newBrowser(m.app);
        const callback = await authorizeWith(browser, from);
        const before = { a: a.tokenRequests, b: b.tokenRequests };
        const res = await browser.app.get(`/callback/${to}${callback.search}`).expect(400);
        expect(res.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
        // A client that sent every cookie everywhere: the seal binds the cookie to its provider's redirect URI.
        const [name, value] = [...txCookies(browser.app, '127.0.0.1', `/callback/${from}`)][0]!;
        const moved = await request(m.app)
          .get(`/callback/${to}${callback.search}`)
          .set('Cookie', `${name}=${value}`)
          .expect(400);
        expect(moved.body.code).toBe('ERR_OIDC_TRANSACTION_INVALID');
        expect({ a: a.tokenRequests, b: b.tokenRequests }).toEqual(before);
        expect(await probe(browser)).toMatchObject({ isAuthenticated: false });
        // Nothing was used up at the wrong callback: the right one still logs in.
        await browser.app.get(pathOf(callback.href)).expect(302);
        expect(await probe(browser)).toMatchObject({ isAuthenticated: true, provider: from });
      },
    );

    it("refuses, at B's callback, a response that A issued for B's login (RFC 9207 iss): no token request", async () => {
      // The classic mix-up: the login was started at B, the browser was sent on to A, and A's
      // code comes back with B's state. The transaction is B's, so only "iss" can tell.
      const browser = newBrowser(m.app);
      const stateOfB = new URL((await browser.app.get('/login/b').expect(302)).headers.location!).searchParams.get(
        'state',
      )!;
      const atA = new URL((await browser.app.get('/login/a').expect(302)).headers.location!);
      atA.searchParams.set('state', stateOfB);
      const fromA = await authorizeAt({ app: browser.app, op: browser.ops.a }, atA);
      expect(fromA.searchParams.get('state')).toBe(stateOfB);
      expect(fromA.searchParams.get('iss')).toBe(a.server.issuer);
      const before = { a: a.tokenRequests, b: b.tokenRequests };

      const res = await browser.app.get(`/callback/b${fromA.search}`).expect(400);
      expect(res.body.code).toBe('ERR_OIDC_INVALID_CALLBACK');
      expect(res.body.message).toMatch(/another identity provider/);
      expect({ a: a.tokenRequests, b: b.tokenRequests }).toEqual(before);
      expect((await probe(browser)).isAuthenticated).toBe(false);
    });

    it('refuses the other provider\'s response at a provider without RFC 9207 "iss": the transaction is bound to its provider', async () => {
      // Many providers do not send "iss" (nor advertise it): then only the binding tells.
      const discovered = await client.discovery(
        new URL(b.server.issuer),
        b.clientId,
        undefined,
        client.ClientSecretBasic(SECRET_B),
        {
          execute: [client.allowInsecureRequests],
        },
      );
      const { authorization_response_iss_parameter_supported: _supported, ...metadata } = discovered.serverMetadata();
      const configuration = new client.Configuration(
        metadata,
        b.clientId,
        undefined,
        client.ClientSecretBasic(SECRET_B),
      );
      client.allowInsecureRequests(configuration);
      for (const [pendingLogins, code] of [
        ['session', 'ERR_OIDC_PROVIDER_MIXUP'],
        ['cookie', 'ERR_OIDC_MISSING_TRANSACTION'],
      ] as const) {
        // A ready-made configuration has no credential to derive a key from: the cookie mode needs "secret".
        const key = pendingLogins === 'cookie' ? { secret: 'a-cookie-secret-for-the-multi-provider-test' } : {};
        const { app } = createMultiApp(
          multiOptions({ pendingLogins, ...key, providers: { a: providerOptions(a, SECRET_A), b: { configuration } } }),
        );
        const browser = newBrowser(app);
        const callback = await authorizeWith(browser, 'a');
        callback.searchParams.delete('iss');
        const before = { a: a.tokenRequests, b: b.tokenRequests };
        const res = await browser.app.get(`/callback/b${callback.search}`).expect(400);
        expect(res.body.code).toBe(code);
        expect({ a: a.tokenRequests, b: b.tokenRequests }).toEqual(before);
      }
    });

    it("refuses A's callback carrying B's issuer as iss", async () => {
      const browser = newBrowser(m.app);
      const callback = await authorizeWith(browser, 'a');
      callback.searchParams.set('iss', b.server.issuer);
      const before = a.tokenRequests;
      const res = await browser.app.get(pathOf(callback.href)).expect(400);
      expect(res.body.code).toBe('ERR_OIDC_INVALID_CALLBACK');
      expect(a.tokenRequests).toBe(before);
    });

    it('finishes the login at the right callback while a login at the other provider is pending', async () => {
      const browser = newBrowser(m.app);
      const atB = await authorizeWith(browser, 'b');
      const atA = await authorizeWith(browser, 'a');
      expect(await pendingOf(browser.app)).toEqual(['a', 'b']);
      await browser.app.get(pathOf(atA.href)).expect(302);
      expect(await probe(browser)).toMatchObject({ provider: 'a' });
      expect(await pendingOf(browser.app)).toEqual(['b']);
      await browser.app.get(pathOf(atB.href)).expect(302);
      expect(await probe(browser)).toMatchObject({ provider: 'b' });
      expect(await pendingOf(browser.app)).toEqual([]);
    });
  });

  describe('GET /login', () => {
    it('shows a chooser page: a link per provider keeping returnTo, labels escaped, no script or style', async () => {
      const res = await request(m.app).get('/login?returnTo=%2Freports%3Fy%3D2024').expect(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['content-security-policy']).toMatch(/default-src 'none'/);
      const links = [...res.text.matchAll(/<a href="([^"]+)">([^<]*)<\/a>/g)].map((x) => [x[1], x[2]]);
      expect(links).toEqual([
        ['/login/a?returnTo=%2Freports%3Fy%3D2024', 'Log in with Provider A'],
        ['/login/b?returnTo=%2Freports%3Fy%3D2024', 'Log in with Provider &#60;B&#62; &#38; &#34;co&#34;'],
      ]);
      expect(res.text).not.toMatch(/<script|<style|style=/i);
    });

    it('drops an unsafe returnTo from the links', async () => {
      const res = await request(m.app).get('/login?returnTo=%2F%2Fevil.example&x=%22%3E%3Cscript%3E').expect(200);
      expect(res.text).toContain('href="/login/a"');
      expect(res.text).not.toMatch(/evil|<script/);
    });

    it('its link leads through the login back to returnTo', async () => {
      const browser = newBrowser(m.app);
      const page = await browser.app.get('/login?returnTo=%2Fdeep%2Fpage').expect(200);
      const href = /<a href="([^"]+)">Log in with Provider A/.exec(page.text)![1]!.replace(/&amp;/g, '&');
      const started = await browser.app.get(href).expect(302);
      const callback = await authorizeAt({ app: browser.app, op: browser.ops.a }, new URL(started.headers.location!));
      const done = await browser.app.get(pathOf(callback.href)).expect(302);
      expect(done.headers.location).toBe('/deep/page');
    });

    it('requireAuth() sends a page load without a login to the chooser, keeping the page', async () => {
      const res = await request(m.app).get('/protected?tab=1').set('Accept', 'text/html').expect(302);
      expect(res.headers.location).toBe('/login?returnTo=%2Fprotected%3Ftab%3D1');
    });

    it('redirects to defaultProvider, keeping the query', async () => {
      const { app } = createMultiApp(multiOptions({ defaultProvider: 'b' }));
      const res = await request(app).get('/login?returnTo=%2Fx').expect(302);
      expect(res.headers.location).toBe('/login/b?returnTo=%2Fx');
      expect(res.headers['cache-control']).toBe('no-store');
    });

    it('with silentLogin: tries prompt=none at defaultProvider; the chooser (no default) drops it', async () => {
      const withDefault = createMultiApp(multiOptions({ silentLogin: true, defaultProvider: 'a' }));
      const agent = request.agent(withDefault.app);
      const toLogin = await agent.get('/protected').set('Accept', 'text/html').expect(302);
      expect(toLogin.headers.location).toBe('/login?returnTo=%2Fprotected&silent=1');
      const toA = await agent.get(toLogin.headers.location!).expect(302);
      expect(toA.headers.location).toBe('/login/a?returnTo=%2Fprotected&silent=1');
      const authorization = new URL((await agent.get(toA.headers.location!).expect(302)).headers.location!);
      expect([authorization.origin, authorization.searchParams.get('prompt')]).toEqual([a.server.issuer, 'none']);

      const chooser = createMultiApp(multiOptions({ silentLogin: true }));
      const page = await request(chooser.app).get('/login?returnTo=%2Fprotected&silent=1').expect(200);
      expect(page.text).toContain('href="/login/a?returnTo=%2Fprotected"');
    });

    it('redirects to the only provider when there is one', async () => {
      const { app } = createMultiApp(multiOptions({ providers: { a: providerOptions(a, SECRET_A) } }));
      const res = await request(app).get('/login').expect(302);
      expect(res.headers.location).toBe('/login/a');
    });

    it('does not mount the single-provider /callback and /backchannel-logout', async () => {
      await request(m.app).get('/callback?code=x&state=y').expect(404);
      await request(m.app).post('/backchannel-logout').type('form').send({ logout_token: 'x' }).expect(404);
    });
  });

  describe("the login's own provider", () => {
    it('refreshes at the token endpoint of the provider that logged the user in', async () => {
      const atA = newBrowser(m.app);
      const atB = newBrowser(m.app);
      await loginAt(atA, 'a');
      await loginAt(atB, 'b');
      await expireAccessToken(m.store, (await probe(atA)).sessionId);
      const before = { a: a.tokenRequests, b: b.tokenRequests };
      await atA.app.get('/token').expect(200);
      expect({ a: a.tokenRequests - before.a, b: b.tokenRequests - before.b }).toEqual({ a: 1, b: 0 });
      expect(m.events.find((e) => e.name === 'refresh')?.event).toMatchObject({ provider: 'a' });

      await expireAccessToken(m.store, (await probe(atB)).sessionId);
      await atB.app.get('/token').expect(200);
      expect({ a: a.tokenRequests - before.a, b: b.tokenRequests - before.b }).toEqual({ a: 1, b: 1 });
      expect(await probe(atB)).toMatchObject({ isAuthenticated: true, provider: 'b' });
    });

    it.each(['a', 'b'] as const)('logs out at provider %s: its revocation and end_session_endpoint', async (name) => {
      const op = name === 'a' ? a : b;
      const other = name === 'a' ? b : a;
      const browser = newBrowser(m.app);
      await loginAt(browser, name);
      const { refreshToken } = await probe(browser);
      expect(await op.server.provider.RefreshToken.find(refreshToken!)).toBeDefined();
      const errorsBefore = other.revocationErrors;
      const res = await browser.app.post('/logout').set('Sec-Fetch-Site', 'same-origin').expect(303);
      const location = new URL(res.headers.location!);
      expect(location.origin).toBe(op.server.issuer);
      expect(location.pathname).toBe('/session/end');
      expect(location.searchParams.get('client_id')).toBe(op.clientId);
      expect(location.searchParams.get('post_logout_redirect_uri')).toBe(`${APP_BASE_URL}/`);
      // Revoked at its own provider; nothing sent to the other one.
      expect(await op.server.provider.RefreshToken.find(refreshToken!)).toBeUndefined();
      expect(other.revocationErrors).toBe(errorsBefore);
      expect((await probe(browser)).isAuthenticated).toBe(false);
      expect(m.events.find((e) => e.name === 'logout')?.event).toMatchObject({ detail: 'provider', provider: name });
    });

    it('logs out without a login to postLogoutRedirectUri', async () => {
      const res = await request(m.app).post('/logout').set('Sec-Fetch-Site', 'same-origin').expect(303);
      expect(res.headers.location).toBe(`${APP_BASE_URL}/`);
    });

    it('sends a step-up to the login route of the provider that logged the user in', async () => {
      const browser = newBrowser(m.app);
      await loginAt(browser, 'b');
      await patchStoredLogin(m.store, (await probe(browser)).sessionId, (login) => {
        (login.claims as { auth_time?: number }).auth_time = Math.floor(Date.now() / 1000) - 3600;
      });
      const res = await browser.app.get('/recent').set('Accept', 'text/html').expect(302);
      expect(res.headers.location).toBe('/login/b?returnTo=%2Frecent&max_age=300');
    });

    it('with autoRefresh, sends a login whose refresh token was revoked back to its own provider', async () => {
      const auto = createMultiApp(multiOptions({ autoRefresh: true }));
      const browser = newBrowser(auto.app);
      await loginAt(browser, 'b');
      const { sessionId, refreshToken } = await probe(browser);
      await (await b.server.provider.RefreshToken.find(refreshToken!))!.destroy();
      await expireAccessToken(auto.store, sessionId);
      const before = b.tokenRequests;
      const res = await browser.app.get('/protected').set('Accept', 'text/html').expect(302);
      expect(res.headers.location).toBe('/login/b?returnTo=%2Fprotected');
      expect(b.tokenRequests).toBe(before + 1);
      expect(await probe(browser)).toMatchObject({ isAuthenticated: false });
    });

    it('drops a stored login whose provider is not configured', async () => {
      const browser = newBrowser(m.app);
      await loginAt(browser, 'a');
      const sid = (await probe(browser)).sessionId;
      await patchStoredLogin(m.store, sid, (login) => {
        login.provider = 'gone';
      });
      expect(await probe(browser)).toMatchObject({ isAuthenticated: false, provider: null });
      expect((await storedSession(m.store, sid))?.oidc?.login).toBeUndefined();
    });

    it('takes a login stored without a provider (the single-provider form\'s) as the provider named "default"', async () => {
      const browser = newBrowser(m.app);
      const done = await loginAt(browser, 'a');
      const cookie = sessionCookie(done);
      await patchStoredLogin(m.store, (await probe(browser)).sessionId, (login) => {
        delete login.provider;
      });
      // The same sessions, served by an app whose provider A is named "default" (a migration from
      // the single-provider form): the login stays, and is A's.
      const migrated = createMultiApp(
        multiOptions({ providers: { default: providerOptions(a, SECRET_A), b: providerOptions(b, SECRET_B) } }),
        m.store,
      );
      const seen = await request(migrated.app).get('/probe').set('Cookie', cookie).expect(200);
      expect(seen.body).toMatchObject({ isAuthenticated: true, provider: 'default', iss: a.server.issuer });
      // Without a provider named "default", such a login is dropped.
      expect(await probe(browser)).toMatchObject({ isAuthenticated: false });
    });
  });

  describe('back-channel logout', () => {
    it('a logout at A ends the A login of alice, not her B login (the same sub)', async () => {
      const atA = newBrowser(m.app);
      const atB = newBrowser(m.app);
      await loginAt(atA, 'a');
      await loginAt(atB, 'b');
      expect((await probe(atA)).sub).toBe((await probe(atB)).sub);

      const done = await logoutAtProvider({ app: atA.app, op: atA.ops.a });
      expect(done.status).toBe(303);
      expect(m.events.find((e) => e.name === 'backchannelLogout')?.event).toMatchObject({
        sub: 'alice',
        provider: 'a',
        detail: 1,
      });
      expect((await probe(atA)).isAuthenticated).toBe(false);
      expect(await probe(atB)).toMatchObject({ isAuthenticated: true, provider: 'b' });
    });

    it("refuses A's logout token at B's back-channel route", async () => {
      const atB = newBrowser(m.app);
      await loginAt(atB, 'b');
      const token = await signLogoutToken(logoutClaims(a.server.issuer, a.clientId, { sub: 'alice' }), a.key);
      const res = await request(m.app)
        .post('/backchannel-logout/b')
        .type('form')
        .send({ logout_token: token })
        .expect(400);
      expect(res.body.error).toBe('invalid_request');
      expect((await probe(atB)).isAuthenticated).toBe(true);
    });
  });
});

describe('two clients of one issuer', () => {
  // Two named providers may be the same issuer (two clients of one realm): the same `sub` is the
  // same person there, but a logout token is for one client, and ends only that client's logins.
  let op: TestProvider;
  let key: SigningKey;
  let m: MultiApp;
  beforeAll(async () => {
    const k = await providerKey();
    key = k.key;
    const clientOf = (name: string): ClientMetadata => ({
      client_id: `client-${name}`,
      client_secret: SECRET_A,
      redirect_uris: [`${APP_BASE_URL}/callback/${name}`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    op = await startProvider({ signingKey: k.jwk, clients: [clientOf('one'), clientOf('two')] });
    const at = (name: string) => ({ issuer: op.issuer, clientId: `client-${name}`, clientSecret: SECRET_A });
    m = createMultiApp(multiOptions({ scope: 'openid', providers: { one: at('one'), two: at('two') } }));
  });
  afterAll(() => op.close());

  async function loginWith(name: 'one' | 'two'): Promise<Agent> {
    const agent = request.agent(m.app);
    const started = await agent.get(`/login/${name}`).expect(302);
    const callback = await authorizeAt(
      { app: agent, op: request.agent(op.issuer) },
      new URL(started.headers.location!),
    );
    await agent.get(pathOf(callback.href)).expect(302);
    return agent;
  }

  it("a sub-only logout token for client one ends alice's login at one, not at two", async () => {
    const one = await loginWith('one');
    const two = await loginWith('two');
    const token = await signLogoutToken(logoutClaims(op.issuer, 'client-one', { sub: 'alice' }), key);
    await request(m.app).post('/backchannel-logout/one').type('form').send({ logout_token: token }).expect(200);
    expect((await one.get('/probe').expect(200)).body.isAuthenticated).toBe(false);
    expect((await two.get('/probe').expect(200)).body).toMatchObject({
      isAuthenticated: true,
      provider: 'two',
      sub: 'alice',
    });
    expect(m.events.find((e) => e.name === 'backchannelLogout')?.event).toMatchObject({ provider: 'one', detail: 1 });
  });
});

describe('each provider on its own', () => {
  it('one provider down does not stop logins at the other', async () => {
    const { app } = createMultiApp(multiOptions());
    await b.server.stop();
    try {
      const down = await request(app).get('/login/b').expect(503);
      expect(down.body.code).toBe('ERR_OIDC_PROVIDER_UNREACHABLE');
      const browser = newBrowser(app);
      expect((await loginAt(browser, 'a')).status).toBe(302);
      expect(await probe(browser)).toMatchObject({ isAuthenticated: true, provider: 'a' });
    } finally {
      await b.server.start();
    }
    await request(app).get('/login/b').expect(302);
  });

  it("takes top-level provider options as defaults, and each provider's own over them", async () => {
    const { app } = createMultiApp(
      multiOptions({
        scope: 'openid profile',
        authorizationParams: { prompt: 'login' },
        providers: {
          a: {
            ...providerOptions(a, SECRET_A),
            scope: 'openid email offline_access',
            authorizationParams: { ui_locales: 'fr' },
          },
          b: providerOptions(b, SECRET_B),
        },
      }),
    );
    const atA = new URL((await request(app).get('/login/a').expect(302)).headers.location!).searchParams;
    const atB = new URL((await request(app).get('/login/b').expect(302)).headers.location!).searchParams;
    expect([atA.get('scope'), atA.get('prompt'), atA.get('ui_locales')]).toEqual([
      'openid email offline_access',
      null,
      'fr',
    ]);
    expect([atB.get('scope'), atB.get('prompt'), atB.get('ui_locales')]).toEqual(['openid profile', 'login', null]);
  });

  it('keeps the provider of a login whatever afterCallback does to it', async () => {
    const { app } = createMultiApp(
      multiOptions({
        afterCallback: (_req, _res, login) => {
          expect(login.provider).toBe('a');
          return { ...login, provider: 'b' };
        },
      }),
    );
    const browser = newBrowser(app);
    await loginAt(browser, 'a');
    expect(await probe(browser)).toMatchObject({ isAuthenticated: true, provider: 'a', stored: 'a' });
  });

  it('applies a provider-level option to its provider only (dpop), and req.oidc.fetch() follows the login', async () => {
    const api = await listenLoopback();
    const seen: { authorization: string | undefined; dpop: boolean }[] = [];
    api.serve((req, res) => {
      seen.push({ authorization: req.headers.authorization, dpop: typeof req.headers.dpop === 'string' });
      res.end('{}');
    });
    try {
      const { app, store } = createMultiApp(
        multiOptions({
          providers: { a: { ...providerOptions(a, SECRET_A), dpop: true }, b: providerOptions(b, SECRET_B) },
        }),
      );
      app.get('/call', async (req, res, next) => {
        try {
          res.json({ status: (await req.oidc!.fetch(`${api.url}/orders`)).status });
        } catch (err) {
          next(err);
        }
      });
      const atA = newBrowser(app);
      const atB = newBrowser(app);
      await loginAt(atA, 'a');
      await loginAt(atB, 'b');
      const stored = async (browser: Browser) =>
        (await storedSession(store, (await probe(browser)).sessionId))!.oidc!.login!;
      expect([(await stored(atA)).tokenType.toLowerCase(), (await stored(atA)).dpop?.alg]).toEqual(['dpop', 'ES256']);
      expect([(await stored(atB)).tokenType.toLowerCase(), (await stored(atB)).dpop]).toEqual(['bearer', undefined]);
      await atA.app.get('/call').expect(200);
      await atB.app.get('/call').expect(200);
      expect(seen.map((r) => [r.authorization?.split(' ')[0], r.dpop])).toEqual([
        ['DPoP', true],
        ['Bearer', false],
      ]);
    } finally {
      await api.close();
    }
  });

  it("names the provider in the start-up check's findings", async () => {
    const messages: string[] = [];
    const logger = { warn: (m: string) => messages.push(m), error: (m: string) => messages.push(m) };
    const { app } = createMultiApp(
      multiOptions({
        logger,
        providers: {
          a: providerOptions(a, SECRET_A),
          b: { ...providerOptions(b, SECRET_B), idTokenSigningAlg: 'ES256' },
        },
      }),
    );
    const res = await request(app).get('/login/b').expect(502);
    expect(res.body.code).toBe('ERR_OIDC_PROVIDER_MISMATCH');
    expect(messages).toEqual([
      expect.stringMatching(
        /^express-oidc-login: provider "b": the provider signs ID tokens with RS256, not with "ES256"/,
      ),
    ]);
    await request(app).get('/login/a').expect(302);
  });
});

describe('the single-provider form', () => {
  it('reports its provider as "default" and stores no provider name (in the transaction: session mode, where it can be read)', async () => {
    const { app, store } = createMultiApp({
      issuer: a.server.issuer,
      clientId: a.clientId,
      clientSecret: SECRET_A,
      baseUrl: APP_BASE_URL,
      dangerouslyAllowInsecureHttp: true,
      routes: { callback: '/callback/a' },
      pendingLogins: 'session',
    });
    const agent = request.agent(app);
    const started = await agent.get('/login').expect(302);
    expect(Object.values((await agent.get('/probe').expect(200)).body.pending)).toEqual([null]);
    const callback = await authorizeAt(
      { app: agent, op: request.agent(a.server.issuer) },
      new URL(started.headers.location!),
    );
    await agent.get(pathOf(callback.href)).expect(302);
    const seen = (await agent.get('/probe').expect(200)).body;
    expect(seen).toMatchObject({ isAuthenticated: true, provider: 'default', stored: null });
    expect(Object.keys((await storedSession(store, seen.sessionId))!.oidc!.login!)).not.toContain('provider');
  });
});

describe('the client JWKS with several private_key_jwt providers', () => {
  it("serves every provider's public key at one routes.jwks", async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const pem = (type: 'ec' | 'rsa') =>
      (type === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 })
      ).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const pkjwt = (issuer: string, kid: string, type: 'ec' | 'rsa') => ({
      issuer,
      clientId: 'app',
      clientAuthMethod: 'private_key_jwt' as const,
      clientPrivateKey: { key: pem(type), kid },
    });
    const app = express().use(
      oidcLogin({
        baseUrl: APP_BASE_URL,
        dangerouslyAllowInsecureHttp: true,
        logger: false, // no express-session here: the JWKS route needs none
        providers: {
          a: pkjwt(a.server.issuer, 'key-a', 'ec'),
          b: pkjwt(b.server.issuer, 'key-b', 'rsa'),
          c: { issuer: b.server.issuer, clientId: 'c', clientSecret: 's' },
        },
      }),
    );
    const res = await request(app).get('/jwks.json').expect(200);
    const keys = (res.body as { keys: Record<string, unknown>[] }).keys;
    expect(keys.map((k) => [k.kid, k.kty, k.alg])).toEqual([
      ['key-a', 'EC', 'ES256'],
      ['key-b', 'RSA', 'RS256'],
    ]);
    expect(keys.every((k) => k.d === undefined)).toBe(true);
  });
});

describe('express-oidc-login/testing with several providers', () => {
  it('loginAs() logs in at each named provider; backchannelLogout() ends only that one', async () => {
    const staff = await startTestProvider();
    const partners = await startTestProvider();
    try {
      const app = express();
      app.use(session({ secret: 'test-session-secret', resave: false, saveUninitialized: false }));
      app.use(
        oidcLogin({
          baseUrl: staff.baseUrl,
          providers: { staff: staff.providerOptions('staff'), partners: partners.providerOptions('partners') },
        }),
      );
      app.get('/who', requireAuth(), (req, res) =>
        res.json({ provider: req.oidc!.provider, sub: req.oidc!.claims!.sub }),
      );
      const atStaff = await loginAs(app, { sub: 'alice' }, { loginPath: '/login/staff' });
      const atPartners = await loginAs(app, { sub: 'alice' }, { loginPath: '/login/partners' });
      expect((await atStaff.get('/who').expect(200)).body).toEqual({ provider: 'staff', sub: 'alice' });
      expect((await atPartners.get('/who').expect(200)).body).toEqual({ provider: 'partners', sub: 'alice' });
      expect([staff.counts.token, partners.counts.token]).toEqual([1, 1]);

      await partners.backchannelLogout(app, { sub: 'alice', path: '/backchannel-logout/partners' });
      await atPartners.get('/who').expect(401);
      await atStaff.get('/who').expect(200);
    } finally {
      await Promise.all([staff.close(), partners.close()]);
    }
  });
});

describe('an OpenID provider and GitHub (plain OAuth 2.0) side by side', () => {
  // GitHub sends no "iss" and has no discovery: the binding of the pending login to its provider
  // is what keeps one provider's code from the other's token endpoint.
  let gh: FakeGitHub;
  let m: MultiApp;
  beforeAll(async () => {
    gh = await startFakeGitHub({ redirectUri: `${APP_BASE_URL}/callback/github` });
    m = createMultiApp(
      multiOptions({
        providers: {
          a: providerOptions(a, SECRET_A),
          github: {
            ...github({ clientId: GH_CLIENT_ID, clientSecret: GH_CLIENT_SECRET, enterpriseUrl: gh.url }),
            label: 'GitHub',
          },
        },
      }),
    );
  });
  afterAll(() => gh.close());
  beforeEach(() => gh.reset());

  /** `/login/github`, the fake GitHub's authorize endpoint; resolves with the callback URL, not yet visited. */
  async function authorizeAtGitHub(agent: Agent): Promise<URL> {
    const started = await agent.get('/login/github').expect(302);
    const authorize = new URL(started.headers.location!);
    expect(authorize.origin).toBe(gh.url);
    const back = await fetch(authorize, { redirect: 'manual' });
    return new URL(back.headers.get('location')!);
  }

  it('logs in at GitHub next to the OpenID provider; each login knows its provider', async () => {
    const atGitHub = newBrowser(m.app);
    const callback = await authorizeAtGitHub(atGitHub.app);
    expect(callback.pathname).toBe('/callback/github');
    await atGitHub.app.get(pathOf(callback.href)).expect(302);
    expect(await probe(atGitHub)).toMatchObject({
      isAuthenticated: true,
      provider: 'github',
      sub: '583231',
      iss: gh.url,
    });

    const atA = newBrowser(m.app);
    await loginAt(atA, 'a');
    expect(await probe(atA)).toMatchObject({ isAuthenticated: true, provider: 'a', sub: 'alice' });
    expect((await request(m.app).get('/login').expect(200)).text).toContain('>Log in with GitHub</a>');
  });

  it.each([
    ['session', 'ERR_OIDC_PROVIDER_MIXUP'],
    ['cookie', 'ERR_OIDC_MISSING_TRANSACTION'],
  ] as const)(
    "refuses A's code (without iss) at GitHub's callback, and GitHub's at A's: no token request at either (pendingLogins: %s)",
    async (pendingLogins, code) => {
      // Cookie mode: a provider's pending-login cookie is sent to its own callback only.
      const app =
        pendingLogins === 'cookie'
          ? m.app
          : createMultiApp(
              multiOptions({
                pendingLogins,
                providers: {
                  a: providerOptions(a, SECRET_A),
                  github: {
                    ...github({ clientId: GH_CLIENT_ID, clientSecret: GH_CLIENT_SECRET, enterpriseUrl: gh.url }),
                    label: 'GitHub',
                  },
                },
              }),
            ).app;
      const browser = newBrowser(app);
      const fromA = await authorizeWith(browser, 'a');
      fromA.searchParams.delete('iss');
      const before = a.tokenRequests;
      const atGitHub = await browser.app.get(`/callback/github${fromA.search}`).expect(400);
      expect(atGitHub.body.code).toBe(code);

      const fromGitHub = await authorizeAtGitHub(browser.app);
      const atA = await browser.app.get(`/callback/a${fromGitHub.search}`).expect(400);
      expect(atA.body.code).toBe(code);
      expect([gh.counts.token, a.tokenRequests - before]).toEqual([0, 0]);
      expect(await probe(browser)).toMatchObject({ isAuthenticated: false });
      // Session mode: both transactions were used up by the refusal; cookie mode: neither was touched.
      expect(await pendingOf(browser.app)).toEqual(pendingLogins === 'session' ? [] : ['a', 'github']);
    },
  );

  it('mounts back-channel logout for the OpenID provider only, and logs a GitHub login out locally', async () => {
    await request(m.app).post('/backchannel-logout/github').type('form').send({ logout_token: 'x' }).expect(404);
    await request(m.app).post('/backchannel-logout/a').type('form').send({ logout_token: 'x' }).expect(400);
    const browser = newBrowser(m.app);
    await browser.app.get(pathOf((await authorizeAtGitHub(browser.app)).href)).expect(302);
    const res = await browser.app.post('/logout').set('Sec-Fetch-Site', 'same-origin').expect(303);
    expect(res.headers.location).toBe(`${APP_BASE_URL}/`);
    expect((await probe(browser)).isAuthenticated).toBe(false);
  });
});
