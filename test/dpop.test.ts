import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import express from 'express';
import session, { MemoryStore, type Store } from 'express-session';
import createDebug from 'debug';
import { calculateJwkThumbprint, type JWK } from 'jose';
import * as client from 'openid-client';
import request from 'supertest';
import type { ClientMetadata } from 'oidc-provider';
import { oidcLogin, requireAuth, type OidcLoginOptions, type StoredLogin } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { expectConfigError } from './support/config-error.js';
import { login, newBrowser, type Browser } from './support/flow.js';
import {
  ACCOUNTS,
  APP_BASE_URL,
  CLIENT_ID,
  CLIENT_SECRET,
  REDIRECT_URI,
  startProvider,
  type TestProvider,
} from './support/provider.js';
import {
  closedPort,
  expireAccessToken,
  hostileAttempt,
  serve,
  storedLogin,
  type Served,
} from './support/refresh-kit.js';
import { startResourceServer, type ResourceServer } from './support/resource-server.js';
import { useHostileProvider } from './support/use-hostile-provider.js';
import { useProvider } from './support/use-provider.js';

/**
 * DPoP (RFC 9449): a key pair per login, kept with the login in the session store; DPoP-bound
 * tokens at the code exchange and every refresh; proofs at userinfo and in req.oidc.fetch() (with
 * nonce retries at the provider and at resource servers); refusal of tokens that are not bound;
 * Bearer for logins without DPoP. Against real oidc-provider instances whose client requires
 * DPoP-bound tokens (`dpop_bound_access_tokens`), and a resource server that checks the proofs.
 */

const SCOPE = 'openid profile email offline_access';
const RS_CLIENT_ID = 'resource-server';
const RS_SECRET = 'resource-server-secret-0123456789abcdef';
/** A client of the same provider without DPoP, for Bearer logins. */
const PLAIN_CLIENT_ID = 'plain-app';
const ALL_ALGS = ['ES256', 'ES384', 'EdDSA', 'Ed25519'] as const;

function clients(): ClientMetadata[] {
  const app: Omit<ClientMetadata, 'client_id'> = {
    client_secret: CLIENT_SECRET,
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    post_logout_redirect_uris: [`${APP_BASE_URL}/`],
  };
  return [
    { client_id: CLIENT_ID, ...app, dpop_bound_access_tokens: true },
    { client_id: PLAIN_CLIENT_ID, ...app },
    { client_id: RS_CLIENT_ID, client_secret: RS_SECRET, grant_types: [], response_types: [], redirect_uris: [] },
  ];
}

interface Seen {
  path: '/token' | '/me';
  status: number;
  error?: string;
}

interface DPoPProvider {
  op: TestProvider;
  /** What the token and userinfo endpoints answered, in order (from oidc-provider's events). */
  seen: Seen[];
}

/**
 * oidc-provider with DPoP (`dPoP` merged over its defaults) and introspection for the resource
 * server. Its answers are observed through its own events (`grant.success`, `grant.error`,
 * `userinfo.error`) and the account lookup that only a valid userinfo request reaches.
 */
async function dpopProvider(dPoP: Record<string, unknown> = {}): Promise<DPoPProvider> {
  const seen: Seen[] = [];
  const op = await startProvider({
    clients: clients(),
    configuration: {
      features: {
        devInteractions: { enabled: true },
        rpInitiatedLogout: { enabled: true },
        revocation: { enabled: true },
        introspection: { enabled: true, allowedPolicy: async (ctx) => ctx.oidc.client?.clientId === RS_CLIENT_ID },
        dPoP: { enabled: true, ...dPoP },
      },
      enabledJWA: { dPoPSigningAlgValues: [...ALL_ALGS] },
      findAccount: (ctx, sub) => {
        if (ctx.oidc?.route === 'userinfo') seen.push({ path: '/me', status: 200 });
        return { accountId: sub, claims: () => ({ sub, ...(ACCOUNTS[sub] ?? { name: sub }) }) };
      },
    },
  });
  type Failure = { error?: string; statusCode?: number };
  op.provider.on('grant.success', () => seen.push({ path: '/token', status: 200 }));
  op.provider.on('grant.error', (_ctx: unknown, err: Failure) =>
    seen.push({ path: '/token', status: err.statusCode ?? 0, error: err.error ?? '' }),
  );
  op.provider.on('userinfo.error', (_ctx: unknown, err: Failure) =>
    seen.push({ path: '/me', status: err.statusCode ?? 0, error: err.error ?? '' }),
  );
  return { op, seen };
}

