import { describe, expect, it } from '@jest/globals';
import request, { type Response } from 'supertest';
import type { OidcLoginOptions } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { txCookies } from './support/flow.js';
import {
  generateSigningKey,
  signHs256,
  signIdToken,
  signRs256Raw,
  unsignedToken,
  withAlg,
  type TokenHook,
} from './support/hostile-provider.js';
import { useHostileProvider } from './support/use-hostile-provider.js';
import { APP_BASE_URL, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } from './support/provider.js';

/**
 * OpenID Connect Core 1.0 §3.1.3.7 (ID token validation), RFC 9207 (`iss` in the authorization
 * response) and token endpoint faults, each against a provider that sends what a real one never
 * would. Every rejection is checked for its status, its stable code, and that no login was stored.
 */

const op = useHostileProvider();

interface Attempt {
  agent: request.Agent;
  /** The app's answer to the callback. */
  res: Response;
  /** The callback URL the provider redirected to. */
  callback: URL;
  /** Date.now() just before GET /login. */
  startedAt: number;
}

type App = ReturnType<typeof createApp>['app'];

function newApp(overrides: Partial<OidcLoginOptions> = {}): App {
  return createApp(testOptions(op, overrides)).app;
}

/** GET /login on the app, follow the 302 to the provider, and come back to /callback. */
async function attempt(app: App, agent: request.Agent = request.agent(app)): Promise<Attempt> {
  const startedAt = Date.now();
  const login = await agent.get('/login').expect(302);
  const authorizationUrl = new URL(login.headers.location!);
  expect(authorizationUrl.origin + authorizationUrl.pathname).toBe(`${op.issuer}/authorize`);
  const atProvider = await fetch(authorizationUrl, { redirect: 'manual' });
  expect(atProvider.status).toBe(302);
  const callback = new URL(atProvider.headers.get('location')!);
  expect(callback.origin + callback.pathname).toBe(REDIRECT_URI);
  const res = await agent.get(callback.pathname + callback.search);
  return { agent, res, callback, startedAt };
}

/** A login through the app with the token endpoint answering `hook`. */
function attemptWith(hook: TokenHook, overrides: Partial<OidcLoginOptions> = {}): Promise<Attempt> {
  op.onToken = hook;
  return attempt(newApp(overrides));
}

/** An ID token from the current key with `overrides` over valid claims. */
function idTokenWith(overrides: Record<string, unknown>): TokenHook {
  return async (ctx) => ctx.tokenResponse(await signIdToken(ctx.claims(overrides), ctx.keys[0]!));
}

/** An ID token from the current key without the claim `name`. */
function idTokenWithout(name: string): TokenHook {
  return async (ctx) => {
    const claims = ctx.claims();
    delete claims[name];
    return ctx.tokenResponse(await signIdToken(claims, ctx.keys[0]!));
  };
}

async function expectLoggedIn(a: Attempt): Promise<Record<string, unknown>> {
  expect(a.res.status).toBe(302);
  expect(a.res.headers.location).toBe('/');
  const probe = await a.agent.get('/probe/oidc').expect(200);
  expect(probe.body.isAuthenticated).toBe(true);
  return probe.body.claims;
}

async function expectRejected(a: Attempt, status: number, code: string): Promise<void> {
  expect({ status: a.res.status, code: a.res.body.code }).toEqual({ status, code });
  expect(a.res.body.status).toBe(status);
  expect(a.res.headers['cache-control']).toBe('no-store');
  // Readable, and no stack trace in it.
  expect(typeof a.res.body.message).toBe('string');
  expect(a.res.body.message).not.toMatch(/\n\s+at /);
  const probe = await a.agent.get('/probe/oidc').expect(200);
  expect(probe.body.isAuthenticated).toBe(false);
  expect(probe.body.claims).toBeNull();
  expect(probe.body.idToken).toBeNull();
  expect(probe.body.accessToken).toBeNull();
  // The transaction was used up: the same callback cannot be tried again.
  expect(probe.body.pending).toBe(0);
  expect(txCookies(a.agent).size).toBe(0);
}

const ID_TOKEN_INVALID = 'ERR_OIDC_ID_TOKEN_INVALID';

