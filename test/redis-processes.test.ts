import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { RedisStore } from 'connect-redis';
import request, { type Response } from 'supertest';
import type { OidcLoginOptions } from '../lib/index.js';
import { testOptions } from './support/app.js';
import {
  authorizeAt,
  login,
  newBrowser,
  sameBrowserAt,
  startLogin,
  visitCallback,
  type Agent,
} from './support/flow.js';
import type { SigningKey } from './support/hostile-provider.js';
import {
  raceReads,
  startInstanceProcesses,
  type InstanceMessage,
  type InstanceProcess,
} from './support/instance-processes.js';
import {
  listenLoopback,
  logoutClaims,
  providerKey,
  sessionCookie,
  signLogoutToken,
  type LoopbackServer,
} from './support/logout-kit.js';
import { CLIENT_ID, startProvider, type TestProvider } from './support/provider.js';
import { countGrants, expireAccessToken, holdGrants, raceRefreshes } from './support/refresh-kit.js';
import { redisAvailable, startRedis, type TestRedis } from './support/redis.js';

/**
 * Several app instances made exact by Redis, as they run in production: two separate Node
 * processes (test/support/instance-process.mjs, loading the built dist/), each with its own
 * connect-redis store on one real redis-server, Redis as the coordinator found by itself. One
 * browser reaches both: its cookies for 127.0.0.1 go to either port. The provider, in this
 * process, is a real oidc-provider that rotates refresh tokens and, on the reuse of a rotated one,
 * revokes the whole grant. test/redis-coordinator.test.ts has the same cases with two instances
 * in one process (where the stores can be hooked directly) and the coordinator's round trips.
 */

const describeRedis = redisAvailable ? describe : describe.skip;

