import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { request as httpRequest } from 'node:http';
import express from 'express';
import { MemoryStore, type SessionData } from 'express-session';
import request from 'supertest';
import { oidcLogin, type OidcEvent, type OidcLoginOptions } from '../lib/index.js';
import { jsonErrors, testOptions } from './support/app.js';
import { login, newBrowser, type Browser } from './support/flow.js';
import {
  generateSigningKey,
  signHs256,
  signIdToken,
  unsignedToken,
  withAlg,
  type HostileProvider,
  type SigningKey,
} from './support/hostile-provider.js';
import {
  BACKCHANNEL_EVENT,
  createLogoutApp,
  listenLoopback,
  logoutAtProvider,
  logoutClaims,
  providerKey,
  sessionCookie,
  signLogoutToken,
  storedSession,
  type LogoutApp,
  type LoopbackServer,
} from './support/logout-kit.js';
import { CLIENT_ID, CLIENT_SECRET, startProvider, type TestProvider } from './support/provider.js';
import { storeAll } from './support/store.js';
import { useHostileProvider } from './support/use-hostile-provider.js';

/**
 * OpenID Connect Back-Channel Logout 1.0 against a real oidc-provider, which POSTs its logout
 * tokens to the app on a loopback port (`backchannel_logout_session_required: true`, so tokens and
 * ID tokens carry `sid`). Two app instances, A and B, share one MemoryStore, as two processes
 * behind a load balancer share Redis; browsers use A. Tokens the provider would never send are
 * signed with the provider's own key (given to it by the test).
 */

let op: TestProvider;
let key: SigningKey;
/** Where the provider's back-channel POSTs arrive; it serves instance A or B. */
let backchannel: LoopbackServer;
let store: MemoryStore;
let a: LogoutApp;
let b: LogoutApp;
let events: { instance: 'A' | 'B'; name: string; event: OidcEvent }[];
const backchannelResults: string[] = [];

function appOptions(instance: 'A' | 'B', overrides: Partial<OidcLoginOptions> = {}): OidcLoginOptions {
  return testOptions(op, {
    on: {
      backchannelLogout: (event) => events.push({ instance, name: 'backchannelLogout', event }),
      logout: (event) => events.push({ instance, name: 'logout', event }),
    },
    ...overrides,
  });
}

beforeAll(async () => {
  backchannel = await listenLoopback();
  const k = await providerKey();
  key = k.key;
  op = await startProvider({ backchannelLogoutUri: `${backchannel.url}/backchannel-logout`, signingKey: k.jwk });
  op.provider.on('backchannel.success', () => backchannelResults.push('success'));
  op.provider.on('backchannel.error', (_ctx, err) => backchannelResults.push(`error: ${(err as Error).message}`));
  store = new MemoryStore();
  a = createLogoutApp(appOptions('A'), store);
  b = createLogoutApp(appOptions('B'), store);
});
afterAll(async () => {
  await op.close();
  await backchannel.close();
});
beforeEach(() => {
  events = [];
  backchannelResults.length = 0;
  backchannel.serve(a.app);
});

interface User {
  browser: Browser;
  cookie: string;
  sessionId: string;
  sid: string;
  sub: string;
  idToken: string;
}

async function logIn(account = 'alice', app: LogoutApp = a): Promise<User> {
  const browser = newBrowser(app.app, op.issuer);
  const res = await login(browser, { account });
  expect(res.status).toBe(302);
  const probe = (await browser.app.get('/probe/oidc').expect(200)).body;
  expect(probe.isAuthenticated).toBe(true);
  expect(typeof probe.claims.sid).toBe('string');
  return {
    browser,
    cookie: sessionCookie(res),
    sessionId: probe.sessionId,
    sid: probe.claims.sid,
    sub: probe.claims.sub,
    idToken: probe.idToken,
  };
}

async function isAuthenticated(user: User): Promise<boolean> {
  return (await user.browser.app.get('/probe/oidc').expect(200)).body.isAuthenticated;
}

function post(app: LogoutApp, token: string) {
  return request(app.app).post('/backchannel-logout').type('form').send({ logout_token: token });
}

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return logoutClaims(op.issuer, CLIENT_ID, overrides);
}