describe('the happy path through the hostile provider', () => {
  it('logs in with a valid token; the token request was honest (PKCE, exact redirect_uri, client_secret_basic)', async () => {
    const a = await attempt(newApp());
    const claims = await expectLoggedIn(a);
    expect(claims.sub).toBe('hostile-user-1');
    expect(claims.iss).toBe(op.issuer);

    expect(op.counts.token).toBe(1);
    expect(op.authorizations).toHaveLength(1);
    const authz = op.authorizations[0]!;
    expect(authz.params.get('response_type')).toBe('code');
    expect(authz.redirectUri).toBe(REDIRECT_URI);
    expect(authz.codeChallengeMethod).toBe('S256');
    expect(authz.nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const tr = op.tokenRequests[0]!;
    expect(tr.contentType).toMatch(/^application\/x-www-form-urlencoded/);
    expect(tr.body.get('grant_type')).toBe('authorization_code');
    expect(tr.body.get('code')).toBe(authz.code);
    expect(tr.body.get('redirect_uri')).toBe('http://app.localhost/callback');
    expect(tr.body.get('code_verifier')).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    // client_secret_basic, and the secret nowhere in the body.
    expect(tr.authorizationHeader).toMatch(/^Basic [A-Za-z0-9+/]+=*$/);
    const basic = Buffer.from(tr.authorizationHeader!.slice('Basic '.length), 'base64').toString().split(':');
    expect(basic.map((part) => decodeURIComponent(part.replace(/\+/g, ' ')))).toEqual([CLIENT_ID, CLIENT_SECRET]);
    expect(tr.body.has('client_secret')).toBe(false);
    // The code verifier never left the server before the token request.
    expect(authz.params.toString()).not.toContain(tr.body.get('code_verifier')!);
    expect(a.callback.href.startsWith(APP_BASE_URL)).toBe(true);
  });

  it('is rejected by the hostile provider itself when PKCE does not match (the default is honest)', async () => {
    // Swap the verifier on the way: the provider's own S256 check must refuse it.
    op.onToken = async (ctx) => {
      ctx.body.set('code_verifier', 'x'.repeat(43));
      return ctx.valid();
    };
    const a = await attempt(newApp());
    await expectRejected(a, 400, 'ERR_OIDC_TOKEN_REJECTED');
  });

  it('accepts a sub of exactly 255 characters and an iat within the clock tolerance before the login began', async () => {
    const a = await attemptWith(async (ctx) => {
      const iat = Math.floor(Date.now() / 1000) - 30;
      return ctx.tokenResponse(await signIdToken(ctx.claims({ sub: 's'.repeat(255), iat }), ctx.keys[0]!));
    });
    const claims = await expectLoggedIn(a);
    expect(claims.sub).toBe('s'.repeat(255));
  });

  it('accepts aud as an array holding only our client id, and azp equal to our client id', async () => {
    const a = await attemptWith(idTokenWith({ aud: [CLIENT_ID], azp: CLIENT_ID }));
    await expectLoggedIn(a);
  });
});

describe('ID token: nonce', () => {
  it('rejects a nonce mismatch', async () => {
    await expectRejected(await attemptWith(idTokenWith({ nonce: 'not-the-nonce-we-sent' })), 400, ID_TOKEN_INVALID);
  });

  it('rejects a missing nonce', async () => {
    await expectRejected(await attemptWith(idTokenWithout('nonce')), 400, ID_TOKEN_INVALID);
  });
});

describe('ID token: signature and keys', () => {
  it('rejects a bad signature (a key not in the JWKS, with the kid of one that is)', async () => {
    const impostor = await generateSigningKey('RS256', op.keys[0]!.kid);
    const a = await attemptWith(async (ctx) => ctx.tokenResponse(await signIdToken(ctx.claims(), impostor)));
    await expectRejected(a, 400, ID_TOKEN_INVALID);
  });

  it('rejects an unknown kid after refetching the JWKS exactly once', async () => {
    const app = newApp();
    // A first login warms the JWKS cache.
    await expectLoggedIn(await attempt(app));
    expect(op.counts.jwks).toBe(1);
    op.counts.jwks = 0;

    const stranger = await generateSigningKey('RS256');
    op.onToken = async (ctx) => ctx.tokenResponse(await signIdToken(ctx.claims(), stranger));
    const a = await attempt(app);
    await expectRejected(a, 400, ID_TOKEN_INVALID);
    expect(op.counts.jwks).toBe(1);
  });

  it('fetches the JWKS once for an unknown kid when the cache was empty', async () => {
    const stranger = await generateSigningKey('RS256');
    const a = await attemptWith(async (ctx) => ctx.tokenResponse(await signIdToken(ctx.claims(), stranger)));
    await expectRejected(a, 400, ID_TOKEN_INVALID);
    expect(op.counts.jwks).toBe(1);
  });

  it('bounds JWKS requests when many tokens carry made-up kids at once', async () => {
    const app = newApp({ httpTimeout: 10_000 });
    await expectLoggedIn(await attempt(app));
    op.counts.jwks = 0;
    // Keys made first: the six tokens then reach the app together, as in a burst (RSA key
    // generation inside the token request would spread them over seconds on a loaded machine).
    const strangers = await Promise.all(Array.from({ length: 6 }, () => generateSigningKey('RS256')));
    op.onToken = async (ctx) => ctx.tokenResponse(await signIdToken(ctx.claims(), strangers.pop()!));
    const started = Date.now();
    const attempts = await Promise.all(Array.from({ length: 6 }, () => attempt(app)));
    const seconds = (Date.now() - started) / 1000;
    for (const a of attempts) await expectRejected(a, 400, ID_TOKEN_INVALID);
    // Shared refetches, at most one a second, not one per token: six tokens that a loaded machine
    // spreads over more than a second may see a second refetch, never six.
    expect(op.counts.jwks).toBeGreaterThanOrEqual(1);
    expect(op.counts.jwks).toBeLessThanOrEqual(Math.min(5, 1 + Math.ceil(seconds)));
  });

  it('follows a key rotation: after a first login, a token with a new kid succeeds after one JWKS refetch', async () => {
    const app = newApp();
    await expectLoggedIn(await attempt(app));
    expect(op.counts.jwks).toBe(1);
    const oldKid = op.keys[0]!.kid;

    const fresh = await op.rotateKeys();
    expect(fresh.kid).not.toBe(oldKid);
    op.counts.jwks = 0;
    const second = await attempt(app);
    const claims = await expectLoggedIn(second);
    expect(claims.sub).toBe('hostile-user-1');
    expect(op.counts.jwks).toBe(1);
    const header = JSON.parse(
      Buffer.from((await second.agent.get('/probe/oidc')).body.idToken.split('.')[0], 'base64url').toString(),
    );
    expect(header.kid).toBe(fresh.kid);
  });

  it('ignores a key embedded in the header (jwk) and rejects the token', async () => {
    const attacker = await generateSigningKey('RS256');
    const a = await attemptWith(async (ctx) =>
      ctx.tokenResponse(await signIdToken(ctx.claims(), attacker, { jwk: attacker.publicJwk })),
    );
    await expectRejected(a, 400, ID_TOKEN_INVALID);
  });

  it('rejects a token with an unknown critical header parameter', async () => {
    const a = await attemptWith(async (ctx) =>
      ctx.tokenResponse(await signRs256Raw({ crit: ['x-unknown'], 'x-unknown': true }, ctx.claims(), ctx.keys[0]!)),
    );
    await expectRejected(a, 400, ID_TOKEN_INVALID);
  });

  it('accepts a token without kid when the JWKS holds one key', async () => {
    const a = await attemptWith(async (ctx) =>
      ctx.tokenResponse(await signIdToken(ctx.claims(), ctx.keys[0]!, { kid: undefined })),
    );
    await expectLoggedIn(a);
  });

  it('rejects a token without kid when the JWKS holds two keys (Core 10.1: kid is then required)', async () => {
    const before = [...op.keys];
    try {
      const second = await generateSigningKey('RS256');
      op.setKeys([second, ...before]);
      const a = await attemptWith(async (ctx) =>
        ctx.tokenResponse(await signIdToken(ctx.claims(), second, { kid: undefined })),
      );
      await expectRejected(a, 400, ID_TOKEN_INVALID);
    } finally {
      op.setKeys(before);
    }
  });

  it.each([
    ['not a JWT at all', 'garbage'],
    ['a header that is not base64url JSON', 'e30%.e30.c2ln'],
    ['a header that is not an object', `${Buffer.from('[]').toString('base64url')}.e30.c2ln`],
    ['five parts (a JWE)', 'a.b.c.d.e'],
    ['an empty string', ''],
    ['a number', 42],
  ])('rejects an id_token that is %s', async (_name, idToken) => {
    const a = await attemptWith((ctx) => ctx.tokenResponse(undefined, { id_token: idToken }));
    await expectRejected(a, 400, ID_TOKEN_INVALID);
  });

  it('rejects alg none', async () => {
    const a = await attemptWith((ctx) => ctx.tokenResponse(unsignedToken(ctx.claims())));
    await expectRejected(a, 400, ID_TOKEN_INVALID);
  });

  it('rejects HS256 with the client secret as the MAC key', async () => {
    const a = await attemptWith(async (ctx) => ctx.tokenResponse(await signHs256(ctx.claims(), CLIENT_SECRET)));
    await expectRejected(a, 400, ID_TOKEN_INVALID);
  });

  it('rejects RS384 when RS256 is pinned (even with a key the JWKS serves)', async () => {
    const a = await attemptWith(async (ctx) =>
      ctx.tokenResponse(await signIdToken(ctx.claims(), await withAlg(ctx.keys[0]!, 'RS384'))),
    );
    await expectRejected(a, 400, ID_TOKEN_INVALID);
  });
});

describe('ID token: iss, aud, azp', () => {
  it('rejects a wrong iss', async () => {
    await expectRejected(await attemptWith(idTokenWith({ iss: 'http://127.0.0.1:1' })), 400, ID_TOKEN_INVALID);
  });

  it('rejects an aud without our client id', async () => {
    await expectRejected(await attemptWith(idTokenWith({ aud: 'someone-else' })), 400, ID_TOKEN_INVALID);
  });

  it('rejects an aud with an extra untrusted audience (no azp)', async () => {
    await expectRejected(await attemptWith(idTokenWith({ aud: [CLIENT_ID, 'untrusted'] })), 400, ID_TOKEN_INVALID);
  });

  it('rejects an aud with an extra untrusted audience (azp our client id)', async () => {
    await expectRejected(
      await attemptWith(idTokenWith({ aud: [CLIENT_ID, 'untrusted'], azp: CLIENT_ID })),
      400,
      ID_TOKEN_INVALID,
    );
  });

  it('accepts an extra audience that is configured in additionalAudiences (with azp our client id)', async () => {
    const a = await attemptWith(idTokenWith({ aud: [CLIENT_ID, 'trusted-api'], azp: CLIENT_ID }), {
      additionalAudiences: ['trusted-api'],
    });
    await expectLoggedIn(a);
  });

  it('rejects an azp other than our client id with a single aud', async () => {
    await expectRejected(await attemptWith(idTokenWith({ azp: 'someone-else' })), 400, ID_TOKEN_INVALID);
  });
});

describe('ID token: exp, iat', () => {
  it('rejects an exp in the past', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRejected(await attemptWith(idTokenWith({ exp: now - 120, iat: now })), 400, ID_TOKEN_INVALID);
  });

  it('rejects an iat in the future', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRejected(await attemptWith(idTokenWith({ iat: now + 120, exp: now + 600 })), 400, ID_TOKEN_INVALID);
  });

  it('rejects an iat before the login began (beyond the clock tolerance)', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRejected(
      await attemptWith(idTokenWith({ iat: now - 120, auth_time: now - 120 })),
      400,
      ID_TOKEN_INVALID,
    );
  });
});

