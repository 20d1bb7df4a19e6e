import { describe, expect, it } from '@jest/globals';
import type { Express } from 'express';
import type { OidcLoginOptions } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { expectConfigError } from './support/config-error.js';
import { authorizeAt, login, newBrowser, startLogin, visitCallback, type Browser } from './support/flow.js';
import { APP_BASE_URL, CLIENT_ID, CLIENT_SECRET } from './support/provider.js';
import { storeGet } from './support/store.js';
import { useProvider } from './support/use-provider.js';

/**
 * The app's session data across the login (`keepSessionData`): the session gets a new id at login;
 * the app's own fields come along when asked (all, or those listed), never the middleware's `oidc`
 * state nor the cookie.
 */

const op = useProvider();

type Stored = Record<string, unknown> & { cookie: { originalMaxAge: number | null }; oidc?: Record<string, unknown> };

/** The app's `/visit` sets `cart`, `locale` and `wizard` in the session before the login. */
function appWith(overrides: Partial<OidcLoginOptions> = {}, cookieMaxAge?: number) {
  return createApp(testOptions(op, { logger: false, ...overrides }), {
    ...(cookieMaxAge !== undefined && { session: { cookie: { maxAge: cookieMaxAge } } }),
    routes: (app: Express) =>
      app.get('/visit', (req, res) => {
        Object.assign(req.session, { cart: ['book'], locale: 'fr', wizard: { step: 2 } });
        if (req.query.short === '1') req.session.cookie.maxAge = 120_000;
        res.send('ok');
      }),
  });
}

async function sessionId(browser: Browser): Promise<string> {
  return (await browser.app.get('/probe/oidc').expect(200)).body.sessionId as string;
}

/** Visits `/visit`, then logs in; resolves with the stored session before and after. */
async function visitThenLogin(app: Express, store: ReturnType<typeof appWith>['store'], query = '') {
  const browser = newBrowser(app, op.issuer);
  await browser.app.get('/visit').expect(200);
  const before = await sessionId(browser);
  expect((await login(browser, { query })).status).toBe(302);
  const after = await sessionId(browser);
  expect(after).not.toBe(before);
  expect(await storeGet(store, before)).toBeFalsy();
  return { browser, after: (await storeGet<Stored>(store, after))! };
}

const appFields = (s: Stored) => Object.keys(s).filter((k) => k !== 'cookie' && k !== 'oidc');

describe('keepSessionData', () => {
  it('keeps none of the session data by default: the new session holds only the login', async () => {
    const { app, store } = appWith();
    const { after } = await visitThenLogin(app, store);
    expect(appFields(after)).toEqual([]);
    expect(Object.keys(after.oidc!)).toEqual(['login']);
  });

  it.each(['cookie', 'session'] as const)(
    "'all' keeps every field of the app's, not the cookie nor the oidc state (pendingLogins: %s)",
    async (pendingLogins) => {
      const { app, store } = appWith({ keepSessionData: 'all', pendingLogins, silentLogin: true }, 3_600_000);
      const browser = newBrowser(app, op.issuer);
      await browser.app.get('/visit?short=1').expect(200);
      // A silent login tried (noted in the session in session mode), then a login in another tab
      // left pending: neither is the app's data.
      await browser.app.get('/login?silent=1').expect(302);
      await startLogin(browser);
      const pre = (await storeGet<Stored>(store, await sessionId(browser)))!;
      if (pendingLogins === 'session') expect(pre.oidc).toMatchObject({ silentTried: true });
      // The pre-login session's cookie was given a shorter life by the app (two minutes; a save
      // on a later request may restart the count from what was left, so not exactly 120,000 ms).
      expect(pre.cookie.originalMaxAge).toBeLessThanOrEqual(120_000);
      const res = await visitCallback(browser, await authorizeAt(browser, await startLogin(browser)));
      expect(res.status).toBe(302);
      const after = (await storeGet<Stored>(store, await sessionId(browser)))!;
      expect(after).toMatchObject({ cart: ['book'], locale: 'fr', wizard: { step: 2 } });
      expect(appFields(after).sort()).toEqual(['cart', 'locale', 'wizard']);
      // The new session's own cookie (the configured hour), not the pre-login session's two
      // minutes. Not exactly 3,600,000: express-session sets expires from maxAge, then reads
      // originalMaxAge back as expires minus a second Date.now(), a millisecond less when the
      // clock ticks between the two.
      expect(after.cookie.originalMaxAge).toBeGreaterThan(120_000);
      expect(after.cookie.originalMaxAge).toBeLessThanOrEqual(3_600_000);
      expect(after.oidc!.silentTried).toBeUndefined();
      expect(after.oidc!.login).toEqual(expect.any(String));
    },
  );

  it('a list keeps the fields named and only those', async () => {
    const { app, store } = appWith({ keepSessionData: ['cart', 'locale', 'absent'] });
    const { after } = await visitThenLogin(app, store);
    expect(appFields(after).sort()).toEqual(['cart', 'locale']);
    expect(after).toMatchObject({ cart: ['book'], locale: 'fr' });
  });

  it("a second login of the same user carries the app's data, never the first login", async () => {
    const { app, store } = appWith({ keepSessionData: 'all' });
    const browser = newBrowser(app, op.issuer);
    await login(browser, { account: 'alice' });
    await browser.app.get('/visit').expect(200);
    const first = await sessionId(browser);
    const firstLogin = (await storeGet<Stored>(store, first))!.oidc!.login;
    await login(browser, { account: 'alice' });
    const after = (await storeGet<Stored>(store, await sessionId(browser)))!;
    expect(after).toMatchObject({ cart: ['book'], locale: 'fr' });
    expect(after.oidc!.login).not.toEqual(firstLogin);
  });

  it("another user's login over a logged-in session (a shared computer, switching accounts) carries none of it", async () => {
    const { app, store } = appWith({ keepSessionData: 'all' });
    const browser = newBrowser(app, op.issuer);
    await login(browser, { account: 'alice' });
    await browser.app.get('/visit').expect(200);
    // Another user at the provider: a new provider session, so the provider asks who logs in.
    browser.op = newBrowser(app, op.issuer).op;
    await login(browser, { account: 'bob' });
    const after = (await storeGet<Stored>(store, await sessionId(browser)))!;
    expect(after).not.toHaveProperty('cart');
    expect(after).not.toHaveProperty('locale');
    expect((await browser.app.get('/probe/oidc').expect(200)).body.claims.sub).toBe('bob');
  });

  it.each<[unknown, string]>([
    [['oidc'], `cannot name "oidc": it is the middleware's`],
    [['cookie'], `cannot name "cookie": it is express-session's own`],
    [['save'], `cannot name "save"`],
    [true, `"keepSessionData" must be 'all', a list of session field names`],
    ['some', `"keepSessionData" must be 'all'`],
    [[1], 'must list session field names'],
  ])('refuses %j at start-up', (value, message) => {
    expectConfigError(testOptions(op, { keepSessionData: value as false }), message);
  });

  it('is app-level with providers: refused inside a provider', () => {
    expectConfigError(
      {
        baseUrl: APP_BASE_URL,
        providers: {
          a: { issuer: op.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, keepSessionData: 'all' },
        },
      },
      '"providers.a.keepSessionData" is an app-level option',
    );
  });
});
