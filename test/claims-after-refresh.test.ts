import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { AfterCallback, OidcLoginOptions, StoredLogin } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { login, newBrowser, type Browser } from './support/flow.js';
import { ACCOUNTS } from './support/provider.js';
import { FIRST_ACCESS_TOKEN_DUE, storedLogin, tapRefreshGrants, type RefreshTap } from './support/refresh-kit.js';
import { useProvider } from './support/use-provider.js';

/**
 * A login's claims after a refresh are what the app decided (afterCallback), not the refreshed ID
 * token's raw claims: the app narrows the provider's groups (it does not trust the provider's
 * `admin`) and adds its own (`admin` for the users its database says), and
 * `requireAuth(claimIncludes('groups', 'admin'))` must give the same answer before and after a
 * refresh, through getAccessToken() and through autoRefresh. The hook is run again on the
 * refreshed claims, so a change the provider makes (a group added or removed) comes through too.
 */

const op = useProvider({
  configuration: {
    // A login's access token lives 30 s (inside refreshLeeway: due for refresh at once); refreshed ones an hour.
    ttl: FIRST_ACCESS_TOKEN_DUE,
  },
});
let tap: RefreshTap;
beforeAll(() => {
  tap = tapRefreshGrants(op);
});
afterAll(() => tap.detach());
beforeEach(() => tap.reset());

const HTML = 'text/html';
/** The app's own database: who is an admin here, whatever the provider says. */
const APP_ADMINS = new Set(['alice']);

const reasons: string[] = [];
afterEach(() => {
  reasons.length = 0;
});

/** Keeps only the provider's groups the app trusts (not `admin`), and adds `admin` from its own database. */
const decideGroups: AfterCallback = (_req, _res, login, details) => {
  reasons.push(details.reason);
  const fromProvider = Array.isArray(login.claims.groups) ? (login.claims.groups as string[]) : [];
  const groups = fromProvider.filter((g) => g !== 'admin');
  if (APP_ADMINS.has(login.claims.sub)) groups.push('admin');
  login.claims = { ...login.claims, groups };
  login.data = { decidedAt: details.reason };
  return login;
};

function appWith(overrides: Partial<OidcLoginOptions> = {}) {
  return createApp(
    testOptions(op, {
      scope: 'openid groups offline_access',
      authorizationParams: { prompt: 'consent' },
      afterCallback: decideGroups,
      ...overrides,
    }),
    {
      routes: (app) => {
        app.get('/token', async (req, res, next) => {
          try {
            res.json({ token: await req.oidc!.getAccessToken({ forceRefresh: true }) });
          } catch (err) {
            next(err);
          }
        });
      },
    },
  ).app;
}

async function loggedIn(account: string, overrides: Partial<OidcLoginOptions> = {}): Promise<Browser> {
  const browser = newBrowser(appWith(overrides), op.issuer);
  expect((await login(browser, { account })).status).toBe(302);
  return browser;
}

const groupsOf = async (browser: Browser) => (await browser.app.get('/probe/oidc').expect(200)).body.claims?.groups;

describe.each([
  ['bob', 'narrowed: the provider says admin, the app does not', ['users'], 403],
  ['alice', 'added: the app says admin, the provider does not', ['users', 'admin'], 200],
] as const)('%s (%s)', (account, _what, groups, adminStatus) => {
  it('getAccessToken() refresh: the same claims and the same answer at /admin', async () => {
    const browser = await loggedIn(account);
    expect(await groupsOf(browser)).toEqual(groups);
    await browser.app.get('/admin').expect(adminStatus);

    await browser.app.get('/token').expect(200);
    expect(tap.succeeded).toBe(1);
    expect(await groupsOf(browser)).toEqual(groups);
    await browser.app.get('/admin').expect(adminStatus);
    expect(reasons).toEqual(['login', 'refresh']);
  });

  it('autoRefresh: the refresh inside requireAuth gives the same answer', async () => {
    const browser = await loggedIn(account, { autoRefresh: true });
    // The login's access token is due for refresh at once: requireAuth refreshes first.
    await browser.app.get('/admin').set('Accept', HTML).expect(adminStatus);
    expect(tap.succeeded).toBe(1);
    expect(await groupsOf(browser)).toEqual(groups);
    expect(reasons).toEqual(['login', 'refresh']);
  });
});

