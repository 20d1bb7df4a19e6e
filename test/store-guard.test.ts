import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MemoryStore, type SessionData } from 'express-session';
import { guardSessionStore } from '../lib/session/store-guard.js';
import { createApp, testOptions } from './support/app.js';
import { authorizeAt, login, newBrowser, visitCallback } from './support/flow.js';
import { redisAvailable, startRedis, type TestRedis } from './support/redis.js';
import { useProvider } from './support/use-provider.js';

/** A MemoryStore that can be made to hang or to fail. */
class TroubledStore extends MemoryStore {
  mode: 'ok' | 'hang' | 'fail' = 'ok';
  override get(sid: string, cb: (err: unknown, session?: SessionData | null) => void): void {
    if (this.mode === 'hang') return;
    if (this.mode === 'fail') return cb(new Error('ECONNRESET'));
    super.get(sid, cb);
  }
}

const op = useProvider();

describe('guardSessionStore', () => {
  it('turns a hanging or failing store into a 503 with Retry-After, and keeps the login once the store is back', async () => {
    const store = guardSessionStore(new TroubledStore(), { timeout: 200 });
    const { app } = createApp(testOptions(op), { store });
    const browser = newBrowser(app, op.issuer);
    await login(browser);
    for (const mode of ['hang', 'fail'] as const) {
      store.mode = mode;
      const started = Date.now();
      const res = await browser.app.get('/protected').set('Accept', 'application/json');
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('ERR_OIDC_SESSION_STORE');
      expect(res.headers['retry-after']).toBe('5');
      expect(Date.now() - started).toBeLessThan(2000);
    }
    store.mode = 'ok';
    const res = await browser.app.get('/protected').expect(200);
    expect(res.body.sub).toBe('alice');
  });

  it('refuses a bad timeout', () => {
    expect(() => guardSessionStore(new MemoryStore(), { timeout: -1 })).toThrow(/timeout/);
  });
});

(redisAvailable ? describe : describe.skip)('Redis stopped mid-run', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it('answers 503 while Redis does not answer, and the user is still logged in when it is back', async () => {
    const { app } = createApp(testOptions(op), { store: guardSessionStore(await redis.store(), { timeout: 300 }) });
    const browser = newBrowser(app, op.issuer);
    await login(browser);
    await browser.app.get('/protected').expect(200);
    const visitor = newBrowser(app, op.issuer);
    redis.pause();
    try {
      const down = await browser.app.get('/protected').set('Accept', 'application/json');
      expect(down.status).toBe(503);
      expect(down.body.code).toBe('ERR_OIDC_SESSION_STORE');
      // A login can start (its pending login is a cookie: no store I/O), but cannot finish.
      const loginDown = await visitor.app.get('/login');
      expect(loginDown.status).toBe(302);
      const callback = await authorizeAt(visitor, new URL(loginDown.headers.location!));
      const finish = await visitCallback(visitor, callback).set('Accept', 'application/json');
      expect(finish.status).toBe(503);
      expect(finish.body.code).toBe('ERR_OIDC_SESSION_STORE');
    } finally {
      redis.resume();
    }
    const back = await browser.app.get('/protected').expect(200);
    expect(back.body.sub).toBe('alice');
    expect((await visitor.app.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(false);
  });
});
