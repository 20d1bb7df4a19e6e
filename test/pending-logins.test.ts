import { inspect } from 'node:util';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import request, { type Response } from 'supertest';
import { oidcLogin, type OidcLoginOptions } from '../lib/index.js';
import { resolveConfig } from '../lib/options/config.js';
import { deriveSealKey, Sealer } from '../lib/util/seal.js';
import { createApp, testOptions } from './support/app.js';
import { expectConfigError } from './support/config-error.js';
import { fakeClock } from './support/clock.js';
import { setCookies, txCookies } from './support/flow.js';
import { useHostileProvider } from './support/use-hostile-provider.js';
import { REDIRECT_URI } from './support/provider.js';

/**
 * Pending logins in sealed cookies (`pendingLogins: 'cookie'`, the default): the seal itself
 * (AES-256-GCM, HKDF keys, rotation, the associated data), the options, and the flow against a
 * provider that counts its token requests, for every way a cookie can be wrong.
 */

const SECRET_A = 'a-first-cookie-secret-of-at-least-32-chars';
const SECRET_B = 'a-second-cookie-secret-of-at-least-32-chars';

afterEach(() => {
  jest.useRealTimers();
});

describe('sealing', () => {
  const sealer = (...secrets: string[]) => new Sealer(secrets.map((s) => deriveSealKey(s, 'test')));

  it('opens what it sealed, under the same context; every seal is different (random IV)', () => {
    const s = sealer(SECRET_A);
    const a = s.seal('ctx', '{"x":1}');
    const b = s.seal('ctx', '{"x":1}');
    expect(a).toMatch(/^v1\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]+$/);
    expect(a).not.toBe(b);
    expect(s.open('ctx', a)).toEqual({ plaintext: '{"x":1}' });
    expect(s.open('ctx', b)).toEqual({ plaintext: '{"x":1}' });
  });

  it('derives the same key from the same secret (every instance agrees), other keys from other secrets or labels', () => {
    const sealed = sealer(SECRET_A).seal('ctx', 'hello');
    expect(sealer(SECRET_A).open('ctx', sealed)).toEqual({ plaintext: 'hello' });
    expect(sealer(SECRET_B).open('ctx', sealed)).toEqual({ failure: 'unknown-key' });
    expect(new Sealer([deriveSealKey(SECRET_A, 'another label')]).open('ctx', sealed)).toEqual({
      failure: 'unknown-key',
    });
  });

  it('refuses a value sealed for another context (another cookie name, another app)', () => {
    const s = sealer(SECRET_A);
    expect(s.open('oidc.tx.BBBBBBBB http://app/callback', s.seal('oidc.tx.AAAAAAAA http://app/callback', 'x'))).toEqual(
      { failure: 'forged' },
    );
  });

  it.each([
    [
      'a flipped character in the ciphertext',
      (v: string) => v.slice(0, 20) + (v[20] === 'A' ? 'B' : 'A') + v.slice(21),
    ],
    ['a flipped character in the tag', (v: string) => v.slice(0, -2) + (v.at(-2) === 'A' ? 'B' : 'A') + v.slice(-1)],
    ['another key id', (v: string) => `v1.AAAAAA${v.slice(9)}`],
  ])('refuses %s', (_name, tamper) => {
    const s = sealer(SECRET_A);
    const opened = s.open('ctx', tamper(s.seal('ctx', 'secret payload')));
    expect('failure' in opened).toBe(true);
  });

  it.each([
    '',
    'garbage',
    'v2.AAAAAA.AAAA',
    'v1.AAAAAA.',
    'v1.AAAAAA.AAAA',
    'v1.short.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    'v1.AAAAAA.a+b/c=',
  ])('refuses the malformed value %j', (value) => {
    expect(sealer(SECRET_A).open('ctx', value)).toEqual({ failure: 'malformed' });
  });

  it('rotates: the first key seals, every key opens; a key rotated out no longer opens', () => {
    const old = sealer(SECRET_A).seal('ctx', 'before the rotation');
    const rotated = sealer(SECRET_B, SECRET_A);
    expect(rotated.open('ctx', old)).toEqual({ plaintext: 'before the rotation' });
    const fresh = rotated.seal('ctx', 'after');
    expect(fresh.slice(3, 9)).toBe(rotated.kids[0]);
    expect(sealer(SECRET_B).open('ctx', fresh)).toEqual({ plaintext: 'after' });
    expect(sealer(SECRET_B).open('ctx', old)).toEqual({ failure: 'unknown-key' });
  });

  it('never shows its keys (inspect, JSON)', () => {
    const s = sealer(SECRET_A);
    const key = deriveSealKey(SECRET_A, 'test').key;
    for (const shown of [
      inspect(s, { depth: 5, showHidden: true }),
      JSON.stringify(s),
      inspect(resolveConfig(testOptions({ issuer: 'https://idp.example.com' }, { secret: SECRET_A })), { depth: 5 }),
    ]) {
      expect(shown).not.toContain(key.toString('hex'));
      expect(shown).not.toContain(SECRET_A);
    }
  });
});