describe('ID token: auth_time with max_age', () => {
  it('accepts a recent auth_time when max_age was requested', async () => {
    const a = await attemptWith(idTokenWith({}), { authorizationParams: { max_age: 60 } });
    expect(op.authorizations[0]!.params.get('max_age')).toBe('60');
    await expectLoggedIn(a);
  });

  it('rejects a missing auth_time when max_age was requested', async () => {
    await expectRejected(
      await attemptWith(idTokenWithout('auth_time'), { authorizationParams: { max_age: 60 } }),
      400,
      ID_TOKEN_INVALID,
    );
  });

  it('rejects an auth_time older than max_age (beyond the clock tolerance)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const a = await attemptWith(idTokenWith({ auth_time: now - 600 }), { authorizationParams: { max_age: 60 } });
    await expectRejected(a, 400, ID_TOKEN_INVALID);
  });
});

describe('ID token: sub', () => {
  it('rejects a missing sub', async () => {
    await expectRejected(await attemptWith(idTokenWithout('sub')), 400, ID_TOKEN_INVALID);
  });

  it('rejects an empty sub', async () => {
    await expectRejected(await attemptWith(idTokenWith({ sub: '' })), 400, ID_TOKEN_INVALID);
  });

  it('rejects a sub of 256 characters', async () => {
    await expectRejected(await attemptWith(idTokenWith({ sub: 's'.repeat(256) })), 400, ID_TOKEN_INVALID);
  });
});

