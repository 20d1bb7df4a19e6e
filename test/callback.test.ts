import { describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { createApp, testOptions } from './support/app.js';
import {
  authorizeAt,
  login,
  newBrowser,
  setCookies,
  startLogin,
  txCookies,
  visitCallback,
  type Browser,
} from './support/flow.js';
import { startProvider } from './support/provider.js';
import { storeAll, storeGet } from './support/store.js';
import { useProvider } from './support/use-provider.js';

const op = useProvider();

async function probe(browser: Browser) {
  return (await browser.app.get('/probe/oidc').expect(200)).body as {
    isAuthenticated: boolean;
    claims: { sub: string } | null;
    sessionId: string;
    pending: number;
  };
}

describe('/login', () => {
  it('redirects to the authorization endpoint with code flow, PKCE S256, state, nonce and the exact redirect_uri', async () => {
    const { app } = createApp(testOptions(op, { authorizationParams: { prompt: 'login', max_age: 600 } }));
    const res = await request(app).get('/login').expect(302);
    expect(res.headers['cache-control']).toBe('no-store');
    const url = new URL(res.headers.location!);
    expect(url.origin + url.pathname).toBe(`${op.issuer}/auth`);
    const p = url.searchParams;
    expect(p.get('response_type')).toBe('code');
    expect(p.get('client_id')).toBe('test-app');
    expect(p.get('redirect_uri')).toBe('http://app.localhost/callback');
    expect(p.get('scope')).toBe('openid profile email');
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('prompt')).toBe('login');
    expect(p.get('max_age')).toBe('600');
    expect(p.has('code_verifier')).toBe(false);
    // The pending login is a cookie for the callback only; no session is created for it. The
    // browser-binding cookie (for the whole site) says which browser started it.
    const [cookie] = setCookies(res, 'oidc.tx.');
    expect(cookie).toMatch(new RegExp(`^oidc\\.tx\\.${p.get('state')!.slice(0, 8).replace(/-/g, '\\-')}=v1\\.`));
    expect(cookie).toMatch(/; Path=\/callback; Max-Age=660; Expires=[^;]+; HttpOnly; SameSite=Lax$/);
    expect(setCookies(res).map((c) => c.split('=')[0])).toEqual([
      'oidc.browser',
      cookie!.split('=')[0],
      'oidc.pending',
    ]);
  });

  it('in session mode, keeps the pending login in the session it saves before the redirect', async () => {
    const { app, store } = createApp(testOptions(op, { pendingLogins: 'session' }));
    const res = await request(app).get('/login').expect(302);
    expect(setCookies(res).map((c) => c.split('=')[0])).toEqual(['oidc.browser', 'sid']);
    const sessions = await storeAll<{ oidc?: { tx?: Record<string, unknown> } }>(store);
    const state = new URL(res.headers.location!).searchParams.get('state')!;
    expect(Object.values(sessions).map((s) => Object.keys(s.oidc?.tx ?? {}))).toEqual([[state]]);
  });

  it('uses fresh state, nonce and verifier for every login', async () => {
    const { app } = createApp(testOptions(op));
    const a = new URL((await request(app).get('/login')).headers.location!).searchParams;
    const b = new URL((await request(app).get('/login')).headers.location!).searchParams;
    for (const name of ['state', 'nonce', 'code_challenge']) expect(a.get(name)).not.toBe(b.get(name));
  });

  it('keeps at most maxPendingLogins transactions in one browser, the newest', async () => {
    const { app } = createApp(testOptions(op, { maxPendingLogins: 3 }));
    const browser = newBrowser(app, op.issuer);
    const states: string[] = [];
    for (let i = 0; i < 6; i++) states.push((await startLogin(browser)).searchParams.get('state')!);
    expect([...txCookies(browser.app).keys()].sort()).toEqual(
      states
        .slice(3)
        .map((s) => `oidc.tx.${s.slice(0, 8)}`)
        .sort(),
    );
  });

  it('keeps at most maxPendingLogins transactions in one session (session mode)', async () => {
    const { app } = createApp(testOptions(op, { maxPendingLogins: 3, pendingLogins: 'session' }));
    const browser = newBrowser(app, op.issuer);
    for (let i = 0; i < 6; i++) await startLogin(browser);
    expect((await probe(browser)).pending).toBe(3);
  });

  it('answers 405 to a POST', async () => {
    const { app } = createApp(testOptions(op));
    const res = await request(app).post('/login').expect(405);
    expect(res.body.code).toBe('ERR_OIDC_METHOD_NOT_ALLOWED');
  });
});