describe('options', () => {
  const base = testOptions({ issuer: 'https://idp.example.com' });

  it.each<[string, Partial<OidcLoginOptions>, RegExp]>([
    ['a short secret', { secret: 'too short' }, /"secret" must be a string of at least 32/],
    ['an empty secret list', { secret: [] }, /"secret"/],
    ['a list with a short secret', { secret: [SECRET_A, 'short'] }, /"secret"/],
    ['a secret that is not a string', { secret: 42 as unknown as string }, /"secret"/],
    [
      'an unknown pendingLogins',
      { pendingLogins: 'redis' as 'cookie' },
      /"pendingLogins" must be 'cookie' or 'session'/,
    ],
    [
      'an unknown responseMode',
      { responseMode: 'fragment' as 'query' },
      /"responseMode" must be 'query' or 'form_post'/,
    ],
    [
      'cookie mode with nothing to derive a key from',
      { clientSecret: 'short', pendingLogins: 'cookie' },
      /needs a key.*"secret"/,
    ],
  ])('refuses %s at start-up, naming the option', (_name, overrides, message) => {
    expectConfigError(() => resolveConfig({ ...base, ...overrides }), message);
  });

  it('takes pendingLogins and secret at the top level only, with providers; responseMode per provider', () => {
    const entry = { issuer: 'https://idp.example.com', clientId: 'c', clientSecret: base.clientSecret! };
    expectConfigError(
      { baseUrl: base.baseUrl, providers: { a: { ...entry, secret: SECRET_A } as never } },
      /"providers\.a\.secret" is an app-level option/,
    );
    expectConfigError(
      { baseUrl: base.baseUrl, providers: { a: { ...entry, pendingLogins: 'session' } as never } },
      /app-level/,
    );
    expect(() =>
      oidcLogin({
        baseUrl: base.baseUrl,
        secret: SECRET_A,
        pendingLogins: 'cookie',
        providers: { a: { ...entry, responseMode: 'form_post' } },
      }),
    ).not.toThrow();
  });

  it('defaults to cookies when a key can be had, to the session otherwise', () => {
    expect(resolveConfig(base).pendingLogins).toBe('cookie');
    expect(resolveConfig({ ...base, clientSecret: 'a-short-client-secret' }).pendingLogins).toBe('session');
    expect(resolveConfig({ ...base, clientSecret: 'a-short-client-secret', secret: SECRET_A }).pendingLogins).toBe(
      'cookie',
    );
    expect(resolveConfig({ ...base, pendingLogins: 'session' }).pendingLogins).toBe('session');
    expect(resolveConfig({ ...base, pendingLogins: 'session' }).sealer).toBeUndefined();
  });

  it('derives the key from the client credential with a label of its own, and from "secret" otherwise', () => {
    const derived = resolveConfig(base).sealer!;
    expect(resolveConfig(base).sealer!.kids).toEqual(derived.kids);
    // Not the key "secret" would give for the same string, nor another client's.
    expect(resolveConfig({ ...base, secret: base.clientSecret! }).sealer!.kids).not.toEqual(derived.kids);
    expect(resolveConfig({ ...base, clientId: 'another-client' }).sealer!.kids).not.toEqual(derived.kids);
    expect(resolveConfig({ ...base, secret: [SECRET_B, SECRET_A] }).sealer!.kids).toEqual([
      ...resolveConfig({ ...base, secret: SECRET_B }).sealer!.kids,
      ...resolveConfig({ ...base, secret: SECRET_A }).sealer!.kids,
    ]);
  });
});