describe('token endpoint faults', () => {
  it('rejects a token response without id_token', async () => {
    await expectRejected(await attemptWith((ctx) => ctx.tokenResponse(undefined)), 400, ID_TOKEN_INVALID);
  });

  it('answers 502 when the token endpoint answers 500 (plain text)', async () => {
    await expectRejected(
      await attemptWith(() => ({ status: 500, body: 'Internal Server Error' })),
      502,
      'ERR_OIDC_PROVIDER_RESPONSE',
    );
  });

  it('answers 502 when the token endpoint answers 500 with an OAuth server_error body', async () => {
    const a = await attemptWith(() => ({ status: 500, body: { error: 'server_error', error_description: 'oops' } }));
    await expectRejected(a, 502, 'ERR_OIDC_PROVIDER_RESPONSE');
  });

  it('answers 502 when the token endpoint answers invalid JSON', async () => {
    const a = await attemptWith(() => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: '{"access_token": "x", ',
    }));
    await expectRejected(a, 502, 'ERR_OIDC_PROVIDER_RESPONSE');
  });

  it('answers 504 within httpTimeout when the token endpoint hangs', async () => {
    op.onToken = () => 'hang';
    const app = newApp({ httpTimeout: 500 });
    const started = Date.now();
    const a = await attempt(app);
    const elapsed = Date.now() - started;
    await expectRejected(a, 504, 'ERR_OIDC_PROVIDER_TIMEOUT');
    expect(a.res.headers['retry-after']).toBeDefined();
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(2000);
  });

  it('answers 502 naming the client credentials when the provider refuses them (401 invalid_client + WWW-Authenticate)', async () => {
    const a = await attempt(newApp({ clientSecret: 'not-the-secret', logger: false }));
    await expectRejected(a, 502, 'ERR_OIDC_PROVIDER_RESPONSE');
    expect(a.res.body.message).toMatch(/client credentials/);
    expect(op.counts.token).toBe(1);
  });

  it('answers 400 ERR_OIDC_TOKEN_REJECTED for invalid_grant', async () => {
    const a = await attemptWith(() => ({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'code expired' },
    }));
    await expectRejected(a, 400, 'ERR_OIDC_TOKEN_REJECTED');
  });
});