describe('the decision is made again on what the provider says now (not a diff of the first one)', () => {
  const original = ACCOUNTS.alice!.groups;
  afterEach(() => {
    ACCOUNTS.alice!.groups = original;
  });

  it("a group the provider adds or removes meanwhile comes through, and the app's own stays", async () => {
    const browser = await loggedIn('alice');
    expect(await groupsOf(browser)).toEqual(['users', 'admin']);
    ACCOUNTS.alice!.groups = ['editors', 'admin'];
    await browser.app.get('/token').expect(200);
    expect(await groupsOf(browser)).toEqual(['editors', 'admin']);
  });

  it("a claim the app added, which the ID token never has, goes when the app's database stops granting it", async () => {
    const granted = new Set(['alice']);
    const browser = await loggedIn('alice', {
      afterCallback: (_req, _res, login) => {
        if (granted.has(login.claims.sub)) login.claims = { ...login.claims, roles: ['auditor'] };
        return login;
      },
    });
    const rolesOf = async () => (await browser.app.get('/probe/oidc').expect(200)).body.claims?.roles;
    expect(await rolesOf()).toEqual(['auditor']);
    granted.delete('alice');
    await browser.app.get('/token').expect(200);
    expect(tap.succeeded).toBe(1);
    expect(await rolesOf()).toBeUndefined();
  });

  it('a hook that refuses the refreshed login ends it (403 ERR_OIDC_LOGIN_REFUSED)', async () => {
    let refuse = false;
    const browser = await loggedIn('alice', {
      afterCallback: (req, res, login, details) => {
        if (refuse) throw Object.assign(new Error('No longer welcome.'), { status: 403 });
        return decideGroups(req, res, login, details);
      },
    });
    refuse = true;
    const res = await browser.app.get('/token').expect(403);
    expect(res.body.code).toBe('ERR_OIDC_LOGIN_REFUSED');
    expect((await browser.app.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(false);
  });
});

describe("the login's bookkeeping (loggedInAt, activeAt, refreshes) is the library's, whatever the hook does", () => {
  /** A browser logged in to an app with `afterCallback: hook`, with /token (a forced refresh) and /userinfo. */
  async function loggedInWith(hook: AfterCallback) {
    const { app, store } = createApp(
      testOptions(op, {
        scope: 'openid groups offline_access',
        authorizationParams: { prompt: 'consent' },
        afterCallback: hook,
      }),
      {
        routes: (app) => {
          app.get('/token', (req, res, next) =>
            req.oidc!.getAccessToken({ forceRefresh: true }).then((token) => res.json({ token }), next),
          );
          app.get('/userinfo', (req, res, next) => req.oidc!.fetchUserInfo().then((user) => res.json({ user }), next));
        },
      },
    );
    const browser = newBrowser(app, op.issuer);
    expect((await login(browser)).status).toBe(302);
    const { sessionId } = (await browser.app.get('/probe/oidc').expect(200)).body;
    return { browser, stored: () => storedLogin(store, sessionId) };
  }

  it('a hook that returns a login it built anew: kept at the callback, a refresh and a userinfo reload', async () => {
    // Only the tokens and claims: none of the login's bookkeeping.
    const { browser, stored } = await loggedInWith(
      (_req, _res, login) =>
        ({
          claims: login.claims,
          idToken: login.idToken,
          accessToken: login.accessToken,
          refreshToken: login.refreshToken,
          tokenType: login.tokenType,
          expiresAt: login.expiresAt,
        }) as StoredLogin,
    );
    const first = (await stored())!;
    // absoluteDuration and idleDuration count from these: a login without them would never expire.
    expect(first.loggedInAt).toEqual(expect.any(Number));
    expect(first.activeAt).toEqual(expect.any(Number));

    await browser.app.get('/token').expect(200);
    expect(await stored()).toMatchObject({ loggedInAt: first.loggedInAt, refreshes: 1 });

    await browser.app.get('/userinfo').expect(200);
    expect(await stored()).toMatchObject({ loggedInAt: first.loggedInAt, refreshes: 1 });
  });

  it('a hook that changes them in the login it was given: ignored', async () => {
    const { browser, stored } = await loggedInWith((_req, _res, login) => {
      login.loggedInAt = 0;
      login.activeAt = 0;
      delete login.refreshes;
    });
    const first = (await stored())!;
    expect(first.loggedInAt).toBeGreaterThan(0);
    await browser.app.get('/token').expect(200);
    await browser.app.get('/userinfo').expect(200);
    expect(await stored()).toMatchObject({ loggedInAt: first.loggedInAt, refreshes: 1 });
  });
});
