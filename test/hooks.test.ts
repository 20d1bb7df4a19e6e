import { describe, expect, it } from '@jest/globals';
import type { SessionData } from 'express-session';
import type { OidcEvent, OidcLoginOptions } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { authorizeAt, login, newBrowser, startLogin, visitCallback } from './support/flow.js';
import { decoded } from './support/stored-login.js';
import { storeAll } from './support/store.js';
import { useProvider } from './support/use-provider.js';

const op = useProvider();

async function sessions(store: ReturnType<typeof createApp>['store']): Promise<SessionData[]> {
  return Object.values(await storeAll(store)).map(decoded);
}

describe('afterCallback', () => {
  it("refuses a login with the hook's status and message, and leaves no login behind", async () => {
    const options: Partial<OidcLoginOptions> = {
      afterCallback: async (_req, _res, login) => {
        if (login.claims.email !== 'bob@example.com') {
          throw Object.assign(new Error('Only Bob may use this app.'), { status: 403 });
        }
        return login;
      },
    };
    const { app, store } = createApp(testOptions(op, options));
    const alice = newBrowser(app, op.issuer);
    const res = await login(alice, { account: 'alice' });
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ status: 403, code: 'ERR_OIDC_LOGIN_REFUSED', message: 'Only Bob may use this app.' });
    expect((await alice.app.get('/probe/oidc')).body.isAuthenticated).toBe(false);
    for (const data of await sessions(store)) expect(data.oidc?.login).toBeUndefined();

    const bob = newBrowser(app, op.issuer);
    expect((await login(bob, { account: 'bob' })).status).toBe(302);
    expect((await bob.app.get('/probe/oidc')).body.claims.sub).toBe('bob');
  });

  it('answers 401 when the hook says 401, and 403 for any other error', async () => {
    for (const [status, expected] of [
      [401, 401],
      [500, 403],
      [undefined, 403],
    ] as const) {
      const { app } = createApp(
        testOptions(op, {
          afterCallback: () => {
            throw Object.assign(new Error('no'), { status });
          },
        }),
      );
      const res = await login(newBrowser(app, op.issuer));
      expect(res.status).toBe(expected);
    }
  });

  it('adds application data to the stored login', async () => {
    const { app, store } = createApp(
      testOptions(op, {
        afterCallback: (_req, _res, login) => {
          login.data = { tenant: 'acme' };
        },
      }),
    );
    const browser = newBrowser(app, op.issuer);
    await login(browser);
    const stored = (await sessions(store)).find((s) => s.oidc?.login);
    expect(stored?.oidc?.login?.data).toEqual({ tenant: 'acme' });
  });
});

describe('audit events', () => {
  it('tells login and failed logins, without tokens', async () => {
    const events: [string, OidcEvent][] = [];
    const { app } = createApp(
      testOptions(op, {
        on: {
          login: (e) => events.push(['login', e]),
          loginFailed: (e) => events.push(['loginFailed', e]),
        },
      }),
    );
    const browser = newBrowser(app, op.issuer);
    await login(browser);
    await newBrowser(app, op.issuer).app.get('/callback?state=nope&code=x').expect(400);
    expect(events.map(([name]) => name)).toEqual(['login', 'loginFailed']);
    expect(events[0]![1]).toEqual({ sub: 'alice', sessionId: expect.any(String) });
    expect(events[1]![1]).toMatchObject({ code: 'ERR_OIDC_MISSING_TRANSACTION' });
    expect(JSON.stringify(events)).not.toMatch(/eyJ/); // no JWTs
  });

  it('ignores a hook that throws', async () => {
    const { app } = createApp(
      testOptions(op, {
        on: {
          login: () => {
            throw new Error('audit log down');
          },
        },
      }),
    );
    const browser = newBrowser(app, op.issuer);
    expect((await login(browser)).status).toBe(302);
    expect((await browser.app.get('/probe/oidc')).body.isAuthenticated).toBe(true);
  });
  it('ignores an async hook that rejects: no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const { app } = createApp(
        testOptions(op, {
          on: {
            login: async () => {
              throw new Error('audit log down');
            },
          },
        }),
      );
      const browser = newBrowser(app, op.issuer);
      expect((await login(browser)).status).toBe(302);
      expect((await browser.app.get('/probe/oidc')).body.isAuthenticated).toBe(true);
      // Node reports an unhandled rejection after the microtasks of the turn that made it.
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('silent login (prompt=none)', () => {
  it('asks with prompt=none once, and comes back not logged in without an error when the provider has no session', async () => {
    const { app } = createApp(testOptions(op, { silentLogin: true }));
    const browser = newBrowser(app, op.issuer);
    const authorizationUrl = await startLogin(browser, '?silent=1&returnTo=/welcome');
    expect(authorizationUrl.searchParams.get('prompt')).toBe('none');
    const callback = await authorizeAt(browser, authorizationUrl);
    expect(callback.searchParams.get('error')).toBe('login_required');
    const res = await visitCallback(browser, callback).expect(302);
    expect(res.headers.location).toBe('/welcome');
    expect((await browser.app.get('/probe/oidc')).body.isAuthenticated).toBe(false);
    // Tried once per session: the next login is an ordinary one (no loop).
    const again = await startLogin(browser, '?silent=1');
    expect(again.searchParams.get('prompt')).toBeNull();
  });

  it('logs in without any form when the provider still has a session', async () => {
    const { app } = createApp(testOptions(op, { silentLogin: true }));
    const first = newBrowser(app, op.issuer);
    await login(first);
    // A new app session (another app, same browser at the provider).
    const second = { app: newBrowser(app, op.issuer).app, op: first.op };
    const authorizationUrl = await startLogin(second, '?silent=1&returnTo=/x');
    const res = await second.op.get(authorizationUrl.pathname + authorizationUrl.search);
    expect(res.status).toBe(303);
    const callback = new URL(res.headers.location!);
    expect(callback.searchParams.get('code')).toBeTruthy();
    const done = await visitCallback(second, callback).expect(302);
    expect(done.headers.location).toBe('/x');
    expect((await second.app.get('/probe/oidc')).body.claims.sub).toBe('alice');
  });

  it('requireAuth() tries it first on a page load, then the ordinary login: no loop', async () => {
    const { app } = createApp(testOptions(op, { silentLogin: true }));
    const browser = newBrowser(app, op.issuer);
    const first = await browser.app.get('/protected').set('Accept', 'text/html').expect(302);
    expect(first.headers.location).toBe('/login?returnTo=%2Fprotected&silent=1');
    const authorizationUrl = await startLogin(browser, first.headers.location!.slice('/login'.length));
    expect(authorizationUrl.searchParams.get('prompt')).toBe('none');
    const callback = await authorizeAt(browser, authorizationUrl);
    expect(callback.searchParams.get('error')).toBe('login_required');
    const back = await visitCallback(browser, callback).expect(302);
    expect(back.headers.location).toBe('/protected');
    // Back on the protected page, not logged in: now the ordinary login, without silent=1.
    const second = await browser.app.get('/protected').set('Accept', 'text/html').expect(302);
    expect(second.headers.location).toBe('/login?returnTo=%2Fprotected');
  });

  it('is off unless configured: ?silent=1 is ignored', async () => {
    const { app } = createApp(testOptions(op));
    const url = await startLogin(newBrowser(app, op.issuer), '?silent=1');
    expect(url.searchParams.get('prompt')).toBeNull();
  });
});