describe('authorization response', () => {
  it('rejects a wrong iss without calling the token endpoint', async () => {
    op.onAuthorize = ({ params, code }) => ({ code, state: params.get('state')!, iss: 'http://127.0.0.1:1' });
    const a = await attempt(newApp());
    await expectRejected(a, 400, 'ERR_OIDC_INVALID_CALLBACK');
    expect(op.counts.token).toBe(0);
  });

  it('rejects a missing iss (the provider advertises RFC 9207) without calling the token endpoint', async () => {
    op.onAuthorize = ({ params, code }) => ({ code, state: params.get('state')! });
    const a = await attempt(newApp());
    await expectRejected(a, 400, 'ERR_OIDC_INVALID_CALLBACK');
    expect(op.counts.token).toBe(0);
  });

  it('rejects a repeated iss without calling the token endpoint', async () => {
    op.onAuthorize = ({ params, code, issuer }) =>
      new URLSearchParams([
        ['code', code],
        ['state', params.get('state')!],
        ['iss', issuer],
        ['iss', issuer],
      ]);
    const a = await attempt(newApp());
    await expectRejected(a, 400, 'ERR_OIDC_INVALID_CALLBACK');
    expect(op.counts.token).toBe(0);
  });

  it('rejects a repeated code without calling the token endpoint', async () => {
    op.onAuthorize = ({ params, code, issuer }) =>
      new URLSearchParams([
        ['code', code],
        ['code', 'other'],
        ['state', params.get('state')!],
        ['iss', issuer],
      ]);
    const a = await attempt(newApp());
    await expectRejected(a, 400, 'ERR_OIDC_INVALID_CALLBACK');
    expect(op.counts.token).toBe(0);
  });

  it('checks iss before honouring an error response (mix-up: an error from another provider)', async () => {
    op.onAuthorize = ({ params }) => ({
      error: 'access_denied',
      state: params.get('state')!,
      iss: 'http://127.0.0.1:1',
    });
    const a = await attempt(newApp());
    await expectRejected(a, 400, 'ERR_OIDC_INVALID_CALLBACK');
    expect(op.counts.token).toBe(0);
  });

  it('does not reflect a malformed error code', async () => {
    op.onAuthorize = ({ params, issuer }) => ({
      error: '<img src=x onerror=alert(1)>',
      state: params.get('state')!,
      iss: issuer,
    });
    const a = await attempt(newApp());
    await expectRejected(a, 400, 'ERR_OIDC_AUTHORIZATION_ERROR');
    expect(a.res.text).not.toContain('<img');
    expect(op.counts.token).toBe(0);
  });

  it('answers access_denied with 401, without reflecting the error_description', async () => {
    op.onAuthorize = ({ params, issuer }) => ({
      error: 'access_denied',
      error_description: '<script>alert(1)</script>',
      state: params.get('state')!,
      iss: issuer,
    });
    const a = await attempt(newApp());
    await expectRejected(a, 401, 'ERR_OIDC_ACCESS_DENIED');
    expect(a.res.body.message).not.toContain('<script>');
    expect(a.res.text).not.toContain('<script>');
    expect(a.res.text).not.toContain('alert(1)');
    expect(op.counts.token).toBe(0);
  });
});

