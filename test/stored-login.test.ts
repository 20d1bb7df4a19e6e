import { createHmac } from 'node:crypto';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { MemoryStore, SessionData } from 'express-session';
import request from 'supertest';
import { redactTokens } from '../lib/util/redact.js';
import { loginFromSession, type OidcEvent, type OidcLoginOptions } from '../lib/index.js';
import { packLogin, recentLogins, unpackLogin } from '../lib/session/stored-login.js';
import type { StoredLogin } from '../lib/types.js';
import { createApp, testOptions } from './support/app.js';
import { fakeClock } from './support/clock.js';
import { authorizeAt, login, newBrowser, startLogin, visitCallback, type Browser } from './support/flow.js';
import { APP_BASE_URL } from './support/provider.js';
import { loginIn, tokenPayload } from './support/stored-login.js';
import { useProvider } from './support/use-provider.js';
import { storeAll, storeGet } from './support/store.js';

/**
 * How a login sits in the session store (lib/session/stored-login.ts): one JSON string, read without
 * being written back, frozen during a request, parsed once while it stays the same. Sessions
 * stored by an older version, with the login as an object, keep working.
 */

const op = useProvider();

const b64url = (text: string): string => Buffer.from(text).toString('base64url');

/** What a store keeps of a login: the string its toJSON() gives, parsed. */
function asStored(login: Readonly<StoredLogin>): Record<string, unknown> {
  const json: unknown = JSON.parse(JSON.stringify(login));
  expect(typeof json).toBe('string');
  return JSON.parse(json as string);
}

afterEach(() => {
  jest.useRealTimers();
});

/** A session as the store holds it: the login is whatever was stored. */
type RawSession = Omit<SessionData, 'oidc'> & { oidc?: { login?: unknown } };

async function raw(store: MemoryStore, sid: string): Promise<RawSession> {
  const data = await storeGet<RawSession>(store, sid);
  if (!data) throw new Error(`no session ${sid}`);
  return data;
}

function put(store: MemoryStore, sid: string, data: RawSession): Promise<void> {
  return new Promise((resolve, reject) =>
    store.set(sid, data as unknown as SessionData, (err) => (err ? reject(err) : resolve())),
  );
}

/** Counts the store's writes from now on. */
function countWrites(store: MemoryStore): { readonly count: number } {
  const counter = { count: 0 };
  const set = store.set.bind(store);
  store.set = (sid, data, cb) => {
    counter.count++;
    set(sid, data, cb);
  };
  return counter;
}

async function probe(
  browser: Browser,
): Promise<{ isAuthenticated: boolean; sessionId: string; claims: { sub?: string } | null }> {
  return (await browser.app.get('/probe/oidc').expect(200)).body;
}

async function loggedIn(overrides: Partial<OidcLoginOptions> = {}) {
  const { app, store, middleware } = createApp(testOptions(op, overrides));
  const browser = newBrowser(app, op.issuer);
  await login(browser);
  const { sessionId } = await probe(browser);
  return { app, store, browser, sid: sessionId, middleware };
}

