import { describe, expect, it } from '@jest/globals';
import { MemoryStore, type SessionData } from 'express-session';
import { createApp, testOptions } from './support/app.js';
import { authorizeAt, newBrowser, startLogin, visitCallback } from './support/flow.js';
import { storeAll } from './support/store.js';
import { useProvider } from './support/use-provider.js';

/** A MemoryStore whose writes can be made to fail, as a store does when its server goes away. */
class FlakyStore extends MemoryStore {
  /** Writes to let through before failing; Infinity never fails. */
  failAfter = Infinity;
  /** How many writes fail once failing starts; then the store is back. */
  failures = Infinity;
  override set(sid: string, data: SessionData, cb?: (err?: unknown) => void): void {
    if (this.failAfter <= 0 && this.failures > 0) {
      this.failures--;
      cb?.(new Error('store is down'));
      return;
    }
    this.failAfter--;
    super.set(sid, data, cb);
  }
}

const op = useProvider();

function appWith(store: FlakyStore, pendingLogins: 'cookie' | 'session' = 'cookie') {
  return createApp(testOptions(op, { pendingLogins }), {
    store,
    probes: false,
    routes: (app) => {
      app.get('/probe', (req, res) => res.json({ isAuthenticated: req.oidc!.isAuthenticated() }));
    },
  }).app;
}

describe('a failing session store', () => {
  it('makes /login a 503 and sends nobody to the provider (session mode: /login writes the store)', async () => {
    const store = new FlakyStore();
    store.failAfter = 0;
    const res = await newBrowser(appWith(store, 'session'), op.issuer).app.get('/login').expect(503);
    expect(res.body.code).toBe('ERR_OIDC_SESSION_STORE');
    expect(res.headers.location).toBeUndefined();
    expect(res.headers['retry-after']).toBe('5');
  });

  it('does not touch the store at /login in cookie mode: the login starts, and fails at the callback with 503', async () => {
    const store = new FlakyStore();
    store.failAfter = 0;
    const browser = newBrowser(appWith(store), op.issuer);
    const callback = await authorizeAt(browser, await startLogin(browser));
    const res = await visitCallback(browser, callback).expect(503);
    expect(res.body.code).toBe('ERR_OIDC_SESSION_STORE');
    expect(res.headers['retry-after']).toBe('5');
    store.failAfter = Infinity;
    expect((await browser.app.get('/probe').expect(200)).body.isAuthenticated).toBe(false);
  });

  it.each(['cookie', 'session'] as const)(
    'makes a login whose final save fails a failed login, not a half-logged-in session (pendingLogins: %s)',
    async (pendingLogins) => {
      const store = new FlakyStore();
      const app = appWith(store, pendingLogins);
      const browser = newBrowser(app, op.issuer);
      const callback = await authorizeAt(browser, await startLogin(browser));
      // Session mode: the callback saves the consumed transaction, writes the back-channel index
      // record (sub: this client has no sid), then the new login; cookie mode: the index record, then
      // the login. Fail the login's save only: the store is back for express-session's own save at
      // the end of the response.
      store.failAfter = pendingLogins === 'session' ? 2 : 1;
      store.failures = 1;
      const res = await visitCallback(browser, callback).expect(503);
      expect(res.body.code).toBe('ERR_OIDC_SESSION_STORE');
      store.failAfter = Infinity;
      const probe = await browser.app.get('/probe').expect(200);
      expect(probe.body.isAuthenticated).toBe(false);
      const sessions = await storeAll(store);
      for (const data of Object.values(sessions)) expect(data.oidc?.login).toBeUndefined();
    },
  );

  it('does not exchange the code when the consumed transaction cannot be saved (session mode)', async () => {
    const store = new FlakyStore();
    const app = appWith(store, 'session');
    const browser = newBrowser(app, op.issuer);
    const callback = await authorizeAt(browser, await startLogin(browser));
    store.failAfter = 0;
    await visitCallback(browser, callback).expect(503);
    // The code was not redeemed, so the same callback works once the store is back.
    store.failAfter = Infinity;
    await visitCallback(browser, callback).expect(302);
    expect((await browser.app.get('/probe')).body.isAuthenticated).toBe(true);
  });
});