describeRedis('two app instances in separate processes on one Redis', () => {
  let redis: TestRedis;
  let store: RedisStore;
  let op: TestProvider;
  let key: SigningKey;
  let backchannel: LoopbackServer;
  let a: InstanceProcess;
  let b: InstanceProcess;
  // A token request held at the provider must outlast the other instance's requests on a busy machine.
  const options = (overrides: Partial<OidcLoginOptions> = {}) =>
    testOptions(op, {
      scope: 'openid profile email offline_access',
      httpTimeout: 30_000,
      ...overrides,
    });

  beforeAll(async () => {
    redis = await startRedis();
    store = await redis.store();
    backchannel = await listenLoopback();
    const k = await providerKey();
    key = k.key;
    op = await startProvider({ backchannelLogoutUri: `${backchannel.url}/backchannel-logout`, signingKey: k.jwk });
    [a, b] = (await startInstanceProcesses(redis.url, options())) as [InstanceProcess, InstanceProcess];
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await op?.close();
    await backchannel?.close();
    await redis?.close();
  });

  async function probe(agent: Agent): Promise<{ isAuthenticated: boolean; sessionId: string }> {
    return (await agent.get('/probe/oidc').expect(200)).body;
  }

  it('50 requests over both processes with an expired access token make 1 token request; the next refresh works', async () => {
    const browser = newBrowser(a.url, op.issuer);
    const atA = browser.app;
    const atB = sameBrowserAt(atA, b.url);
    expect((await login(browser)).status).toBe(302);
    const { sessionId } = await probe(atA);
    await expireAccessToken(store, sessionId);
    await b.command({ type: 'reportLockWaits' });
    const grants = countGrants(op, 'refresh_token');
    const hold = holdGrants(op, 'refresh_token');
    try {
      // (then(): a supertest request is sent when it is awaited.)
      const send = (instance: 'a' | 'b') =>
        Array.from({ length: 25 }, () => (instance === 'a' ? atA : atB).get('/token').then((r) => r));
      const responses = await raceRefreshes(hold, b.next('lockWait'), send);
      expect(responses.filter((r) => r.status !== 200).map((r) => r.body)).toEqual([]);
      expect(new Set(responses.map((r) => r.body.accessToken)).size).toBe(1);
      expect(grants.counts).toEqual({ succeeded: 1, failed: [] });

      // Still logged in on both, and the grant is alive: the next refresh works.
      for (const agent of [atA, atB]) expect((await probe(agent)).isAuthenticated).toBe(true);
      await expireAccessToken(store, sessionId);
      const next = await atB.get('/token').expect(200);
      expect(next.body.accessToken).not.toBe(responses[0]!.body.accessToken);
      expect(grants.counts).toEqual({ succeeded: 2, failed: [] });
    } finally {
      hold.detach();
      grants.detach();
    }
  });

  it.each(['cookie', 'session'] as const)(
    'a callback sent to both processes at once makes 1 token request (pendingLogins: %s)',
    async (pendingLogins) => {
      const instances =
        pendingLogins === 'cookie' ? [a, b] : await startInstanceProcesses(redis.url, options({ pendingLogins }));
      try {
        const [first, second] = instances as [InstanceProcess, InstanceProcess];
        const browser = newBrowser(first.url, op.issuer);
        const atSecond = sameBrowserAt(browser.app, second.url);
        const callback = await authorizeAt(browser, await startLogin(browser));
        // In session mode both instances load the session (with the pending login) before either
        // takes it; in cookie mode each opens its own copy of the cookie anyway.
        const race =
          pendingLogins === 'session' ? await raceReads(instances, (await probe(browser.app)).sessionId, 2) : undefined;
        const grants = countGrants(op, 'authorization_code');
        const hold = holdGrants(op, 'authorization_code');
        try {
          const path = callback.pathname + callback.search;
          const sent = [browser.app.get(path), atSecond.get(path)].map((r) => r.then((res) => res));
          // The first code exchange is held at the provider until the other instance has answered
          // (it refused the callback) or, without the coordinator, its own code exchange arrives:
          // the loser decides before the winner has stored anything.
          await Promise.race([...sent, hold.arrived(2)]);
          hold.release();
          const [r1, r2] = (await Promise.all(sent)) as [Response, Response];
          expect([r1.status, r2.status].sort()).toEqual([302, 400]);
          expect(grants.counts).toEqual({ succeeded: 1, failed: [] });

          // The winner's login works on both instances, and its grant is alive: a refresh works.
          const cookie = sessionCookie(r1.status === 302 ? r1 : r2);
          const at = (instance: InstanceProcess) => request(instance.url).get('/probe/oidc').set('Cookie', cookie);
          for (const instance of instances) expect((await at(instance)).body.isAuthenticated).toBe(true);
          const { sessionId } = (await at(first)).body;
          await expireAccessToken(store, sessionId);
          const refreshes = countGrants(op, 'refresh_token');
          try {
            await request(second.url).get('/token').set('Cookie', cookie).expect(200);
            expect(refreshes.counts).toEqual({ succeeded: 1, failed: [] });
          } finally {
            refreshes.detach();
          }
        } finally {
          hold.detach();
          grants.detach();
          await race?.release();
        }
      } finally {
        if (pendingLogins === 'session') await Promise.all(instances.map((i) => i.close()));
      }
    },
    60_000,
  );

  it('one user logging in on both processes at the same instant is fully logged out by a sub-only logout token', async () => {
    // Without Redis as the coordinator the index is a store record, read then written: both reads
    // come before either write (the lost update). With it, nothing reads such a record.
    const race = await raceReads([a, b], 'oidc-sub:', 2);
    try {
      const browsers = [newBrowser(a.url, op.issuer), newBrowser(b.url, op.issuer)];
      const callbacks = await Promise.all(browsers.map(async (br) => authorizeAt(br, await startLogin(br), 'carol')));
      const done = await Promise.all(browsers.map((br, i) => visitCallback(br, callbacks[i]!)));
      expect(done.map((r) => r.status)).toEqual([302, 302]);
      // Each browser at each instance: [at A, at B].
      const agents = browsers.map((br) => [sameBrowserAt(br.app, a.url), sameBrowserAt(br.app, b.url)] as const);
      for (const [atA] of agents) expect((await probe(atA)).isAuthenticated).toBe(true);

      const token = await signLogoutToken(logoutClaims(op.issuer, CLIENT_ID, { sub: 'carol' }), key);
      await request(a.url).post('/backchannel-logout').type('form').send({ logout_token: token }).expect(200);
      // B first: A received the logout and could drop any login of carol it sees in memory, B did not.
      for (const [, atB] of agents) expect((await probe(atB)).isAuthenticated).toBe(false);
      for (const [atA] of agents) expect((await probe(atA)).isAuthenticated).toBe(false);
    } finally {
      await race.release();
    }
  });

  it('a logout token delivered to both processes at once ends the sessions once', async () => {
    const browser = newBrowser(a.url, op.issuer);
    expect((await login(browser, { account: 'dave' })).status).toBe(302);
    // Without Redis as the coordinator a used `jti` is a store record: both reads before either write.
    const race = await raceReads([a, b], 'oidc-jti:', 2);
    try {
      const token = await signLogoutToken(logoutClaims(op.issuer, CLIENT_ID, { sub: 'dave' }), key);
      const responses = await Promise.all(
        [a, b].map((i) => request(i.url).post('/backchannel-logout').type('form').send({ logout_token: token })),
      );
      expect(responses.map((r) => r.status).sort()).toEqual([200, 400]);
      // Every event an instance reported before answering has arrived after a sync.
      await Promise.all([a, b].map((i) => i.command({ type: 'sync' })));
      const ended = [a, b].flatMap((i) => i.messages.filter(isLogoutOf('dave')));
      expect(ended).toHaveLength(1);
      expect((await probe(sameBrowserAt(browser.app, b.url))).isAuthenticated).toBe(false);
    } finally {
      await race.release();
    }
  });
});

function isLogoutOf(sub: string) {
  return (m: InstanceMessage) => m.type === 'backchannelLogout' && m.sub === sub;
}
