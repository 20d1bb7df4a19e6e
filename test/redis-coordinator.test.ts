import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { RedisStore } from 'connect-redis';
import type { Store } from 'express-session';
import { CookieAccessInfo } from 'cookiejar';
import request from 'supertest';
import { guardSessionStore, type OidcLoginOptions } from '../lib/index.js';
import { testOptions } from './support/app.js';
import { authorizeAt, login, newBrowser, startLogin, type Browser } from './support/flow.js';
import {
  listenLoopback,
  logoutClaims,
  providerKey,
  signLogoutToken,
  type LoopbackServer,
} from './support/logout-kit.js';
import { CLIENT_ID, startProvider, type TestProvider } from './support/provider.js';
import {
  barrier,
  countGrants,
  createInstance,
  expireAccessToken,
  holdGrants,
  raceRefreshes,
  serve,
  storedLogin,
  type Served,
} from './support/refresh-kit.js';
import type { SigningKey } from './support/hostile-provider.js';
import { RedisCoordinator } from '../lib/session/redis-coordinator.js';
import { redisAvailable, startRedis, type TestRedis } from './support/redis.js';

/**
 * Several app instances made exact by Redis (the coordinator): two `oidcLogin()` instances, each
 * with its own Redis connection (as two processes would have; they share nothing in memory), behind
 * one loopback server that sends a request to instance A or B by its `x-instance` header, so one
 * browser (one cookie jar) can spread its requests over both. The provider is a real oidc-provider
 * that rotates refresh tokens and, on the reuse of a rotated one, revokes the whole grant.
 * test/redis-processes.test.ts runs the same cases with each instance a Node process of its own.
 */

const describeRedis = redisAvailable ? describe : describe.skip;

/** A coordinator client that records every command it sends (instance B's, given explicitly). */
function recordingClient(store: Store) {
  const client = (store as RedisStore).client as unknown as { sendCommand(args: string[]): Promise<unknown> };
  const commands: string[][] = [];
  const replies: { args: string[]; reply: unknown }[] = [];
  const listeners: Array<(args: string[], reply: unknown) => void> = [];
  return {
    commands,
    replies,
    onReply(listener: (args: string[], reply: unknown) => void) {
      listeners.push(listener);
    },
    client: {
      async sendCommand(args: string[]) {
        commands.push(args);
        const reply = await client.sendCommand(args);
        replies.push({ args, reply });
        for (const l of listeners) l(args, reply);
        return reply;
      },
    },
  };
}

/** Makes the next `n` reads of store keys starting with `prefix` wait for each other (forces a read-read-write-write race). */
function raceReads(stores: Store[], prefix: string, n: number): void {
  const wait = barrier(n);
  for (const store of stores) {
    const get = store.get.bind(store);
    store.get = ((key: string, cb: (err: unknown, value?: unknown) => void) => {
      if (!key.startsWith(prefix)) return get(key, cb);
      void wait().then(() => get(key, cb));
    }) as Store['get'];
  }
}