describe('the login flow with sealed cookies', () => {
  const op = useHostileProvider();

  type App = ReturnType<typeof createApp>['app'];
  const newApp = (overrides: Partial<OidcLoginOptions> = {}): App => createApp(testOptions(op, overrides)).app;

  /** GET /login; the provider answers at once; returns the callback path and the tx cookie set. */
  async function start(
    agent: { get(url: string): request.Test },
    query = '',
  ): Promise<{ callback: string; state: string; cookie: string; browser: string; res: Response }> {
    const res = await agent.get(`/login${query}`).expect(302);
    const authorizationUrl = new URL(res.headers.location!);
    const state = authorizationUrl.searchParams.get('state')!;
    const atProvider = await fetch(authorizationUrl, { redirect: 'manual' });
    const callback = new URL(atProvider.headers.get('location')!);
    expect(callback.origin + callback.pathname).toBe(REDIRECT_URI);
    // This login's cookie (the others set are the oldest ones dropped: empty, Max-Age=0).
    const cookie = setCookies(res, `oidc.tx.${state.slice(0, 8)}=`)[0]!;
    // The browser-binding cookie: kept when the agent had it, else a new one.
    const browser = setCookies(res, 'oidc.browser=')[0]!.split(';')[0]!;
    return { callback: callback.pathname + callback.search, state, cookie: cookie.split(';')[0]!, browser, res };
  }

  /**
   * The callback with exactly `cookie` (name=value) and the browser-binding cookie `browser`, as a
   * browser holding only them would send.
   */
  const callbackWith = (app: App, callback: string, cookie: string, browser: string) =>
    request(app).get(callback).set('Cookie', `${browser}; ${cookie}`);

  async function expectRefused(res: Response, status: number, code: string): Promise<void> {
    expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
    expect(typeof res.body.message).toBe('string');
    expect(res.headers['cache-control']).toBe('no-store');
    // No session came of it.
    expect(setCookies(res, 'sid=')).toEqual([]);
  }

  it('sets one cookie per login, sent to the callback only; Secure on an https baseUrl', async () => {
    const { res, state } = await start(request(newApp()));
    const [tx, directory] = setCookies(res, 'oidc.').filter((c) => !c.startsWith('oidc.browser='));
    expect(tx).toMatch(new RegExp(`^oidc\\.tx\\.${state.slice(0, 8).replace(/-/g, '\\-')}=v1\\.[A-Za-z0-9_-]{6}\\.`));
    expect(tx).toMatch(/; Path=\/callback; Max-Age=660; Expires=[^;]+; HttpOnly; SameSite=Lax$/);
    expect(directory).toMatch(
      /^oidc\.pending=[A-Za-z0-9_-]{8}:\d+; Path=\/login; Max-Age=660; Expires=[^;]+; HttpOnly; SameSite=Lax$/,
    );
    // About 415 bytes: the state, nonce, verifier, returnTo, createdAt and the browser binding, sealed.
    expect(tx!.split(';')[0]!.length).toBeLessThan(450);

    const https = await request(
      newApp({ baseUrl: 'https://app.example.com/sub', transactionMaxAge: 120_000, logger: false }),
    )
      .get('/login')
      .expect(302);
    for (const c of setCookies(https, 'oidc.')) expect(c).toMatch(/; Max-Age=180; .*; Secure$/);
    // The browser-binding cookie cannot be set by a sibling subdomain or over http: __Host-.
    expect(setCookies(https, '__Host-oidc.browser=')[0]).toMatch(
      /^__Host-oidc\.browser=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=180; .*; HttpOnly; SameSite=Lax; Secure$/,
    );
    expect(setCookies(https, 'oidc.tx.')[0]).toMatch(/; Path=\/sub\/callback;/);
    expect(setCookies(https, 'oidc.pending=')[0]).toMatch(/; Path=\/sub\/login;/);
  });

  it("clears the cookie after a successful login, and leaves the other tabs' cookies alone", async () => {
    const app = newApp();
    const agent = request.agent(app);
    const first = await start(agent, '?returnTo=/one');
    const second = await start(agent, '?returnTo=/two');
    expect(txCookies(agent).size).toBe(2);
    const done = await agent.get(first.callback).expect(302);
    expect(done.headers.location).toBe('/one');
    expect(setCookies(done, 'oidc.tx.')).toEqual([
      `${first.cookie.split('=')[0]}=; Path=/callback; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax`,
    ]);
    expect([...txCookies(agent).keys()]).toEqual([second.cookie.split('=')[0]]);
    expect((await agent.get(second.callback).expect(302)).headers.location).toBe('/two');
    expect(txCookies(agent).size).toBe(0);
    expect(op.counts.token).toBe(2);
  });

  it('clears the cookie after a failed login too', async () => {
    const agent = request.agent(newApp());
    op.onToken = () => ({ status: 400, body: { error: 'invalid_grant' } });
    const { callback } = await start(agent);
    await expectRefused(await agent.get(callback), 400, 'ERR_OIDC_TOKEN_REJECTED');
    expect(txCookies(agent).size).toBe(0);
  });

  it.each<[string, (value: string) => string]>([
    ['a changed ciphertext', (v) => v.slice(0, 30) + (v[30] === 'A' ? 'B' : 'A') + v.slice(31)],
    ['a cut-off value', (v) => v.slice(0, 40)],
    ['garbage', () => 'not-a-sealed-value'],
    ['another key id', (v) => `v1.AAAAAA${v.slice(9)}`],
  ])(
    'refuses %s with 400 ERR_OIDC_TRANSACTION_INVALID before any token request, and clears it',
    async (_name, tamper) => {
      const app = newApp();
      const { callback, cookie, browser } = await start(request(app));
      const [name, value] = [cookie.slice(0, cookie.indexOf('=')), cookie.slice(cookie.indexOf('=') + 1)];
      const res = await callbackWith(app, callback, `${name}=${tamper(value)}`, browser);
      await expectRefused(res, 400, 'ERR_OIDC_TRANSACTION_INVALID');
      expect(setCookies(res, `${name}=;`)).toHaveLength(1);
      expect(op.counts.token).toBe(0);
      // The untouched cookie still works: nothing was used up by the forgery.
      await callbackWith(app, callback, cookie, browser).expect(302);
    },
  );

  it("refuses a cookie moved to another login's name (the name is bound in the seal)", async () => {
    const app = newApp();
    const a = await start(request(app));
    const b = await start(request(app));
    const swapped = `${b.cookie.split('=')[0]}=${a.cookie.slice(a.cookie.indexOf('=') + 1)}`;
    await expectRefused(await callbackWith(app, b.callback, swapped, b.browser), 400, 'ERR_OIDC_TRANSACTION_INVALID');
    expect(op.counts.token).toBe(0);
  });

  it('refuses a cookie sealed by another app (another secret), saying that every instance needs the same secret', async () => {
    const one = newApp({ secret: SECRET_A });
    const other = newApp({ secret: SECRET_B });
    const { callback, cookie, browser } = await start(request(one));
    const res = await callbackWith(other, callback, cookie, browser);
    await expectRefused(res, 400, 'ERR_OIDC_TRANSACTION_INVALID');
    expect(res.body.message).toMatch(/same "secret"/);
    // A cookie sealed with the key derived from the client secret does not open with "secret" either.
    const derived = await start(request(newApp()));
    await expectRefused(
      await callbackWith(one, derived.callback, derived.cookie, derived.browser),
      400,
      'ERR_OIDC_TRANSACTION_INVALID',
    );
  });

  it('opens a cookie sealed before a rotation ([new, old]), and no longer once the old secret is dropped', async () => {
    const before = newApp({ secret: SECRET_A });
    const during = newApp({ secret: [SECRET_B, SECRET_A] });
    const after = newApp({ secret: SECRET_B });
    const first = await start(request(before));
    await callbackWith(during, first.callback, first.cookie, first.browser).expect(302);
    const second = await start(request(before));
    await expectRefused(
      await callbackWith(after, second.callback, second.cookie, second.browser),
      400,
      'ERR_OIDC_TRANSACTION_INVALID',
    );
    // What the rotated app seals, the new one alone opens.
    const third = await start(request(during));
    await callbackWith(after, third.callback, third.cookie, third.browser).expect(302);
  });

  it('finishes a login on another instance with the same key (no shared store needed)', async () => {
    const { callback, cookie, browser } = await start(request(newApp()));
    const res = await callbackWith(newApp(), callback, cookie, browser).expect(302);
    expect(setCookies(res, 'sid=')).toHaveLength(1);
  });

  it('refuses an expired cookie by the time sealed in it, even when the browser still sends it', async () => {
    const app = newApp({ transactionMaxAge: 60_000 });
    const { callback, cookie, browser } = await start(request(app));
    const clock = fakeClock();
    clock.advance(61);
    await expectRefused(await callbackWith(app, callback, cookie, browser), 400, 'ERR_OIDC_TRANSACTION_EXPIRED');
    expect(op.counts.token).toBe(0);
  });

  it("a login started in one browser and finished in another fails cleanly, and the other browser's own login is untouched", async () => {
    const app = newApp();
    const victim = request.agent(app);
    const { callback } = await start(victim);
    const other = request.agent(app);
    const own = await start(other);
    await expectRefused(await other.get(callback), 400, 'ERR_OIDC_MISSING_TRANSACTION');
    expect(op.counts.token).toBe(0);
    expect(txCookies(other).size).toBe(1);
    await other.get(own.callback).expect(302);
    // A browser without any cookie, too.
    await expectRefused(await request(app).get(callback), 400, 'ERR_OIDC_MISSING_TRANSACTION');
  });

  it('a replayed callback (with a copy of the cookie) makes no second token request on this instance', async () => {
    const app = newApp();
    const agent = request.agent(app);
    const { callback, cookie, browser } = await start(agent);
    await agent.get(callback).expect(302);
    // Logged in: the back button goes home.
    expect((await agent.get(callback).expect(302)).headers.location).toBe('/');
    // Someone else with a copy of the cookie: refused before the provider is asked again.
    await expectRefused(await callbackWith(app, callback, cookie, browser), 400, 'ERR_OIDC_MISSING_TRANSACTION');
    expect(op.counts.token).toBe(1);
    // Another instance does ask: the provider's single-use code refuses it.
    await expectRefused(await callbackWith(newApp(), callback, cookie, browser), 400, 'ERR_OIDC_TOKEN_REJECTED');
  });

  it('keeps at most maxPendingLogins cookies however often a page sends the browser to /login: the newest, under 6 KB', async () => {
    const app = newApp();
    const agent = request.agent(app);
    const started: { callback: string; cookie: string }[] = [];
    for (let i = 0; i < 40; i++) started.push(await start(agent));
    const held = txCookies(agent);
    expect([...held.keys()].sort()).toEqual(
      started
        .slice(-5)
        .map((s) => s.cookie.split('=')[0])
        .sort(),
    );
    const header = [...held].map(([k, v]) => `${k}=${v}`).join('; ');
    expect(header.length).toBeLessThan(6 * 1024);
    // The newest ones work; the oldest were dropped.
    await agent.get(started[39]!.callback).expect(302);
    await expectRefused(await request.agent(app).get(started[0]!.callback), 400, 'ERR_OIDC_MISSING_TRANSACTION');
  });

  it("keeps the cookies under 6 KB with long returnTo paths: a login whose returnTo would push another tab's out returns to defaultReturnTo instead", async () => {
    const agent = request.agent(newApp());
    const long = `/${'x'.repeat(2000)}`;
    const short = await start(agent, '?returnTo=/a');
    // About 3 KB each: the second would only fit by pushing the first tab's login out.
    const first = await start(agent, `?returnTo=${encodeURIComponent(long)}`);
    const second = await start(agent, `?returnTo=${encodeURIComponent(long)}`);
    const header = [...txCookies(agent)].map(([k, v]) => `${k}=${v}`).join('; ');
    expect(header.length).toBeLessThan(6 * 1024);
    // Nobody was pushed out: every login started still has its cookie.
    expect([...txCookies(agent).keys()].sort()).toEqual(
      [short, first, second].map((s) => s.cookie.split('=')[0]).sort(),
    );
    expect((await agent.get(short.callback).expect(302)).headers.location).toBe('/a');
    expect((await agent.get(first.callback).expect(302)).headers.location).toBe(long);
    expect((await agent.get(second.callback).expect(302)).headers.location).toBe('/');
  });

  it('a pending login whose cookie would pass ~4,000 bytes (browsers drop it) returns to defaultReturnTo', async () => {
    const agent = request.agent(newApp());
    const long = `/${'x'.repeat(2000)}`;
    const acr = Array.from({ length: 10 }, (_, i) => `urn:acr:${i}:${'a'.repeat(80)}`).join(' ');
    const { cookie } = await start(
      agent,
      `?returnTo=${encodeURIComponent(long)}&acr_values=${encodeURIComponent(acr)}`,
    );
    expect(cookie.length).toBeLessThanOrEqual(4000);
    // Still the step-up it asked for: only returnTo gave way.
    expect(cookie.length).toBeGreaterThan(1000);
  });

  it('ignores a malformed directory cookie and another cookie of the same name (only ours opens)', async () => {
    const app = newApp();
    const res = await request(app)
      .get('/login')
      .set('Cookie', 'oidc.pending=<script>; oidc.pending=a:b.c:d')
      .expect(302);
    expect(setCookies(res, 'oidc.pending=')[0]).toMatch(/^oidc\.pending=[A-Za-z0-9_-]{8}:\d+;/);
    const { callback, cookie, browser } = await start(request(app));
    const name = cookie.split('=')[0]!;
    // A cookie of the same name planted by a sibling subdomain comes first: ours is still found.
    await callbackWith(app, callback, `${name}=v1.AAAAAA.planted; ${cookie}`, browser).expect(302);
  });

  it('works with maxPendingLogins: 1 (the newest login only)', async () => {
    const agent = request.agent(newApp({ maxPendingLogins: 1 }));
    const first = await start(agent);
    const second = await start(agent);
    expect([...txCookies(agent).keys()]).toEqual([second.cookie.split('=')[0]]);
    await expectRefused(await agent.get(first.callback), 400, 'ERR_OIDC_MISSING_TRANSACTION');
    await agent.get(second.callback).expect(302);
  });
});
