import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import express, { type ErrorRequestHandler } from 'express';
import session from 'express-session';
import { calculateJwkThumbprint, SignJWT, type JWK } from 'jose';
import { oidcLogin, requireAuth, type OidcLoginOptions } from '../lib/index.js';
import { loginAs, startTestProvider, type TestProvider } from '../lib/testing/index.js';
import { fakeClock } from './support/clock.js';

/**
 * The testing kit's provider and DPoP (RFC 9449): an app with `dpop: true` logs in with loginAs()
 * and gets DPoP-bound tokens, and the kit checks proofs as a provider that supports DPoP does.
 */

const SCOPE = 'openid profile email offline_access';

/** An app with routes that show the login's token type and key, and call the kit's userinfo with req.oidc.fetch(). */
function createApp(oidc: OidcLoginOptions) {
  const app = express();
  app.use(session({ secret: 'a-test-session-secret', resave: false, saveUninitialized: false }));
  app.use(oidcLogin({ scope: SCOPE, logger: false, ...oidc }));
  app.get('/probe/login', requireAuth(), (req, res) => {
    res.json({
      tokenType: req.oidc!.tokenType,
      jkt: req.session.oidc?.login?.dpop?.jkt ?? null,
      user: req.oidc!.user ?? null,
    });
  });
  app.get('/api/token', requireAuth(), async (req, res) => {
    res.json({ accessToken: await req.oidc!.getAccessToken() });
  });
  app.get('/api/userinfo', requireAuth(), async (req, res) => {
    const answer = await req.oidc!.fetch(`${oidc.issuer!}/userinfo`);
    res.status(answer.status).json({ status: answer.status, body: await answer.json() });
  });
  const errors: ErrorRequestHandler = (err, _req, res, _next) => {
    res.status(typeof err?.status === 'number' ? err.status : 500).json({ code: err?.code, message: err?.message });
  };
  app.use(errors);
  return app;
}

let provider: TestProvider;
beforeAll(async () => {
  provider = await startTestProvider();
});
afterAll(async () => {
  await provider.close();
});
afterEach(() => {
  jest.useRealTimers();
});

function userinfo(p: TestProvider, authorization: string, proof?: string) {
  return fetch(`${p.issuer}/userinfo`, { headers: { authorization, ...(proof !== undefined && { dpop: proof }) } });
}

