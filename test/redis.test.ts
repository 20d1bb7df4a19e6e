import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type express from 'express';
import request from 'supertest';
import type { OidcLoginOptions } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { authorizeAt, login, newBrowser, pathOf } from './support/flow.js';
import { createLogoutApp, listenLoopback, logoutAtProvider } from './support/logout-kit.js';
import { createInstance, expireAccessToken, serve, tapRefreshGrants } from './support/refresh-kit.js';
import { startProvider } from './support/provider.js';
import { redisAvailable, startRedis, type TestRedis } from './support/redis.js';
import { useProvider } from './support/use-provider.js';

const describeRedis = redisAvailable ? describe : describe.skip;

describeRedis('two app instances sharing one Redis session store, no sticky sessions', () => {
  const op = useProvider();
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });

  async function twoInstances(overrides: Partial<OidcLoginOptions> = {}) {
    const a = createApp(testOptions(op, overrides), { store: await redis.store() });
    const b = createApp(testOptions(op, overrides), { store: await redis.store() });
    return { a: a.app, b: b.app };
  }

  /**
   * One browser whose requests go to either instance: the cookie jar is shared by hand (the
   * session cookie and the pending-login cookies; paths are not told apart).
   */
  function balancedBrowser(apps: express.Express[]) {
    const jar = new Map<string, string>();
    let next = 0;
    const send = async (path: string, to?: number) => {
      const app = apps[to ?? next++ % apps.length]!;
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const res = await request(app).get(path).set('Cookie', cookie).set('Accept', 'application/json');
      for (const line of ([] as string[]).concat(res.headers['set-cookie'] ?? [])) {
        const [pair] = line.split(';');
        const eq = pair!.indexOf('=');
        const value = pair!.slice(eq + 1);
        if (value === '' || /Max-Age=0/i.test(line)) jar.delete(pair!.slice(0, eq));
        else jar.set(pair!.slice(0, eq), value);
      }
      return res;
    };
    return { send, op: request.agent(op.issuer) };
  }

  // Cookie mode: both instances derive the same key (from the client secret); session mode: the
  // pending login is in the shared store.
  it.each(['cookie', 'session'] as const)(
    'starts the login on instance A and finishes it on instance B (pendingLogins: %s)',
    async (pendingLogins) => {
      const { a, b } = await twoInstances({ pendingLogins });
      const browser = balancedBrowser([a, b]);
      const login = await browser.send('/login?returnTo=/protected', 0);
      expect(login.status).toBe(302);
      const callback = await authorizeAt({ app: request.agent(a), op: browser.op }, new URL(login.headers.location!));
      const done = await browser.send(pathOf(callback.href), 1);
      expect(done.status).toBe(302);
      expect(done.headers.location).toBe('/protected');
      // Requests alternate between the instances; each sees the same login.
      for (let i = 0; i < 6; i++) {
        const res = await browser.send('/protected');
        expect(res.status).toBe(200);
        expect(res.body.sub).toBe('alice');
      }
    },
  );

  it('without the coordinator (coordinator.redis: false), a rotation race between A and B is adopted after the fact', async () => {
    // Store-only: both instances make a token request; the loser adopts the winner's tokens. (With
    // the coordinator there is one token request: redis-coordinator.test.ts.)
    const options = testOptions(op, { scope: 'openid profile email offline_access', coordinator: { redis: false } });
    const a = createInstance(options, { store: await redis.store() });
    const b = createInstance(options, { store: await redis.store() });
    const served = await serve((req, res) => (req.headers['x-instance'] === 'b' ? b.app : a.app)(req, res));
    try {
      const browser = newBrowser(served.url, op.issuer);
      expect((await login(browser)).status).toBe(302);
      const first = (await browser.app.get('/probe/oidc').set('x-instance', 'a').expect(200)).body;
      expect(first.refreshToken).toEqual(expect.any(String));
      await expireAccessToken(a.store, first.sessionId);
      // Both instances refresh the same login at once: both token requests reach the provider,
      // which answers them one after the other (the second with invalid_grant).
      const tap = tapRefreshGrants(op);
      const serialized = tap.serializeNext(2);
      const [ra, rb] = await Promise.all([
        browser.app.get('/token').set('x-instance', 'a'),
        browser.app.get('/token').set('x-instance', 'b'),
      ]);
      await serialized;
      tap.detach();
      expect([ra.status, rb.status]).toEqual([200, 200]);
      expect(tap.succeeded).toBe(1);
      expect(tap.failed).toEqual(['invalid_grant']);
      // The loser re-read the session from Redis and adopted the winner's tokens.
      expect(ra.body.accessToken).toBe(rb.body.accessToken);
      for (const instance of ['a', 'b']) {
        const probe = (await browser.app.get('/probe/oidc').set('x-instance', instance).expect(200)).body;
        expect(probe.isAuthenticated).toBe(true);
        expect(probe.refreshToken).not.toBe(first.refreshToken);
      }
    } finally {
      await served.close();
    }
  });

  it('a back-channel logout received by B ends the session the user holds on A', async () => {
    const backchannel = await listenLoopback();
    const bcOp = await startProvider({ backchannelLogoutUri: `${backchannel.url}/backchannel-logout` });
    try {
      const a = createLogoutApp(testOptions(bcOp), await redis.store());
      const b = createLogoutApp(testOptions(bcOp), await redis.store());
      backchannel.serve(b.app);
      const browser = newBrowser(a.app, bcOp.issuer);
      expect((await login(browser)).status).toBe(302);
      expect((await browser.app.get('/probe/oidc')).body.isAuthenticated).toBe(true);
      const other = newBrowser(a.app, bcOp.issuer);
      await login(other, { account: 'bob' });
      // The user logs out at the provider; it tells the app by back-channel, and instance B gets it.
      expect((await logoutAtProvider(browser)).status).toBe(303);
      expect((await browser.app.get('/probe/oidc')).body.isAuthenticated).toBe(false);
      expect((await other.app.get('/probe/oidc')).body.isAuthenticated).toBe(true);
    } finally {
      await Promise.all([bcOp.close(), backchannel.close()]);
    }
  });
});
