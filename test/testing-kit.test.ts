import { execFile } from 'node:child_process';
import { fakeClock } from './support/clock.js';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import express, { type ErrorRequestHandler } from 'express';
import session from 'express-session';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import request from 'supertest';
import { claimIncludes, oidcLogin, requireAuth, type OidcLoginOptions } from '../lib/index.js';
import { loginAs, startTestProvider, type TestProvider } from '../lib/testing/index.js';

/**
 * An app as an app developer builds it: express-session, oidcLogin() pointed at the test provider,
 * requireAuth() and claimIncludes() on the routes, getAccessToken() for an API call, and an error
 * handler that answers JSON.
 */
function createApp(oidc: OidcLoginOptions, cookie: session.CookieOptions = {}) {
  const app = express();
  app.use(session({ secret: 'a-test-session-secret', resave: false, saveUninitialized: false, cookie }));
  app.use(oidcLogin(oidc));
  app.get('/', (_req, res) => {
    res.send('home');
  });
  app.get('/profile', requireAuth(), (req, res) => {
    res.json(req.oidc!.claims);
  });
  app.get('/admin', requireAuth(claimIncludes('groups', 'admin')), (_req, res) => {
    res.json({ admin: true });
  });
  app.get('/api/token', requireAuth(), async (req, res) => {
    // Express 5 passes a rejection to the error handler.
    res.json({ accessToken: await req.oidc!.getAccessToken() });
  });
  const errors: ErrorRequestHandler = (err, _req, res, _next) => {
    res.status(typeof err?.status === 'number' ? err.status : 500).json({ code: err?.code, message: err?.message });
  };
  app.use(errors);
  return app;
}

const SCOPE = 'openid profile email offline_access';

let provider: TestProvider;
let app: express.Express;
beforeAll(async () => {
  provider = await startTestProvider();
  app = createApp({ ...provider.options(), scope: SCOPE });
});
afterAll(async () => {
  await provider.close();
});
afterEach(() => {
  jest.useRealTimers();
});