describe('/callback', () => {
  it.each(['cookie', 'session'] as const)(
    'regenerates the session id at login, keeping the session data keepSessionData names (pendingLogins: %s)',
    async (pendingLogins) => {
      const { app, store } = createApp(testOptions(op, { pendingLogins, keepSessionData: ['visited'] }));
      app.get('/visit', (req, res) => {
        (req.session as unknown as { visited: boolean }).visited = true;
        res.send('ok');
      });
      const browser = newBrowser(app, op.issuer);
      // The browser has a session (of the app's) before it logs in.
      await browser.app.get('/visit').expect(200);
      await startLogin(browser);
      const before = (await probe(browser)).sessionId;
      expect((await probe(browser)).sessionId).toBe(before);
      const authorizationUrl = await startLogin(browser);
      const callback = await authorizeAt(browser, authorizationUrl);
      await visitCallback(browser, callback).expect(302);
      const after = await probe(browser);
      expect(after.isAuthenticated).toBe(true);
      expect(after.sessionId).not.toBe(before);
      // The pre-login session is gone from the store, not merely abandoned.
      expect(await storeGet(store, before)).toBeFalsy();
      // The app's data set before the login is in the new session.
      expect(await storeGet(store, after.sessionId)).toMatchObject({ visited: true });
    },
  );

  /**
   * A cookie naming the attacker's session, as a sibling subdomain or plain http can plant it, with
   * the id's second character percent-encoded: express-session decodes it to the same id, while
   * the raw Cookie header no longer contains the id (not the first: `%32` then the rest of an id
   * that starts with `2` still ends with the whole id).
   */
  function plantedSessionCookie(setCookie: string, sessionId: string): string {
    const value = setCookie.slice('sid='.length, setCookie.indexOf(';'));
    const encoded = `${sessionId[0]}%${sessionId.charCodeAt(1).toString(16).toUpperCase()}${sessionId.slice(2)}`;
    return `sid=${value.replace(sessionId, encoded)}`;
  }

  it.each([
    ['saveUninitialized: true', { saveUninitialized: true }, ['/probe/oidc']],
    ['a key written, then deleted', {}, ['/note', '/forget']],
  ] as const)(
    'gives a login a new session id even when a planted cookie names an empty stored session (%s): no session fixation',
    async (_label, sessionOptions, visits) => {
      const { app } = createApp(testOptions(op), {
        session: sessionOptions,
        routes: (a) => {
          a.get('/note', (req, res) => {
            (req.session as unknown as Record<string, unknown>).returnTo = '/somewhere';
            res.send('ok');
          });
          a.get('/forget', (req, res) => {
            delete (req.session as unknown as Record<string, unknown>).returnTo;
            res.send('ok');
          });
        },
      });
      // The attacker gets a session that holds nothing, and plants its cookie in the victim's browser.
      const attacker = request.agent(app);
      const res = await attacker.get(visits[0]).expect(200);
      for (const path of visits.slice(1)) await attacker.get(path).expect(200);
      const attackerCookie = setCookies(res, 'sid=')[0]!;
      const attackerId = (await attacker.get('/probe/oidc').expect(200)).body.sessionId as string;
      const victim = newBrowser(app, op.issuer);
      const planted = plantedSessionCookie(attackerCookie, attackerId);
      expect(planted).not.toContain(attackerId);
      victim.app.jar.setCookie(`${planted}; Path=/`, '127.0.0.1', '/');
      expect((await probe(victim)).sessionId).toBe(attackerId);

      await visitCallback(victim, await authorizeAt(victim, await startLogin(victim))).expect(302);
      const after = await probe(victim);
      expect(after.isAuthenticated).toBe(true);
      expect(after.sessionId).not.toBe(attackerId);
      expect((await attacker.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(false);
    },
  );

  it('answers 400 ERR_OIDC_MISSING_STATE when state is missing', async () => {
    const { app } = createApp(testOptions(op));
    const browser = newBrowser(app, op.issuer);
    const callback = await authorizeAt(browser, await startLogin(browser));
    callback.searchParams.delete('state');
    const res = await visitCallback(browser, callback).expect(400);
    expect(res.body.code).toBe('ERR_OIDC_MISSING_STATE');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect((await probe(browser)).isAuthenticated).toBe(false);
  });

  it('answers 400 ERR_OIDC_MISSING_TRANSACTION on a state mismatch, and names the usual causes', async () => {
    const { app } = createApp(testOptions(op));
    const browser = newBrowser(app, op.issuer);
    const callback = await authorizeAt(browser, await startLogin(browser));
    callback.searchParams.set('state', 'x'.repeat(43));
    const res = await visitCallback(browser, callback).expect(400);
    expect(res.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
    expect(res.body.message).toMatch(/cookie/);
    expect(res.body.message).toMatch(/baseUrl/);
    expect((await probe(browser)).isAuthenticated).toBe(false);
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])(
    'finds no transaction for state=%s',
    async (state) => {
      const { app } = createApp(testOptions(op));
      const browser = newBrowser(app, op.issuer);
      await startLogin(browser);
      const res = await browser.app.get(`/callback?code=abc&state=${state}`).expect(400);
      expect(res.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
    },
  );

  it('refuses a repeated state parameter', async () => {
    const { app } = createApp(testOptions(op));
    const browser = newBrowser(app, op.issuer);
    const callback = await authorizeAt(browser, await startLogin(browser));
    callback.searchParams.append('state', callback.searchParams.get('state')!);
    const res = await visitCallback(browser, callback).expect(400);
    expect(res.body.code).toBe('ERR_OIDC_INVALID_CALLBACK');
  });

  it('refuses a replayed callback', async () => {
    const { app } = createApp(testOptions(op));
    const browser = newBrowser(app, op.issuer);
    const callback = await authorizeAt(browser, await startLogin(browser));
    await visitCallback(browser, callback).expect(302);
    // Logged in now: the back button to the callback is harmless and goes home.
    const again = await visitCallback(browser, callback).expect(302);
    expect(again.headers.location).toBe('/');
    // The same callback in a browser that is not logged in (an attacker replaying the URL) fails.
    const other = newBrowser(app, op.issuer);
    await startLogin(other);
    const res = await visitCallback(other, callback).expect(400);
    expect(res.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
    expect((await probe(other)).isAuthenticated).toBe(false);
  });

  it.each(['cookie', 'session'] as const)(
    "fails cleanly when the callback arrives without the browser's cookies (pendingLogins: %s)",
    async (pendingLogins) => {
      const { app, store } = createApp(testOptions(op, { pendingLogins }));
      const browser = newBrowser(app, op.issuer);
      const callback = await authorizeAt(browser, await startLogin(browser));
      const before = Object.keys(await storeAll(store)).length;
      const res = await request(app)
        .get(callback.pathname + callback.search)
        .expect(400);
      expect(res.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
      expect(res.headers['set-cookie']).toBeUndefined();
      const after = Object.keys(await storeAll(store)).length;
      expect(after).toBe(before);
    },
  );

  it('does not let a code from one browser log in another (login finished in another browser)', async () => {
    const { app } = createApp(testOptions(op));
    const victim = newBrowser(app, op.issuer);
    const callback = await authorizeAt(victim, await startLogin(victim), 'bob');
    // The attacker has a login of their own in progress but gets the victim's callback URL.
    const attacker = newBrowser(app, op.issuer);
    await startLogin(attacker);
    const res = await visitCallback(attacker, callback).expect(400);
    expect(res.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
    expect((await probe(attacker)).isAuthenticated).toBe(false);
  });

  it('turns a provider error=access_denied into a 401 that does not reflect error_description', async () => {
    const { app } = createApp(testOptions(op));
    const browser = newBrowser(app, op.issuer);
    const authorizationUrl = await startLogin(browser);
    const state = authorizationUrl.searchParams.get('state')!;
    const desc = encodeURIComponent('<script>alert(1)</script>');
    const res = await browser.app
      .get(
        `/callback?error=access_denied&error_description=${desc}&state=${state}&iss=${encodeURIComponent(op.issuer)}`,
      )
      .expect(401);
    expect(res.body.code).toBe('ERR_OIDC_ACCESS_DENIED');
    expect(res.body.message).not.toMatch(/script/);
    expect((await probe(browser)).isAuthenticated).toBe(false);
  });

  it('turns a real provider denial (the user cancels at the consent screen) into a 401', async () => {
    const { app } = createApp(testOptions(op));
    const browser = newBrowser(app, op.issuer);
    const authorizationUrl = await startLogin(browser);
    // Walk to the provider's interaction, then abort it as the "cancel" link does.
    let res = await browser.op.get(authorizationUrl.pathname + authorizationUrl.search).expect(303);
    const interaction = res.headers.location!;
    res = await browser.op.get(`${new URL(interaction, op.issuer).pathname}/abort`);
    let location = new URL(res.headers.location!, op.issuer);
    while (location.origin === op.issuer) {
      res = await browser.op.get(location.pathname + location.search);
      location = new URL(res.headers.location!, op.issuer);
    }
    expect(location.searchParams.get('error')).toBe('access_denied');
    const answer = await visitCallback(browser, location).expect(401);
    expect(answer.body.code).toBe('ERR_OIDC_ACCESS_DENIED');
  });

  it('logs two tabs in at once', async () => {
    const { app } = createApp(testOptions(op));
    const browser = newBrowser(app, op.issuer);
    const tab1 = await startLogin(browser, '?returnTo=/one');
    const tab2 = await startLogin(browser, '?returnTo=/two');
    const cb1 = await authorizeAt(browser, tab1);
    const cb2 = await authorizeAt(browser, tab2);
    const r1 = await visitCallback(browser, cb1).expect(302);
    expect(r1.headers.location).toBe('/one');
    const r2 = await visitCallback(browser, cb2).expect(302);
    expect(r2.headers.location).toBe('/two');
    const state = await probe(browser);
    expect(state.isAuthenticated).toBe(true);
    expect(state.pending).toBe(0);
    expect(txCookies(browser.app).size).toBe(0);
  });

  it("logs two tabs in at once in session mode (the other tab's pending login survives the first login)", async () => {
    const { app } = createApp(testOptions(op, { pendingLogins: 'session' }));
    const browser = newBrowser(app, op.issuer);
    const tab1 = await startLogin(browser, '?returnTo=/one');
    const tab2 = await startLogin(browser, '?returnTo=/two');
    expect((await probe(browser)).pending).toBe(2);
    const cb1 = await authorizeAt(browser, tab1);
    const cb2 = await authorizeAt(browser, tab2);
    expect((await visitCallback(browser, cb1).expect(302)).headers.location).toBe('/one');
    expect((await probe(browser)).pending).toBe(1);
    expect((await visitCallback(browser, cb2).expect(302)).headers.location).toBe('/two');
    expect((await probe(browser)).pending).toBe(0);
  });

  it('refuses an expired transaction', async () => {
    const { app } = createApp(testOptions(op, { transactionMaxAge: 200 }));
    const browser = newBrowser(app, op.issuer);
    const callback = await authorizeAt(browser, await startLogin(browser));
    await new Promise((r) => setTimeout(r, 250));
    const res = await visitCallback(browser, callback).expect(400);
    expect(res.body.code).toBe('ERR_OIDC_TRANSACTION_EXPIRED');
    expect((await probe(browser)).isAuthenticated).toBe(false);
  });

  it('builds the token request URL from baseUrl, not from the Host header', async () => {
    const { app } = createApp(testOptions(op));
    const browser = newBrowser(app, op.issuer);
    const callback = await authorizeAt(browser, await startLogin(browser));
    // A forged Host / X-Forwarded-Host must not change the redirect_uri sent to the provider
    // (which would then refuse the code).
    await browser.app
      .get(callback.pathname + callback.search)
      .set('Host', 'evil.example')
      .set('X-Forwarded-Host', 'evil.example')
      .set('X-Forwarded-Proto', 'https')
      .expect(302);
    expect((await probe(browser)).isAuthenticated).toBe(true);
  });
});

describe('the provider is down at start-up', () => {
  it('answers 503 with Retry-After, then works once the provider is up, without a restart', async () => {
    const later = await startProvider();
    await later.stop();
    const { app } = createApp(testOptions(later));
    const browser = newBrowser(app, later.issuer);
    const down = await browser.app.get('/login').expect(503);
    expect(down.body.code).toBe('ERR_OIDC_PROVIDER_UNREACHABLE');
    expect(down.headers['retry-after']).toBe('5');
    await later.start();
    try {
      const res = await login(browser);
      expect(res.status).toBe(302);
      expect((await probe(browser)).isAuthenticated).toBe(true);
    } finally {
      await later.close();
    }
  });
});

describe('without express-session', () => {
  it('answers 503 and says what is missing', async () => {
    const express = (await import('express')).default;
    const { oidcLogin, requireAuth } = await import('../lib/index.js');
    const { jsonErrors } = await import('./support/app.js');
    const app = express();
    app.use(oidcLogin(testOptions(op, { logger: false })));
    app.get('/protected', requireAuth(), (_req, res) => res.send('no'));
    app.use(jsonErrors);
    const res = await request(app).get('/login').expect(503);
    expect(res.body.code).toBe('ERR_OIDC_SESSION_UNAVAILABLE');
    expect(res.body.message).toMatch(/express-session/);
    const guarded = await request(app).get('/protected').expect(503);
    expect(guarded.body.code).toBe('ERR_OIDC_SESSION_UNAVAILABLE');
  });
});
