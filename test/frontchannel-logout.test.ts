import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MemoryStore } from 'express-session';
import request from 'supertest';
import type { OidcEvent, OidcLoginOptions } from '../lib/index.js';
import { loginAs, startTestProvider, type TestAgent, type TestProvider } from '../lib/testing/index.js';
import { endedSidCount } from '../lib/session/login-memory.js';
import { createApp } from './support/app.js';

/**
 * OpenID Connect Front-Channel Logout 1.0: `GET /frontchannel-logout?iss=…&sid=…`, as the
 * provider's logout page frames it: usually without the session cookie (a third-party iframe).
 * Logins come from the test kit's provider, which advertises front-channel logout when given a
 * `frontchannelLogoutUri`. The browser side is in test/e2e/frontchannel-logout.test.ts.
 */

const BASE_URL = 'http://app.localhost';
let op: TestProvider;
/** A provider that does not advertise front-channel logout. */
let quiet: TestProvider;

beforeAll(async () => {
  op = await startTestProvider({ baseUrl: BASE_URL, frontchannelLogoutUri: `${BASE_URL}/frontchannel-logout` });
  quiet = await startTestProvider({ baseUrl: BASE_URL });
});
afterAll(async () => {
  await op.close();
  await quiet.close();
});

function appWith(provider: TestProvider, overrides: Partial<OidcLoginOptions> = {}, events: OidcEvent[] = []) {
  return createApp({ ...provider.options(), on: { logout: (e) => events.push(e) }, ...overrides }).app;
}

async function loggedIn(agent: TestAgent): Promise<{ isAuthenticated: boolean; sid?: string }> {
  const res = await agent.get('/probe/oidc').expect(200);
  return { isAuthenticated: res.body.isAuthenticated, sid: res.body.claims?.sid };
}

