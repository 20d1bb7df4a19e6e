import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Express, NextFunction, Request, Response } from 'express';
import type { KoaContextWithOIDC } from 'oidc-provider';
import request from 'supertest';
import type { AfterCallbackDetails, LoginOptions, OidcLoginOptions } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { expectConfigError } from './support/config-error.js';
import { authorizeAt, newBrowser, pathOf, startLogin, visitCallback } from './support/flow.js';
import {
  APP_BASE_URL,
  CLIENT_ID,
  CLIENT_SECRET,
  REDIRECT_URI,
  startProvider,
  type TestProvider,
} from './support/provider.js';

/**
 * Login parameters per request: `/login?login_hint=...` forwards what `authorizationParamsFromQuery`
 * lists (nothing by default, never a protocol parameter), and `req.oidc.login({ returnTo,
 * authorizationParams, appState })` starts a login from the app's code, its `appState` handed back
 * to `afterCallback`. What the provider received is read at the provider (its interaction's
 * parameters), with and without PAR.
 */

let op: TestProvider;
/** The authorization requests the provider started an interaction for, as it read them. */
const received: Record<string, unknown>[] = [];

beforeAll(async () => {
  op = await startProvider({
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [REDIRECT_URI, `${APP_BASE_URL}/callback/a`, `${APP_BASE_URL}/callback/b`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    configuration: {
      extraParams: ['organization'],
      features: {
        devInteractions: { enabled: true },
        pushedAuthorizationRequests: { enabled: true },
      },
    },
  });
  // Once per authorization request (an interaction starts again for each prompt: login, consent).
  op.provider.on('interaction.started', (ctx: KoaContextWithOIDC) => {
    const params = ctx.oidc.params as Record<string, unknown>;
    if (!received.some((r) => r.state === params.state)) received.push({ ...params });
  });
});
afterAll(async () => {
  await op.close();
});
beforeEach(() => {
  received.length = 0;
});

const options = (overrides: Partial<OidcLoginOptions> = {}) => testOptions(op, { logger: false, ...overrides });

/** Logs in from `authorizationUrl`; resolves with the callback's response. */
async function finish(browser: ReturnType<typeof newBrowser>, authorizationUrl: URL) {
  return visitCallback(browser, await authorizeAt(browser, authorizationUrl));
}

describe('/login forwards the parameters authorizationParamsFromQuery lists', () => {
  it('forwards none by default', async () => {
    const browser = newBrowser(createApp(options()).app, op.issuer);
    const url = await startLogin(browser, '?login_hint=ann%40example.com&ui_locales=fr&prompt=login');
    for (const name of ['login_hint', 'ui_locales']) expect(url.searchParams.has(name)).toBe(false);
    expect(url.searchParams.has('prompt')).toBe(false);
  });

  it('forwards the listed ones only, and the provider receives them; the login completes', async () => {
    const browser = newBrowser(
      createApp(options({ authorizationParamsFromQuery: ['login_hint', 'ui_locales', 'organization'] })).app,
      op.issuer,
    );
    const url = await startLogin(
      browser,
      '?login_hint=ann%40example.com&ui_locales=fr-CA%20fr&organization=org_42&claims_locales=de&returnTo=%2Fprotected',
    );
    expect(url.searchParams.get('login_hint')).toBe('ann@example.com');
    expect(url.searchParams.get('ui_locales')).toBe('fr-CA fr');
    expect(url.searchParams.get('organization')).toBe('org_42');
    expect(url.searchParams.has('claims_locales')).toBe(false);
    const res = await finish(browser, url);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/protected');
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      login_hint: 'ann@example.com',
      ui_locales: 'fr-CA fr',
      organization: 'org_42',
    });
    expect(received[0]!.claims_locales).toBeUndefined();
  });

  it('lets a per-request value replace the configured one (prompt)', async () => {
    const app = createApp(
      options({ authorizationParams: { prompt: 'consent' }, authorizationParamsFromQuery: ['prompt'] }),
    ).app;
    expect((await startLogin(newBrowser(app, op.issuer), '?prompt=login')).searchParams.get('prompt')).toBe('login');
    expect((await startLogin(newBrowser(app, op.issuer))).searchParams.get('prompt')).toBe('consent');
  });

  it('sends them in the pushed request with PAR, not in the front channel', async () => {
    const browser = newBrowser(
      createApp(options({ pushedAuthorizationRequests: true, authorizationParamsFromQuery: ['login_hint'] })).app,
      op.issuer,
    );
    const url = await startLogin(browser, '?login_hint=bob');
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    expect((await finish(browser, url)).status).toBe(302);
    expect(received[0]).toMatchObject({ login_hint: 'bob' });
  });

  it.each([
    ['repeated', '?login_hint=a&login_hint=b', /"login_hint" is given more than once/],
    ['too long', `?login_hint=${'a'.repeat(513)}`, /"login_hint" is longer than 512 characters/],
    ['a control character', '?login_hint=a%0Ab', /"login_hint" has characters that are not printable/],
    ['a malformed %-encoding', '?login_hint=a%E0%A4', /"login_hint" has characters that are not printable/],
  ])(
    'answers 400 ERR_OIDC_INVALID_LOGIN_REQUEST for a value %s, without echoing it, and starts no login',
    async (_what, query, message) => {
      const { app, store } = createApp(
        options({ authorizationParamsFromQuery: ['login_hint'], pendingLogins: 'session' }),
      );
      const res = await request(app).get(`/login${query}`).expect(400);
      expect(res.body.code).toBe('ERR_OIDC_INVALID_LOGIN_REQUEST');
      expect(res.body.message).toMatch(message);
      expect(res.body.message).not.toContain('aaaa');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(Object.keys((store as unknown as { sessions: object }).sessions)).toEqual([]);
    },
  );

  it('takes an empty value as none', async () => {
    const app = createApp(options({ authorizationParamsFromQuery: ['login_hint'] })).app;
    expect((await startLogin(newBrowser(app, op.issuer), '?login_hint=')).searchParams.has('login_hint')).toBe(false);
  });

  it('forwards scope only when listed, and only with openid; the login keeps what was granted', async () => {
    const app = createApp(options({ authorizationParamsFromQuery: ['scope'] })).app;
    const res = await request(app).get('/login?scope=profile').expect(400);
    expect(res.body.message).toMatch(/"scope" must be scope names separated by spaces, with "openid"/);
    const browser = newBrowser(app, op.issuer);
    const url = await startLogin(browser, '?scope=openid%20email');
    expect(url.searchParams.get('scope')).toBe('openid email');
    expect((await finish(browser, url)).status).toBe(302);
    const probe = (await browser.app.get('/probe/oidc').expect(200)).body;
    expect(probe.scope).toBe('openid email');
    expect(probe.claims.email).toBe('alice@example.com');
    expect(probe.claims.name).toBeUndefined();
  });

  it.each([
    'state',
    'nonce',
    'code_challenge',
    'code_challenge_method',
    'code_challenge_x',
    'redirect_uri',
    'response_type',
    'response_mode',
    'client_id',
    'request',
    'request_uri',
    'dpop_jkt',
    'client_assertion',
    'returnTo',
    'max_age',
  ])('refuses an allowlist naming %s at start-up', (name) => {
    expectConfigError(options({ authorizationParamsFromQuery: ['login_hint', name] }), `cannot name "${name}"`);
  });

  it.each([[['a b']], [[42]], ['login_hint']])('refuses a malformed allowlist (%j)', (list) => {
    expectConfigError(
      options({ authorizationParamsFromQuery: list as unknown as string[] }),
      '"authorizationParamsFromQuery" must',
    );
  });

  it('with providers, each provider forwards its own list', async () => {
    const { app } = createApp({
      baseUrl: APP_BASE_URL,
      dangerouslyAllowInsecureHttp: true,
      logger: false,
      providers: {
        a: {
          issuer: op.issuer,
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          authorizationParamsFromQuery: ['login_hint'],
        },
        b: { issuer: op.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      },
    });
    const at = async (name: string) =>
      new URL((await request(app).get(`/login/${name}?login_hint=x`).expect(302)).headers.location!);
    expect((await at('a')).searchParams.get('login_hint')).toBe('x');
    expect((await at('b')).searchParams.has('login_hint')).toBe(false);
    // The chooser's links (no defaultProvider) carry it on; each provider's route decides again.
    const chooser = await request(app).get('/login?login_hint=x&nonce=n&returnTo=%2Fp').expect(200);
    expect(chooser.text).toContain('href="/login/a?returnTo=%2Fp&#38;login_hint=x"');
    expect(chooser.text).toContain('href="/login/b?returnTo=%2Fp&#38;login_hint=x"');
  });
});