describe('replay', () => {
  it('a replayed callback URL after a failed login gets 400 ERR_OIDC_MISSING_TRANSACTION and no second token request', async () => {
    const a = await attemptWith(idTokenWith({ nonce: 'wrong' }));
    await expectRejected(a, 400, ID_TOKEN_INVALID);
    expect(op.counts.token).toBe(1);
    const replay = await a.agent.get(a.callback.pathname + a.callback.search);
    expect(replay.status).toBe(400);
    expect(replay.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
    expect(op.counts.token).toBe(1);
  });

  it('a callback URL replayed after a successful login makes no second token request (same browser: home; other browser: 400)', async () => {
    const app = newApp();
    const a = await attempt(app);
    await expectLoggedIn(a);
    expect(op.counts.token).toBe(1);

    const sameBrowser = await a.agent.get(a.callback.pathname + a.callback.search);
    expect(sameBrowser.status).toBe(302);
    expect(sameBrowser.headers.location).toBe('/');

    const other = request.agent(app);
    const stolen = await other.get(a.callback.pathname + a.callback.search);
    expect(stolen.status).toBe(400);
    expect(stolen.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
    expect((await other.get('/probe/oidc')).body.isAuthenticated).toBe(false);
    expect(op.counts.token).toBe(1);
  });

  it('a double-clicked callback (two at once) makes one token request', async () => {
    const app = newApp();
    const agent = request.agent(app);
    op.onToken = async (ctx) => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return ctx.valid();
    };
    const login = await agent.get('/login').expect(302);
    const atProvider = await fetch(login.headers.location!, { redirect: 'manual' });
    const callback = new URL(atProvider.headers.get('location')!);
    const path = callback.pathname + callback.search;
    const [first, second] = await Promise.all([agent.get(path), agent.get(path)]);
    expect(op.counts.token).toBe(1);
    const statuses = [first.status, second.status].sort();
    expect(statuses).toEqual([302, 400]);
    const failed = first.status === 400 ? first : second;
    expect(failed.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
  });
});