const servers: Served[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

interface DPoPApp {
  url: string;
  store: Store;
}

/**
 * express + express-session + oidcLogin, with probes: `/probe/oidc`, `/token` (getAccessToken,
 * `?force` to refresh now), `/userinfo` (fetchUserInfo), `/call?url=&method=&body=` (req.oidc.fetch,
 * answering what the resource server said), `/protected` (requireAuth).
 */
async function dpopApp(options: OidcLoginOptions, store: Store = new MemoryStore()): Promise<DPoPApp> {
  const { app } = createApp(options, {
    store,
    probes: false,
    routes: (app) => {
      app.get('/probe/oidc', (req, res) => {
        const oidc = req.oidc!;
        res.json({
          isAuthenticated: oidc.isAuthenticated(),
          sub: oidc.claims?.sub ?? null,
          tokenType: oidc.tokenType ?? null,
          accessToken: oidc.accessToken ?? null,
          refreshToken: oidc.refreshToken ?? null,
          sessionId: req.sessionID,
        });
      });
      app.get('/token', async (req, res, next) => {
        try {
          res.json({ accessToken: await req.oidc!.getAccessToken({ forceRefresh: req.query.force !== undefined }) });
        } catch (err) {
          next(err);
        }
      });
      app.get('/userinfo', async (req, res, next) => {
        try {
          res.json({ user: await req.oidc!.fetchUserInfo() });
        } catch (err) {
          next(err);
        }
      });
      app.get('/call', async (req, res, next) => {
        try {
          const method = typeof req.query.method === 'string' ? req.query.method : undefined;
          const body = typeof req.query.body === 'string' ? req.query.body : undefined;
          const abortAfter = typeof req.query.abortAfter === 'string' ? Number(req.query.abortAfter) : undefined;
          const r = await req.oidc!.fetch(String(req.query.url), {
            ...(method && { method }),
            ...(abortAfter !== undefined && { signal: AbortSignal.timeout(abortAfter) }),
            ...(body !== undefined && { body: req.query.stream === undefined ? body : new Blob([body]).stream() }),
            // The app's own headers go through; an Authorization or DPoP of its own is replaced.
            headers: { 'x-request-id': 'r-1', authorization: 'Basic c3B5OnNweQ==', dpop: 'not-a-proof' },
          });
          res.json({ status: r.status, location: r.headers.get('location'), body: await r.text() });
        } catch (err) {
          next(err);
        }
      });
      app.get('/protected', requireAuth(), (req, res) => {
        res.json({ sub: req.oidc!.claims!.sub });
      });
    },
  });
  const s = await serve(app);
  servers.push(s);
  return { url: s.url, store };
}

async function loggedIn(
  target: DPoPApp,
  op: TestProvider,
): Promise<{ browser: Browser; sid: string; stored: StoredLogin; cookie: string }> {
  const browser = newBrowser(target.url, op.issuer);
  const res = await login(browser);
  expect(res.status).toBe(302);
  // The session cookie (the callback also clears the pending login's oidc.tx.* cookie).
  const cookie = ([] as string[])
    .concat(res.headers['set-cookie'] ?? [])
    .find((c) => !c.startsWith('oidc.'))!
    .split(';')[0]!;
  const probe = (await browser.app.get('/probe/oidc').expect(200)).body;
  expect(probe.isAuthenticated).toBe(true);
  return { browser, sid: probe.sessionId, stored: (await storedLogin(target.store, probe.sessionId))!, cookie };
}

async function introspect(
  op: TestProvider,
  token: string,
): Promise<{ active: boolean; cnf?: { jkt?: string }; token_type?: string }> {
  const res = await fetch(`${op.issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${RS_CLIENT_ID}:${RS_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }).toString(),
  });
  return (await res.json()) as { active: boolean; cnf?: { jkt?: string }; token_type?: string };
}

/** The provider's userinfo endpoint, called by hand: `Authorization` and an optional proof. */
function userinfoBy(op: TestProvider, authorization: string, proof?: string): Promise<Response> {
  return fetch(`${op.issuer}/me`, { headers: { authorization, ...(proof && { dpop: proof }) } });
}

/** A valid DPoP proof for GET `url` and `token`, signed with a key that is not the login's. */
function foreignProof(url: string, token: string): string {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64({ typ: 'dpop+jwt', alg: 'ES256', jwk: publicKey.export({ format: 'jwk' }) })}.${b64({
    jti: randomBytes(12).toString('base64url'),
    htm: 'GET',
    htu: url,
    iat: Math.floor(Date.now() / 1000),
    ath: createHash('sha256').update(token).digest('base64url'),
  })}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

const call = (browser: Browser, url: string, query: Record<string, string> = {}) =>
  browser.app.get('/call').query({ url, ...query });

describe('a provider whose client requires DPoP-bound tokens', () => {
  let op: TestProvider;
  let rs: ResourceServer;
  let seen: Seen[];
  beforeAll(async () => {
    ({ op, seen } = await dpopProvider());
    rs = await startResourceServer({ issuer: op.issuer, clientId: RS_CLIENT_ID, clientSecret: RS_SECRET });
  });
  afterAll(async () => {
    await rs.close();
    await op.close();
  });
  beforeEach(() => {
    rs.reset();
    seen.length = 0;
  });

  const options = (overrides: Partial<OidcLoginOptions> = {}) =>
    testOptions(op, { scope: SCOPE, dpop: true, logger: false, ...overrides });

  it("logs in with a DPoP-bound access token, the login's key kept in the session store as a JWK", async () => {
    const target = await dpopApp(options());
    const browser = newBrowser(target.url, op.issuer);
    const callback = await login(browser);
    expect(callback.status).toBe(302);
    const probe = (await browser.app.get('/probe/oidc').expect(200)).body;
    expect(probe.tokenType).toBe('dpop');

    // MemoryStore keeps sessions as JSON strings: this is the login after a JSON round-trip.
    const stored = (await storedLogin(target.store, probe.sessionId))!;
    expect(stored.dpop).toEqual({
      alg: 'ES256',
      jkt: expect.any(String),
      jwk: { kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), d: expect.any(String) },
    });
    const { d: _d, ...publicJwk } = stored.dpop!.jwk;
    expect(await calculateJwkThumbprint(publicJwk as JWK)).toBe(stored.dpop!.jkt);
    // The provider bound the access token to exactly that key.
    const info = await introspect(op, stored.accessToken);
    expect(info).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: stored.dpop!.jkt } });
    // The token request carried the proof at once (no nonce here), and nothing of the key is in a cookie.
    expect(seen.filter((s) => s.path === '/token')).toEqual([{ path: '/token', status: 200 }]);
    expect(String(callback.headers['set-cookie'])).not.toContain(stored.dpop!.jwk.d);
  });

  it('gives every login its own key', async () => {
    const target = await dpopApp(options());
    const a = await loggedIn(target, op);
    const b = await loggedIn(target, op);
    expect(a.stored.dpop!.jkt).not.toBe(b.stored.dpop!.jkt);
    expect(a.stored.dpop!.jwk.d).not.toBe(b.stored.dpop!.jwk.d);
  });

  it("req.oidc.fetch() calls the provider's userinfo endpoint with a proof, and the token is useless without one", async () => {
    const target = await dpopApp(options());
    const { browser, stored } = await loggedIn(target, op);
    const res = await call(browser, `${op.issuer}/me`).expect(200);
    expect(res.body.status).toBe(200);
    expect(JSON.parse(res.body.body)).toMatchObject({ sub: 'alice' });

    // The binding: the same token as a Bearer token, as DPoP without a proof, or with another key's proof.
    expect((await userinfoBy(op, `Bearer ${stored.accessToken}`)).status).toBe(401);
    expect((await userinfoBy(op, `DPoP ${stored.accessToken}`)).status).toBe(400);
    const foreign = await userinfoBy(
      op,
      `DPoP ${stored.accessToken}`,
      foreignProof(`${op.issuer}/me`, stored.accessToken),
    );
    expect(foreign.status).toBe(401);
    expect(foreign.headers.get('www-authenticate')).toMatch(/invalid_token/);
  });

  it('req.oidc.fetch() sends a proof the resource server verifies: htm, htu without the query, ath, iat, jti, jkt = cnf.jkt', async () => {
    const target = await dpopApp(options());
    const { browser, stored } = await loggedIn(target, op);
    const res = await call(browser, `${rs.url}/orders/42?expand=lines#top`, {
      method: 'post',
      body: '{"qty":2}',
    }).expect(200);
    expect(res.body.status).toBe(200);
    expect(JSON.parse(res.body.body)).toEqual({
      sub: 'alice',
      scheme: 'DPoP',
      jkt: stored.dpop!.jkt,
      body: '{"qty":2}',
    });

    const seen = rs.requests[0]!;
    expect(seen.method).toBe('POST');
    expect(seen.headers.authorization).toBe(`DPoP ${stored.accessToken}`);
    expect(seen.headers['x-request-id']).toBe('r-1');
    expect(seen.proof!.header).toEqual({
      typ: 'dpop+jwt',
      alg: 'ES256',
      jwk: { kty: 'EC', crv: 'P-256', x: stored.dpop!.jwk.x, y: stored.dpop!.jwk.y },
    });
    expect(seen.proof!.payload).toEqual({
      jti: expect.any(String),
      htm: 'POST',
      htu: `${rs.url}/orders/42`,
      iat: expect.any(Number),
      ath: createHash('sha256').update(stored.accessToken).digest('base64url'),
    });

    // Each request gets a fresh proof (a new jti): the resource server refuses replays.
    await call(browser, `${rs.url}/orders`).expect(200);
    await call(browser, `${rs.url}/orders`).expect(200);
    const jtis = rs.requests.map((r) => r.proof!.payload.jti);
    expect(new Set(jtis).size).toBe(3);
  });

  it('refreshes with a proof of the same key: the new access token has the same jkt, also on another instance after the store', async () => {
    const store = new MemoryStore();
    const first = await dpopApp(options(), store);
    const { browser, sid, stored, cookie } = await loggedIn(first, op);

    const refreshed = (await browser.app.get('/token?force').expect(200)).body.accessToken as string;
    expect(refreshed).not.toBe(stored.accessToken);
    expect(await introspect(op, refreshed)).toMatchObject({ active: true, cnf: { jkt: stored.dpop!.jkt } });
    const after = (await storedLogin(store, sid))!;
    expect(after.dpop).toEqual(stored.dpop);
    expect(after.tokenType).toBe('dpop');

    // Another instance (its own key cache) sharing the store: it imports the key from the session.
    const second = await dpopApp(options(), store);
    const other = (path: string) => request(second.url).get(path).set('Cookie', cookie);
    await expireAccessToken(store, sid);
    const res = await other('/call')
      .query({ url: `${rs.url}/me` })
      .expect(200);
    expect(JSON.parse(res.body.body)).toMatchObject({ scheme: 'DPoP', jkt: stored.dpop!.jkt });
    const third = (await storedLogin(store, sid))!;
    expect(third.accessToken).not.toBe(refreshed);
    expect(await introspect(op, third.accessToken)).toMatchObject({ active: true, cnf: { jkt: stored.dpop!.jkt } });
    expect(seen.filter((s) => s.path === '/token' && s.status !== 200)).toEqual([]);
  });

  it('fetchUserInfo: true at login and req.oidc.fetchUserInfo() send the proof', async () => {
    const target = await dpopApp(options({ fetchUserInfo: true }));
    const { browser, stored } = await loggedIn(target, op);
    expect(stored.user).toMatchObject({ sub: 'alice', email: 'alice@example.com' });
    expect((await browser.app.get('/userinfo').expect(200)).body.user).toMatchObject({ sub: 'alice' });
    expect(seen.filter((s) => s.path === '/me')).toEqual([
      { path: '/me', status: 200 },
      { path: '/me', status: 200 },
    ]);
  });

  it("imports a login's key once per process, and an authenticated request that makes no DPoP call does no key work", async () => {
    const store = new MemoryStore();
    const first = await dpopApp(options(), store);
    const { sid, cookie, stored } = await loggedIn(first, op);
    const second = await dpopApp(options(), store);
    const other = (path: string) => request(second.url).get(path).set('Cookie', cookie);
    const importKey = jest.spyOn(crypto.subtle, 'importKey');
    // Imports of this login's private key (the in-process provider imports the public one from
    // each proof, and jose the provider's ID token keys).
    const imports = () =>
      importKey.mock.calls.filter(
        (args) => (args as unknown[])[0] === 'jwk' && (args[1] as JsonWebKey).d === stored.dpop!.jwk.d,
      ).length;
    try {
      await other('/protected').expect(200);
      await other('/probe/oidc').expect(200);
      expect(imports()).toBe(0);
      await other('/token?force').expect(200);
      expect(imports()).toBe(1); // for openid-client's proofs at the token and userinfo endpoints
      await other('/token?force').expect(200);
      await other('/userinfo').expect(200);
      await expireAccessToken(store, sid);
      await other('/call')
        .query({ url: `${rs.url}/x` })
        .expect(200);
      expect(imports()).toBe(1);
    } finally {
      importKey.mockRestore();
    }
  });

  it("revokes a DPoP login's refresh token at logout", async () => {
    const target = await dpopApp(options());
    const { browser, stored } = await loggedIn(target, op);
    expect((await introspect(op, stored.refreshToken!)).active).toBe(true);
    await browser.app.post('/logout').set('Sec-Fetch-Site', 'same-origin').expect(303);
    expect((await introspect(op, stored.refreshToken!)).active).toBe(false);
    expect((await browser.app.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(false);
  });

  it('req.oidc.fetch() rejects with 401 ERR_OIDC_UNAUTHENTICATED when not logged in, sending nothing', async () => {
    const target = await dpopApp(options());
    const res = await request(target.url)
      .get('/call')
      .query({ url: `${rs.url}/x` })
      .expect(401);
    expect(res.body.code).toBe('ERR_OIDC_UNAUTHENTICATED');
    expect(rs.requests).toEqual([]);
  });

  it('an app without the dpop option cannot log in with this client: the provider requires the proof', async () => {
    const target = await dpopApp(options({ dpop: false }));
    const browser = newBrowser(target.url, op.issuer);
    const res = await login(browser);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('ERR_OIDC_TOKEN_REJECTED');
  });

  it('a login without DPoP (another client) gets Bearer tokens, and req.oidc.fetch() sends Bearer without a proof', async () => {
    const target = await dpopApp(options({ dpop: false, clientId: PLAIN_CLIENT_ID }));
    const { browser, stored } = await loggedIn(target, op);
    expect(stored.tokenType).toBe('bearer');
    expect(stored.dpop).toBeUndefined();
    const res = await call(browser, `${rs.url}/me`).expect(200);
    expect(JSON.parse(res.body.body)).toMatchObject({ sub: 'alice', scheme: 'Bearer', jkt: null });
    expect(rs.requests[0]!.headers.authorization).toBe(`Bearer ${stored.accessToken}`);
    expect(rs.requests[0]!.headers.dpop).toBeUndefined();
    // Refreshed first when expired, as getAccessToken() does.
    await expireAccessToken(target.store, (await browser.app.get('/probe/oidc')).body.sessionId);
    await call(browser, `${rs.url}/me`).expect(200);
    expect(rs.requests[1]!.headers.authorization).not.toBe(`Bearer ${stored.accessToken}`);
  });

  it('a plain OAuth 2.0 login (server, no openid) gets a DPoP-bound token and reads the profile with a proof', async () => {
    const { issuer: _issuer, ...rest } = options();
    const target = await dpopApp({
      ...rest,
      scope: 'profile offline_access',
      // The profile comes from the resource server, which answers { sub, scheme, jkt } after checking the proof.
      server: {
        authorizationEndpoint: `${op.issuer}/auth`,
        tokenEndpoint: `${op.issuer}/token`,
        userinfoEndpoint: `${rs.url}/profile`,
      },
    });
    const { browser, stored } = await loggedIn(target, op);
    expect(stored.idToken).toBeUndefined();
    expect(stored.tokenType).toBe('dpop');
    expect(stored.claims).toMatchObject({ sub: 'alice', scheme: 'DPoP', jkt: stored.dpop!.jkt });
    expect(rs.requests.map((r) => [r.path, r.proof?.payload.htu])).toEqual([['/profile', `${rs.url}/profile`]]);
    // fetchUserInfo() reads it again, with a proof.
    expect((await browser.app.get('/userinfo').expect(200)).body.user).toMatchObject({ sub: 'alice', scheme: 'DPoP' });
  });

  it('does not follow redirects: the token and proof go only to the URL given', async () => {
    const target = await dpopApp(options());
    const { browser } = await loggedIn(target, op);
    rs.override = (r) =>
      r.path === '/moved' ? { status: 302, headers: { location: `${rs.url}/elsewhere` } } : undefined;
    const res = await call(browser, `${rs.url}/moved`).expect(200);
    expect(res.body).toMatchObject({ status: 302, location: `${rs.url}/elsewhere` });
    expect(rs.requests.map((r) => r.path)).toEqual(['/moved']);
  });

  it('an unreachable resource server is 503 ERR_OIDC_RESOURCE_UNREACHABLE, one that hangs 504 ERR_OIDC_RESOURCE_TIMEOUT (httpTimeout)', async () => {
    const target = await dpopApp(options({ httpTimeout: 800 }));
    const { browser } = await loggedIn(target, op);
    const down = await call(browser, `http://127.0.0.1:${await closedPort()}/x`).expect(503);
    expect(down.body.code).toBe('ERR_OIDC_RESOURCE_UNREACHABLE');
    expect(down.headers['retry-after']).toBe('5');
    rs.override = () => 'hang';
    const started = Date.now();
    const slow = await call(browser, `${rs.url}/slow`).expect(504);
    expect(slow.body.code).toBe('ERR_OIDC_RESOURCE_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(3000);
    // Still logged in: a resource server's outage is not the login's.
    expect((await browser.app.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(true);
  });

  it("httpTimeout bounds the wait for the headers, not the body: a body still streaming is read whole, or cut by the caller's signal", async () => {
    // Headers and a first chunk at once, the rest 1.2 s later: after httpTimeout (800 ms).
    const slow = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk;');
      setTimeout(() => res.end('second chunk'), 1200);
    });
    servers.push(slow);
    const target = await dpopApp(options({ httpTimeout: 800 }));
    const { browser } = await loggedIn(target, op);
    const whole = await call(browser, `${slow.url}/report`).expect(200);
    expect(whole.body).toMatchObject({ status: 200, body: 'first chunk;second chunk' });
    // The caller's own signal still aborts the body, with its own reason.
    const cut = await call(browser, `${slow.url}/report`, { abortAfter: '400' }).expect(500);
    expect(cut.body.message).toMatch(/aborted due to timeout/);
  });

  it('never logs the private key', async () => {
    const lines: string[] = [];
    const previous = createDebug.log;
    const enabled = createDebug.disable();
    createDebug.log = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
    createDebug.enable('express-oidc-login:*');
    try {
      const target = await dpopApp(options());
      const { browser, sid, stored } = await loggedIn(target, op);
      await call(browser, `${rs.url}/x`).expect(200);
      await expireAccessToken(target.store, sid);
      await browser.app.get('/token').expect(200);
      await browser.app.post('/logout').set('Sec-Fetch-Site', 'same-origin').expect(303);
      expect(lines.length).toBeGreaterThan(5);
      expect(lines.join('\n')).not.toContain(stored.dpop!.jwk.d);
      expect(lines.join('\n')).toContain(stored.dpop!.jkt);
    } finally {
      createDebug.log = previous;
      createDebug.disable();
      if (enabled) createDebug.enable(enabled);
    }
  });
});

describe('a provider that requires DPoP nonces (features.dPoP.nonceSecret, requireNonce)', () => {
  let op: TestProvider;
  let rs: ResourceServer;
  let seen: Seen[];
  beforeAll(async () => {
    ({ op, seen } = await dpopProvider({ nonceSecret: randomBytes(32), requireNonce: () => true }));
    rs = await startResourceServer({ issuer: op.issuer, clientId: RS_CLIENT_ID, clientSecret: RS_SECRET });
  });
  afterAll(async () => {
    await rs.close();
    await op.close();
  });
  beforeEach(() => {
    rs.reset();
    seen.length = 0;
  });
  const options = (overrides: Partial<OidcLoginOptions> = {}) =>
    testOptions(op, { scope: SCOPE, dpop: true, logger: false, ...overrides });

  it("answers the token endpoint's use_dpop_nonce once at login, then uses the nonce for the refresh and userinfo", async () => {
    const target = await dpopApp(options());
    const { browser, stored } = await loggedIn(target, op);
    expect(stored.tokenType).toBe('dpop');
    expect(seen.filter((s) => s.path === '/token')).toEqual([
      { path: '/token', status: 400, error: 'use_dpop_nonce' },
      { path: '/token', status: 200 },
    ]);
    seen.length = 0;
    const refreshed = (await browser.app.get('/token?force').expect(200)).body.accessToken as string;
    expect(await introspect(op, refreshed)).toMatchObject({ active: true, cnf: { jkt: stored.dpop!.jkt } });
    expect((await browser.app.get('/userinfo').expect(200)).body.user).toMatchObject({ sub: 'alice' });
    // The nonce the provider gave is remembered for the login's key (DPoP-Nonce on each answer).
    expect(seen.map((s) => s.status)).toEqual([200, 200]);
  });

  it("req.oidc.fetch() retries the provider's userinfo once with its nonce", async () => {
    const target = await dpopApp(options());
    const { browser } = await loggedIn(target, op);
    seen.length = 0;
    const res = await call(browser, `${op.issuer}/me`).expect(200);
    expect(res.body.status).toBe(200);
    expect(JSON.parse(res.body.body)).toMatchObject({ sub: 'alice' });
    expect(seen).toEqual([
      { path: '/me', status: 401, error: 'use_dpop_nonce' },
      { path: '/me', status: 200 },
    ]);
  });

  it("req.oidc.fetch() retries a resource server's use_dpop_nonce once, then sends its nonce first time", async () => {
    const target = await dpopApp(options());
    const { browser } = await loggedIn(target, op);
    rs.requireNonce = true;
    const res = await call(browser, `${rs.url}/orders`, { method: 'POST', body: 'x=1' }).expect(200);
    expect(res.body.status).toBe(200);
    expect(rs.requests.map((r) => [r.method, r.body, r.proof?.payload.nonce])).toEqual([
      ['POST', 'x=1', undefined],
      ['POST', 'x=1', rs.nonce],
    ]);
    await call(browser, `${rs.url}/orders`).expect(200);
    expect(rs.requests).toHaveLength(3);
    expect(rs.requests[2]!.proof!.payload.nonce).toBe(rs.nonce);

    // A new nonce: one more round trip. A challenge that keeps failing is answered once, not in a loop.
    rs.nonce = randomBytes(12).toString('base64url');
    await call(browser, `${rs.url}/orders`).expect(200);
    expect(rs.requests).toHaveLength(5);
  });

  it('does not send a streamed body twice: the nonce challenge comes back to the app', async () => {
    const target = await dpopApp(options());
    const { browser } = await loggedIn(target, op);
    rs.requireNonce = true;
    const res = await call(browser, `${rs.url}/upload`, { method: 'PUT', body: 'streamed', stream: '1' }).expect(200);
    expect(res.body.status).toBe(401);
    expect(JSON.parse(res.body.body)).toEqual({ error: 'use_dpop_nonce', reason: 'nonce required' });
    expect(rs.requests).toHaveLength(1);
    expect(rs.requests[0]!.body).toBe('streamed');
    // The nonce is remembered: the next request carries it.
    await call(browser, `${rs.url}/upload`, { method: 'PUT', body: 'streamed', stream: '1' }).expect(200);
    expect(rs.requests[1]!.proof!.payload.nonce).toBe(rs.nonce);
  });
});

describe.each(ALL_ALGS.filter((a) => a !== 'ES256'))('dpop: { alg: %s }', (alg) => {
  let op: TestProvider;
  let rs: ResourceServer;
  beforeAll(async () => {
    ({ op } = await dpopProvider());
    rs = await startResourceServer({ issuer: op.issuer, clientId: RS_CLIENT_ID, clientSecret: RS_SECRET });
  });
  afterAll(async () => {
    await rs.close();
    await op.close();
  });

  it('logs in, refreshes and calls a resource server with proofs of that algorithm', async () => {
    const target = await dpopApp(testOptions(op, { scope: SCOPE, dpop: { alg }, logger: false }));
    const { browser, stored } = await loggedIn(target, op);
    expect(stored.dpop!.alg).toBe(alg);
    expect(await introspect(op, stored.accessToken)).toMatchObject({ cnf: { jkt: stored.dpop!.jkt } });
    const refreshed = (await browser.app.get('/token?force').expect(200)).body.accessToken as string;
    expect(await introspect(op, refreshed)).toMatchObject({ cnf: { jkt: stored.dpop!.jkt } });
    const res = await call(browser, `${rs.url}/me`).expect(200);
    expect(JSON.parse(res.body.body)).toMatchObject({ scheme: 'DPoP', jkt: stored.dpop!.jkt });
    expect(rs.requests[0]!.proof!.header.alg).toBe(alg);
    expect(Object.keys(rs.requests[0]!.proof!.header.jwk as object).sort()).toEqual(
      alg.startsWith('E') && alg !== 'EdDSA' && alg !== 'Ed25519'
        ? ['crv', 'kty', 'x', 'y']
        : alg.startsWith('Ed')
          ? ['crv', 'kty', 'x']
          : ['e', 'kty', 'n'],
    );
  });
});

describe('a provider with DPoP switched off (it ignores the proof and issues Bearer tokens)', () => {
  const op = useProvider({
    configuration: { features: { devInteractions: { enabled: true }, dPoP: { enabled: false } } },
  });

  it('refuses the login with 502 ERR_OIDC_DPOP_NOT_BOUND, stores nothing, and the start-up check says why', async () => {
    const lines: string[] = [];
    const target = await dpopApp(
      testOptions(op, {
        scope: SCOPE,
        dpop: true,
        logger: { warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) },
      }),
    );
    const browser = newBrowser(target.url, op.issuer);
    const res = await login(browser);
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('ERR_OIDC_DPOP_NOT_BOUND');
    expect(res.body.message).toMatch(/with a Bearer token, not a DPoP-bound one/);
    expect((await browser.app.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(false);
    expect(lines).toEqual([expect.stringMatching(/^warn express-oidc-login: the provider does not advertise DPoP/)]);
  });

  it('the same app without dpop logs in with Bearer tokens', async () => {
    const target = await dpopApp(testOptions(op, { scope: SCOPE, logger: false }));
    const { stored } = await loggedIn(target, op);
    expect(stored.tokenType).toBe('bearer');
  });
});

describe('the start-up check', () => {
  // oidc-provider's default DPoP algorithms: ES256, Ed25519, EdDSA.
  const op = useProvider();

  it('refuses a dpop.alg the provider does not list (502 ERR_OIDC_PROVIDER_MISMATCH, naming the option)', async () => {
    const lines: string[] = [];
    const target = await dpopApp(
      testOptions(op, { dpop: { alg: 'ES384' }, logger: { warn: (m) => lines.push(m), error: (m) => lines.push(m) } }),
    );
    const res = await request(target.url).get('/login').expect(502);
    expect(res.body.code).toBe('ERR_OIDC_PROVIDER_MISMATCH');
    expect(res.body.message).toContain(
      'does not accept ES384 DPoP proofs (dpop_signing_alg_values_supported: ES256, Ed25519, EdDSA). Set "dpop: { alg }"',
    );
    expect(lines).toHaveLength(1);
  });

  it('accepts one it lists', async () => {
    const target = await dpopApp(testOptions(op, { dpop: { alg: 'EdDSA' }, logger: false }));
    await request(target.url).get('/login').expect(302);
  });
});

describe('a provider that answers a DPoP refresh with a Bearer token (hostile)', () => {
  const op = useHostileProvider({
    metadata: {
      dpop_signing_alg_values_supported: ['ES256'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
    },
  });

  it('ends the login with 502 ERR_OIDC_DPOP_NOT_BOUND and stores nothing of the Bearer answer', async () => {
    op.onToken = async (ctx) => {
      if (ctx.body.get('grant_type') === 'authorization_code') {
        const answer = await ctx.valid();
        return { ...answer, body: { ...(answer.body as object), token_type: 'DPoP', refresh_token: 'rt-1' } };
      }
      return ctx.tokenResponse(undefined, { token_type: 'Bearer', refresh_token: 'rt-2' });
    };
    const events: unknown[] = [];
    const target = await dpopApp(testOptions(op, { dpop: true, logger: false, on: { logout: (e) => events.push(e) } }));
    const { agent, res } = await hostileAttempt(target.url);
    expect(res.status).toBe(302);
    const sid = (await agent.get('/probe/oidc').expect(200)).body.sessionId as string;
    expect((await storedLogin(target.store, sid))!.tokenType).toBe('dpop');

    await expireAccessToken(target.store, sid);
    const refused = await agent.get('/token').expect(502);
    expect(refused.body.code).toBe('ERR_OIDC_DPOP_NOT_BOUND');
    expect(refused.body.message).toMatch(/token refresh with a Bearer token.*The login has ended/);
    expect(op.tokenRequests.map((r) => r.body.get('grant_type'))).toEqual(['authorization_code', 'refresh_token']);
    expect(await storedLogin(target.store, sid)).toBeUndefined();
    expect(events).toEqual([expect.objectContaining({ detail: 'refresh_failed' })]);
  });
});

describe('req.oidc.fetch() arguments', () => {
  it('refuses a relative URL, http to another host (without dangerouslyAllowInsecureHttp, *.localhost included) and redirect: "follow" before anything is sent', async () => {
    const op = await startProvider();
    try {
      const configuration = await client.discovery(new URL(op.issuer), CLIENT_ID, CLIENT_SECRET, undefined, {
        execute: [client.allowInsecureRequests],
      });
      const app = express();
      app.use(session({ secret: 's', resave: false, saveUninitialized: false }));
      app.use(oidcLogin({ configuration, baseUrl: APP_BASE_URL, logger: false }));
      app.get('/try', async (req, res) => {
        const attempts: Record<string, RequestInit | undefined> = {};
        const results: Record<string, string> = {};
        const cases: Array<[string, string, RequestInit | undefined]> = [
          ['relative', '/api/orders', undefined],
          ['http', 'http://api.example.com/orders', undefined],
          ['credentials', 'https://user:pass@api.example.com/', undefined],
          ['follow', 'https://api.example.com/orders', { redirect: 'follow' }],
        ];
        for (const [name, url, init] of cases) {
          attempts[name] = init;
          try {
            await req.oidc!.fetch(url, init);
            results[name] = 'sent';
          } catch (err) {
            results[name] = `${(err as Error).name} ${(err as { code?: string }).code}: ${(err as Error).message}`;
          }
        }
        // http to this machine is allowed; not logged in, so it stops there.
        for (const [name, url] of [
          ['loopback', 'http://127.0.0.1:1/x'],
          ['localhost', 'http://localhost:1/x'],
          ['ipv6', 'http://[::1]:1/x'],
        ]) {
          try {
            await req.oidc!.fetch(url!);
          } catch (err) {
            results[name!] = (err as { code?: string }).code ?? 'none';
          }
        }
        // A name under .localhost is looked up in DNS by Node: not this machine for sure.
        try {
          await req.oidc!.fetch('http://evil.localhost:1/x');
        } catch (err) {
          results.subdomain = `${(err as Error).name} ${(err as { code?: string }).code}: ${(err as Error).message}`;
        }
        res.json(results);
      });
      const res = await request(app).get('/try').expect(200);
      expect(res.body).toEqual({
        relative: expect.stringMatching(/^TypeError ERR_INVALID_ARG_VALUE: .*must be absolute/),
        http: expect.stringMatching(/^TypeError ERR_INVALID_ARG_VALUE: .*over https only/),
        credentials: expect.stringMatching(/^TypeError ERR_INVALID_ARG_VALUE: .*credentials/),
        follow: expect.stringMatching(/^TypeError ERR_INVALID_ARG_VALUE: .*redirects are not followed/),
        loopback: 'ERR_OIDC_UNAUTHENTICATED',
        localhost: 'ERR_OIDC_UNAUTHENTICATED',
        ipv6: 'ERR_OIDC_UNAUTHENTICATED',
        subdomain: expect.stringMatching(/^TypeError ERR_INVALID_ARG_VALUE: .*over https only/),
      });
    } finally {
      await op.close();
    }
  });
});

describe('the dpop option', () => {
  const base = {
    issuer: 'https://idp.example.com',
    clientId: 'id',
    clientSecret: 'secret',
    baseUrl: 'https://app.example.com',
  };
  const bad: Array<[string, unknown, RegExp]> = [
    ['a string', 'ES256', /"dpop" must be true or an object: write dpop: \{ alg: "ES256" \}/],
    ['a number', 1, /"dpop" must be true, false or \{ alg \}/],
    ['an array', ['ES256'], /"dpop" must be true, false or \{ alg \}/],
    ['null', null, /"dpop" must be true, false or \{ alg \}/],
    ['a symmetric alg', { alg: 'HS256' }, /"dpop.alg" must be one of ES256, ES384, EdDSA, Ed25519; got "HS256"/],
    // An RSA key pair per login costs ~170 ms of CPU at every callback that reaches the token request.
    [
      'RS256',
      { alg: 'RS256' },
      /"dpop.alg" RS256 is not offered: .*RSA key pair.*Use ES256 \(the default\), ES384, EdDSA or Ed25519/,
    ],
    ['PS256', { alg: 'PS256' }, /"dpop.alg" PS256 is not offered/],
    ['alg none', { alg: 'none' }, /"dpop.alg" must be one of/],
    ['a lowercase alg', { alg: 'es256' }, /"dpop.alg" must be one of/],
    ['an unknown member', { algorithm: 'ES256' }, /unknown option "dpop.algorithm". Known: alg./],
  ];
  it.each(bad)('refuses %s with ERR_OIDC_INVALID_OPTION', (_name, dpop, message) => {
    expect(expectConfigError({ ...base, dpop }, message)).toMatchObject({ name: 'OidcConfigError' });
  });

  it('suggests "dpop" for "DPoP"', () => {
    expectConfigError({ ...base, DPoP: true }, 'unknown option "DPoP". Did you mean "dpop"?');
  });

  it('accepts true, false, {} and every listed alg', () => {
    for (const dpop of [true, false, {}, ...ALL_ALGS.map((alg) => ({ alg }))])
      expect(() => oidcLogin({ ...base, dpop })).not.toThrow();
  });
});