describe('logging out at the provider', () => {
  it('makes oidc-provider POST a logout token that ends the app session; another browser of the same user stays logged in', async () => {
    const first = await logIn('alice');
    const second = await logIn('alice');
    expect(second.sid).not.toBe(first.sid);

    const done = await logoutAtProvider(first.browser);
    expect(done.status).toBe(303);
    expect(backchannelResults).toEqual(['success']);
    expect(await isAuthenticated(first)).toBe(false);
    expect(await storedSession(store, first.sessionId)).toBeUndefined();
    expect(await isAuthenticated(second)).toBe(true);
    expect(events).toEqual([
      { instance: 'A', name: 'backchannelLogout', event: { sub: 'alice', sid: first.sid, detail: 1 } },
    ]);
  });

  it('ends the session the user holds on instance A when instance B receives the logout token', async () => {
    backchannel.serve(b.app);
    const user = await logIn('alice', a);
    await logoutAtProvider(user.browser);
    expect(backchannelResults).toEqual(['success']);
    expect(events.map((e) => `${e.instance}:${e.name}:${e.event.detail}`)).toEqual(['B:backchannelLogout:1']);
    expect(await isAuthenticated(user)).toBe(false);
    expect(await storedSession(store, user.sessionId)).toBeUndefined();
  });

  it('answers 200 when no session matches (an unknown sid, a second delivery): nothing to do', async () => {
    const res = await post(a, await signLogoutToken(claims({ sid: 'no-such-sid', sub: 'alice' }), key)).expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.text).toBe('');
    expect(events).toEqual([
      { instance: 'A', name: 'backchannelLogout', event: { sub: 'alice', sid: 'no-such-sid', detail: 0 } },
    ]);
  });
});

describe('a logout token with only a sub', () => {
  it("ends every session of that user, and no one else's", async () => {
    const first = await logIn('carol');
    const second = await logIn('carol');
    const bob = await logIn('bob');
    await post(a, await signLogoutToken(claims({ sub: 'carol' }), key)).expect(200);
    expect(await isAuthenticated(first)).toBe(false);
    expect(await isAuthenticated(second)).toBe(false);
    expect(await isAuthenticated(bob)).toBe(true);
    expect(events).toEqual([{ instance: 'A', name: 'backchannelLogout', event: { sub: 'carol', detail: 2 } }]);
  });

  it('as issued by oidc-provider itself (a client without backchannel_logout_session_required) ends them too', async () => {
    const first = await logIn('dave');
    const second = await logIn('dave');
    // oidc-provider's own delivery (Client#backchannelLogout, untyped), without a sid: what it
    // sends a client registered without backchannel_logout_session_required.
    const client = (await op.provider.Client.find(CLIENT_ID)) as unknown as {
      backchannelLogout(sub: string, sid?: string): Promise<void>;
    };
    await client.backchannelLogout('dave', undefined);
    expect(await isAuthenticated(first)).toBe(false);
    expect(await isAuthenticated(second)).toBe(false);
    expect(events.map((e) => e.event)).toEqual([{ sub: 'dave', detail: 2 }]);
  });

  it('does not end a login the user starts after the logout', async () => {
    const before = await logIn('erin');
    await post(a, await signLogoutToken(claims({ sub: 'erin' }), key)).expect(200);
    const after = await logIn('erin');
    expect(await isAuthenticated(before)).toBe(false);
    expect(await isAuthenticated(after)).toBe(true);
  });
});