describeRedis('several instances on one Redis: the coordinator', () => {
  let redis: TestRedis;
  let op: TestProvider;
  let key: SigningKey;
  let backchannel: LoopbackServer;
  let served: Served | undefined;
  beforeAll(async () => {
    redis = await startRedis();
    backchannel = await listenLoopback();
    const k = await providerKey();
    key = k.key;
    op = await startProvider({ backchannelLogoutUri: `${backchannel.url}/backchannel-logout`, signingKey: k.jwk });
  });
  afterEach(async () => {
    await served?.close();
    served = undefined;
  });
  afterAll(async () => {
    await op?.close();
    await backchannel?.close();
    await redis?.close();
  });

  /** A (the connect-redis client, found by itself) and B (its client given as `coordinator.redis`, recorded). */
  async function twoInstances(overrides: Partial<OidcLoginOptions> = {}, guard?: { timeout: number }) {
    const storeA = await redis.store();
    const storeB = await redis.store();
    if (guard) {
      guardSessionStore(storeA, guard);
      guardSessionStore(storeB, guard);
    }
    const recorded = recordingClient(storeB);
    const options = testOptions(op, { scope: 'openid profile email offline_access', ...overrides });
    const a = createInstance(options, { store: storeA });
    const b = createInstance(
      { ...options, coordinator: { ...overrides.coordinator, redis: recorded.client, prefix: 'sess:oidc:' } },
      { store: storeB },
    );
    served = await serve((req, res) => (req.headers['x-instance'] === 'b' ? b.app : a.app)(req, res));
    return { a, b, storeA, storeB, recorded, url: served.url };
  }

  async function probe(browser: Browser, instance: 'a' | 'b') {
    return (await browser.app.get('/probe/oidc').set('x-instance', instance).expect(200)).body;
  }

  it('50 requests over both instances with an expired access token make 1 token request; the next refresh works', async () => {
    // The held token request must outlast 50 requests reaching B on a busy machine.
    const { storeA, recorded, url } = await twoInstances({ httpTimeout: 30_000 });
    const browser = newBrowser(url, op.issuer);
    expect((await login(browser)).status).toBe(302);
    const first = await probe(browser, 'a');
    await expireAccessToken(storeA, first.sessionId);
    const grants = countGrants(op, 'refresh_token');
    const hold = holdGrants(op, 'refresh_token');
    try {
      // B seen waiting for the lock: its SET NX of the lock answered nil.
      let lockBusy!: () => void;
      const bWaits = new Promise<void>((r) => (lockBusy = r));
      recorded.onReply((args, reply) => {
        if (args[0] === 'SET' && String(args[1]).includes('lock:refresh:') && reply === null) lockBusy();
      });
      const send = (instance: 'a' | 'b') =>
        Array.from({ length: 25 }, () =>
          browser.app
            .get('/token')
            .set('x-instance', instance)
            .then((r) => r),
        );
      // A first, then B (raceRefreshes): sent all at once, either instance could take the lock
      // first, and only B's waiting is observed.
      const responses = await raceRefreshes(hold, bWaits, send);
      expect(responses.filter((r) => r.status !== 200).map((r) => r.body)).toEqual([]);
      expect(new Set(responses.map((r) => r.body.accessToken)).size).toBe(1);
      expect(grants.counts).toEqual({ succeeded: 1, failed: [] });

      // Still logged in on both, and the grant is alive: the next refresh works.
      for (const instance of ['a', 'b'] as const) expect((await probe(browser, instance)).isAuthenticated).toBe(true);
      await expireAccessToken(storeA, first.sessionId);
      const next = await browser.app.get('/token').set('x-instance', 'b').expect(200);
      expect(next.body.accessToken).not.toBe(responses[0]!.body.accessToken);
      expect(grants.counts).toEqual({ succeeded: 2, failed: [] });
    } finally {
      hold.detach();
      grants.detach();
    }
  });

  it('Redis paused (SIGSTOP) during a refresh: 503, and after SIGCONT the login is kept, refreshes, and no lock is left', async () => {
    const { storeA, url } = await twoInstances({ coordinator: { timeout: 300 } }, { timeout: 300 });
    const browser = newBrowser(url, op.issuer);
    expect((await login(browser)).status).toBe(302);
    const first = await probe(browser, 'a');
    await expireAccessToken(storeA, first.sessionId);
    const grants = countGrants(op, 'refresh_token');
    const hold = holdGrants(op, 'refresh_token');
    let paused = false;
    try {
      // (then(): a supertest request is sent when it is awaited.)
      const pending = browser.app
        .get('/token')
        .set('x-instance', 'a')
        .then((r) => r);
      // A holds the lock and its token request is at the provider: Redis stops now.
      await hold.arrived(1);
      redis.pause();
      paused = true;
      hold.release();
      const res = await pending;
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('ERR_OIDC_SESSION_STORE');
    } finally {
      if (paused) redis.resume();
      hold.detach();
    }
    try {
      // Read on A's own connection: after whatever A sent while Redis was stopped.
      const stored = await storedLogin(storeA, first.sessionId);
      expect(stored?.refreshToken).toEqual(expect.any(String));
      const client = (storeA as RedisStore).client as unknown as { sendCommand(args: string[]): Promise<unknown> };
      expect(await client.sendCommand(['EXISTS', `sess:oidc:lock:refresh:${first.sessionId}`])).toBe(0);
      // The refresh the provider answered was not lost: the session holds its tokens, and the next one works.
      expect(grants.counts).toEqual({ succeeded: 1, failed: [] });
      expect(stored!.refreshToken).not.toBe(first.refreshToken);
      expect((await probe(browser, 'b')).isAuthenticated).toBe(true);
      await expireAccessToken(storeA, first.sessionId);
      await browser.app.get('/token').set('x-instance', 'b').expect(200);
      expect(grants.counts).toEqual({ succeeded: 2, failed: [] });
    } finally {
      grants.detach();
    }
  });

  it.each(['cookie', 'session'] as const)(
    'a callback sent to both instances at once makes 1 token request (pendingLogins: %s)',
    async (pendingLogins) => {
      const { storeA, storeB, url } = await twoInstances({ pendingLogins });
      const browser = newBrowser(url, op.issuer);
      const callback = await authorizeAt(browser, await startLogin(browser));
      if (pendingLogins === 'session') {
        // Both instances load the session (with the pending login) before either takes it.
        const cookie = browser.app.jar.getCookie('sid', new CookieAccessInfo('127.0.0.1', '/', false, false));
        const sessionId = decodeURIComponent(cookie!.value).slice(2).split('.')[0]!;
        raceReads([storeA, storeB], sessionId, 2);
      }
      const grants = countGrants(op, 'authorization_code');
      try {
        const path = callback.pathname + callback.search;
        const [ra, rb] = await Promise.all([
          browser.app.get(path).set('x-instance', 'a'),
          browser.app.get(path).set('x-instance', 'b'),
        ]);
        expect([ra.status, rb.status].sort()).toEqual([302, 400]);
        expect(grants.counts).toEqual({ succeeded: 1, failed: [] });
        // The browser keeps the winner's session cookie; its login works, refresh included.
        const winner = ra.status === 302 ? ra : rb;
        const cookie = ([] as string[])
          .concat(winner.headers['set-cookie'] ?? [])
          .find((c) => c.startsWith('sid='))!
          .split(';')[0]!;
        const refreshed = await request(url).get('/token/many?n=1').set('Cookie', cookie);
        expect(refreshed.status).toBe(200);
        const probed = await request(url).get('/probe/oidc').set('Cookie', cookie).set('x-instance', 'b');
        expect(probed.body.isAuthenticated).toBe(true);
      } finally {
        grants.detach();
      }
    },
  );

  it('one user logging in on both instances at the same instant is fully logged out by a sub-only logout token', async () => {
    const { storeA, storeB, url } = await twoInstances();
    // Both index reads (store-only) happen before either write: the lost update, if there is one.
    raceReads([storeA, storeB], 'oidc-sub:', 2);
    const browsers = [newBrowser(url, op.issuer), newBrowser(url, op.issuer)];
    const callbacks = await Promise.all(browsers.map(async (b) => authorizeAt(b, await startLogin(b), 'carol')));
    const done = await Promise.all(
      browsers.map((b, i) => b.app.get(callbacks[i]!.pathname + callbacks[i]!.search).set('x-instance', i ? 'b' : 'a')),
    );
    expect(done.map((r) => r.status)).toEqual([302, 302]);
    for (const b of browsers) expect((await probe(b, 'a')).isAuthenticated).toBe(true);
    const token = await signLogoutToken(logoutClaims(op.issuer, CLIENT_ID, { sub: 'carol' }), key);
    await request(url).post('/backchannel-logout').type('form').send({ logout_token: token }).expect(200);
    // B first: A received the logout and would drop any login of carol it sees (in process), B did not.
    for (const b of browsers) expect((await probe(b, 'b')).isAuthenticated).toBe(false);
    for (const b of browsers) expect((await probe(b, 'a')).isAuthenticated).toBe(false);
  });

  it('a logout token delivered to both instances at once ends the sessions once', async () => {
    const ended: string[] = [];
    const on = (instance: string) => ({ backchannelLogout: () => void ended.push(instance) });
    const { storeA, storeB, url } = await twoInstances();
    // Instances with event handlers: the ones above are the same apart from `on`.
    await served!.close();
    const options = testOptions(op, { scope: 'openid profile email offline_access' });
    const a = createInstance({ ...options, on: on('a') }, { store: storeA });
    const b = createInstance({ ...options, on: on('b') }, { store: storeB });
    served = await serve((req, res) => (req.headers['x-instance'] === 'b' ? b.app : a.app)(req, res));
    const browser = newBrowser(served.url, op.issuer);
    expect((await login(browser, { account: 'dave' })).status).toBe(302);
    raceReads([storeA, storeB], 'oidc-jti:', 2);
    const token = await signLogoutToken(logoutClaims(op.issuer, CLIENT_ID, { sub: 'dave' }), key);
    const post = (instance: string) =>
      request(served!.url)
        .post('/backchannel-logout')
        .set('x-instance', instance)
        .type('form')
        .send({ logout_token: token });
    const [ra, rb] = await Promise.all([post('a'), post('b')]);
    expect([ra.status, rb.status].sort()).toEqual([200, 400]);
    expect(ended).toHaveLength(1);
    expect((await probe(browser, 'b')).isAuthenticated).toBe(false);
    void url;
  });

  describe('the lock', () => {
    /** A coordinator on its own connection, recording its commands, and that connection for checks. */
    async function coordinator() {
      const store = await redis.store();
      const recorded = recordingClient(store);
      const renewals = (n: number) =>
        new Promise<void>((resolve) => {
          let seen = 0;
          recorded.onReply((args, reply) => {
            if (args[0] === 'EVAL' && args[1]!.includes('PEXPIRE') && reply === 1 && ++seen === n) resolve();
          });
        });
      const client = (store as RedisStore).client as unknown as { sendCommand(args: string[]): Promise<unknown> };
      return { coordinator: new RedisCoordinator(recorded.client, 'test:', 2000), renewals, client };
    }

    it('is renewed while its holder works, so a slow holder keeps it past its lifetime; given back, it is gone', async () => {
      const { coordinator: c, renewals, client } = await coordinator();
      const ttlMs = 1500;
      const release = await c.lock('slow', { ttlMs, waitMs: 0 });
      // Four renewals, each a third of the lifetime after the last: more than a lifetime since it was taken.
      await renewals(4);
      expect(Number(await client.sendCommand(['PTTL', 'test:lock:slow']))).toBeGreaterThan(0);
      await expect(c.lock('slow', { ttlMs, waitMs: 0 })).rejects.toMatchObject({ status: 503 });
      await release();
      expect(await client.sendCommand(['EXISTS', 'test:lock:slow'])).toBe(0);
    });

    it('of a holder that never gives it back is renewed for ten lifetimes at most, then expires', async () => {
      const { coordinator: c, renewals, client } = await coordinator();
      const release = await c.lock('hung', { ttlMs: 300, waitMs: 0 });
      // Renewed past its first lifetime (a renewal answers 1 only while the lock is there, and the
      // fourth comes more than a lifetime after it was taken)...
      await renewals(4);
      // ...but not for as long as the process lives (without the cap the test would time out).
      while (Number(await client.sendCommand(['EXISTS', 'test:lock:hung'])) === 1)
        await new Promise((resolve) => setTimeout(resolve, 100));
      const again = await c.lock('hung', { ttlMs: 300, waitMs: 0 });
      await again();
      await release();
    });
  });

  it('an authenticated request makes no coordinator call; a login makes 2, a refresh 2', async () => {
    const { storeB, recorded, url } = await twoInstances();
    const browser = newBrowser(url, op.issuer);
    const authorizationUrl = await startLogin(browser);
    const callback = await authorizeAt(browser, authorizationUrl);
    recorded.commands.length = 0;
    await browser.app
      .get(callback.pathname + callback.search)
      .set('x-instance', 'b')
      .expect(302);
    // SET NX of the state, one EVAL adding the session to its sid and sub sets.
    expect(recorded.commands.map((c) => c[0])).toEqual(['SET', 'EVAL']);
    recorded.commands.length = 0;
    for (let i = 0; i < 20; i++) await browser.app.get('/protected').set('x-instance', 'b').expect(200);
    expect(recorded.commands).toEqual([]);
    const { sessionId } = await probe(browser, 'b');
    await expireAccessToken(storeB, sessionId);
    recorded.commands.length = 0;
    await browser.app.get('/token').set('x-instance', 'b').expect(200);
    // The lock taken (SET NX PX) and given back (EVAL compare-and-delete).
    expect(recorded.commands.map((c) => c[0])).toEqual(['SET', 'EVAL']);
  });
});