describe('loginAs()', () => {
  it("logs in through the app's own /login and /callback; the agent sees the protected page with the claims", async () => {
    await request(app).get('/profile').expect(401);
    const before = { ...provider.counts };

    const agent = await loginAs(app, { sub: 'alice', name: 'Alice', email: 'alice@example.com', groups: ['users'] });

    const profile = await agent.get('/profile').expect(200);
    expect(profile.body).toMatchObject({
      sub: 'alice',
      name: 'Alice',
      email: 'alice@example.com',
      groups: ['users'],
      iss: provider.issuer,
      aud: provider.clientId,
    });
    expect(typeof profile.body.sid).toBe('string');
    // The real flow ran: one authorization, one code exchange.
    expect(provider.counts.authorize - before.authorize).toBe(1);
    expect(provider.tokenRequests - before.token).toBe(1);
    // The app fetched the provider's keys to verify the ID token's signature.
    expect(provider.counts.jwks).toBeGreaterThanOrEqual(1);
    expect(provider.logins.at(-1)).toMatchObject({ sub: 'alice', sid: profile.body.sid });
  });

  it('lets the groups claim drive claimIncludes(): 403 without the group, 200 with it', async () => {
    const user = await loginAs(app, { sub: 'bob', groups: ['users'] });
    const admin = await loginAs(app, { sub: 'carol', groups: ['users', 'admin'] });
    await user.get('/admin').expect(403);
    await admin.get('/admin').expect(200, { admin: true });
  });

  it('keeps several users logged in at once, each in their own agent', async () => {
    const [alice, bob] = await Promise.all([loginAs(app, { sub: 'alice' }), loginAs(app, { sub: 'bob' })]);
    const [a, b] = await Promise.all([alice.get('/profile').expect(200), bob.get('/profile').expect(200)]);
    expect(a.body.sub).toBe('alice');
    expect(b.body.sub).toBe('bob');
  });

  it('logs in again in a given agent, and sends returnTo', async () => {
    const agent = await loginAs(app, { sub: 'dave' });
    const again = await loginAs(app, { sub: 'erin' }, { agent, returnTo: '/admin', provider });
    expect(again).toBe(agent);
    expect((await agent.get('/profile').expect(200)).body.sub).toBe('erin');
  });

  it("runs the app's real checks: an ES256 provider works with its options(), and not with an app that insists on RS256", async () => {
    const es256 = await startTestProvider({ idTokenSigningAlg: 'ES256' });
    try {
      const matching = createApp(es256.options());
      await loginAs(matching, { sub: 'alice' });
      expect(es256.counts.jwks).toBeGreaterThanOrEqual(1);
      // Where the middleware notices (discovery or the ID token check) is its business; the login fails.
      const strict = createApp({ ...es256.options(), idTokenSigningAlg: 'RS256', logger: false });
      await expect(loginAs(strict, { sub: 'alice' })).rejects.toThrow(/^loginAs: .*answered (400|502)/s);
    } finally {
      await es256.close();
    }
  });

  it('says so when the app has the wrong client secret', async () => {
    const wrong = createApp({ ...provider.options(), clientSecret: 'not-the-secret', logger: false });
    await expect(loginAs(wrong, { sub: 'alice' })).rejects.toThrow(
      /callback .*answered 502.*ERR_OIDC_PROVIDER_RESPONSE/s,
    );
  });

  it("says so when the app's redirect URI is not registered at the provider", async () => {
    const elsewhere = createApp({ ...provider.options(), baseUrl: 'http://localhost:4444' });
    await expect(loginAs(elsewhere, { sub: 'alice' })).rejects.toThrow(
      /redirect_uri "http:\/\/localhost:4444\/callback" is not registered/,
    );
    // provider.options(baseUrl) registers it.
    const registered = createApp(provider.options('http://localhost:4444'));
    await loginAs(registered, { sub: 'alice' });
  });

  it('says so when the session cookie is Secure and cannot work over http', async () => {
    for (const pendingLogins of ['cookie', 'session'] as const) {
      const secure = createApp({ ...provider.options(), logger: false, pendingLogins }, { secure: true });
      await expect(loginAs(secure, { sub: 'alice' })).rejects.toThrow(/Secure/);
    }
  });

  it('logs in with pending logins in the session too', async () => {
    const agent = await loginAs(createApp({ ...provider.options(), pendingLogins: 'session' }), { sub: 'alice' });
    expect((await agent.get('/profile').expect(200)).body.sub).toBe('alice');
  });

  it('says so when the app does not log in at a test provider', async () => {
    const other = express();
    other.get('/login', (_req, res) => {
      res.redirect('https://idp.example.com/authorize?client_id=x');
    });
    await expect(loginAs(other, { sub: 'alice' })).rejects.toThrow(
      /https:\/\/idp\.example\.com, which is not a test provider/,
    );
    await expect(loginAs(express(), { sub: 'alice' })).rejects.toThrow(/GET \/login answered 404/);
  });

  it('refuses claims that the provider sets itself, and a missing sub', async () => {
    await expect(loginAs(app, { sub: '' })).rejects.toThrow(/"sub" is required/);
    await expect(loginAs(app, { sub: 'alice', iss: 'https://evil.example' })).rejects.toThrow(
      /"iss" is set by the test provider/,
    );
    await expect(loginAs(app, { sub: 'alice', nonce: 'n' })).rejects.toThrow(/"nonce"/);
  });

  it('reports a login the provider refused', async () => {
    provider.failNextAuthorization('access_denied', 'The user said no.');
    await expect(loginAs(app, { sub: 'alice' })).rejects.toThrow(
      /error=access_denied \(The user said no\.\); the app's callback answered 401/,
    );
    provider.failNextTokenRequest(503);
    await expect(loginAs(app, { sub: 'alice' })).rejects.toThrow(/callback .* answered 502/);
    // Each failure is for one request only.
    await loginAs(app, { sub: 'alice' });
  });
});

