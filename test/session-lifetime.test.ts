import { afterEach, describe, expect, it, jest } from '@jest/globals';
import request from 'supertest';
import type { OidcEvent, OidcLoginOptions } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { fakeClock } from './support/clock.js';
import { authorizeAt, login, newBrowser, setCookies, startLogin, visitCallback, type Browser } from './support/flow.js';
import { useProvider } from './support/use-provider.js';

const op = useProvider();
afterEach(() => {
  jest.useRealTimers();
});

async function authenticated(browser: Browser): Promise<boolean> {
  return (await browser.app.get('/probe/oidc').expect(200)).body.isAuthenticated;
}

describe('absoluteDuration', () => {
  it('ends the login after the absolute lifetime, whatever the activity', async () => {
    const events: OidcEvent[] = [];
    const { app } = createApp(
      testOptions(op, { absoluteDuration: 3600, idleDuration: false, on: { logout: (e) => events.push(e) } }),
    );
    const browser = newBrowser(app, op.issuer);
    await login(browser);
    const clock = fakeClock();
    for (let i = 0; i < 5; i++) {
      clock.advance(700);
      expect(await authenticated(browser)).toBe(true);
    }
    clock.advance(200); // 3700 s after login
    expect(await authenticated(browser)).toBe(false);
    expect(events).toEqual([expect.objectContaining({ sub: 'alice', detail: 'expired' })]);
    // It stays ended: the session was saved without the login.
    expect(await authenticated(browser)).toBe(false);
    await browser.app.get('/protected').set('Accept', 'text/html').expect(302);
  });
});

describe('idleDuration', () => {
  it('keeps an active user logged in and ends an idle one', async () => {
    const { app } = createApp(testOptions(op, { idleDuration: 600, absoluteDuration: false }));
    const browser = newBrowser(app, op.issuer);
    await login(browser);
    const clock = fakeClock();
    clock.advance(500);
    expect(await authenticated(browser)).toBe(true); // activity noted (more than a minute since the last)
    clock.advance(500);
    expect(await authenticated(browser)).toBe(true); // 500 s idle: still in
    clock.advance(601);
    expect(await authenticated(browser)).toBe(false); // 601 s idle: out
  });

  it('writes the activity to the store at most once a minute', async () => {
    const { app, store } = createApp(testOptions(op, { idleDuration: 600 }));
    const browser = newBrowser(app, op.issuer);
    await login(browser);
    let writes = 0;
    const set = store.set.bind(store);
    store.set = (sid, data, cb) => {
      writes++;
      set(sid, data, cb);
    };
    const clock = fakeClock();
    for (let i = 0; i < 10; i++) {
      clock.advance(5);
      await browser.app.get('/probe/oidc').expect(200);
    }
    expect(writes).toBe(0);
    clock.advance(60);
    await browser.app.get('/probe/oidc').expect(200);
    expect(writes).toBe(1);
  });
});

describe("a session that holds only pending logins (pendingLogins: 'session')", () => {
  function cookieExpiry(res: request.Response): number | undefined {
    const cookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('sid='));
    const expires = cookie && /Expires=([^;]+)/.exec(cookie)?.[1];
    return expires ? Date.parse(expires) : undefined;
  }
  const sessionMode = (overrides: Partial<OidcLoginOptions> = {}) =>
    testOptions(op, { pendingLogins: 'session', ...overrides });

  it("lives as long as a login may take, not for the cookie's full age", async () => {
    const { app } = createApp(sessionMode());
    const res = await request(app).get('/login').expect(302);
    const expiry = cookieExpiry(res);
    expect(expiry).toBeDefined();
    // transactionMaxAge (10 minutes) and a minute of grace for a late callback.
    expect(expiry! - Date.now()).toBeLessThanOrEqual(660_000 + 1000);
    expect(expiry! - Date.now()).toBeGreaterThan(650_000);
  });

  it('gets the ordinary cookie again once logged in', async () => {
    const { app } = createApp(sessionMode());
    const browser = newBrowser(app, op.issuer);
    const callback = await authorizeAt(browser, await startLogin(browser));
    const res = await visitCallback(browser, callback).expect(302);
    // The test app's cookie has no maxAge: a browser-session cookie, no Expires.
    expect(cookieExpiry(res)).toBeUndefined();
  });

  it("leaves a session that holds the app's own data alone", async () => {
    const { app } = createApp(sessionMode());
    app.get('/cart', (req, res) => {
      (req.session as unknown as { cart: string[] }).cart = ['book'];
      res.send('ok');
    });
    const agent = request.agent(app);
    await agent.get('/cart').expect(200);
    const res = await agent.get('/login').expect(302);
    expect(cookieExpiry(res)).toBeUndefined();
  });
});

describe('pending logins in cookies (the default)', () => {
  it("/login creates no session: no session cookie, nothing in the store, and the app's session is not written", async () => {
    const { app, store } = createApp(testOptions(op));
    let writes = 0;
    const set = store.set.bind(store);
    store.set = (sid, data, cb) => {
      writes++;
      set(sid, data, cb);
    };
    const res = await request(app).get('/login').expect(302);
    expect(setCookies(res, 'sid=')).toEqual([]);
    expect(setCookies(res, 'oidc.tx.')).toHaveLength(1);
    // A browser with a session of its own: /login leaves it as it was.
    app.get('/cart', (req, res) => {
      (req.session as unknown as { cart: string[] }).cart = ['book'];
      res.send('ok');
    });
    const agent = request.agent(app);
    await agent.get('/cart').expect(200);
    const before = writes;
    const again = await agent.get('/login').expect(302);
    expect(setCookies(again, 'sid=')).toEqual([]);
    expect(writes).toBe(before);
    expect(await new Promise<number>((r) => store.length((_e, n) => r(n ?? -1)))).toBe(1);
  });
});

// 1,000 real requests: what each abandoned /login leaves is the property, and it is per request, so
// 10,000 of them (the benchmark's memory phase, bench/README.md) would only make the suite slower.
describe('an abandoned-login flood (1,000 /login requests never followed)', () => {
  async function flood(app: ReturnType<typeof createApp>['app'], count: number): Promise<void> {
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as { port: number };
    try {
      for (let i = 0; i < count; i += 100) {
        await Promise.all(
          Array.from({ length: 100 }, () =>
            fetch(`http://127.0.0.1:${port}/login`, { redirect: 'manual' }).then(async (r) => {
              expect(r.status).toBe(302);
              await r.arrayBuffer();
            }),
          ),
        );
      }
    } finally {
      server.close();
    }
  }

  it('leaves nothing in the store in cookie mode (the default)', async () => {
    const { app, store } = createApp(testOptions(op));
    await flood(app, 1_000);
    expect(await new Promise<number>((r) => store.length((_e, n) => r(n ?? -1)))).toBe(0);
  });

  it('in session mode, holds under 500 bytes each (10,000 under 5 MB), and every such session is gone from the store a minute after transactionMaxAge', async () => {
    const { app, store } = createApp(testOptions(op, { pendingLogins: 'session' }));
    const clock = fakeClock();
    const count = 1_000;
    await flood(app, count);
    const length = () => new Promise<number>((r) => store.length((_e, n) => r(n ?? -1)));
    expect(await length()).toBe(count);
    // What they hold: express-session's MemoryStore keeps each session as a JSON string.
    const sessions = (store as unknown as { sessions: Record<string, string> }).sessions;
    const bytes = Object.values(sessions).reduce((n, json) => n + json.length, 0);
    expect(bytes / count).toBeLessThan(500);
    clock.advance(661);
    expect(await length()).toBe(0);
  });
});
