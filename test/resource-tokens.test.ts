import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryStore } from 'express-session';
import { errors } from 'oidc-provider';
import type { OidcLoginOptions } from '../lib/index.js';
import { MAX_RESOURCE_TOKENS } from '../lib/options/defaults.js';
import { createApp, testOptions } from './support/app.js';
import { login, newBrowser, type Browser } from './support/flow.js';
import { startProvider, type TestProvider } from './support/provider.js';
import { patchStoredLogin, storedLogin, tapRefreshGrants, type RefreshTap } from './support/refresh-kit.js';
import { tokenPayload } from './support/stored-login.js';

/**
 * Access tokens for several APIs: `req.oidc.getAccessToken({ resource, scope })` and
 * `req.oidc.fetch(url, { resource })` against a real oidc-provider with its `resourceIndicators`
 * feature: two resource servers with audience-restricted JWT access tokens, asked for at login
 * (RFC 8707 §2.1) and fetched with the refresh grant (§2.2).
 */

const ORDERS = 'https://orders.example/';
const STOCK = 'https://stock.example/';
const SCOPE = 'openid profile email offline_access orders:read stock:read';
const RESOURCE_SERVERS: Record<string, { scope: string }> = {
  [ORDERS]: { scope: 'orders:read' },
  [STOCK]: { scope: 'stock:read' },
};

let op: TestProvider;
let tap: RefreshTap;
/** A resource server that answers with the Authorization and DPoP headers it got. */
let api: Server;
let apiUrl: string;

beforeAll(async () => {
  op = await startProvider({
    configuration: {
      features: {
        devInteractions: { enabled: true },
        rpInitiatedLogout: { enabled: true },
        revocation: { enabled: true },
        dPoP: { enabled: true },
        resourceIndicators: {
          enabled: true,
          getResourceServerInfo: (_ctx, indicator) => {
            const server = RESOURCE_SERVERS[indicator];
            if (!server) throw new errors.InvalidTarget();
            return {
              scope: server.scope,
              audience: indicator,
              accessTokenFormat: 'jwt',
              accessTokenTTL: 3600,
              jwt: { sign: { alg: 'RS256' } },
            };
          },
        },
      },
    },
  });
  tap = tapRefreshGrants(op);
  api = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ authorization: req.headers.authorization ?? null, dpop: req.headers.dpop ?? null }));
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', () => resolve()));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
});
afterAll(async () => {
  tap.detach();
  await op.close();
  await new Promise((resolve) => api.close(resolve));
});

interface LoggedIn {
  browser: Browser;
  store: MemoryStore;
  sessionId: string;
}

function appOptions(overrides: Partial<OidcLoginOptions> = {}): OidcLoginOptions {
  return testOptions(op, { scope: SCOPE, resources: [ORDERS, STOCK], ...overrides });
}

async function loggedIn(options: OidcLoginOptions = appOptions()): Promise<LoggedIn> {
  const store = new MemoryStore();
  const { app } = createApp(options, {
    store,
    routes: (app) => {
      app.get('/api-token', async (req, res, next) => {
        try {
          const resource = typeof req.query.resource === 'string' ? req.query.resource : undefined;
          const scope = typeof req.query.scope === 'string' ? req.query.scope : undefined;
          res.json({ accessToken: await req.oidc!.getAccessToken({ resource, scope }) });
        } catch (err) {
          next(err);
        }
      });
      app.get('/api-tokens', async (req, res, next) => {
        try {
          const n = Number(req.query.n);
          const tokens = await Promise.all(
            Array.from({ length: n }, () => req.oidc!.getAccessToken({ resource: String(req.query.resource) })),
          );
          res.json({ tokens });
        } catch (err) {
          next(err);
        }
      });
      app.get('/call-api', async (req, res, next) => {
        try {
          const answer = await req.oidc!.fetch(`${apiUrl}/orders`, { resource: ORDERS });
          res.json(await answer.json());
        } catch (err) {
          next(err);
        }
      });
    },
  });
  const browser = newBrowser(app, op.issuer);
  await login(browser).then((res) => expect(res.status).toBe(302));
  const probe = await browser.app.get('/probe/oidc').expect(200);
  return { browser, store, sessionId: probe.body.sessionId as string };
}

async function tokenFor(browser: Browser, resource: string, scope?: string): Promise<string> {
  const query = new URLSearchParams({ resource, ...(scope && { scope }) });
  const res = await browser.app.get(`/api-token?${query}`);
  expect({ status: res.status, body: res.body }).toMatchObject({ status: 200 });
  return res.body.accessToken as string;
}