describe('an app with dpop: true, tested with loginAs()', () => {
  let app: express.Express;
  beforeAll(() => {
    app = createApp({ ...provider.options(), dpop: true });
  });

  it("logs in with a DPoP-bound access token, bound to the login's key in the session", async () => {
    const agent = await loginAs(app, { sub: 'alice', email: 'alice@example.com' });
    const { body } = await agent.get('/probe/login').expect(200);
    expect(body.tokenType).toBe('dpop');
    expect(body.jkt).toEqual(expect.any(String));
    // The kit bound the tokens to the key the app keeps with the login.
    expect(provider.logins.at(-1)).toMatchObject({ sub: 'alice', jkt: body.jkt });
  });

  it("calls the kit's userinfo with req.oidc.fetch(); the same token as a Bearer token, or without a proof, is refused", async () => {
    const agent = await loginAs(app, { sub: 'bob', email: 'bob@example.com', sid: 'b-1' });
    const called = await agent.get('/api/userinfo').expect(200);
    expect(called.body.body).toEqual({ sub: 'bob', email: 'bob@example.com' });

    const { accessToken } = (await agent.get('/api/token').expect(200)).body as { accessToken: string };
    const asBearer = await userinfo(provider, `Bearer ${accessToken}`);
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_token".*algs="[^"]*ES256/);
    const noProof = await userinfo(provider, `DPoP ${accessToken}`);
    expect(noProof.status).toBe(401);
    expect(noProof.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_dpop_proof"/);
  });

  it('refreshes with the same key: every refreshed token is DPoP-bound and works at userinfo', async () => {
    const agent = await loginAs(app, { sub: 'carol' }, { expiresIn: 0 });
    const { jkt } = (await agent.get('/probe/login').expect(200)).body as { jkt: string };
    const before = provider.counts;
    const first = (await agent.get('/api/token').expect(200)).body.accessToken as string;
    expect(provider.counts.refresh - before.refresh).toBe(1);
    await agent.get('/api/userinfo').expect(200);

    const clock = fakeClock();
    clock.advance(3600);
    const second = (await agent.get('/api/token').expect(200)).body.accessToken as string;
    expect(provider.counts.refresh - before.refresh).toBe(2);
    expect(second).not.toBe(first);
    await agent.get('/api/userinfo').expect(200);
    expect((await agent.get('/probe/login').expect(200)).body).toMatchObject({ tokenType: 'dpop', jkt });
    expect((await userinfo(provider, `Bearer ${second}`)).status).toBe(401);
  });

  it('fetches userinfo at the callback with a proof (fetchUserInfo: true), with an EdDSA key', async () => {
    const eddsa = createApp({ ...provider.options(), dpop: { alg: 'EdDSA' }, fetchUserInfo: true });
    const agent = await loginAs(eddsa, { sub: 'dave', email: 'dave@example.com' });
    const { body } = await agent.get('/probe/login').expect(200);
    expect(body).toMatchObject({ tokenType: 'dpop', user: { sub: 'dave', email: 'dave@example.com' } });
    await agent.get('/api/userinfo').expect(200);
  });

  it('logs out: the refresh token is revoked without a proof, and the grant ends at the provider', async () => {
    const agent = await loginAs(app, { sub: 'grace' });
    const before = provider.counts;
    await agent.post('/logout').set('Sec-Fetch-Site', 'same-origin').expect(303);
    expect(provider.counts.revocation - before.revocation).toBe(1);
    await agent.get('/probe/login').expect(401);
    // The login's grant is revoked at the provider already: nothing of grace's is left to revoke.
    expect(provider.revokeRefreshTokens('grace')).toBe(0);
  });

  it('leaves an app without dpop on Bearer tokens at the same provider', async () => {
    const bearer = createApp(provider.options());
    const agent = await loginAs(bearer, { sub: 'erin' });
    expect((await agent.get('/probe/login').expect(200)).body).toMatchObject({ tokenType: 'bearer', jkt: null });
    expect(provider.logins.at(-1)).not.toHaveProperty('jkt');
    await agent.get('/api/userinfo').expect(200);
  });

  it('works with a provider that requires DPoP nonces: the middleware answers use_dpop_nonce once and goes on', async () => {
    const strict = await startTestProvider({ requireDPoPNonce: true });
    try {
      // No userinfo request at login ('auto' would make one: the kit's ID token has no name), so
      // that the counts below are req.oidc.fetch()'s alone.
      const nonceApp = createApp({ ...strict.options(), dpop: true, fetchUserInfo: false });
      const agent = await loginAs(nonceApp, { sub: 'frank' }, { expiresIn: 0 });
      // The code exchange was sent twice: without the nonce, then with it.
      expect(strict.counts.token).toBe(2);
      await agent.get('/api/token').expect(200);
      expect(strict.counts.token).toBe(3);
      // req.oidc.fetch() learns the nonce from the first userinfo answer, and keeps it.
      await agent.get('/api/userinfo').expect(200);
      expect(strict.counts.userinfo).toBe(2);
      await agent.get('/api/userinfo').expect(200);
      expect(strict.counts.userinfo).toBe(3);
    } finally {
      await strict.close();
    }
  });
});

describe("the kit's DPoP checks, as any client sees them", () => {
  const b64 = (bytes = 32) => randomBytes(bytes).toString('base64url');
  const basic = (p: TestProvider) => `Basic ${Buffer.from(`${p.clientId}:${p.clientSecret}`).toString('base64')}`;
  const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

  interface Key {
    privateKey: KeyObject;
    jwk: JWK;
    jkt: string;
  }
  async function newKey(): Promise<Key> {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' }) as JWK;
    return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
  }

  /** A DPoP proof; `claims` and `header` override the valid ones. */
  function proof(
    key: Key,
    claims: Record<string, unknown>,
    header: Record<string, unknown> = {},
    signer: KeyObject = key.privateKey,
  ): Promise<string> {
    const payload = Object.fromEntries(
      Object.entries({ jti: b64(16), iat: Math.floor(Date.now() / 1000), ...claims }).filter(
        ([, value]) => value !== undefined,
      ),
    );
    return new SignJWT(payload)
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk, ...header } as never)
      .sign(signer);
  }
  const tokenProof = (p: TestProvider, key: Key, claims: Record<string, unknown> = {}) =>
    proof(key, { htm: 'POST', htu: `${p.issuer}/token`, ...claims });

  /** A code for the client, from an authorization request as the middleware makes it. */
  async function code(p: TestProvider): Promise<{ code: string; verifier: string; redirectUri: string }> {
    const verifier = b64();
    const url = new URL(`${p.issuer}/authorize`);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: p.clientId,
      redirect_uri: p.redirectUris[0]!,
      scope: SCOPE,
      state: b64(),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    const back = new URL((await fetch(url, { redirect: 'manual' })).headers.get('location')!);
    return { code: back.searchParams.get('code')!, verifier, redirectUri: p.redirectUris[0]! };
  }

  async function tokenRequest(p: TestProvider, body: Record<string, string>, dpop?: string | string[]) {
    const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded', authorization: basic(p) });
    for (const value of dpop === undefined ? [] : [dpop].flat()) headers.append('dpop', value);
    const res = await fetch(`${p.issuer}/token`, { method: 'POST', headers, body: new URLSearchParams(body) });
    return { res, body: (await res.json()) as Record<string, string> };
  }
  async function codeGrant(p: TestProvider, dpop?: string | string[], issued?: Awaited<ReturnType<typeof code>>) {
    const { code: c, verifier, redirectUri } = issued ?? (await code(p));
    return tokenRequest(
      p,
      { grant_type: 'authorization_code', code: c, code_verifier: verifier, redirect_uri: redirectUri },
      dpop,
    );
  }

  it('advertises the proof algorithms it verifies', async () => {
    const metadata = (await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(metadata.dpop_signing_alg_values_supported).toEqual(
      expect.arrayContaining(['ES256', 'ES384', 'EdDSA', 'Ed25519']),
    );
    expect(metadata.dpop_signing_alg_values_supported).not.toContain('HS256');
  });

  it("binds the access token to the proof's key; userinfo wants it as DPoP with a proof of that key and its hash", async () => {
    const key = await newKey();
    const { res, body } = await codeGrant(provider, await tokenProof(provider, key));
    expect(res.status).toBe(200);
    expect(body.token_type).toBe('DPoP');
    expect(provider.logins.at(-1)!.jkt).toBe(key.jkt);
    const token = body.access_token!;
    const info = (claims: Record<string, unknown> = {}, k = key) =>
      proof(k, { htm: 'GET', htu: `${provider.issuer}/userinfo`, ath: ath(token), ...claims });

    expect((await userinfo(provider, `DPoP ${token}`, await info())).status).toBe(200);
    // htu is compared without query and fragment (RFC 9449 §4.3).
    expect(
      (await userinfo(provider, `DPoP ${token}`, await info({ htu: `${provider.issuer}/userinfo?x=1#y` }))).status,
    ).toBe(200);

    const refusals: [string, Response, RegExp][] = [
      ['as Bearer', await userinfo(provider, `Bearer ${token}`, await info()), /error="invalid_token"/],
      [
        'without ath',
        await userinfo(provider, `DPoP ${token}`, await info({ ath: undefined })),
        /error="invalid_dpop_proof"/,
      ],
      [
        "another token's ath",
        await userinfo(provider, `DPoP ${token}`, await info({ ath: ath('other') })),
        /error="invalid_dpop_proof"/,
      ],
      [
        'POST for GET',
        await userinfo(provider, `DPoP ${token}`, await info({ htm: 'POST' })),
        /error="invalid_dpop_proof"/,
      ],
      [
        'another key',
        await userinfo(provider, `DPoP ${token}`, await info({}, await newKey())),
        /error="invalid_token"/,
      ],
    ];
    const replayed = await info();
    expect((await userinfo(provider, `DPoP ${token}`, replayed)).status).toBe(200);
    refusals.push(['replayed', await userinfo(provider, `DPoP ${token}`, replayed), /error="invalid_dpop_proof"/]);
    for (const [what, answer, error] of refusals) {
      expect({ what, status: answer.status }).toEqual({ what, status: 401 });
      expect({ what, challenge: answer.headers.get('www-authenticate') }).toEqual({
        what,
        challenge: expect.stringMatching(new RegExp(`^DPoP .*${error.source}`)),
      });
    }
  });

  it('refuses a forged, replayed or mismatched proof at the token endpoint with invalid_dpop_proof, and keeps the code', async () => {
    const key = await newKey();
    const other = await newKey();
    const issued = await code(provider);
    const hs256 = { kty: 'oct', k: b64() };
    const used = await tokenProof(provider, key);
    expect((await codeGrant(provider, used)).res.status).toBe(200);

    const cases: [string, string | string[]][] = [
      ['replayed (same jti)', used],
      [
        'signed by another key than its jwk',
        await proof(key, { htm: 'POST', htu: `${provider.issuer}/token` }, {}, other.privateKey),
      ],
      ['typ JWT', await proof(key, { htm: 'POST', htu: `${provider.issuer}/token` }, { typ: 'JWT' })],
      [
        'a private key in jwk',
        await proof(
          key,
          { htm: 'POST', htu: `${provider.issuer}/token` },
          { jwk: key.privateKey.export({ format: 'jwk' }) },
        ),
      ],
      ['htm GET', await tokenProof(provider, key, { htm: 'GET' })],
      ['htu of userinfo', await tokenProof(provider, key, { htu: `${provider.issuer}/userinfo` })],
      ['htu of another origin', await tokenProof(provider, key, { htu: 'https://idp.example.com/token' })],
      ['iat two minutes ago', await tokenProof(provider, key, { iat: Math.floor(Date.now() / 1000) - 120 })],
      ['iat two minutes ahead', await tokenProof(provider, key, { iat: Math.floor(Date.now() / 1000) + 120 })],
      ['no jti', await tokenProof(provider, key, { jti: undefined })],
      ['a nonce the provider never gave', await tokenProof(provider, key, { nonce: 'made-up' })],
      ['two DPoP headers', [await tokenProof(provider, key), await tokenProof(provider, key)]],
      ['not a JWT', 'not-a-proof'],
      [
        'HS256',
        await new SignJWT({
          htm: 'POST',
          htu: `${provider.issuer}/token`,
          iat: Math.floor(Date.now() / 1000),
          jti: b64(),
        })
          .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: hs256 } as never)
          .sign(Buffer.from(hs256.k, 'base64url')),
      ],
    ];
    for (const [what, dpop] of cases) {
      const { res, body } = await codeGrant(provider, dpop, issued);
      expect({ what, status: res.status, error: body.error }).toEqual({
        what,
        status: 400,
        error: 'invalid_dpop_proof',
      });
    }
    // None of them used the code up.
    const { body } = await codeGrant(provider, await tokenProof(provider, key), issued);
    expect(body.token_type).toBe('DPoP');
  });

  it('wants every refresh of a DPoP login proved by the same key, and refuses others without rotating the refresh token', async () => {
    const key = await newKey();
    const login = await codeGrant(provider, await tokenProof(provider, key));
    const refreshToken = login.body.refresh_token!;
    const refresh = (dpop?: string) =>
      tokenRequest(provider, { grant_type: 'refresh_token', refresh_token: refreshToken }, dpop);

    const without = await refresh();
    expect(without.body).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringMatching(/needs a DPoP proof/),
    });
    const otherKey = await refresh(await tokenProof(provider, await newKey()));
    expect(otherKey.body).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringMatching(/another key/),
    });

    const same = await refresh(await tokenProof(provider, key));
    expect(same.res.status).toBe(200);
    expect(same.body.token_type).toBe('DPoP');
    const token = same.body.access_token!;
    const info = await proof(key, { htm: 'GET', htu: `${provider.issuer}/userinfo`, ath: ath(token) });
    expect((await userinfo(provider, `DPoP ${token}`, info)).status).toBe(200);
    expect((await userinfo(provider, `Bearer ${token}`)).status).toBe(401);
  });

  it('issues Bearer tokens without a DPoP header, and refuses such a token presented as DPoP', async () => {
    const { body } = await codeGrant(provider);
    expect(body.token_type).toBe('Bearer');
    const token = body.access_token!;
    expect((await userinfo(provider, `Bearer ${token}`)).status).toBe(200);
    const key = await newKey();
    const asDPoP = await userinfo(
      provider,
      `DPoP ${token}`,
      await proof(key, { htm: 'GET', htu: `${provider.issuer}/userinfo`, ath: ath(token) }),
    );
    expect(asDPoP.status).toBe(401);
    expect(asDPoP.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_token".*not DPoP-bound/);
  });

  it('with requireDPoPNonce, answers use_dpop_nonce with a DPoP-Nonce header until the proof carries it', async () => {
    const strict = await startTestProvider({ requireDPoPNonce: true });
    try {
      const key = await newKey();
      const issued = await code(strict);
      const first = await codeGrant(strict, await tokenProof(strict, key), issued);
      expect(first.res.status).toBe(400);
      expect(first.body.error).toBe('use_dpop_nonce');
      const nonce = first.res.headers.get('dpop-nonce')!;
      expect(nonce).toMatch(/^[A-Za-z0-9_-]{16,}$/);
      expect((await codeGrant(strict, await tokenProof(strict, key, { nonce: 'stale' }), issued)).body.error).toBe(
        'use_dpop_nonce',
      );

      const { body } = await codeGrant(strict, await tokenProof(strict, key, { nonce }), issued);
      expect(body.token_type).toBe('DPoP');
      const token = body.access_token!;
      const info = (claims: Record<string, unknown>) =>
        proof(key, { htm: 'GET', htu: `${strict.issuer}/userinfo`, ath: ath(token), ...claims });
      const asked = await userinfo(strict, `DPoP ${token}`, await info({}));
      expect(asked.status).toBe(401);
      expect(asked.headers.get('www-authenticate')).toMatch(/^DPoP .*error="use_dpop_nonce"/);
      expect(asked.headers.get('dpop-nonce')).toBe(nonce);
      expect((await userinfo(strict, `DPoP ${token}`, await info({ nonce }))).status).toBe(200);
    } finally {
      await strict.close();
    }
  });
});