describe('the stored login', () => {
  it('is one JSON string in the store, with the tokens, and the claims not twice: "idToken", whose payload they are', async () => {
    const { store, browser, sid } = await loggedIn();
    const stored = (await raw(store, sid)).oidc?.login;
    expect(typeof stored).toBe('string');
    const login = JSON.parse(stored as string);
    expect(login).toMatchObject({
      accessToken: expect.any(String),
      idToken: expect.any(String),
      tokenType: expect.any(String),
    });
    expect(login.loggedInAt).toEqual(expect.any(Number));
    expect(login.claims).toBe('idToken');
    const payload = tokenPayload(login.idToken);
    expect(payload).toMatchObject({ sub: 'alice', iss: op.issuer });
    // What the app sees are the verified claims, all of them.
    expect((await probe(browser)).claims).toEqual(payload);
  });

  it("gives the ID token's claims when it parses a stored login (another instance, or one not kept), and does not write it back", async () => {
    const { store, browser, sid } = await loggedIn();
    const data = await raw(store, sid);
    const stored = data.oidc!.login as string;
    const payload = tokenPayload(JSON.parse(stored).idToken);
    // The same login as another string: not the one this process parsed and kept.
    const respaced = stored.replace('{', '{ ');
    await put(store, sid, { ...data, oidc: { ...data.oidc, login: respaced } });
    const writes = countWrites(store);
    expect((await probe(browser)).claims).toEqual(payload);
    expect((await browser.app.get('/protected').expect(200)).body.sub).toBe('alice');
    expect(writes.count).toBe(0);
    expect((await raw(store, sid)).oidc?.login).toBe(respaced);
  });

  it("stores claims that are not the ID token's as they are (afterCallback changed them), and reads them back", async () => {
    const { app, store } = createApp(
      testOptions(op, {
        afterCallback: (_req, _res, login) => ({ ...login, claims: { ...login.claims, team: 'blue' } }),
      }),
    );
    const browser = newBrowser(app, op.issuer);
    await login(browser);
    const { sessionId, claims } = await probe(browser);
    expect(claims).toMatchObject({ sub: 'alice', team: 'blue' });
    const data = await raw(store, sessionId);
    const stored = JSON.parse(data.oidc!.login as string);
    expect(stored.claims).toEqual({ ...tokenPayload(stored.idToken), team: 'blue' });
    // Parsed again from the store: still the changed claims.
    await put(store, sessionId, {
      ...data,
      oidc: { ...data.oidc, login: (data.oidc!.login as string).replace('{', '{ ') },
    });
    expect((await probe(browser)).claims).toMatchObject({ sub: 'alice', team: 'blue' });
  });

  it('is read on every request without being written back', async () => {
    const { store, browser, sid } = await loggedIn();
    const before = (await raw(store, sid)).oidc?.login;
    const writes = countWrites(store);
    for (let i = 0; i < 5; i++) {
      expect((await probe(browser)).claims?.sub).toBe('alice');
      await browser.app.get('/protected').expect(200);
    }
    expect(writes.count).toBe(0);
    expect((await raw(store, sid)).oidc?.login).toBe(before);
  });

  it('is packed again, not patched, when it changes (activity): the new string holds the change', async () => {
    const { store, browser, sid } = await loggedIn();
    const before = JSON.parse((await raw(store, sid)).oidc!.login as string);
    const clock = fakeClock();
    clock.advance(61);
    const writes = countWrites(store);
    await browser.app.get('/protected').expect(200);
    expect(writes.count).toBe(1);
    const after = (await raw(store, sid)).oidc!.login;
    expect(typeof after).toBe('string');
    expect(JSON.parse(after as string)).toEqual({ ...before, activeAt: Date.now() });
  });

  it('is frozen during a request: changing req.oidc.claims in place throws, and the store keeps the verified claims', async () => {
    const { app, store, browser, sid } = await loggedIn();
    app.get('/tamper', (req, res) => {
      try {
        (req.oidc!.claims as Record<string, unknown>).sub = 'mallory';
        res.json({ threw: false });
      } catch (err) {
        res.json({ threw: err instanceof TypeError, sub: req.oidc!.claims!.sub });
      }
    });
    expect((await browser.app.get('/tamper').expect(200)).body).toEqual({ threw: true, sub: 'alice' });
    expect(loginIn(await raw(store, sid))!.claims.sub).toBe('alice');
    expect((await probe(browser)).claims?.sub).toBe('alice');
  });
});

describe('a session stored by an older version (the login as an object)', () => {
  it('is still logged in, is not written back for being read, and is packed at its next change', async () => {
    const { store, browser, sid } = await loggedIn();
    const data = await raw(store, sid);
    // An older version's login: an object, with its claims.
    const asObject = loginIn(data)!;
    expect(asObject.claims.sub).toBe('alice');
    await put(store, sid, { ...data, oidc: { ...data.oidc, login: asObject } });
    const writes = countWrites(store);
    expect(await probe(browser)).toMatchObject({ isAuthenticated: true, claims: { sub: 'alice' } });
    await browser.app.get('/protected').expect(200);
    expect(writes.count).toBe(0);
    expect((await raw(store, sid)).oidc?.login).toEqual(asObject);

    const clock = fakeClock();
    clock.advance(61);
    await browser.app.get('/protected').expect(200);
    expect(writes.count).toBe(1);
    const packed = (await raw(store, sid)).oidc?.login;
    expect(typeof packed).toBe('string');
    expect(JSON.parse(packed as string)).toEqual({ ...asObject, claims: 'idToken', activeAt: Date.now() });
    expect(loginIn(await raw(store, sid))!.claims).toEqual(asObject.claims);
  });
});