describe('getAccessToken({ resource })', () => {
  it("returns an audience-restricted token per API, kept in the session; the login's own token stays", async () => {
    const { browser, store, sessionId } = await loggedIn();
    const before = await storedLogin(store, sessionId);
    tap.reset();

    const orders = await tokenFor(browser, ORDERS);
    const stock = await tokenFor(browser, STOCK);
    expect(tokenPayload(orders)).toMatchObject({ aud: ORDERS, scope: 'orders:read' });
    expect(tokenPayload(stock)).toMatchObject({ aud: STOCK, scope: 'stock:read' });
    expect(tap.succeeded).toBe(2);

    // Kept: the second call asks the provider nothing.
    expect(await tokenFor(browser, ORDERS)).toBe(orders);
    expect(tap.succeeded).toBe(2);

    const after = (await storedLogin(store, sessionId))!;
    expect(after.accessToken).toBe(before!.accessToken);
    expect(Object.keys(after.resources!)).toEqual([ORDERS, STOCK]);
    // Rotated at each use: the login keeps the newest refresh token, and it still works.
    expect(after.refreshToken).not.toBe(before!.refreshToken);
    const res = await browser.app.get('/probe/oidc').expect(200);
    expect(res.body.refreshToken).toBe(after.refreshToken);
    // What a cached API token costs the session, in bytes.
    const bytes = Buffer.byteLength(JSON.stringify({ [ORDERS]: after.resources![ORDERS] }));
    expect(bytes).toBeLessThan(1500);
  });

  it('fetches a new token once the kept one expires', async () => {
    const { browser, store, sessionId } = await loggedIn();
    const first = await tokenFor(browser, ORDERS);
    await patchStoredLogin(store, sessionId, (login) => {
      login.resources![ORDERS]!.expiresAt = Math.floor(Date.now() / 1000) - 1;
    });
    tap.reset();
    const second = await tokenFor(browser, ORDERS);
    expect(second).not.toBe(first);
    expect(tap.succeeded).toBe(1);
  });

  it('asks once for concurrent calls of one session and resource', async () => {
    const { browser } = await loggedIn();
    tap.reset();
    const res = await browser.app.get(`/api-tokens?n=5&resource=${encodeURIComponent(ORDERS)}`).expect(200);
    expect(new Set(res.body.tokens).size).toBe(1);
    expect(tap.succeeded).toBe(1);
    expect(tap.failed).toEqual([]);
  });

  it('uses the refresh token one at a time: two APIs at once in one session both succeed with rotation', async () => {
    const { browser } = await loggedIn();
    tap.reset();
    const [a, b] = await Promise.all([
      browser.app.get(`/api-token?resource=${encodeURIComponent(ORDERS)}`),
      browser.app.get(`/api-token?resource=${encodeURIComponent(STOCK)}`),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(tap.failed).toEqual([]);
    // The session kept the refresh token of the last use: the next refresh works.
    await browser.app.get(`/api-token?resource=${encodeURIComponent(ORDERS)}&scope=orders:read`).expect(200);
    expect(tap.failed).toEqual([]);
  });

  it('keeps at most MAX_RESOURCE_TOKENS per session, the least recently fetched dropped first', async () => {
    const { browser, store, sessionId } = await loggedIn();
    await tokenFor(browser, ORDERS);
    // Fill the session with tokens of other (made-up) keys, as if many APIs had been called.
    await patchStoredLogin(store, sessionId, (login) => {
      for (let i = 0; i < MAX_RESOURCE_TOKENS; i++) {
        login.resources![`https://api${i}.example/`] = { accessToken: `t${i}`, tokenType: 'bearer' };
      }
    });
    await tokenFor(browser, STOCK);
    const kept = Object.keys((await storedLogin(store, sessionId))!.resources!);
    expect(kept).toHaveLength(MAX_RESOURCE_TOKENS);
    expect(kept).not.toContain(ORDERS);
    expect(kept.at(-1)).toBe(STOCK);
  });

  it("answers the provider's refusal with 403 ERR_OIDC_RESOURCE_REFUSED and its error; the login stays", async () => {
    // Only the orders API asked for at login: the refresh token does not cover the stock API.
    const { browser } = await loggedIn(appOptions({ resources: undefined, authorizationParams: { resource: ORDERS } }));
    const res = await browser.app.get(`/api-token?resource=${encodeURIComponent(STOCK)}`);
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('ERR_OIDC_RESOURCE_REFUSED');
    expect(res.body.message).toContain('invalid_target');
    // (oidc-provider has rotated the refresh token before refusing: its grant is spent. With
    // "resources" listed, a resource not asked for at login is refused before any request.)
    expect((await browser.app.get('/probe/oidc')).body.isAuthenticated).toBe(true);
  });

  it('refuses a resource that is not in "resources", or not an absolute URI, as a mistake of the code', async () => {
    const { browser } = await loggedIn();
    for (const resource of ['https://not-listed.example/', 'orders', 'https://orders.example/#x']) {
      const res = await browser.app.get(`/api-token?resource=${encodeURIComponent(resource)}`);
      expect({ resource, status: res.status }).toEqual({ resource, status: 500 });
      expect(res.body.code).toBe('ERR_INVALID_ARG_VALUE');
    }
  });

  it('without a refresh token: 403 ERR_OIDC_NO_REFRESH_TOKEN that says to ask for offline_access', async () => {
    const { browser, store, sessionId } = await loggedIn();
    // As from a provider that issues refresh tokens only for offline_access, which was not asked for.
    await patchStoredLogin(store, sessionId, (login) => {
      delete login.refreshToken;
    });
    const res = await browser.app.get(`/api-token?resource=${encodeURIComponent(ORDERS)}`);
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('ERR_OIDC_NO_REFRESH_TOKEN');
    expect(res.body.message).toContain('offline_access');
  });
});

describe('fetch(url, { resource })', () => {
  it("sends the API's own token", async () => {
    const { browser } = await loggedIn();
    const res = await browser.app.get('/call-api').expect(200);
    const token = /^Bearer (.+)$/.exec(res.body.authorization as string)![1]!;
    expect(tokenPayload(token).aud).toBe(ORDERS);
    expect(res.body.dpop).toBeNull();
  });

  it('with DPoP: the token is bound to the login key, and sent with a proof', async () => {
    const { browser } = await loggedIn(appOptions({ dpop: true }));
    const res = await browser.app.get('/call-api').expect(200);
    const token = /^DPoP (.+)$/.exec(res.body.authorization as string)![1]!;
    const payload = tokenPayload(token);
    expect(payload.aud).toBe(ORDERS);
    expect(payload.cnf).toEqual({ jkt: expect.any(String) });
    expect(typeof res.body.dpop).toBe('string');
  });
});