describe('simulations', () => {
  it('a login with { expiresIn: 0 } has an expired access token: getAccessToken() refreshes it, once', async () => {
    const agent = await loginAs(app, { sub: 'alice' }, { expiresIn: 0 });
    const before = { ...provider.counts };
    const first = await agent.get('/api/token').expect(200);
    expect(provider.counts.refresh - before.refresh).toBe(1);
    expect(provider.tokenRequests - before.token).toBe(1);
    // The refreshed token lasts the provider's accessTokenTtl: no second refresh.
    const second = await agent.get('/api/token').expect(200);
    expect(second.body.accessToken).toBe(first.body.accessToken);
    expect(provider.tokenRequests - before.token).toBe(1);
  });

  it('expiry by the clock: an hour later, getAccessToken() refreshes', async () => {
    const agent = await loginAs(app, { sub: 'alice' });
    const { body: fresh } = await agent.get('/api/token').expect(200);
    const before = provider.tokenRequests;
    const clock = fakeClock();
    clock.advance(3600);
    const { body: later } = await agent.get('/api/token').expect(200);
    expect(provider.tokenRequests - before).toBe(1);
    expect(later.accessToken).not.toBe(fresh.accessToken);
  });

  it('revokeRefreshTokens(sub): the next refresh fails, getAccessToken() answers 401 and the user is logged out', async () => {
    const alice = await loginAs(app, { sub: 'alice' }, { expiresIn: 0 });
    const bob = await loginAs(app, { sub: 'bob' }, { expiresIn: 0 });
    expect(provider.revokeRefreshTokens('alice')).toBeGreaterThanOrEqual(1);

    const failed = await alice.get('/api/token').expect(401);
    expect(failed.body.code).toBe('ERR_OIDC_UNAUTHENTICATED');
    await alice.get('/profile').expect(401);
    // Bob's login is untouched.
    await bob.get('/api/token').expect(200);
    await bob.get('/profile').expect(200);
  });

  it('failNextTokenRequest() during a refresh: an outage, the login stays', async () => {
    const agent = await loginAs(app, { sub: 'alice' }, { expiresIn: 0 });
    provider.failNextTokenRequest(503);
    await agent.get('/api/token').expect(502);
    await agent.get('/profile').expect(200);
    await agent.get('/api/token').expect(200);
  });

  it('backchannelLogout(app, { sub }) logs that user out, and nobody else', async () => {
    const alice = await loginAs(app, { sub: 'alice' });
    const bob = await loginAs(app, { sub: 'bob' });
    await alice.get('/profile').expect(200);

    await provider.backchannelLogout(app, { sub: 'alice' });

    await alice.get('/profile').expect(401);
    await bob.get('/profile').expect(200);
  });

  it('backchannelLogout(app, { sid }) logs out that one session', async () => {
    const laptop = await loginAs(app, { sub: 'alice', sid: 'alice-laptop' });
    const phone = await loginAs(app, { sub: 'alice', sid: 'alice-phone' });

    await provider.backchannelLogout(app, { sid: 'alice-phone' });

    await phone.get('/profile').expect(401);
    await laptop.get('/profile').expect(200);
  });

  it('POST /logout revokes the refresh token and ends the session at the provider (RP-Initiated Logout)', async () => {
    const agent = await loginAs(app, { sub: 'heidi', sid: 'h-1' });
    const before = provider.counts;
    const res = await agent.post('/logout').set('Sec-Fetch-Site', 'same-origin').expect(303);
    const endSession = new URL(res.headers.location!);
    expect(endSession.origin + endSession.pathname).toBe(`${provider.issuer}/logout`);
    expect(provider.counts.revocation - before.revocation).toBe(1);
    await agent.get('/profile').expect(401);

    const back = await fetch(endSession, { redirect: 'manual' });
    expect(back.status).toBe(302);
    const state = endSession.searchParams.get('state');
    expect(back.headers.get('location')).toBe(`${provider.baseUrl}/?state=${state}`);
    // Back at the app, the state is checked against the browser's cookie and taken off the URL.
    const clean = await agent.get(`/?state=${state}`).expect(302);
    expect(clean.headers.location).toBe('/');
    expect(provider.logouts.at(-1)).toMatchObject({ sub: 'heidi', sid: 'h-1' });
  });

  it('serves userinfo: fetchUserInfo: true keeps the claims as req.oidc.user', async () => {
    const withUserInfo = createApp({ ...provider.options(), fetchUserInfo: true });
    withUserInfo.get('/me', requireAuth(), (req, res) => {
      res.json(req.oidc!.user);
    });
    const agent = await loginAs(withUserInfo, { sub: 'ivan', email: 'ivan@example.com', sid: 'i-1' });
    const me = await agent.get('/me').expect(200);
    expect(me.body).toEqual({ sub: 'ivan', email: 'ivan@example.com' });
  });

  it("logoutToken() is a back-channel logout token signed with the provider's published key", async () => {
    const token = await provider.logoutToken({ sub: 'alice', sid: 's-1' });
    const jwks = createRemoteJWKSet(new URL(`${provider.issuer}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: provider.issuer,
      audience: provider.clientId,
      typ: 'logout+jwt',
      algorithms: ['RS256'],
    });
    expect(protectedHeader.kid).toEqual(expect.any(String));
    expect(payload).toMatchObject({
      sub: 'alice',
      sid: 's-1',
      events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
    });
    expect(payload.jti).toEqual(expect.any(String));
    expect(payload).not.toHaveProperty('nonce');
    expect(() => provider.logoutToken({})).toThrow(/"sub", "sid" or both/);
  });
});

describe('the test provider, as any client sees it', () => {
  const b64 = (bytes = 32) => randomBytes(bytes).toString('base64url');
  const basic = (id: string, secret: string) =>
    `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

  /** An authorization request as the middleware makes it; resolves with the redirect back. */
  async function authorize(p: TestProvider, overrides: Record<string, string | null> = {}) {
    const verifier = b64();
    const params: Record<string, string | null> = {
      response_type: 'code',
      client_id: p.clientId,
      redirect_uri: p.redirectUris[0]!,
      scope: SCOPE,
      state: b64(),
      nonce: b64(),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      ...overrides,
    };
    const url = new URL(`${p.issuer}/authorize`);
    for (const [key, value] of Object.entries(params)) if (value !== null) url.searchParams.set(key, value);
    const res = await fetch(url, { redirect: 'manual' });
    const location = res.headers.get('location');
    return {
      res,
      verifier,
      params,
      back: location ? new URL(location) : undefined,
      text: location ? '' : await res.text(),
    };
  }

  function tokenRequest(p: TestProvider, body: Record<string, string>, auth: 'basic' | 'post' = 'basic') {
    const form = new URLSearchParams(body);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (auth === 'basic') headers.authorization = basic(p.clientId, p.clientSecret);
    else {
      form.set('client_id', p.clientId);
      form.set('client_secret', p.clientSecret);
    }
    return fetch(`${p.issuer}/token`, { method: 'POST', headers, body: form });
  }

  async function codeGrant(p: TestProvider, auth: 'basic' | 'post' = 'basic') {
    const { back, verifier, params } = await authorize(p);
    const code = back!.searchParams.get('code')!;
    const res = await tokenRequest(
      p,
      { grant_type: 'authorization_code', code, redirect_uri: params.redirect_uri!, code_verifier: verifier },
      auth,
    );
    return { res, body: (await res.json()) as Record<string, unknown>, code, verifier, params };
  }

  it('publishes the discovery document an OpenID Connect client needs', async () => {
    const metadata = (await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(metadata).toMatchObject({
      issuer: provider.issuer,
      authorization_endpoint: `${provider.issuer}/authorize`,
      token_endpoint: `${provider.issuer}/token`,
      userinfo_endpoint: `${provider.issuer}/userinfo`,
      jwks_uri: `${provider.issuer}/jwks`,
      end_session_endpoint: `${provider.issuer}/logout`,
      revocation_endpoint: `${provider.issuer}/revoke`,
      authorization_response_iss_parameter_supported: true,
      code_challenge_methods_supported: ['S256'],
      backchannel_logout_supported: true,
    });
  });

  it('checks the authorization request: registered redirect_uri (no redirect otherwise), PKCE S256, openid scope', async () => {
    const unregistered = await authorize(provider, { redirect_uri: 'https://evil.example/callback' });
    expect(unregistered.res.status).toBe(400);
    expect(unregistered.back).toBeUndefined();
    expect((await authorize(provider, { client_id: 'someone-else' })).res.status).toBe(400);

    const plain = await authorize(provider, { code_challenge_method: 'plain' });
    expect(plain.back!.searchParams.get('error')).toBe('invalid_request');
    const noPkce = await authorize(provider, { code_challenge: null, code_challenge_method: null });
    expect(noPkce.back!.searchParams.get('error')).toBe('invalid_request');
    const noOpenid = await authorize(provider, { scope: 'profile' });
    expect(noOpenid.back!.searchParams.get('error')).toBe('invalid_scope');

    const ok = await authorize(provider);
    expect(ok.back!.searchParams.get('iss')).toBe(provider.issuer);
    expect(ok.back!.searchParams.get('state')).toBe(ok.params.state);
    expect(ok.back!.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('signs ID tokens with a kid from its JWKS, with the nonce of the request', async () => {
    const { body, params } = await codeGrant(provider);
    const idToken = body.id_token as string;
    expect(decodeProtectedHeader(idToken)).toMatchObject({ alg: 'RS256', kid: expect.any(String) });
    const { payload } = await jwtVerify(idToken, createRemoteJWKSet(new URL(`${provider.issuer}/jwks`)), {
      issuer: provider.issuer,
      audience: provider.clientId,
    });
    expect(payload).toMatchObject({
      sub: 'test-user',
      nonce: params.nonce,
      auth_time: expect.any(Number),
      sid: expect.any(String),
    });
  });

  it('checks client authentication (basic or post, not both), PKCE and single use of codes', async () => {
    expect((await codeGrant(provider, 'post')).res.status).toBe(200);

    const { back, verifier, params } = await authorize(provider);
    const code = back!.searchParams.get('code')!;
    const wrongSecret = await fetch(`${provider.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(provider.clientId, 'wrong'),
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: params.redirect_uri!,
        code_verifier: verifier,
      }),
    });
    expect(wrongSecret.status).toBe(401);
    expect(await wrongSecret.json()).toMatchObject({ error: 'invalid_client' });
    const both = await tokenRequest(provider, {
      grant_type: 'authorization_code',
      code,
      client_secret: provider.clientSecret,
    });
    expect(both.status).toBe(400);

    const wrongVerifier = await authorize(provider);
    const res = await tokenRequest(provider, {
      grant_type: 'authorization_code',
      code: wrongVerifier.back!.searchParams.get('code')!,
      redirect_uri: wrongVerifier.params.redirect_uri!,
      code_verifier: b64(),
    });
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });

    // A code used twice: refused, and what it gave the first time is revoked.
    const first = await codeGrant(provider);
    const replay = await tokenRequest(provider, {
      grant_type: 'authorization_code',
      code: first.code,
      redirect_uri: first.params.redirect_uri!,
      code_verifier: first.verifier,
    });
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });
    const userinfo = await fetch(`${provider.issuer}/userinfo`, {
      headers: { authorization: `Bearer ${first.body.access_token as string}` },
    });
    expect(userinfo.status).toBe(401);
  });

  it('rotates refresh tokens; a rotated one used again revokes the grant', async () => {
    const { body } = await codeGrant(provider);
    const rt1 = body.refresh_token as string;
    const refreshed = (await (
      await tokenRequest(provider, { grant_type: 'refresh_token', refresh_token: rt1 })
    ).json()) as Record<string, unknown>;
    const rt2 = refreshed.refresh_token as string;
    expect(rt2).toEqual(expect.any(String));
    expect(rt2).not.toBe(rt1);
    expect(refreshed.id_token).toEqual(expect.any(String));
    const { payload } = await jwtVerify(
      refreshed.id_token as string,
      createRemoteJWKSet(new URL(`${provider.issuer}/jwks`)),
    );
    expect(payload.nonce).toBeUndefined();

    expect(
      await (await tokenRequest(provider, { grant_type: 'refresh_token', refresh_token: rt1 })).json(),
    ).toMatchObject({ error: 'invalid_grant' });
    expect(
      await (await tokenRequest(provider, { grant_type: 'refresh_token', refresh_token: rt2 })).json(),
    ).toMatchObject({ error: 'invalid_grant' });
  });

  it('issues refresh tokens for offline_access only (by default)', async () => {
    const { back, verifier, params } = await authorize(provider, { scope: 'openid profile' });
    const res = await tokenRequest(provider, {
      grant_type: 'authorization_code',
      code: back!.searchParams.get('code')!,
      redirect_uri: params.redirect_uri!,
      code_verifier: verifier,
    });
    expect(await res.json()).not.toHaveProperty('refresh_token');
  });

  it("answers userinfo with the user's claims while the access token is valid", async () => {
    provider.queueLogin({ sub: 'frank', email: 'frank@example.com', sid: 'f-1' });
    const { body } = await codeGrant(provider);
    const res = await fetch(`${provider.issuer}/userinfo`, {
      headers: { authorization: `Bearer ${body.access_token as string}` },
    });
    expect(await res.json()).toEqual({ sub: 'frank', email: 'frank@example.com' });

    provider.queueLogin({ sub: 'frank' }, { expiresIn: 0 });
    const expired = await codeGrant(provider);
    expect(expired.body.expires_in).toBe(0);
    const refused = await fetch(`${provider.issuer}/userinfo`, {
      headers: { authorization: `Bearer ${expired.body.access_token as string}` },
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });

  it('revokes a refresh token at the revocation endpoint', async () => {
    const { body } = await codeGrant(provider);
    const revoked = await fetch(`${provider.issuer}/revoke`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(provider.clientId, provider.clientSecret),
      },
      body: new URLSearchParams({ token: body.refresh_token as string, token_type_hint: 'refresh_token' }),
    });
    expect(revoked.status).toBe(200);
    expect(
      await (
        await tokenRequest(provider, { grant_type: 'refresh_token', refresh_token: body.refresh_token as string })
      ).json(),
    ).toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('ends the session at end_session_endpoint and redirects only to a registered post_logout_redirect_uri', async () => {
    provider.queueLogin({ sub: 'grace', sid: 'g-1' });
    const { body } = await codeGrant(provider);
    const url = new URL(`${provider.issuer}/logout`);
    url.searchParams.set('id_token_hint', body.id_token as string);
    url.searchParams.set('post_logout_redirect_uri', provider.postLogoutRedirectUris[0]!);
    url.searchParams.set('state', 'xyz');
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`${provider.postLogoutRedirectUris[0]}?state=xyz`);
    expect(provider.logouts.at(-1)).toEqual({
      sub: 'grace',
      sid: 'g-1',
      postLogoutRedirectUri: provider.postLogoutRedirectUris[0],
    });

    url.searchParams.set('post_logout_redirect_uri', 'https://evil.example/');
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(400);
  });
});

describe('the package', () => {
  it('keeps the main entry free of the test kit', () => {
    for (const file of readdirSync(new URL('../lib/', import.meta.url), { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts') || file.startsWith('testing')) continue;
      const source = readFileSync(new URL(`../lib/${file}`, import.meta.url), 'utf8');
      expect(source).not.toMatch(/from '\.{1,2}\/(\.\.\/)*testing\//);
    }
  });

  it('loads express-oidc-login/testing with require() (CommonJS) and with import', async () => {
    const script = `
      const cjs = require('express-oidc-login/testing');
      import('express-oidc-login/testing').then(async (esm) => {
        for (const n of ['startTestProvider', 'loginAs']) {
          if (typeof cjs[n] !== 'function') throw new Error('require: ' + n + ' missing');
          if (esm[n] !== cjs[n]) throw new Error('import and require differ on ' + n);
        }
        const provider = await cjs.startTestProvider();
        await provider.close();
        console.log('ok');
      });`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { cwd: process.cwd() });
    expect(stdout.trim()).toBe('ok');
  });
});

describe('tokens for several APIs (resources)', () => {
  it('issues a token per API on the refresh grant with resource; another resource is invalid_target, spending nothing', async () => {
    const orders = 'https://orders.example/';
    const op = await startTestProvider({ resources: [orders] });
    try {
      const app = express();
      app.use(session({ secret: 'a-test-session-secret', resave: false, saveUninitialized: false }));
      app.use(oidcLogin({ ...op.options(), scope: SCOPE }));
      app.get('/api-token', async (req, res, next) => {
        try {
          const forceRefresh = req.query.force !== undefined;
          res.json({ token: await req.oidc!.getAccessToken({ resource: String(req.query.resource), forceRefresh }) });
        } catch (err) {
          next(err);
        }
      });
      const errors: ErrorRequestHandler = (err, _req, res, _next) => {
        res.status(err.status ?? 500).json({ code: err.code, message: err.message });
      };
      app.use(errors);
      const agent = await loginAs(app, { sub: 'alice' });
      const res = await agent.get(`/api-token?resource=${encodeURIComponent(orders)}`).expect(200);
      expect(op.accessTokenResource(res.body.token)).toBe(orders);
      const refused = await agent.get('/api-token?resource=https%3A%2F%2Fother.example%2F').expect(403);
      expect(refused.body.code).toBe('ERR_OIDC_RESOURCE_REFUSED');
      expect(refused.body.message).toContain('invalid_target');
      // The refresh token was not spent: the next token request works.
      const again = await agent.get(`/api-token?force&resource=${encodeURIComponent(orders)}`).expect(200);
      expect(again.body.token).not.toBe(res.body.token);
    } finally {
      await op.close();
    }
  });
});