describe('GET /frontchannel-logout', () => {
  it('ends the sessions of the sid, without their cookie; another login stays; a framable, uncached tiny page', async () => {
    const events: OidcEvent[] = [];
    const app = appWith(op, {}, events);
    const alice = await loginAs(app, { sub: 'alice', sid: 'sid-alice' });
    const bob = await loginAs(app, { sub: 'bob', sid: 'sid-bob' });
    expect(await loggedIn(alice)).toEqual({ isAuthenticated: true, sid: 'sid-alice' });

    const res = await request(app)
      .get(`/frontchannel-logout?iss=${encodeURIComponent(op.issuer)}&sid=sid-alice`)
      .expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toBe(
      `default-src 'none'; frame-ancestors ${new URL(op.issuer).origin}`,
    );
    expect(res.headers['x-frame-options']).toBeUndefined();
    expect(res.text).toContain('logged out');
    expect(res.text).not.toContain('<script');

    expect((await loggedIn(alice)).isAuthenticated).toBe(false);
    expect((await loggedIn(bob)).isAuthenticated).toBe(true);
    expect(events).toEqual([{ sid: 'sid-alice', detail: 'frontchannel' }]);
  });

  it('remembers a sid as ended only when it ended sessions: made-up sids cannot push real logouts out', async () => {
    // The in-process registry of ended sids is capped (the oldest goes first) and the request is
    // unsigned: a made-up sid must leave it as it was.
    const { app, middleware } = createApp(op.options());
    const alice = await loginAs(app, { sub: 'alice', sid: 'sid-real' });
    for (const sid of ['made-up-1', 'made-up-2']) {
      const res = await request(app).get(`/frontchannel-logout?sid=${sid}`).expect(200);
      expect(res.text).toContain('No session of this application was logged in there.');
    }
    expect(endedSidCount(middleware)).toBe(0);
    await request(app).get('/frontchannel-logout?sid=sid-real').expect(200);
    expect(endedSidCount(middleware)).toBe(1);
    expect((await loggedIn(alice)).isAuthenticated).toBe(false);
  });

  it("takes a sid without iss as this provider's (Microsoft Entra ID sends only sid)", async () => {
    const app = appWith(op);
    const alice = await loginAs(app, { sub: 'alice', sid: 'entra-sid' });
    await request(app).get('/frontchannel-logout?sid=entra-sid').expect(200);
    expect((await loggedIn(alice)).isAuthenticated).toBe(false);
  });

  it('refuses another issuer, a repeated or oversized parameter (400), and logs nobody out', async () => {
    const app = appWith(op);
    const alice = await loginAs(app, { sub: 'alice', sid: 'sid-kept' });
    const other = encodeURIComponent('https://attacker.example');
    for (const query of [
      `iss=${other}&sid=sid-kept`,
      `iss=${encodeURIComponent(quiet.issuer)}&sid=sid-kept`,
      'sid=sid-kept&sid=sid-kept',
      `sid=${'x'.repeat(256)}`,
      'sid=',
    ]) {
      const res = await request(app).get(`/frontchannel-logout?${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.headers['cache-control']).toBe('no-store');
    }
    expect((await loggedIn(alice)).isAuthenticated).toBe(true);
  });

  it("without sid: the request's own session when its cookie came, else nobody", async () => {
    const app = appWith(op);
    const alice = await loginAs(app, { sub: 'alice', sid: 'sid-own' });
    await request(app)
      .get(`/frontchannel-logout?iss=${encodeURIComponent(op.issuer)}`)
      .expect(200);
    expect((await loggedIn(alice)).isAuthenticated).toBe(true);
    // A link on another site (a top-level navigation carries a Lax cookie): nobody.
    await alice
      .get('/frontchannel-logout')
      .set('Sec-Fetch-Site', 'cross-site')
      .set('Sec-Fetch-Dest', 'document')
      .expect(200);
    expect((await loggedIn(alice)).isAuthenticated).toBe(true);
    // Not a frame: an <img> on a page of this origin, a sibling subdomain's fetch, a browser
    // without Fetch Metadata (which cannot tell): nobody, and no logout reported.
    for (const headers of [
      { 'Sec-Fetch-Site': 'same-origin', 'Sec-Fetch-Dest': 'image' },
      { 'Sec-Fetch-Site': 'same-site', 'Sec-Fetch-Dest': 'empty' },
      {},
    ]) {
      const res = await alice.get('/frontchannel-logout').set(headers).expect(200);
      expect(res.text).toContain('No session of this application was logged in there.');
      expect((await loggedIn(alice)).isAuthenticated).toBe(true);
    }
    const framed = await alice
      .get('/frontchannel-logout')
      .set('Sec-Fetch-Site', 'cross-site')
      .set('Sec-Fetch-Dest', 'iframe')
      .expect(200);
    expect(framed.text).toContain('You are logged out of this application.');
    expect((await loggedIn(alice)).isAuthenticated).toBe(false);
  });

  it('indexes logins by sid when only front-channel logout is on (back-channel off, as for Entra): another instance ends them', async () => {
    // Two instances of the app sharing one store: the logout reaches B, the session was made on A.
    const store = new MemoryStore();
    const options = { ...op.options(), routes: { backchannelLogout: false as const } };
    const a = createApp(options, { store }).app;
    const b = createApp(options, { store }).app;
    const alice = await loginAs(a, { sub: 'alice', sid: 'sid-front-only' });
    await request(b).get('/frontchannel-logout?sid=sid-front-only').expect(200);
    expect((await loggedIn(alice)).isAuthenticated).toBe(false);
  });

  it("answers 404 when the provider does not advertise it and the app did not set the route; the app's setting turns it on", async () => {
    const off = appWith(quiet, { routes: { backchannelLogout: false } });
    const kept = await loginAs(off, { sub: 'alice', sid: 'sid-quiet' });
    const res = await request(off).get('/frontchannel-logout?sid=sid-quiet').expect(404);
    expect(res.headers['cache-control']).toBe('no-store');
    expect((await loggedIn(kept)).isAuthenticated).toBe(true);

    const on = appWith(quiet, { routes: { backchannelLogout: false, frontchannelLogout: '/fcl' } });
    const alice = await loginAs(on, { sub: 'alice', sid: 'sid-quiet' });
    await request(on).get('/fcl?sid=sid-quiet').expect(200);
    expect((await loggedIn(alice)).isAuthenticated).toBe(false);
  });

  it('is GET only, and off with routes.frontchannelLogout: false', async () => {
    await request(appWith(op)).post('/frontchannel-logout?sid=x').expect(405);
    await request(appWith(op, { routes: { frontchannelLogout: false } }))
      .get('/frontchannel-logout?sid=x')
      .expect(404);
  });
});

describe('several providers', () => {
  it('has one route per provider, each ending only its own logins', async () => {
    const { app } = createApp({
      baseUrl: BASE_URL,
      secret: 'a-secret-of-at-least-thirty-two-characters',
      providers: { one: op.providerOptions('one', BASE_URL), two: quiet.providerOptions('two', BASE_URL) },
      routes: { frontchannelLogout: '/frontchannel-logout' },
    });
    const alice = await loginAs(app, { sub: 'alice', sid: 'shared-sid' }, { loginPath: '/login/one' });
    const bob = await loginAs(app, { sub: 'bob', sid: 'shared-sid' }, { loginPath: '/login/two' });
    await request(app).get('/frontchannel-logout?sid=x').expect(404);
    await request(app).get('/frontchannel-logout/two?sid=shared-sid').expect(200);
    expect((await loggedIn(bob)).isAuthenticated).toBe(false);
    expect((await loggedIn(alice)).isAuthenticated).toBe(true);
    await request(app)
      .get(`/frontchannel-logout/one?iss=${encodeURIComponent(quiet.issuer)}&sid=shared-sid`)
      .expect(400);
    await request(app)
      .get(`/frontchannel-logout/one?iss=${encodeURIComponent(op.issuer)}&sid=shared-sid`)
      .expect(200);
    expect((await loggedIn(alice)).isAuthenticated).toBe(false);
  });
});
