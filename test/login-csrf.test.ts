import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Cookie } from 'cookiejar';
import type { OidcLoginOptions } from '../lib/index.js';
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
import { countGrants } from './support/refresh-kit.js';
import { useProvider } from './support/use-provider.js';

/**
 * Login CSRF by cookie tossing: an attacker starts a login as himself, keeps what the app gave his
 * browser for the callback (the sealed pending-login cookie, or in session mode the session
 * cookie) and the provider's redirect, plants those cookies in a victim's browser (a sibling
 * subdomain can set `Domain=.example.com; Path=/callback`, and so can anyone over plain http) and
 * sends the victim to the callback URL. Without a binding to the browser that started the login,
 * the victim was logged in as the attacker. The browser-binding cookie (`__Host-` on https) is
 * required at the callback: nobody is logged in.
 */

const op = useProvider();

/** Token requests for a code the provider received (answered or refused). */
let codeGrants: ReturnType<typeof countGrants>;
beforeAll(() => {
  codeGrants = countGrants(op, 'authorization_code');
});
afterAll(() => codeGrants.detach());
const tokenRequests = () => codeGrants.counts.succeeded + codeGrants.counts.failed.length;

/** A cookie, as a sibling subdomain would set it for the app's callback, put in the agent's jar. */
function plant(browser: Browser, nameValue: string, path = '/callback'): void {
  const cookie = new Cookie(`${nameValue}; Path=${path}`);
  cookie.domain = '127.0.0.1';
  browser.app.jar.setCookie(cookie);
}

/** The attacker's login, up to the provider's redirect (not followed): its callback URL and his cookies. */
async function attackersLogin(app: Parameters<typeof newBrowser>[0]) {
  const attacker = newBrowser(app, op.issuer);
  const start = await attacker.app.get('/login').expect(302);
  const callback = await authorizeAt(attacker, new URL(start.headers.location!), 'mallory');
  return { attacker, callback, setCookies: setCookies(start) };
}

const probe = async (browser: Browser) => (await browser.app.get('/probe/oidc').expect(200)).body;

describe.each<['cookie' | 'session', Partial<OidcLoginOptions>]>([
  ['cookie', {}],
  ['session', { pendingLogins: 'session' }],
])('pendingLogins: %s', (mode, options) => {
  /** What the attacker plants: his pending-login cookie, or his session cookie in session mode. */
  function plantAttackers(victim: Browser, attacker: Awaited<ReturnType<typeof attackersLogin>>): void {
    if (mode === 'cookie') {
      for (const [name, value] of txCookies(attacker.attacker.app)) plant(victim, `${name}=${value}`);
    } else {
      const sid = attacker.setCookies.find((c) => c.startsWith('sid='))!.split(';')[0]!;
      plant(victim, sid);
    }
  }

  it("an attacker's pending login planted in a victim's browser (no binding cookie there): 400, nobody logged in", async () => {
    const { app } = createApp(testOptions(op, options));
    const attack = await attackersLogin(app);
    const victim = newBrowser(app, op.issuer);
    plantAttackers(victim, attack);
    const before = tokenRequests();
    const res = await visitCallback(victim, attack.callback);
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 400, code: 'ERR_OIDC_TRANSACTION_INVALID' });
    expect(res.body.message).toMatch(/not started in this browser/);
    expect(tokenRequests()).toBe(before);
    expect((await probe(victim)).isAuthenticated).toBe(false);
  });

  it('the same, in a browser that has a binding cookie of its own (it started a login too): 400, nobody logged in', async () => {
    const { app } = createApp(testOptions(op, options));
    const attack = await attackersLogin(app);
    const victim = newBrowser(app, op.issuer);
    await startLogin(victim);
    plantAttackers(victim, attack);
    const res = await visitCallback(victim, attack.callback);
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 400, code: 'ERR_OIDC_TRANSACTION_INVALID' });
    expect((await probe(victim)).isAuthenticated).toBe(false);
  });

  if (mode === 'cookie') {
    it("a logged-in victim stays logged in as herself: the attacker's login does not replace hers", async () => {
      const { app } = createApp(testOptions(op, options));
      const victim = newBrowser(app, op.issuer);
      expect((await login(victim, { account: 'alice' })).status).toBe(302);
      const attack = await attackersLogin(app);
      plantAttackers(victim, attack);
      const res = await visitCallback(victim, attack.callback);
      expect({ status: res.status, code: res.body.code }).toEqual({
        status: 400,
        code: 'ERR_OIDC_TRANSACTION_INVALID',
      });
      expect((await probe(victim)).claims.sub).toBe('alice');
    });
  }

  it('the browser that started the login finishes it (the binding cookie comes along)', async () => {
    const { app } = createApp(testOptions(op, options));
    const browser = newBrowser(app, op.issuer);
    expect((await login(browser, { account: 'bob' })).status).toBe(302);
    expect((await probe(browser)).claims.sub).toBe('bob');
  });
});

describe('the binding cookie', () => {
  it('is one per browser: kept across logins (several tabs share it), renewed with each', async () => {
    const { app } = createApp(testOptions(op));
    const browser = newBrowser(app, op.issuer);
    const first = setCookies(await browser.app.get('/login').expect(302), 'oidc.browser=')[0]!;
    const second = setCookies(await browser.app.get('/login').expect(302), 'oidc.browser=')[0]!;
    expect(first).toMatch(/^oidc\.browser=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=660; .*HttpOnly; SameSite=Lax$/);
    expect(second.split(';')[0]).toBe(first.split(';')[0]);
    const other = setCookies(await newBrowser(app, op.issuer).app.get('/login').expect(302), 'oidc.browser=')[0]!;
    expect(other.split(';')[0]).not.toBe(first.split(';')[0]);
  });
});