describe('a stored login that is not one', () => {
  it.each([
    ['JSON cut short', '{"accessToken":"x","claims":{"sub":'],
    ['a JSON string', JSON.stringify('alice')],
    ['a JSON array', '[1,2,3]'],
    ['JSON without claims', JSON.stringify({ accessToken: 'x', tokenType: 'bearer' })],
    ['a number', 42],
    ['claims null', JSON.stringify({ accessToken: 'x', tokenType: 'bearer', claims: null })],
    ['no access token', JSON.stringify({ tokenType: 'bearer', claims: { sub: 'alice' } })],
    [
      'a top-level "__proto__"',
      '{"__proto__":{"toJSON":1},"accessToken":"x","tokenType":"bearer","claims":{"sub":"alice"}}',
    ],
    [
      'no claims, beside a readable ID token',
      JSON.stringify({ accessToken: 'x', tokenType: 'bearer', idToken: `e30.${b64url('{"sub":"alice"}')}.sig` }),
    ],
    [
      'claims null, beside a readable ID token',
      JSON.stringify({
        accessToken: 'x',
        tokenType: 'bearer',
        claims: null,
        idToken: `e30.${b64url('{"sub":"alice"}')}.sig`,
      }),
    ],
    ...(
      [
        ['that is not a JWT', 'opaque'],
        ['of two parts', `e30.${b64url('{"sub":"alice"}')}`],
        ['with an empty header', `.${b64url('{"sub":"alice"}')}.sig`],
        ['whose payload is an array', `e30.${b64url('["alice"]')}.sig`],
        ['whose payload is not JSON', `e30.${b64url('{"sub":')}.sig`],
        ['whose payload starts with a byte order mark', `e30.${b64url('\ufeff{"sub":"alice"}')}.sig`],
        ['nested too deeply to write back', `e30.${b64url(`${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`)}.sig`],
        ['that is encrypted (five parts)', `e30.${b64url('{"sub":"alice"}')}.iv.ct.tag`],
        ['that is not a string', { sub: 'alice' }],
        ['that is missing', undefined],
      ] as const
    ).map(([what, idToken]): [string, string] => [
      `claims "idToken", an ID token ${what}`,
      JSON.stringify({ accessToken: 'x', tokenType: 'bearer', claims: 'idToken', idToken }),
    ]),
    [
      'claims nested too deeply to freeze',
      `{"accessToken":"x","tokenType":"bearer","claims":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`,
    ],
  ])(
    '(%s) is dropped: not logged in, 401 for the API, no crash, and the session is saved without it',
    async (_name, bad) => {
      const { store, browser, sid } = await loggedIn();
      const data = await raw(store, sid);
      await put(store, sid, { ...data, oidc: { ...data.oidc, login: bad } });
      expect((await probe(browser)).isAuthenticated).toBe(false);
      expect((await browser.app.get('/protected').set('Accept', 'application/json').expect(401)).body.error).toBe(
        'unauthenticated',
      );
      expect((await raw(store, sid)).oidc?.login).toBeUndefined();
    },
  );
});

describe("reading a session's login again", () => {
  /** A probe that remembers the login object each request saw. */
  function withProbe(app: ReturnType<typeof createApp>['app']): object[] {
    const seen: object[] = [];
    app.get('/seen', (req, res) => {
      seen.push(req.session.oidc!.login!);
      res.json({ name: req.oidc!.claims!.name ?? null });
    });
    return seen;
  }

  it('reuses the parsed login while the stored string is the same, and reads a changed one anew', async () => {
    const { app, store, browser, sid } = await loggedIn();
    const seen = withProbe(app);
    await browser.app.get('/seen').expect(200);
    await browser.app.get('/seen').expect(200);
    expect(seen[1]).toBe(seen[0]);
    // Another instance changes the stored login (a refresh, an update of the profile).
    const data = await raw(store, sid);
    const before = loginIn(data)!;
    expect(before.claims.sub).toBe('alice');
    const changed = { ...before, claims: { ...before.claims, name: 'Alice L.' } };
    await put(store, sid, { ...data, oidc: { ...data.oidc, login: JSON.stringify(changed) } });
    expect((await browser.app.get('/seen').expect(200)).body.name).toBe('Alice L.');
    expect(seen[2]).not.toBe(seen[0]);
  });

  it("does not give one session another session's login, even with the same string stored", async () => {
    const { app, store, browser, sid } = await loggedIn();
    const seen = withProbe(app);
    await browser.app.get('/seen').expect(200);
    // A second session holding a byte-identical copy of the login: a login of its own all the same.
    const data = await raw(store, sid);
    await put(store, 'copied-session-id', data);
    await request(app)
      .get('/seen')
      .set('Cookie', `sid=${signedSid('copied-session-id')}`)
      .expect(200);
    expect(seen).toHaveLength(2);
    expect(seen[1]).not.toBe(seen[0]);
    expect(seen[1]).toEqual(seen[0]);
  });

  it('keeps the login the callback stored: the first request after the login does not parse it again', async () => {
    const { app, store, middleware } = createApp(testOptions(op));
    await login(newBrowser(app, op.issuer));
    const sessions = await storeAll<RawSession>(store);
    const loggedInIds = Object.keys(sessions).filter((id) => sessions[id]!.oidc?.login !== undefined);
    expect(loggedInIds).toHaveLength(1);
    // No request has read it yet: it was kept when it was stored.
    expect(recentLogins(middleware)).toEqual(loggedInIds);
  });

  it('keeps a login that fetchUserInfo() changed: the next request reads the same object', async () => {
    const { app, browser } = await loggedIn();
    const seen = withProbe(app);
    app.get('/userinfo-then-seen', async (req, res) => {
      await req.oidc!.fetchUserInfo();
      seen.push(req.session.oidc!.login!);
      res.json({});
    });
    await browser.app.get('/userinfo-then-seen').expect(200);
    await browser.app.get('/seen').expect(200);
    expect(seen).toHaveLength(2);
    expect(seen[1]).toBe(seen[0]);
  });

  it("forgets a session's login at logout", async () => {
    const { app, browser, sid, middleware } = await loggedIn();
    withProbe(app);
    await browser.app.get('/seen').expect(200);
    expect(recentLogins(middleware)).toContain(sid);
    await browser.app.post('/logout').set('Origin', APP_BASE_URL).expect(303);
    expect(recentLogins(middleware)).not.toContain(sid);
  });

  it("keeps at most 500 sessions' logins", async () => {
    const { app, store, sid, middleware } = await loggedIn();
    const data = await raw(store, sid);
    for (let i = 0; i < 520; i++) await put(store, `many-${i}`, data);
    for (let i = 0; i < 520; i++) {
      expect(
        (
          await request(app)
            .get('/probe/oidc')
            .set('Cookie', `sid=${signedSid(`many-${i}`)}`)
            .expect(200)
        ).body.isAuthenticated,
      ).toBe(true);
    }
    expect(recentLogins(middleware)).toHaveLength(500);
  });
});

/** An express-session cookie value for session id `id` (the test app's secret). */
function signedSid(id: string): string {
  const mac = createHmac('sha256', 'test-session-secret').update(id).digest('base64').replace(/=+$/, '');
  return encodeURIComponent(`s:${id}.${mac}`);
}

describe("the login read outside the middleware's own step", () => {
  it('is unpacked after req.session.reload(): the claims and the access token are the stored ones', async () => {
    const { app, store, browser, sid } = await loggedIn();
    app.get('/reloaded', (req, res) => {
      req.session.reload(async (err: unknown) => {
        if (err) {
          res.status(500).json({ err: String(err) });
          return;
        }
        res.json({
          typeBefore: typeof (req.session.oidc as { login?: unknown }).login,
          sub: req.oidc!.claims?.sub ?? null,
          token: await req.oidc!.getAccessToken(),
        });
      });
    });
    const body = (await browser.app.get('/reloaded').expect(200)).body;
    const stored = JSON.parse((await raw(store, sid)).oidc!.login as string);
    expect(body).toEqual({ typeBefore: 'string', sub: 'alice', token: stored.accessToken });
  });

  it('is checked again after req.session.reload(): a login past its lifetime meanwhile is not given, and the session is saved without it', async () => {
    const events: OidcEvent[] = [];
    const { app, store, browser, sid } = await loggedIn({
      absoluteDuration: 3600,
      on: { logout: (e) => void events.push(e) },
    });
    app.get('/reloaded', async (req, res) => {
      const before = req.oidc!.isAuthenticated();
      // Meanwhile (another instance, an admin tool) the stored login became one of three hours ago.
      const data = await raw(store, sid);
      const old = { ...loginIn(data)!, loggedInAt: Date.now() - 3 * 3600_000 };
      await put(store, sid, { ...data, oidc: { ...data.oidc, login: JSON.stringify(old) } });
      req.session.reload((err: unknown) => {
        if (err) {
          res.status(500).json({ err: String(err) });
          return;
        }
        res.json({ before, after: req.oidc!.isAuthenticated(), claims: req.oidc!.claims ?? null });
      });
    });
    expect((await browser.app.get('/reloaded').expect(200)).body).toEqual({ before: true, after: false, claims: null });
    expect(events).toEqual([expect.objectContaining({ sub: 'alice', sessionId: sid, detail: 'expired' })]);
    expect((await raw(store, sid)).oidc?.login).toBeUndefined();
    expect((await probe(browser)).isAuthenticated).toBe(false);
  });

  it('is checked again after req.session.reload(): a login of a provider that is not configured is not given', async () => {
    const { app, store, browser, sid } = await loggedIn();
    app.get('/reloaded', async (req, res) => {
      const before = req.oidc!.isAuthenticated();
      const data = await raw(store, sid);
      const elsewhere = { ...loginIn(data)!, provider: 'elsewhere' };
      await put(store, sid, { ...data, oidc: { ...data.oidc, login: JSON.stringify(elsewhere) } });
      req.session.reload(() => res.json({ before, after: req.oidc!.isAuthenticated() }));
    });
    expect((await browser.app.get('/reloaded').expect(200)).body).toEqual({ before: true, after: false });
    expect((await raw(store, sid)).oidc?.login).toBeUndefined();
  });

  it('counts the request itself as activity when it checks a reloaded login: a long request does not make its own user idle', async () => {
    const events: OidcEvent[] = [];
    const { app, store, browser, sid } = await loggedIn({
      idleDuration: 900,
      on: { logout: (e) => void events.push(e) },
    });
    // The user's last noted activity: 14 minutes ago (idle after 15).
    const data = await raw(store, sid);
    await put(store, sid, {
      ...data,
      oidc: { ...data.oidc, login: JSON.stringify({ ...loginIn(data)!, activeAt: Date.now() - 14 * 60_000 }) },
    });
    const clock = fakeClock();
    app.get('/long', (req, res) => {
      // Two minutes into this request (a stream, a slow upstream), past the 15 minutes counted
      // from the stored activity, the handler reloads the session.
      clock.advance(120);
      req.session.reload(() => res.json({ after: req.oidc!.isAuthenticated() }));
    });
    expect((await browser.app.get('/long').expect(200)).body).toEqual({ after: true });
    expect(events).toEqual([]);
    // It is the request's time that counts, not any later one: 16 idle minutes after it, logged out.
    clock.advance(16 * 60);
    expect((await probe(browser)).isAuthenticated).toBe(false);
    expect(events).toHaveLength(1);
  });
});

describe("what a session's logins leave in memory", () => {
  it.each([
    ['two minutes after it was read, when other sessions are read', 121, 'later-session'],
    ['when the clock steps back past it (its age would never grow)', -300, 'after-the-step'],
  ])('is dropped %s', async (_when, seconds, otherSid) => {
    const first = await loggedIn();
    expect(recentLogins(first.middleware)).toContain(first.sid);
    const clock = fakeClock();
    clock.advance(seconds);
    const data = await raw(first.store, first.sid);
    await put(first.store, otherSid, data);
    await request(first.app)
      .get('/probe/oidc')
      .set('Cookie', `sid=${signedSid(otherSid)}`)
      .expect(200);
    expect(recentLogins(first.middleware)).toEqual([otherSid]);
  });

  it('is read again once past two minutes, even when its stored string is unchanged', async () => {
    const a = await loggedIn();
    const data = await raw(a.store, a.sid);
    await put(a.store, 'other-session', data);
    await request(a.app)
      .get('/probe/oidc')
      .set('Cookie', `sid=${signedSid('other-session')}`)
      .expect(200);
    expect(recentLogins(a.middleware)).toEqual(expect.arrayContaining([a.sid, 'other-session']));
    const clock = fakeClock();
    clock.advance(121);
    // a's next request: its stored string is unchanged, but both entries are past two minutes.
    await a.browser.app.get('/probe/oidc').expect(200);
    expect(recentLogins(a.middleware)).toEqual([a.sid]);
  });

  it('is looked through for expired entries also on requests whose login is kept (no parse needed)', async () => {
    const a = await loggedIn();
    const data = await raw(a.store, a.sid);
    // Activity already noted far ahead: no request below changes its stored login (no new parse).
    const login = { ...JSON.parse(data.oidc!.login as string), activeAt: Date.now() + 86_400_000 };
    const quiet = { ...data, oidc: { ...data.oidc, login: JSON.stringify(login) } };
    await put(a.store, 'old-one', quiet);
    await put(a.store, 'kept-one', quiet);
    const visit = (id: string) =>
      request(a.app)
        .get('/probe/oidc')
        .set('Cookie', `sid=${signedSid(id)}`)
        .expect(200);
    await visit('old-one');
    const clock = fakeClock();
    clock.advance(100);
    await visit('kept-one');
    clock.advance(30);
    // old-one is 130 s old now; kept-one's request is answered from what is kept (30 s old).
    await visit('kept-one');
    expect(recentLogins(a.middleware)).toEqual(['kept-one']);
  });

  it('is kept per oidcLogin() instance: two instances in one process (one session store) share none of it', async () => {
    const a = createApp(testOptions(op));
    const b = createApp(testOptions(op), { store: a.store });
    const seen = new Map<string, object>();
    for (const [name, { app }] of [
      ['a', a],
      ['b', b],
    ] as const) {
      app.get('/seen', (req, res) => {
        seen.set(name, req.session.oidc!.login!);
        res.json({ sub: req.oidc!.claims?.sub ?? null });
      });
    }
    const browser = newBrowser(a.app, op.issuer);
    await login(browser);
    const { sessionId } = await probe(browser);
    expect(recentLogins(a.middleware)).toEqual([sessionId]);
    expect(recentLogins(b.middleware)).toEqual([]);
    await browser.app.get('/seen').expect(200);
    // b reads the same stored login for itself: its own object, kept by b alone.
    const onB = await request(b.app)
      .get('/seen')
      .set('Cookie', `sid=${signedSid(sessionId)}`)
      .expect(200);
    expect(onB.body).toEqual({ sub: 'alice' });
    expect(seen.get('b')).not.toBe(seen.get('a'));
    expect(seen.get('b')).toEqual(seen.get('a'));
    expect(recentLogins(b.middleware)).toEqual([sessionId]);
    // a logs the session out and forgets it; b's memory is b's, as another process's would be (for two minutes at most).
    await browser.app.post('/logout').set('Origin', APP_BASE_URL).expect(303);
    expect(recentLogins(a.middleware)).toEqual([]);
    expect(recentLogins(b.middleware)).toEqual([sessionId]);
  });

  it('is forgotten for the old session id when the browser logs in again (a new session id)', async () => {
    const { browser, sid, middleware } = await loggedIn();
    expect(recentLogins(middleware)).toContain(sid);
    await login(browser);
    const { sessionId } = await probe(browser);
    expect(sessionId).not.toBe(sid);
    expect(recentLogins(middleware)).not.toContain(sid);
    expect(recentLogins(middleware)).toContain(sessionId);
  });

  it('shows no tokens when the session is inspected or an error carrying the login is redacted', async () => {
    const { app, browser } = await loggedIn();
    app.get('/inspect', (req, res) => {
      const login = req.session.oidc!.login!;
      res.json({
        inspected: inspect(req.session, { depth: 10 }),
        redacted: JSON.stringify(redactTokens(new Error('x', { cause: { login } })).cause),
        accessToken: login.accessToken,
        idToken: login.idToken,
      });
    });
    const body = (await browser.app.get('/inspect').expect(200)).body;
    for (const out of [body.inspected, body.redacted]) {
      expect(out).toContain('alice');
      expect(out).not.toContain(body.accessToken);
      expect(out).not.toContain(body.idToken);
    }
  });
});

describe('an afterCallback that returns something that is not a login', () => {
  it.each([
    ['without its access token', (login: StoredLogin) => ({ ...login, accessToken: undefined as unknown as string })],
    ['with claims null', (login: StoredLogin) => ({ ...login, claims: null as unknown as StoredLogin['claims'] })],
  ])('(%s) fails the login with a 500 that says so, and stores no login', async (_name, hook) => {
    const { app, store } = createApp(testOptions(op, { afterCallback: (_req, _res, login) => hook(login) }));
    const browser = newBrowser(app, op.issuer);
    const callback = await authorizeAt(browser, await startLogin(browser));
    const res = await visitCallback(browser, callback);
    expect(res.status).toBe(500);
    expect(res.body.message).toMatch(/afterCallback returned something that is not a login/);
    const all = await storeAll(store);
    for (const data of Object.values(all)) expect((data as RawSession).oidc?.login).toBeUndefined();
  });
});

describe('loginFromSession()', () => {
  it('gives the login of a session read from the store itself (store.all()), with its claims; nothing for other sessions', async () => {
    const { store, sid } = await loggedIn();
    const other = 'not-logged-in-0123456789abcdef';
    const { cookie } = await raw(store, sid);
    await put(store, other, { cookie, oidc: {} });
    const all = await storeAll(store);
    const login = loginFromSession(all[sid]);
    expect(login?.claims).toEqual(tokenPayload(login!.idToken!));
    expect(login).toMatchObject({ claims: { sub: 'alice', iss: op.issuer }, accessToken: expect.any(String) });
    expect(Object.isFrozen(login!.claims)).toBe(true);
    expect(loginFromSession(all[other])).toBeUndefined();
    for (const data of [undefined, null, 'x', {}, { oidc: { login: 'not json' } }])
      expect(loginFromSession(data)).toBeUndefined();
    // An older version's login, an object, as it is.
    const asObject = loginIn(all[sid])!;
    expect(loginFromSession({ oidc: { login: asObject } })?.claims).toEqual(asObject.claims);
  });
});

describe('packLogin()', () => {
  it('takes a login it made as it is (no second encoding), and copies plain data', () => {
    const data: StoredLogin = {
      accessToken: 'a',
      tokenType: 'bearer',
      claims: { iss: 'https://op.example', sub: 'alice', aud: 'app', exp: 2, iat: 1 },
      loggedInAt: 1,
      activeAt: 1,
    };
    const packed = packLogin(data);
    expect(packLogin(packed as StoredLogin)).toBe(packed);
    expect({ ...packed }).toEqual(data);
    expect(JSON.parse(JSON.stringify({ login: packed })).login).toBe(JSON.stringify(data));
    expect(Object.isFrozen(packed.claims)).toBe(true);
    expect(Object.isFrozen(data.claims)).toBe(false);
  });

  it("leaves out claims that are its ID token's payload, and keeps claims that differ from it", () => {
    const claims = {
      iss: 'https://op.example',
      sub: 'alice',
      aud: 'app',
      exp: 2,
      iat: 1,
      nonce: 'n',
      groups: ['a', 'b'],
      address: { country: 'NZ' },
    };
    const idToken = `eyJhbGciOiJSUzI1NiJ9.${b64url(JSON.stringify(claims))}.c2ln`;
    const data: StoredLogin = {
      idToken,
      accessToken: 'a',
      tokenType: 'bearer',
      claims: structuredClone(claims),
      loggedInAt: 1,
      activeAt: 1,
    };
    const packed = packLogin(data);
    expect(asStored(packed)).toEqual({
      idToken,
      accessToken: 'a',
      tokenType: 'bearer',
      claims: 'idToken',
      loggedInAt: 1,
      activeAt: 1,
    });
    expect(packed.claims).toEqual(claims);
    expect(Object.isFrozen(packed.claims)).toBe(true);

    // Changed in something else (its activity): still without them.
    const active = packLogin({ ...packed, activeAt: 2 });
    expect(asStored(active).claims).toBe('idToken');
    expect(active.claims).toEqual(claims);

    // Claims that are not the token's: one more, one less, one changed, or a token of other claims.
    for (const other of [
      { ...claims, team: 'blue' },
      { ...claims, groups: undefined },
      { ...claims, sub: 'mallory' },
    ]) {
      const kept = packLogin({ ...packed, claims: other as StoredLogin['claims'] });
      expect(asStored(kept).claims).toEqual(JSON.parse(JSON.stringify(other)));
    }
    const otherToken = `eyJhbGciOiJSUzI1NiJ9.${b64url(JSON.stringify({ ...claims, sub: 'bob' }))}.c2ln`;
    expect(asStored(packLogin({ ...packed, idToken: otherToken })).claims).toEqual(claims);
    // No readable token: the claims are stored.
    for (const token of [undefined, 'opaque', `${idToken}.iv.tag`]) {
      expect(asStored(packLogin({ ...data, idToken: token })).claims).toEqual(claims);
    }
  });

  it('reads claims back from the token as a store\'s round trip gives them: a "__proto__" claim is data, -0 is 0, a number too large is null', () => {
    const payload = '{"iss":"https://op.example","sub":"alice","__proto__":{"admin":true},"n":-0,"big":1e400}';
    const idToken = `e30.${b64url(payload)}.sig`;
    const claims = JSON.parse(payload);
    const before = JSON.parse(JSON.stringify(claims));
    const packed = packLogin({ idToken, accessToken: 'a', tokenType: 'bearer', claims, loggedInAt: 1, activeAt: 1 });
    expect(asStored(packed).claims).toBe('idToken');
    const stored = JSON.stringify(asStored(packed));
    for (const login of [packed, unpackLogin(stored)!]) {
      expect(Object.getPrototypeOf(login.claims)).toBe(Object.prototype);
      expect((login.claims as { admin?: unknown }).admin).toBeUndefined();
      expect(Object.hasOwn(login.claims, '__proto__')).toBe(true);
      expect(Object.is((login.claims as { n?: unknown }).n, 0)).toBe(true);
      expect((login.claims as { big?: unknown }).big).toBeNull();
      expect(JSON.stringify(login.claims)).toBe(JSON.stringify(before));
    }
  });

  it('compares what it stores: a login whose claims are a getter is stored with them as they were serialized', () => {
    const claims = { iss: 'https://op.example', sub: 'alice' };
    const idToken = `e30.${b64url(JSON.stringify(claims))}.sig`;
    let reads = 0;
    const tricky = {
      idToken,
      accessToken: 'a',
      tokenType: 'bearer',
      loggedInAt: 1,
      activeAt: 1,
      // The first read (serializing) sees other claims than any later one.
      get claims() {
        return reads++ === 0 ? { ...claims, sub: 'mallory' } : claims;
      },
    } as unknown as StoredLogin;
    const packed = packLogin(tricky);
    expect(asStored(packed).claims).toEqual({ ...claims, sub: 'mallory' });
    expect(packed.claims.sub).toBe('mallory');
    expect(unpackLogin(JSON.stringify(asStored(packed)))!.claims.sub).toBe('mallory');
  });

  it("keeps a DPoP login's private key out of util.inspect and redactTokens()", () => {
    const packed = packLogin({
      accessToken: 'at-secret',
      tokenType: 'DPoP',
      claims: { iss: 'https://op.example', sub: 'alice', aud: 'app', exp: 2, iat: 1 },
      loggedInAt: 1,
      activeAt: 1,
      dpop: { alg: 'ES256', jkt: 'thumbprint', jwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'private-d-value' } },
    });
    for (const out of [
      inspect({ login: packed }, { depth: 10 }),
      JSON.stringify(redactTokens(new Error('x', { cause: { login: packed } })).cause),
    ]) {
      expect(out).toContain('alice');
      expect(out).not.toContain('private-d-value');
      expect(out).not.toContain('at-secret');
    }
  });
});
