import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import type { OidcLoginOptions } from '../lib/index.js';
import { testOptions } from './support/app.js';
import { login, newBrowser, txCookies } from './support/flow.js';
import { signIdToken, startHostileProvider, type HostileProvider } from './support/hostile-provider.js';
import { ACCOUNTS } from './support/provider.js';
import type { Configuration } from 'oidc-provider';
import {
  FIRST_ACCESS_TOKEN_DUE,
  closedPort,
  createInstance,
  expireAccessToken,
  hostileAttempt,
  serve,
  storedLogin,
  tapRefreshGrants,
  type Instance,
  type RefreshTap,
  type Served,
} from './support/refresh-kit.js';
import { useProvider } from './support/use-provider.js';

/**
 * The userinfo endpoint: at login (`fetchUserInfo: true`, before anything is stored) and on
 * demand (`req.oidc.fetchUserInfo()`). Its `sub` must be the ID token's; an unreachable endpoint
 * is a 502/503/504 and, at login, no session.
 */

const SCOPE = 'openid profile email offline_access';

const servers: Served[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function served(instance: Instance): Promise<string> {
  const s = await serve(instance.app);
  servers.push(s);
  return s.url;
}

/**
 * The test users (as the test provider has them), counting the claims read for userinfo
 * responses: the userinfo requests oidc-provider answered.
 */
const userinfoReads = { count: 0 };
const countingAccounts: Configuration['findAccount'] = (_ctx, sub) => ({
  accountId: sub,
  claims: (use) => {
    if (use === 'userinfo') userinfoReads.count++;
    return { sub, ...(ACCOUNTS[sub] ?? { name: sub }) };
  },
});

describe('against a real provider', () => {
  const op = useProvider({
    // A login's access token is due for refresh at once (30 s < refreshLeeway), refreshed ones are not.
    configuration: {
      findAccount: countingAccounts,
      ttl: FIRST_ACCESS_TOKEN_DUE,
    },
  });
  let tap: RefreshTap;
  beforeAll(() => {
    tap = tapRefreshGrants(op);
  });
  afterAll(() => {
    tap.detach();
  });
  beforeEach(() => {
    tap.reset();
    userinfoReads.count = 0;
  });

  const options = (overrides: Partial<OidcLoginOptions> = {}) =>
    testOptions(op, { scope: SCOPE, refreshLeeway: 60, ...overrides });
  const alice = { sub: 'alice', name: ACCOUNTS.alice!.name, email: ACCOUNTS.alice!.email, email_verified: true };

  it('fetchUserInfo: true keeps the userinfo claims as req.oidc.user at login', async () => {
    const instance = createInstance(options({ fetchUserInfo: true }));
    const browser = newBrowser(await served(instance), op.issuer);
    expect((await login(browser)).status).toBe(302);
    const probe = (await browser.app.get('/probe/oidc').expect(200)).body;
    expect(probe.isAuthenticated).toBe(true);
    expect(probe.user).toEqual(alice);
    expect((await storedLogin(instance.store, probe.sessionId))!.user).toEqual(alice);
  });

  it("fetches nothing at login by default ('auto') when the ID token has the scopes' claims, nor with false", async () => {
    for (const fetchUserInfo of ['auto', false] as const) {
      const browser = newBrowser(await served(createInstance(options({ fetchUserInfo }))), op.issuer);
      await login(browser);
      const probe = (await browser.app.get('/probe/oidc').expect(200)).body;
      expect(probe.user).toBeNull();
      expect(probe.claims.name).toBe(ACCOUNTS.alice!.name);
      expect(userinfoReads.count).toBe(0);
    }
  });

  it('req.oidc.fetchUserInfo() fetches on demand (refreshing the access token first when due), stores and saves it', async () => {
    const instance = createInstance(options());
    const browser = newBrowser(await served(instance), op.issuer);
    await login(browser);
    const res = await browser.app.get('/userinfo').expect(200);
    expect(res.body.user).toEqual(alice);
    expect(tap.succeeded).toBe(1);
    const probe = (await browser.app.get('/probe/oidc').expect(200)).body;
    expect(probe.user).toEqual(alice);
    expect((await storedLogin(instance.store, probe.sessionId))!.user).toEqual(alice);
    // The token is fresh now: no second refresh.
    await browser.app.get('/userinfo').expect(200);
    expect(tap.succeeded).toBe(1);
  });

  it('answers 401 ERR_OIDC_UNAUTHENTICATED when not logged in', async () => {
    const res = await request(await served(createInstance(options())))
      .get('/userinfo')
      .expect(401);
    expect(res.body.code).toBe('ERR_OIDC_UNAUTHENTICATED');
  });
});

describe("claims only in userinfo (a provider like LemonLDAP::NG: oidc-provider's conformIdTokenClaims)", () => {
  const op = useProvider({
    configuration: {
      conformIdTokenClaims: true,
      findAccount: countingAccounts,
      ttl: FIRST_ACCESS_TOKEN_DUE,
    },
  });
  const options = (overrides: Partial<OidcLoginOptions> = {}) =>
    testOptions(op, { scope: SCOPE, refreshLeeway: 60, ...overrides });
  beforeEach(() => {
    userinfoReads.count = 0;
  });

  it("by default ('auto') fetches userinfo once at login and merges its claims; the ID token's win", async () => {
    const instance = createInstance(options());
    const browser = newBrowser(await served(instance), op.issuer);
    expect((await login(browser)).status).toBe(302);
    expect(userinfoReads.count).toBe(1);
    const probe = (await browser.app.get('/probe/oidc').expect(200)).body;
    // Not in the ID token: it has only the protocol's claims.
    const idToken = JSON.parse(Buffer.from(probe.idToken.split('.')[1], 'base64url').toString()) as object;
    expect(idToken).not.toHaveProperty('name');
    expect(idToken).not.toHaveProperty('email');
    expect(probe.claims).toEqual({
      ...idToken,
      name: ACCOUNTS.alice!.name,
      email: ACCOUNTS.alice!.email,
      email_verified: true,
    });
    // 'auto' keeps the claims once, not a second time as req.oidc.user.
    expect(probe.user).toBeNull();
    // Authenticated requests make no further request.
    await browser.app.get('/protected').expect(200);
    await browser.app.get('/probe/oidc').expect(200);
    expect(userinfoReads.count).toBe(1);
  });

  it('keeps the merged claims across a refresh that brings a new ID token', async () => {
    const instance = createInstance(options());
    const browser = newBrowser(await served(instance), op.issuer);
    await login(browser);
    const before = (await browser.app.get('/probe/oidc').expect(200)).body;
    // Due for refresh at once (the access token lives 30 s, refreshLeeway is 60 s).
    await browser.app.get('/token').expect(200);
    const after = (await browser.app.get('/probe/oidc').expect(200)).body;
    expect(after.refreshToken).not.toBe(before.refreshToken);
    expect(after.idToken).toEqual(expect.any(String));
    expect(after.claims.name).toBe(ACCOUNTS.alice!.name);
    expect(after.claims.email).toBe(ACCOUNTS.alice!.email);
    expect(after.claims.iat).toBeGreaterThanOrEqual(before.claims.iat);
  });

  it('fetchUserInfo: false leaves the claims as the ID token has them', async () => {
    const browser = newBrowser(await served(createInstance(options({ fetchUserInfo: false }))), op.issuer);
    await login(browser);
    const claims = (await browser.app.get('/probe/oidc').expect(200)).body.claims;
    expect(claims.sub).toBe('alice');
    expect(claims.name).toBeUndefined();
    expect(userinfoReads.count).toBe(0);
  });

  it('fetchUserInfo: true merges them and keeps the response as req.oidc.user', async () => {
    const browser = newBrowser(await served(createInstance(options({ fetchUserInfo: true }))), op.issuer);
    await login(browser);
    const probe = (await browser.app.get('/probe/oidc').expect(200)).body;
    expect(probe.claims.name).toBe(ACCOUNTS.alice!.name);
    expect(probe.user).toMatchObject({ sub: 'alice', name: ACCOUNTS.alice!.name });
  });

  it('asks nothing when the scope asks for no claims of the user', async () => {
    const browser = newBrowser(await served(createInstance(options({ scope: 'openid offline_access' }))), op.issuer);
    await login(browser);
    expect(userinfoReads.count).toBe(0);
  });
});

describe('against a hostile provider', () => {
  let op: HostileProvider;
  /** Publishes no userinfo_endpoint. */
  let bare: HostileProvider;
  /** Publishes a userinfo_endpoint where nothing listens. */
  let down: HostileProvider;
  beforeAll(async () => {
    op = await startHostileProvider({ userinfo: true });
    bare = await startHostileProvider();
    down = await startHostileProvider({
      metadata: { userinfo_endpoint: `http://127.0.0.1:${await closedPort()}/userinfo` },
    });
  });
  afterAll(async () => {
    await Promise.all([op.close(), bare.close(), down.close()]);
  });
  beforeEach(() => {
    for (const p of [op, bare, down]) p.reset();
  });
  afterEach(() => {
    for (const p of [op, bare, down]) expect(p.errors).toEqual([]);
  });

  const app = (provider: HostileProvider, overrides: Partial<OidcLoginOptions> = {}) =>
    served(createInstance(testOptions(provider, overrides)));

  /** The login failed with `status` / `code`, and nothing was stored. */
  async function expectNoLogin(
    a: { agent: request.Agent; res: request.Response },
    status: number,
    code: string,
  ): Promise<void> {
    expect({ status: a.res.status, code: a.res.body.code }).toEqual({ status, code });
    const probe = (await a.agent.get('/probe/oidc').expect(200)).body;
    expect(probe).toMatchObject({ isAuthenticated: false, user: null, pending: 0 });
    expect(txCookies(a.agent).size).toBe(0);
  }

  it('stores the userinfo at login, having sent the access token of that login', async () => {
    let bearer: string | undefined;
    op.onUserInfo = (ctx) => {
      bearer = ctx.accessToken;
      return ctx.valid();
    };
    const a = await hostileAttempt(await app(op, { fetchUserInfo: true }));
    expect(a.res.status).toBe(302);
    const probe = (await a.agent.get('/probe/oidc').expect(200)).body;
    expect(probe.user).toEqual({ sub: 'hostile-user-1', name: 'Hostile Test User', email: 'hostile@example.com' });
    expect(bearer).toBe(probe.accessToken);
  });

  it('fails the login with 400 ERR_OIDC_USERINFO_INVALID when the userinfo sub is another user, and stores nothing', async () => {
    op.onUserInfo = () => ({ status: 200, body: { sub: 'someone-else', name: 'Mallory' } });
    await expectNoLogin(await hostileAttempt(await app(op, { fetchUserInfo: true })), 400, 'ERR_OIDC_USERINFO_INVALID');
    expect(op.counts.userinfo).toBe(1);
  });

  it('fails the login with 400 when the userinfo has no sub', async () => {
    op.onUserInfo = () => ({ status: 200, body: { name: 'Nobody' } });
    await expectNoLogin(await hostileAttempt(await app(op, { fetchUserInfo: true })), 400, 'ERR_OIDC_USERINFO_INVALID');
  });

  it('answers 502 and stores nothing when the userinfo endpoint answers 500', async () => {
    op.onUserInfo = () => ({ status: 500, body: 'down' });
    await expectNoLogin(
      await hostileAttempt(await app(op, { fetchUserInfo: true })),
      502,
      'ERR_OIDC_PROVIDER_RESPONSE',
    );
  });

  it('answers 502 and stores nothing when the userinfo endpoint refuses the fresh access token', async () => {
    op.onUserInfo = () => ({ status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' }, body: '' });
    await expectNoLogin(
      await hostileAttempt(await app(op, { fetchUserInfo: true })),
      502,
      'ERR_OIDC_PROVIDER_RESPONSE',
    );
  });

  it('answers 503 and stores nothing when the userinfo endpoint is unreachable', async () => {
    const a = await hostileAttempt(await app(down, { fetchUserInfo: true }));
    await expectNoLogin(a, 503, 'ERR_OIDC_PROVIDER_UNREACHABLE');
    expect(a.res.headers['retry-after']).toBe('5');
  });

  it('answers 504 within httpTimeout and stores nothing when the userinfo endpoint hangs', async () => {
    op.onUserInfo = () => 'hang';
    const started = Date.now();
    const a = await hostileAttempt(await app(op, { fetchUserInfo: true, httpTimeout: 500 }));
    expect(Date.now() - started).toBeLessThan(2000);
    await expectNoLogin(a, 504, 'ERR_OIDC_PROVIDER_TIMEOUT');
  });

  it('answers 502 and stores nothing when fetchUserInfo is on but the provider has no userinfo endpoint', async () => {
    await expectNoLogin(
      await hostileAttempt(await app(bare, { fetchUserInfo: true })),
      502,
      'ERR_OIDC_PROVIDER_RESPONSE',
    );
  });

  it('makes no userinfo request after an invalid ID token', async () => {
    op.onToken = async (ctx) => ctx.tokenResponse(await signIdToken(ctx.claims({ aud: 'another-app' }), ctx.keys[0]!));
    await expectNoLogin(await hostileAttempt(await app(op, { fetchUserInfo: true })), 400, 'ERR_OIDC_ID_TOKEN_INVALID');
    expect(op.counts.userinfo).toBe(0);
  });

  describe("fetchUserInfo: 'auto' (the default; the ID token has a name but no email)", () => {
    it("merges the userinfo's claims about the user under the ID token's; its protocol claims are ignored", async () => {
      op.onToken = async (ctx) => ctx.tokenResponse(await signIdToken(ctx.claims({ acr: 'bronze' }), ctx.keys[0]!));
      op.onUserInfo = () => ({
        status: 200,
        body: {
          sub: 'hostile-user-1',
          name: 'Not The ID Token Name',
          email: 'hostile@example.com',
          acr: 'gold',
          amr: ['hwk'],
          auth_time: 1,
          sid: 'planted',
          aud: 'another-app',
          iss: 'https://evil.example',
        },
      });
      const a = await hostileAttempt(await app(op));
      expect(a.res.status).toBe(302);
      const claims = (await a.agent.get('/probe/oidc').expect(200)).body.claims;
      expect(claims).toMatchObject({ sub: 'hostile-user-1', name: 'Hostile Test User', email: 'hostile@example.com' });
      expect(claims.acr).toBe('bronze');
      expect(claims.iss).toBe(op.issuer);
      expect(claims.aud).toBe('test-app');
      for (const name of ['amr', 'sid']) expect(claims).not.toHaveProperty(name);
      expect(claims.auth_time).not.toBe(1);
      expect(op.counts.userinfo).toBe(1);
    });

    it("takes no email_verified (phone_number_verified) from userinfo for the ID token's email (phone number)", async () => {
      // The ID token has an email and no email_verified; userinfo's email_verified is about its own email.
      op.onToken = async (ctx) =>
        ctx.tokenResponse(
          await signIdToken(ctx.claims({ email: 'id-token@example.com', phone_number: '+100' }), ctx.keys[0]!),
        );
      op.onUserInfo = () => ({
        status: 200,
        body: {
          sub: 'hostile-user-1',
          email: 'other@example.com',
          email_verified: true,
          phone_number_verified: true,
          locale: 'fr',
        },
      });
      const a = await hostileAttempt(await app(op, { fetchUserInfo: true }));
      expect(a.res.status).toBe(302);
      const claims = (await a.agent.get('/probe/oidc').expect(200)).body.claims;
      expect(claims).toMatchObject({ email: 'id-token@example.com', phone_number: '+100', locale: 'fr' });
      expect(claims).not.toHaveProperty('email_verified');
      expect(claims).not.toHaveProperty('phone_number_verified');
    });

    it('fails the login with 400 ERR_OIDC_USERINFO_INVALID when the userinfo sub is another user, and stores nothing', async () => {
      op.onUserInfo = () => ({ status: 200, body: { sub: 'someone-else', email: 'mallory@example.com' } });
      const a = await hostileAttempt(await app(op));
      await expectNoLogin(a, 400, 'ERR_OIDC_USERINFO_INVALID');
      expect(a.res.body.message).toMatch(/another user/);
    });

    it('logs in without them, and warns, when the userinfo endpoint fails', async () => {
      const warnings: string[] = [];
      op.onUserInfo = () => ({ status: 500, body: 'down' });
      const a = await hostileAttempt(
        await app(op, { logger: { warn: (m: string) => warnings.push(m), error: () => {} } }),
      );
      expect(a.res.status).toBe(302);
      const claims = (await a.agent.get('/probe/oidc').expect(200)).body.claims;
      expect(claims.sub).toBe('hostile-user-1');
      expect(claims.email).toBeUndefined();
      expect(warnings.filter((w) => w.includes('userinfo'))).toEqual([
        expect.stringMatching(
          /the userinfo endpoint failed at login .* the login goes on with the ID token's claims only/,
        ),
      ]);
    });

    it('asks nothing when the ID token has a claim of every scope asked for', async () => {
      op.onToken = async (ctx) =>
        ctx.tokenResponse(await signIdToken(ctx.claims({ email: 'hostile@example.com' }), ctx.keys[0]!));
      expect((await hostileAttempt(await app(op))).res.status).toBe(302);
      expect(op.counts.userinfo).toBe(0);
    });

    it('asks nothing of a provider without a userinfo endpoint', async () => {
      expect((await hostileAttempt(await app(bare))).res.status).toBe(302);
    });
  });

  describe('on demand', () => {
    async function loggedIn(): Promise<{ agent: request.Agent; sid: string; instance: Instance }> {
      const instance = createInstance(testOptions(op));
      const a = await hostileAttempt(await served(instance));
      expect(a.res.status).toBe(302);
      // The login's own userinfo request (fetchUserInfo: 'auto', the ID token has no email) aside.
      op.reset();
      return { agent: a.agent, sid: (await a.agent.get('/probe/oidc').expect(200)).body.sessionId, instance };
    }

    it('answers 400 ERR_OIDC_USERINFO_INVALID for another sub, stores nothing and keeps the login', async () => {
      const { agent, sid, instance } = await loggedIn();
      op.onUserInfo = () => ({ status: 200, body: { sub: 'someone-else' } });
      const res = await agent.get('/userinfo').expect(400);
      expect(res.body.code).toBe('ERR_OIDC_USERINFO_INVALID');
      const stored = (await storedLogin(instance.store, sid))!;
      expect(stored).toBeDefined();
      expect(stored.user).toBeUndefined();
    });

    it('answers 502 when the endpoint fails, and keeps the login', async () => {
      const { agent, sid, instance } = await loggedIn();
      op.onUserInfo = () => ({ status: 500, body: 'down' });
      expect((await agent.get('/userinfo').expect(502)).body.code).toBe('ERR_OIDC_PROVIDER_RESPONSE');
      expect(await storedLogin(instance.store, sid)).toBeDefined();
    });

    it('answers 401 when the access token has expired and cannot be refreshed (no refresh token)', async () => {
      const { agent, sid, instance } = await loggedIn();
      await expireAccessToken(instance.store, sid);
      expect((await agent.get('/userinfo').expect(401)).body.code).toBe('ERR_OIDC_UNAUTHENTICATED');
      expect(op.counts.userinfo).toBe(0);
    });
  });
});