describe('req.oidc.login()', () => {
  /** An app whose `/go` calls `req.oidc.login(options)` with what the test puts in `next`. */
  function appWith(overrides: Partial<OidcLoginOptions> = {}) {
    const seen: { appState: unknown; claims: unknown }[] = [];
    let next: LoginOptions | undefined;
    const { app } = createApp(
      options({
        afterCallback: (_req, _res, login, details: AfterCallbackDetails) => {
          seen.push({ appState: details.appState, claims: login.claims });
        },
        ...overrides,
      }),
      {
        routes: (a: Express) =>
          a.get('/go', (req: Request, _res: Response, nextMw: NextFunction) => {
            req.oidc!.login(next).catch(nextMw);
          }),
      },
    );
    return { app, seen, set: (o: LoginOptions | undefined) => (next = o) };
  }

  it.each(['cookie', 'session'] as const)(
    'starts a login with the given parameters and returnTo; the appState comes back to afterCallback (pendingLogins: %s)',
    async (pendingLogins) => {
      const { app, seen, set } = appWith({ pendingLogins });
      const appState = { plan: 'plan-pro-7', steps: [1, 2], note: 'é' };
      set({
        returnTo: '/welcome?x=1',
        authorizationParams: { prompt: 'login', login_hint: 'alice', ui_locales: 'de' },
        appState,
      });
      const browser = newBrowser(app, op.issuer);
      const res = await browser.app.get('/go').expect(302);
      expect(res.headers['cache-control']).toBe('no-store');
      const url = new URL(res.headers.location!);
      expect(url.searchParams.get('prompt')).toBe('login');
      // The app's data never goes to the provider.
      expect(url.href).not.toContain('plan-pro-7');
      const done = await finish(browser, url);
      expect(done.status).toBe(302);
      expect(done.headers.location).toBe('/welcome?x=1');
      expect(received[0]).toMatchObject({ prompt: 'login', login_hint: 'alice', ui_locales: 'de' });
      expect(seen).toEqual([{ appState, claims: expect.objectContaining({ sub: 'alice' }) }]);
    },
  );

  it('hands afterCallback no appState for a login from /login, and defaultReturnTo for an unsafe returnTo', async () => {
    const { app, seen, set } = appWith({ defaultReturnTo: '/home' });
    const browser = newBrowser(app, op.issuer);
    await finish(browser, await startLogin(browser));
    set({ returnTo: 'https://evil.example/' });
    const res = await finish(browser, new URL((await browser.app.get('/go').expect(302)).headers.location!));
    expect(res.headers.location).toBe('/home');
    expect(seen.map((s) => s.appState)).toEqual([undefined, undefined]);
  });

  it('turns max_age into a step-up that the callback checks', async () => {
    const { app, set } = appWith();
    set({ authorizationParams: { max_age: 0 } });
    const browser = newBrowser(app, op.issuer);
    const url = new URL((await browser.app.get('/go').expect(302)).headers.location!);
    expect(url.searchParams.get('max_age')).toBe('0');
    expect((await finish(browser, url)).status).toBe(302);
    expect(typeof (await browser.app.get('/probe/oidc')).body.claims.auth_time).toBe('number');
  });

  it.each<[string, LoginOptions, RegExp]>([
    [
      'a protocol parameter',
      { authorizationParams: { state: 'x' } },
      /"authorizationParams.state" is set by the middleware/,
    ],
    [
      'redirect_uri',
      { authorizationParams: { redirect_uri: 'https://evil.example/' } },
      /"authorizationParams.redirect_uri"/,
    ],
    [
      'a value that is not text',
      { authorizationParams: { prompt: {} as unknown as string } },
      /must be a string or a number/,
    ],
    ['a scope without openid', { authorizationParams: { scope: 'email' } }, /"authorizationParams.scope"/],
    ['an appState over 512 bytes', { appState: 'x'.repeat(511) }, /"appState" is 513 bytes of JSON, more than the 512/],
    ['an appState that is not JSON', { appState: 10n as unknown as string }, /"appState" must be JSON data/],
    ['an unknown provider', { provider: 'nope' }, /no provider is named "nope"/],
  ])('rejects %s with a TypeError, sending nothing to the provider', async (_what, given, message) => {
    const { app, set } = appWith({ pendingLogins: 'session' });
    set(given);
    const res = await request(app).get('/go').expect(500);
    expect(res.body.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(res.body.message).toMatch(message);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(received).toEqual([]);
  });

  it('with providers: logs in at the one named, and asks which without a default', async () => {
    const seen: unknown[] = [];
    const target: { name?: string } = {};
    const { app } = createApp(
      {
        baseUrl: APP_BASE_URL,
        dangerouslyAllowInsecureHttp: true,
        logger: false,
        afterCallback: (_req, _res, _login, details) => {
          seen.push(details.appState);
        },
        providers: {
          a: { issuer: op.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
          b: { issuer: op.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
        },
      },
      {
        routes: (a: Express) =>
          a.get('/go', (req: Request, _res: Response, next: NextFunction) => {
            req.oidc!.login({ provider: target.name, appState: target.name ?? null }).catch(next);
          }),
      },
    );
    const none = await request(app).get('/go').expect(500);
    expect(none.body.message).toMatch(
      /several providers and no "defaultProvider": say which, \{ provider: '<name>' \} \(a, b\)/,
    );
    target.name = 'a';
    const browser = newBrowser(app, op.issuer);
    const url = new URL((await browser.app.get('/go').expect(302)).headers.location!);
    expect(url.searchParams.get('client_id')).toBe(CLIENT_ID);
    const callback = await authorizeAt(browser, url);
    expect(callback.pathname).toBe('/callback/a');
    expect((await browser.app.get(pathOf(callback.href))).status).toBe(302);
    expect(seen).toEqual(['a']);
    expect((await browser.app.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(true);
  });
});