describe('an invalid logout token', () => {
  let user: User;
  beforeAll(async () => {
    // One session for the whole block: no refusal may end it.
    user = await logIn('alice');
  });
  afterEach(async () => {
    // Every refusal leaves the session as it was.
    expect(await isAuthenticated(user)).toBe(true);
    expect((await storedSession(store, user.sessionId))?.oidc?.login).toBeDefined();
    expect(events.filter((e) => e.name === 'backchannelLogout')).toEqual([]);
  });

  async function expectRefused(
    token: string | Promise<string>,
    description: RegExp,
    app: LogoutApp = a,
  ): Promise<void> {
    const res = await post(app, await token).expect(400);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({ error: 'invalid_request', error_description: expect.stringMatching(description) });
  }

  const mine = (overrides: Record<string, unknown> = {}) => claims({ sid: user.sid, sub: user.sub, ...overrides });

  it("bad signature (another key under the provider's kid)", async () => {
    const impostor = await generateSigningKey('RS256', key.kid);
    await expectRefused(signLogoutToken(mine(), impostor), /signature/);
  });

  it('tampered claims (the signature no longer matches)', async () => {
    const token = await signLogoutToken(mine({ sub: 'somebody-else' }), key);
    const [h, , s] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify(mine())).toString('base64url')}.${s}`;
    await expectRefused(forged, /signature/);
  });

  it('missing "events"', async () => {
    await expectRefused(signLogoutToken(mine({ events: undefined }), key), /"events"/);
  });

  it('"events" member not an object', async () => {
    await expectRefused(signLogoutToken(mine({ events: { [BACKCHANNEL_EVENT]: 'yes' } }), key), /"events"/);
    await expectRefused(signLogoutToken(mine({ events: { [BACKCHANNEL_EVENT]: [] } }), key), /"events"/);
    await expectRefused(
      signLogoutToken(mine({ events: { 'http://schemas.openid.net/event/other': {} } }), key),
      /"events"/,
    );
    await expectRefused(signLogoutToken(mine({ events: [BACKCHANNEL_EVENT] }), key), /"events"/);
  });

  it('with a "nonce"', async () => {
    await expectRefused(signLogoutToken(mine({ nonce: 'n-0S6_WzA2Mj' }), key), /nonce/);
  });

  it('an ID token posted as a logout token', async () => {
    await expectRefused(user.idToken, /"events"|nonce/);
  });

  it('wrong "aud" (another client), or an untrusted extra audience', async () => {
    await expectRefused(signLogoutToken(mine({ aud: 'another-client' }), key), /"aud"/);
    await expectRefused(signLogoutToken(mine({ aud: [CLIENT_ID, 'another-client'] }), key), /"aud"/);
  });

  it('wrong "iss"', async () => {
    await expectRefused(signLogoutToken(mine({ iss: 'https://evil.example' }), key), /issuer/);
  });

  it('expired', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRefused(signLogoutToken(mine({ iat: now - 600, exp: now - 300 }), key), /expired/);
  });

  it('missing "exp" with an "iat" older than logoutTokenMaxAge, or missing "iat", or "iat" in the future', async () => {
    const now = Math.floor(Date.now() / 1000);
    // The default window is 120 s, and the clock tolerance 60 s.
    await expectRefused(
      signLogoutToken(mine({ exp: undefined, iat: now - 181 }), key),
      /no "exp", and its "iat" is more than logoutTokenMaxAge \(120 s\) ago/,
    );
    await expectRefused(signLogoutToken(mine({ exp: 'soon' }), key), /no "exp"/);
    await expectRefused(signLogoutToken(mine({ iat: undefined }), key), /"iat"/);
    await expectRefused(signLogoutToken(mine({ iat: now + 3600, exp: now + 3700 }), key), /future/);
  });

  it('missing "jti"', async () => {
    await expectRefused(signLogoutToken(mine({ jti: undefined }), key), /"jti"/);
  });

  it('neither "sid" nor "sub"', async () => {
    await expectRefused(signLogoutToken(claims(), key), /neither/);
  });

  it('another algorithm: HS256 with the client secret, alg none, RS384', async () => {
    await expectRefused(signHs256(mine(), CLIENT_SECRET, { typ: 'logout+jwt' }), /RS256/);
    await expectRefused(unsignedToken(mine(), { typ: 'logout+jwt' }), /signed JWT|RS256/);
    await expectRefused(signLogoutToken(mine(), await withAlg(key, 'RS384')), /RS256/);
  });

  it('a "typ" other than logout+jwt or JWT (an access token)', async () => {
    await expectRefused(signLogoutToken(mine(), key, { typ: 'at+jwt' }), /"typ"/);
  });

  it('a replayed "jti", to the same instance and to a second instance sharing the store', async () => {
    const other = await logIn('alice');
    const token = await signLogoutToken(claims({ sid: other.sid, sub: other.sub }), key);
    await post(a, token).expect(200);
    expect(await isAuthenticated(other)).toBe(false);
    events.length = 0;
    await expectRefused(token, /used before/);
    await expectRefused(token, /used before/, b);
    // The same jti in a new token is a replay too.
    const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;
    await expectRefused(signLogoutToken(mine({ jti }), key), /used before/, b);
  });

  it('a garbage body', async () => {
    for (const body of [
      'logout_token=garbage',
      'logout_token=a.b.c',
      'logout_token=..',
      'logout_token=e30.e30.',
      'nothing=here',
      '',
      '%%%',
    ]) {
      const res = await request(a.app).post('/backchannel-logout').type('form').send(body).expect(400);
      expect(res.body.error).toBe('invalid_request');
      expect(res.headers['cache-control']).toBe('no-store');
    }
    // Two logout_token parameters.
    const token = await signLogoutToken(mine(), key);
    const res = await request(a.app)
      .post('/backchannel-logout')
      .type('form')
      .send(`logout_token=${token}&logout_token=${token}`)
      .expect(400);
    expect(res.body.error_description).toMatch(/exactly one/);
  });

  it('a too large body', async () => {
    const token = await signLogoutToken(mine(), key);
    const res = await request(a.app)
      .post('/backchannel-logout')
      .type('form')
      .send(`logout_token=${token}&padding=${'x'.repeat(70 * 1024)}`)
      .expect(400);
    expect(res.body.error_description).toMatch(/too large/);
  });

  it('a too large body sent without Content-Length (chunked)', async () => {
    const token = await signLogoutToken(mine(), key);
    // Straight to the loopback server (which serves instance A), chunk by chunk.
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${backchannel.url}/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked' },
      });
      req.on('response', (response) => {
        let body = '';
        response.on('data', (c: Buffer) => (body += c.toString()));
        response.on('end', () => resolve({ status: response.statusCode!, body }));
      });
      req.on('error', reject);
      req.write(`logout_token=${token}&padding=`);
      for (let i = 0; i < 70; i++) req.write('x'.repeat(1024));
      req.end();
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error_description).toMatch(/too large/);
  });

  it('the wrong content type (JSON, multipart, none)', async () => {
    const token = await signLogoutToken(mine(), key);
    await request(a.app).post('/backchannel-logout').send({ logout_token: token }).expect(400);
    await request(a.app).post('/backchannel-logout').field('logout_token', token).expect(400);
    const res = await request(a.app)
      .post('/backchannel-logout')
      .set('Content-Type', 'text/plain')
      .send(`logout_token=${token}`)
      .expect(400);
    expect(res.body.error_description).toMatch(/x-www-form-urlencoded/);
  });

  it('GET is not back-channel logout (405)', async () => {
    const token = await signLogoutToken(mine(), key);
    await request(a.app).get(`/backchannel-logout?logout_token=${token}`).expect(405);
  });
});

describe('a logout token without "exp" (Glewlwyd, LemonLDAP::NG: a draft before "exp" was required)', () => {
  it('ends the session while its "iat" is recent, and is not accepted twice', async () => {
    const user = await logIn('alice');
    const token = await signLogoutToken(claims({ sid: user.sid, sub: user.sub, exp: undefined }), key);
    await post(a, token).expect(200);
    expect(await isAuthenticated(user)).toBe(false);
    expect(events.map((e) => `${e.instance}:${e.name}:${e.event.detail}`)).toEqual(['A:backchannelLogout:1']);
    const again = await post(b, token).expect(400);
    expect(again.body.error_description).toMatch(/used before/);
  });

  it('is refused with logoutTokenMaxAge: false, as Back-Channel Logout 1.0 requires', async () => {
    const strict = createLogoutApp(appOptions('A', { logoutTokenMaxAge: false }), store);
    const user = await logIn('alice', strict);
    const res = await post(strict, await signLogoutToken(claims({ sid: user.sid, exp: undefined }), key)).expect(400);
    expect(res.body.error_description).toBe('The logout token has no "exp".');
    expect(await isAuthenticated(user)).toBe(true);
  });
});

describe('a refused logout request', () => {
  it('is logged as a warning (the reason, not the token), at most once a minute, and emits backchannelLogoutFailed', async () => {
    const lines: string[] = [];
    const failed: unknown[] = [];
    const app = createLogoutApp(
      appOptions('A', {
        logger: { warn: (m) => lines.push(m), error: (m) => lines.push(m) },
        on: { backchannelLogoutFailed: (e) => failed.push(e) },
      }),
      store,
    );
    const token = await signLogoutToken(claims({ sub: 'alice', aud: 'another-app' }), key);
    await post(app, token).expect(400);
    await post(app, 'garbage').expect(400);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /back-channel logout was refused \(invalid_request\): The logout token is not for this app/,
    );
    expect(lines[0]).toMatch(/Nobody was logged out/);
    for (const part of token.split('.')) expect(lines[0]).not.toContain(part);
    expect(failed).toEqual([
      expect.objectContaining({ error: 'invalid_request', detail: expect.stringMatching(/not for this app/) }),
      expect.objectContaining({ error: 'invalid_request' }),
    ]);
    const minuteLater = Date.now() + 61_000;
    const clock = jest.spyOn(Date, 'now').mockReturnValue(minuteLater);
    try {
      await post(app, 'garbage').expect(400);
    } finally {
      clock.mockRestore();
    }
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/Nobody was logged out\. \(1 more like it since the last one\)/);
    expect(failed).toHaveLength(3);
  });
});

describe('a refused logout token whose claims passed', () => {
  it('names in backchannelLogoutFailed whom it claims to log out, when its signature is what failed', async () => {
    const failed: unknown[] = [];
    const app = createLogoutApp(appOptions('A', { on: { backchannelLogoutFailed: (e) => failed.push(e) } }), store);
    const impostor = await generateSigningKey('RS256', key.kid);
    await post(app, await signLogoutToken(claims({ sub: 'alice', sid: 'sid-of-alice' }), impostor)).expect(400);
    expect(failed).toEqual([
      expect.objectContaining({
        error: 'invalid_request',
        sub: 'alice',
        sid: 'sid-of-alice',
        detail: expect.stringMatching(/signature/),
      }),
    ]);
  });
});

describe('a request in flight during a back-channel logout', () => {
  it('does not bring the session back when it saves the session afterwards', async () => {
    const user = await logIn('alice');
    const held = a.hold();
    const inFlight = user.browser.app.get('/slow').then((r) => r);
    await held.entered;
    await post(a, await signLogoutToken(claims({ sid: user.sid, sub: user.sub }), key)).expect(200);
    held.release();
    expect((await inFlight).status).toBe(200);
    expect(await storedSession(store, user.sessionId)).toBeUndefined();
    expect(await isAuthenticated(user)).toBe(false);
  });

  it('does not bring it back when the logout went to another instance', async () => {
    const user = await logIn('alice');
    const held = a.hold();
    const inFlight = user.browser.app.get('/slow').then((r) => r);
    await held.entered;
    await post(b, await signLogoutToken(claims({ sid: user.sid, sub: user.sub }), key)).expect(200);
    held.release();
    expect((await inFlight).status).toBe(200);
    expect(await storedSession(store, user.sessionId)).toBeUndefined();
    expect(await isAuthenticated(user)).toBe(false);
  });

  it('drops the login on the next request when it was written back past the store guard', async () => {
    const user = await logIn('alice');
    const data = await storedSession(store, user.sessionId);
    await post(a, await signLogoutToken(claims({ sid: user.sid, sub: user.sub }), key)).expect(200);
    await new Promise<void>((resolve, reject) =>
      MemoryStore.prototype.set.call(store, user.sessionId, data!, (err?: unknown) => (err ? reject(err) : resolve())),
    );
    const probe = await request(a.app).get('/probe/oidc').set('Cookie', user.cookie).expect(200);
    expect(probe.body.sessionId).toBe(user.sessionId);
    expect(probe.body.isAuthenticated).toBe(false);
  });
});

describe('a session the index does not list', () => {
  it('is still logged out on the instance that received the logout (by its sid), while a new login stays', async () => {
    const user = await logIn('frank');
    // Lose the index records (an evicted key, a lost update): the store alone cannot find the session.
    const all = await storeAll(store);
    for (const key of Object.keys(all))
      if (key.startsWith('oidc-sid:') || key.startsWith('oidc-sub:')) store.destroy(key);
    await post(a, await signLogoutToken(claims({ sid: user.sid, sub: user.sub }), key)).expect(200);
    expect(events.map((e) => e.event.detail)).toEqual([0]);
    expect(await isAuthenticated(user)).toBe(false);
    const again = await logIn('frank');
    expect(await isAuthenticated(again)).toBe(true);
  });
});

describe('the request body and the session store', () => {
  it('takes the token from req.body when a body parser ran first (express.urlencoded)', async () => {
    const parsed = createLogoutApp(appOptions('A'), store, (app) => app.use(express.urlencoded({ extended: false })));
    const user = await logIn('alice', parsed);
    await post(parsed, await signLogoutToken(claims({ sid: user.sid }), key)).expect(200);
    expect(await isAuthenticated(user)).toBe(false);
  });

  it('reads the stream itself when only a JSON parser ran first', async () => {
    const parsed = createLogoutApp(appOptions('A'), store, (app) => app.use(express.json()));
    const user = await logIn('alice', parsed);
    await post(parsed, await signLogoutToken(claims({ sid: user.sid }), key)).expect(200);
    expect(await isAuthenticated(user)).toBe(false);
  });

  it('answers 400 temporarily_unavailable when the store fails, and the provider may then retry the same token', async () => {
    class FailingStore extends MemoryStore {
      failDestroys = 0;
      override destroy(sid: string, cb?: (err?: unknown) => void): void {
        if (this.failDestroys > 0) {
          this.failDestroys--;
          cb?.(new Error('store is down'));
          return;
        }
        super.destroy(sid, cb);
      }
    }
    const failing = new FailingStore();
    const app = createLogoutApp(appOptions('A'), failing);
    const user = await logIn('alice', app);
    const token = await signLogoutToken(claims({ sid: user.sid }), key);
    failing.failDestroys = 1;
    const res = await post(app, token).expect(400);
    expect(res.body.error).toBe('temporarily_unavailable');
    expect(res.headers['cache-control']).toBe('no-store');
    await post(app, token).expect(200);
    expect(await isAuthenticated(user)).toBe(false);
  });

  it('answers 400 server_error, saying why, without express-session', async () => {
    // The middleware may also say it on the console: not this test's subject.
    const quiet = jest.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const app = express();
      app.use(oidcLogin(testOptions(op)));
      app.use(jsonErrors);
      const res = await request(app)
        .post('/backchannel-logout')
        .type('form')
        .send({ logout_token: await signLogoutToken(claims({ sid: 'x' }), key) })
        .expect(400);
      expect(res.body.error).toBe('server_error');
      expect(res.body.error_description).toMatch(/express-session/);
    } finally {
      quiet.mockRestore();
    }
  });

  it('writes index records that look like sessions (with a TTL) under hashed keys', async () => {
    const own = new MemoryStore();
    const user = await logIn('alice', createLogoutApp(appOptions('A'), own));
    const all = await new Promise<Record<string, SessionData>>((resolve) =>
      own.all((_e, s) => resolve((s ?? {}) as Record<string, SessionData>)),
    );
    const keys = Object.keys(all);
    const index = keys.filter((k) => k.startsWith('oidc-'));
    expect(index.map((k) => k.replace(/:.*/, '')).sort()).toEqual(['oidc-sid', 'oidc-sub']);
    for (const k of index) {
      expect(k).toMatch(/^oidc-su?[bi]d?:[A-Za-z0-9_-]{43}$/);
      expect(k).not.toContain(user.sid);
      const record = all[k] as unknown as { cookie: { expires: string }; oidcIndex: { sessions: { id: string }[] } };
      expect(new Date(record.cookie.expires).getTime()).toBeGreaterThan(Date.now() + 6 * 24 * 3600 * 1000);
      expect(record.oidcIndex.sessions.map((s) => s.id)).toEqual([user.sessionId]);
    }
  });
});

describe('garbage is refused before any key lookup', () => {
  const hostile = useHostileProvider();

  it('makes no JWKS request for malformed or claim-invalid tokens', async () => {
    const app = createLogoutApp(testOptions(hostile), new MemoryStore());
    const hk = hostile.keys[0]!;
    const base = logoutClaims(hostile.issuer, CLIENT_ID, { sub: 'hostile-user-1' });
    const tokens = [
      'garbage',
      unsignedToken(base),
      await signHs256(base, CLIENT_SECRET),
      await signIdToken({ ...base, events: undefined }, hk),
      await signIdToken({ ...base, nonce: 'x' }, hk),
      await signIdToken({ ...base, aud: 'other' }, hk),
      await signIdToken({ ...base, iss: 'https://evil.example' }, hk),
    ];
    for (const token of tokens) await post(app, token).expect(400);
    expect(hostile.counts.jwks).toBe(0);
    // The control: a valid token does look the key up, and is accepted.
    await post(app, await signIdToken(base, hk, { typ: 'logout+jwt' })).expect(200);
    expect(hostile.counts.jwks).toBe(1);
  });
});

describe('the back-channel index is written whenever the back-channel route is mounted', () => {
  const plain = useHostileProvider();
  const advertising = useHostileProvider({ metadata: { backchannel_logout_supported: true } });

  async function loginWith(provider: HostileProvider, store: MemoryStore, overrides: Partial<OidcLoginOptions> = {}) {
    const { app } = createLogoutApp(testOptions(provider, overrides), store);
    const agent = request.agent(app);
    const start = await agent.get('/login').expect(302);
    const back = new URL((await fetch(start.headers.location!, { redirect: 'manual' })).headers.get('location')!);
    await agent.get(back.pathname + back.search).expect(302);
  }

  async function indexRecordsAfterLogin(
    provider: HostileProvider,
    overrides: Partial<OidcLoginOptions> = {},
  ): Promise<string[]> {
    const store = new MemoryStore();
    await loginWith(provider, store, overrides);
    const all = await storeAll(store);
    return Object.keys(all).filter((id) => id.startsWith('oidc-'));
  }

  /** The keys the store is asked for from now on. */
  function countReads(store: MemoryStore): string[] {
    const keys: string[] = [];
    const get = store.get.bind(store);
    store.get = (sid, cb) => {
      keys.push(sid);
      get(sid, cb);
    };
    return keys;
  }

  it('reads no tombstone for the new session of a login that is not indexed: nothing can have ended it', async () => {
    const store = new MemoryStore();
    const reads = countReads(store);
    await loginWith(plain, store, { routes: { backchannelLogout: false } });
    expect(reads.filter((key) => key.startsWith('oidc-ended:'))).toEqual([]);
    const all = await storeAll<Partial<SessionData>>(store);
    expect(Object.values(all).filter((s) => s.oidc?.login)).toHaveLength(1);
  });

  it('keeps a new login out of the store when a logout finds it through the index before it is saved', async () => {
    const store = new MemoryStore();
    const reads = countReads(store);
    // Another instance receives a logout token for this user between the index write and the
    // session's save: it writes the listed sessions' tombstones (and destroys what is there).
    const set = store.set.bind(store);
    store.set = (sid, data, cb) => {
      const listed = (data as { oidcIndex?: { sessions: { id: string }[] } }).oidcIndex?.sessions ?? [];
      set(sid, data, (err) => {
        for (const { id } of listed) set(`oidc-ended:${id}`, { cookie: { originalMaxAge: 3_600_000 } } as SessionData);
        cb?.(err);
      });
    };
    await loginWith(advertising, store);
    expect(reads.some((key) => key.startsWith('oidc-ended:'))).toBe(true);
    const all = await storeAll<Partial<SessionData>>(store);
    expect(Object.values(all).filter((s) => s.oidc?.login)).toEqual([]);
  });

  it('writes it also when the provider does not advertise backchannel_logout_supported (Glewlwyd, LemonLDAP::NG send logout tokens anyway)', async () => {
    expect(await indexRecordsAfterLogin(plain)).toEqual([expect.stringMatching(/^oidc-sub:/)]);
    expect(await indexRecordsAfterLogin(advertising)).toEqual([expect.stringMatching(/^oidc-sub:/)]);
  });

  it('skips it when the app turned the back-channel route off', async () => {
    expect(await indexRecordsAfterLogin(plain, { routes: { backchannelLogout: false } })).toEqual([]);
    expect(await indexRecordsAfterLogin(advertising, { routes: { backchannelLogout: false } })).toEqual([]);
  });

  it('a logout token from a provider that does not advertise back-channel logout, received by instance B, ends the session on instance A', async () => {
    const store = new MemoryStore();
    const a = createLogoutApp(testOptions(plain), store);
    const b = createLogoutApp(testOptions(plain), store);
    const agent = request.agent(a.app);
    const start = await agent.get('/login').expect(302);
    const back = new URL((await fetch(start.headers.location!, { redirect: 'manual' })).headers.get('location')!);
    await agent.get(back.pathname + back.search).expect(302);
    const { sub } = (await agent.get('/probe/oidc').expect(200)).body.claims;
    const token = await signIdToken(logoutClaims(plain.issuer, CLIENT_ID, { sub }), plain.keys[0]!, {
      typ: 'logout+jwt',
    });
    await post(b, token).expect(200);
    expect((await agent.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(false);
  });
});
