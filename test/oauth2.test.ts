import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { MemoryStore } from 'express-session';
import request from 'supertest';
import { claimEquals, github, requireAuth, type OidcLoginOptions } from '../lib/index.js';
import { createApp } from './support/app.js';
import { expectConfigError } from './support/config-error.js';
import { fakeClock } from './support/clock.js';
import { GH_CLIENT_ID, GH_CLIENT_SECRET, OCTOCAT, startFakeGitHub, type FakeGitHub } from './support/fake-github.js';
import { generateSigningKey, signIdToken } from './support/hostile-provider.js';
import { APP_BASE_URL, REDIRECT_URI } from './support/provider.js';
import { storeAll } from './support/store.js';

/**
 * Plain OAuth 2.0 logins (no OpenID Connect, no ID token) through the github() preset, against a
 * fake GitHub on a loopback port that checks what github.com checks (client credentials,
 * redirect_uri, PKCE, single-use codes) and answers the way github.com does (errors with HTTP
 * 200, comma-separated scopes, no `iss`).
 */

let gh: FakeGitHub;
beforeAll(async () => {
  gh = await startFakeGitHub();
});
afterAll(() => gh.close());
beforeEach(() => gh.reset());
afterEach(() => expect(gh.errors).toEqual([]));

/** The preset's claims for OCTOCAT (with `iss: gh.url`, the configured issuer). */
const OCTOCAT_CLAIMS = {
  sub: '583231',
  name: 'The Octocat',
  preferred_username: 'octocat',
  picture: 'https://avatars.githubusercontent.com/u/583231?v=4',
  profile: 'https://github.com/octocat',
  email: 'octo.private@example.com',
  email_verified: true,
};

const HTML = { accept: 'text/html' };

interface Logged {
  warn: string[];
  error: string[];
}

function options(overrides: Partial<OidcLoginOptions> = {}, logged?: Logged): OidcLoginOptions {
  return {
    ...github({ clientId: GH_CLIENT_ID, clientSecret: GH_CLIENT_SECRET, enterpriseUrl: gh.url }),
    baseUrl: APP_BASE_URL,
    dangerouslyAllowInsecureHttp: true,
    httpTimeout: 1000,
    logger: logged ? { warn: (m) => logged.warn.push(m), error: (m) => logged.error.push(m) } : false,
    ...overrides,
  };
}

/** The test app (support/app.ts) plus routes for tokens, userinfo, claim checks and step-up. */
function gitHubApp(overrides: Partial<OidcLoginOptions> = {}, logged?: Logged) {
  return createApp(options(overrides, logged), {
    routes: (app) => {
      app.get('/token', async (req, res) => {
        const token = await req.oidc!.getAccessToken({ forceRefresh: req.query.force === '1' });
        res.json({ token });
      });
      app.get('/userinfo', async (req, res) => {
        res.json({ user: await req.oidc!.fetchUserInfo(), claims: req.oidc!.claims });
      });
      app.get('/octocat-only', requireAuth(claimEquals('preferred_username', 'octocat')), (_req, res) => {
        res.json({ ok: true });
      });
      app.get('/recent', requireAuth({ maxAge: 60 }), (_req, res) => {
        res.json({ ok: true });
      });
      app.get('/mfa', requireAuth({ acrValues: ['urn:mfa'] }), (_req, res) => {
        res.json({ ok: true });
      });
    },
  });
}

type App = ReturnType<typeof gitHubApp>['app'];

/** Plays the user: /login on the app, the fake GitHub's authorize endpoint, then the callback. */
async function loginWithGitHub(app: App, query = '', agent = request.agent(app)) {
  const start = await agent.get(`/login${query}`).expect(302);
  const authorize = new URL(start.headers.location!);
  const back = await request(gh.url)
    .get(authorize.pathname + authorize.search)
    .expect(302);
  const callback = new URL(back.headers.location!);
  const res = await agent.get(callback.pathname + callback.search);
  return { agent, start, authorize, callback, res };
}

async function probe(agent: request.Agent) {
  return (await agent.get('/probe/oidc').expect(200)).body as {
    isAuthenticated: boolean;
    claims: Record<string, unknown> | null;
    idToken: string | null;
    accessToken: string | null;
    refreshToken: string | null;
    scope: string | null;
    sessionId: string;
    pending: number;
  };
}

async function storeKeys(store: MemoryStore): Promise<string[]> {
  return Object.keys(await storeAll(store));
}

describe('a complete GitHub login', () => {
  it('sends the browser to GitHub with state and PKCE S256 but no nonce, and logs the user in with the mapped profile', async () => {
    const logged: Logged = { warn: [], error: [] };
    const { app, store } = gitHubApp({}, logged);
    const agent = request.agent(app);
    await agent.get('/').expect(200);
    const { start, authorize, res } = await loginWithGitHub(app, '?returnTo=/protected', agent);

    expect(start.headers['cache-control']).toBe('no-store');
    expect(authorize.origin + authorize.pathname).toBe(`${gh.url}/login/oauth/authorize`);
    const params = authorize.searchParams;
    expect(params.get('response_type')).toBe('code');
    expect(params.get('client_id')).toBe(GH_CLIENT_ID);
    expect(params.get('redirect_uri')).toBe(REDIRECT_URI);
    expect(params.get('scope')).toBe('read:user user:email');
    expect(params.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.get('code_challenge_method')).toBe('S256');
    expect(params.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.has('nonce')).toBe(false);

    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/protected');
    const p = await probe(agent);
    expect(p.isAuthenticated).toBe(true);
    expect(p.claims).toEqual({ ...OCTOCAT_CLAIMS, iss: gh.url });
    expect(p.idToken).toBeNull();
    expect(p.accessToken).toMatch(/^gho_/);
    expect(p.scope).toBe('read:user,user:email');
    expect(p.refreshToken).toBeNull();
    expect((await agent.get('/protected').expect(200)).body).toEqual({ sub: '583231', path: '/protected' });

    // The token request: the secret in the form body (client_secret_post), the PKCE verifier of the challenge.
    expect(gh.tokenRequests).toHaveLength(1);
    const tokenRequest = gh.tokenRequests[0]!;
    expect(tokenRequest.headers.authorization).toBeUndefined();
    expect(tokenRequest.headers.accept).toContain('application/json');
    expect(tokenRequest.body.get('client_secret')).toBe(GH_CLIENT_SECRET);
    expect(tokenRequest.body.get('redirect_uri')).toBe(REDIRECT_URI);
    const verifier = tokenRequest.body.get('code_verifier')!;
    expect(createHash('sha256').update(verifier).digest('base64url')).toBe(params.get('code_challenge'));
    // The profile with the access token and a User-Agent, then the primary verified email address.
    expect(gh.apiRequests.map((r) => r.path)).toEqual(['/user', '/user/emails']);
    for (const r of gh.apiRequests) {
      expect(r.headers.authorization).toBe(`Bearer ${p.accessToken}`);
      expect(r.headers['user-agent']).toBeTruthy();
    }
    // Nothing to warn about (no PKCE advertisement is expected of configured endpoints), and no
    // back-channel logout index records for a login without an ID token.
    expect(logged).toEqual({ warn: [], error: [] });
    expect((await storeKeys(store)).filter((k) => k.startsWith('oidc-'))).toEqual([]);
  });

  it('gives the logged-in user a new session id', async () => {
    const { app } = gitHubApp();
    const agent = request.agent(app);
    await agent.get('/login').expect(302);
    const before = (await probe(agent)).sessionId;
    await loginWithGitHub(app, '', agent);
    const after = await probe(agent);
    expect(after.isAuthenticated).toBe(true);
    expect(after.sessionId).not.toBe(before);
  });

  it('uses the public address, without email_verified, when the scope cannot read /user/emails', async () => {
    const { app } = gitHubApp({ scope: 'read:user' });
    const { agent, authorize } = await loginWithGitHub(app);
    expect(authorize.searchParams.get('scope')).toBe('read:user');
    const { claims } = await probe(agent);
    expect(claims).toEqual({ ...OCTOCAT_CLAIMS, iss: gh.url, email: 'octocat@github.com', email_verified: undefined });
    expect(claims).not.toHaveProperty('email_verified');
    expect(gh.counts.emails).toBe(0);
  });

  it('still logs in when /user/emails fails (the address is best effort), with the public address', async () => {
    gh.fail.emails = 403;
    const { app } = gitHubApp();
    const { agent, res } = await loginWithGitHub(app);
    expect(res.status).toBe(302);
    expect((await probe(agent)).claims).toMatchObject({ sub: '583231', email: 'octocat@github.com' });
  });

  it('leaves out what GitHub has not got (no name, no public email)', async () => {
    gh.user = { ...OCTOCAT, name: null, email: null };
    gh.emails = [];
    const { app } = gitHubApp();
    const { agent } = await loginWithGitHub(app);
    const { claims } = await probe(agent);
    expect(claims).toEqual({
      iss: gh.url,
      sub: '583231',
      preferred_username: 'octocat',
      picture: OCTOCAT.avatar_url,
      profile: OCTOCAT.html_url,
    });
  });

  it('keeps the raw profile as req.oidc.user with fetchUserInfo: true', async () => {
    const { app } = createApp(options({ fetchUserInfo: true }));
    app.get('/user', (req, res) => res.json(req.oidc!.user ?? null));
    const { agent } = await loginWithGitHub(app as App);
    expect((await agent.get('/user').expect(200)).body).toEqual(OCTOCAT);
  });
});

describe('requireAuth() and claim checks work the same', () => {
  it('sends a page load to /login and answers an API request 401 before the login, and lets both through after', async () => {
    const { app } = gitHubApp();
    const anonymous = await request(app).get('/protected').set(HTML).expect(302);
    expect(anonymous.headers.location).toBe('/login?returnTo=%2Fprotected');
    expect((await request(app).get('/protected').expect(401)).body.error).toBe('unauthenticated');
    const { agent } = await loginWithGitHub(app);
    await agent.get('/protected').set(HTML).expect(200);
    await agent.get('/protected').expect(200);
  });

  it('checks the mapped claims: 200 when they match, 403 when not', async () => {
    const { app } = gitHubApp();
    const { agent } = await loginWithGitHub(app);
    await agent.get('/octocat-only').expect(200);
    expect((await agent.get('/admin').expect(403)).body.error).toBe('forbidden');
  });
});

describe('state and the code are enforced as for OpenID Connect', () => {
  it('refuses a callback whose state is not the one sent, without any token request', async () => {
    const { app } = gitHubApp();
    const agent = request.agent(app);
    const start = await agent.get('/login').expect(302);
    const authorize = new URL(start.headers.location!);
    const back = new URL(
      (
        await request(gh.url)
          .get(authorize.pathname + authorize.search)
          .expect(302)
      ).headers.location!,
    );
    back.searchParams.set('state', 'x'.repeat(43));
    const res = await agent.get(back.pathname + back.search).expect(400);
    expect(res.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
    expect(gh.counts.token).toBe(0);
    expect((await probe(agent)).isAuthenticated).toBe(false);
  });

  it('refuses a callback without state', async () => {
    const { app } = gitHubApp();
    const { callback } = await (async () => {
      const agent = request.agent(app);
      const start = await agent.get('/login').expect(302);
      const authorize = new URL(start.headers.location!);
      return {
        callback: new URL((await request(gh.url).get(authorize.pathname + authorize.search)).headers.location!),
        agent,
      };
    })();
    callback.searchParams.delete('state');
    expect(
      (
        await request(app)
          .get(callback.pathname + callback.search)
          .expect(400)
      ).body.code,
    ).toBe('ERR_OIDC_MISSING_STATE');
    expect(gh.counts.token).toBe(0);
  });

  it('a replayed callback makes no second token request: home for the logged-in browser, refused for another', async () => {
    const { app } = gitHubApp();
    const { agent, callback } = await loginWithGitHub(app);
    const again = await agent.get(callback.pathname + callback.search).expect(302);
    expect(again.headers.location).toBe('/');
    const other = await request(app)
      .get(callback.pathname + callback.search)
      .expect(400);
    expect(other.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
    expect(gh.counts.token).toBe(1);
  });

  it('a used code injected into another login is refused by GitHub (HTTP 200 with an error): 400 and no session', async () => {
    const { app } = gitHubApp();
    const first = await loginWithGitHub(app);
    const usedCode = first.callback.searchParams.get('code')!;
    const victim = request.agent(app);
    const start = await victim.get('/login').expect(302);
    const state = new URL(start.headers.location!).searchParams.get('state')!;
    const res = await victim.get(`/callback?${new URLSearchParams({ code: usedCode, state }).toString()}`).expect(400);
    expect(res.body.code).toBe('ERR_OIDC_TOKEN_REJECTED');
    expect((await probe(victim)).isAuthenticated).toBe(false);
  });

  it('a code stolen from one browser does not log in another: PKCE binds it to the verifier of the browser that started', async () => {
    const { app } = gitHubApp();
    // The victim starts a login; the attacker gets the victim's code.
    const victim = request.agent(app);
    const victimStart = await victim.get('/login').expect(302);
    const victimAuthorize = new URL(victimStart.headers.location!);
    const stolen = new URL(
      (await request(gh.url).get(victimAuthorize.pathname + victimAuthorize.search)).headers.location!,
    ).searchParams.get('code')!;
    // The attacker's own login, finished with the stolen code.
    const attacker = request.agent(app);
    const attackerStart = await attacker.get('/login').expect(302);
    const state = new URL(attackerStart.headers.location!).searchParams.get('state')!;
    const res = await attacker.get(`/callback?${new URLSearchParams({ code: stolen, state }).toString()}`).expect(400);
    expect(res.body.code).toBe('ERR_OIDC_TOKEN_REJECTED');
    expect(gh.tokenRequests).toHaveLength(1);
    expect(gh.tokenRequests[0]!.body.get('code_verifier')).toBeTruthy();
    expect((await probe(attacker)).isAuthenticated).toBe(false);
  });

  it('access_denied at GitHub is a 401 without a token request', async () => {
    gh.fail.authorize = 'access_denied';
    const { app } = gitHubApp();
    const { res, agent } = await loginWithGitHub(app);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('ERR_OIDC_ACCESS_DENIED');
    expect(gh.counts.token).toBe(0);
    expect((await probe(agent)).isAuthenticated).toBe(false);
  });

  it.each([
    [500, 502, 'ERR_OIDC_PROVIDER_RESPONSE'],
    ['hang', 504, 'ERR_OIDC_PROVIDER_TIMEOUT'],
  ] as const)(
    'a token endpoint that answers %p: %i %s, no profile request, no session',
    async (fault, status, code) => {
      gh.fail.token = fault;
      const { app } = gitHubApp();
      const { res, agent } = await loginWithGitHub(app);
      expect(res.status).toBe(status);
      expect(res.body.code).toBe(code);
      expect(gh.counts.user).toBe(0);
      expect((await probe(agent)).isAuthenticated).toBe(false);
    },
  );

  it('refused client credentials are a 502 naming them', async () => {
    const { app } = gitHubApp({ clientSecret: 'not-the-secret' });
    const { res } = await loginWithGitHub(app);
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('ERR_OIDC_PROVIDER_RESPONSE');
    expect(res.body.message).toMatch(/client credentials/);
  });
});

describe('the profile request fails: no session', () => {
  const cases: [string, FakeGitHub['fail']['user'], number, string][] = [
    ['answers 500', 500, 502, 'ERR_OIDC_PROVIDER_RESPONSE'],
    ['answers 401 (the token refused)', 401, 502, 'ERR_OIDC_PROVIDER_RESPONSE'],
    ['answers HTML', 'garbage', 502, 'ERR_OIDC_PROVIDER_RESPONSE'],
    ['answers a JSON array', 'array', 502, 'ERR_OIDC_PROVIDER_RESPONSE'],
    ['drops the connection', 'disconnect', 503, 'ERR_OIDC_PROVIDER_UNREACHABLE'],
    ['never answers (httpTimeout)', 'hang', 504, 'ERR_OIDC_PROVIDER_TIMEOUT'],
  ];
  it.each(cases)('the endpoint %s (%p): %i %s', async (_name, fault, status, code) => {
    gh.fail.user = fault;
    const { app, store } = gitHubApp();
    const started = Date.now();
    const { res, agent } = await loginWithGitHub(app);
    expect(res.status).toBe(status);
    expect(res.body.code).toBe(code);
    expect(res.body.message).toMatch(/userinfo endpoint/);
    expect(Date.now() - started).toBeLessThan(3000);
    const p = await probe(agent);
    expect(p.isAuthenticated).toBe(false);
    expect(p.pending).toBe(0);
    expect((await storeKeys(store)).filter((k) => k.startsWith('oidc-'))).toEqual([]);
  });
});

describe('the profile mapping', () => {
  const refusals: [string, OidcLoginOptions['profile']][] = [
    [
      'throws',
      () => {
        throw new Error('no such field');
      },
    ],
    ['rejects', () => Promise.reject(new Error('later'))],
    ['returns no sub', () => ({ name: 'x' }) as unknown as { sub: string }],
    ['returns an empty sub', () => ({ sub: '' })],
    ['returns a numeric sub', () => ({ sub: 583231 }) as unknown as { sub: string }],
    ['returns a sub over 255 characters', () => ({ sub: 'x'.repeat(256) })],
    ['returns nothing', () => undefined as unknown as { sub: string }],
    ['returns claims that are not JSON', () => ({ sub: 'a', big: 1n })],
  ];
  it.each(refusals)('%s: 502 ERR_OIDC_PROFILE_INVALID and no session', async (_name, profile) => {
    const { app } = gitHubApp({ profile });
    const { res, agent } = await loginWithGitHub(app);
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('ERR_OIDC_PROFILE_INVALID');
    expect(res.body.message).toMatch(/profile/);
    expect((await probe(agent)).isAuthenticated).toBe(false);
  });

  it('the preset refuses a GitHub user without a numeric id rather than making one up', async () => {
    gh.user = { ...OCTOCAT, id: undefined };
    const { app } = gitHubApp();
    const { res, agent } = await loginWithGitHub(app);
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('ERR_OIDC_PROFILE_INVALID');
    expect(res.body.message).toMatch(/"sub"/);
    expect((await probe(agent)).isAuthenticated).toBe(false);
  });

  it('without "profile", the userinfo response itself must carry a sub', async () => {
    const { app } = gitHubApp({ profile: undefined });
    const { res } = await loginWithGitHub(app);
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('ERR_OIDC_PROFILE_INVALID');
    gh.user = { ...OCTOCAT, sub: 'octo-sub' };
    const second = await loginWithGitHub(app);
    expect(second.res.status).toBe(302);
    expect((await probe(second.agent)).claims).toMatchObject({ sub: 'octo-sub', login: 'octocat' });
  });

  it('an async mapping is given the userinfo, the token response and the provider API', async () => {
    const seen: unknown[] = [];
    const { app } = gitHubApp({
      profile: async (user, tokens, api) => {
        const emails = (await api.get(`${gh.url}/api/v3/user/emails`)) as { email: string }[];
        seen.push(tokens.access_token, tokens.token_type);
        return { sub: `gh-${String(user.id)}`, emails: emails.map((e) => e.email) };
      },
    });
    const { agent } = await loginWithGitHub(app);
    const p = await probe(agent);
    expect(p.claims).toEqual({
      iss: gh.url,
      sub: 'gh-583231',
      emails: ['octocat@users.noreply.github.com', 'octo.private@example.com'],
    });
    expect(seen).toEqual([p.accessToken, 'bearer']);
  });

  it('an API call of the mapping that fails keeps its code (here 502), and nobody is logged in', async () => {
    gh.fail.emails = 500;
    const { app } = gitHubApp({
      profile: async (user, _tokens, api) => {
        await api.get(`${gh.url}/api/v3/user/emails`);
        return { sub: String(user.id) };
      },
    });
    const { res, agent } = await loginWithGitHub(app);
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('ERR_OIDC_PROVIDER_RESPONSE');
    expect((await probe(agent)).isAuthenticated).toBe(false);
  });
});

it('an ID token a plain OAuth 2.0 login did not ask for is refused, even a well-signed one', async () => {
  const key = await generateSigningKey();
  const now = Math.floor(Date.now() / 1000);
  gh.extraTokenFields = {
    id_token: await signIdToken({ iss: gh.url, aud: GH_CLIENT_ID, sub: '583231', iat: now, exp: now + 300 }, key),
  };
  const { app } = gitHubApp();
  const { res, agent } = await loginWithGitHub(app);
  expect(res.status).toBe(400);
  expect(res.body.code).toBe('ERR_OIDC_ID_TOKEN_INVALID');
  expect(res.body.message).toMatch(/"openid" was not requested/);
  expect(gh.counts.user).toBe(0);
  expect((await probe(agent)).isAuthenticated).toBe(false);
});

describe('tokens and the profile after the login', () => {
  it('refreshes without an ID token (GitHub App tokens expire), keeping the claims; a revoked refresh token ends the login', async () => {
    gh.refreshTokens = true;
    gh.accessTokenTtl = 30; // within refreshLeeway (60 s): due for refresh at once
    const { app } = gitHubApp();
    const { agent } = await loginWithGitHub(app);
    const before = await probe(agent);
    expect(before.refreshToken).toMatch(/^ghr_/);

    const { token } = (await agent.get('/token').expect(200)).body as { token: string };
    expect(token).not.toBe(before.accessToken);
    const refreshed = gh.tokenRequests.at(-1)!.body;
    expect(refreshed.get('grant_type')).toBe('refresh_token');
    expect(refreshed.get('refresh_token')).toBe(before.refreshToken);
    const after = await probe(agent);
    expect(after).toMatchObject({
      isAuthenticated: true,
      accessToken: token,
      idToken: null,
      claims: { ...OCTOCAT_CLAIMS, iss: gh.url },
    });
    expect(after.refreshToken).not.toBe(before.refreshToken);
    // The new access token works at the API.
    await agent.get('/userinfo').expect(200);

    gh.revokeAll();
    const ended = await agent.get('/token?force=1').expect(401);
    expect(ended.body.code).toBe('ERR_OIDC_UNAUTHENTICATED');
    expect((await probe(agent)).isAuthenticated).toBe(false);
  });

  it('an access token that never expires is used as it is (no refresh token, no token request)', async () => {
    const { app } = gitHubApp();
    const { agent } = await loginWithGitHub(app);
    const { accessToken } = await probe(agent);
    expect((await agent.get('/token').expect(200)).body.token).toBe(accessToken);
    expect(gh.counts.token).toBe(1);
  });

  it('fetchUserInfo() reads the profile again, updates the claims and keeps the raw answer as user', async () => {
    const { app } = gitHubApp();
    const { agent } = await loginWithGitHub(app);
    gh.updateProfile({ ...OCTOCAT, name: 'Mona Lisa Octocat' });
    const { body } = await agent.get('/userinfo').expect(200);
    expect(body.user).toEqual({ ...OCTOCAT, name: 'Mona Lisa Octocat' });
    expect(body.claims).toEqual({ ...OCTOCAT_CLAIMS, iss: gh.url, name: 'Mona Lisa Octocat' });
    expect((await probe(agent)).claims).toEqual({ ...OCTOCAT_CLAIMS, iss: gh.url, name: 'Mona Lisa Octocat' });
  });

  it('fetchUserInfo() keeps what afterCallback decided: the hook runs again on the new profile (a claim it removed stays out, one it added stays in)', async () => {
    const reasons: string[] = [];
    const { app } = gitHubApp({
      afterCallback: (_req, _res, login, details) => {
        reasons.push(details.reason);
        const { email: _email, ...claims } = login.claims;
        login.claims = { ...claims, roles: ['admin'] } as typeof login.claims;
        return login;
      },
    });
    const { agent } = await loginWithGitHub(app);
    const decided = { ...OCTOCAT_CLAIMS, iss: gh.url, roles: ['admin'] } as Record<string, unknown>;
    delete decided.email;
    expect((await probe(agent)).claims).toEqual(decided);
    gh.updateProfile({ ...OCTOCAT, name: 'Mona Lisa Octocat' });
    const { body } = await agent.get('/userinfo').expect(200);
    expect(body.claims).toEqual({ ...decided, name: 'Mona Lisa Octocat' });
    expect((await probe(agent)).claims).toEqual({ ...decided, name: 'Mona Lisa Octocat' });
    expect(reasons).toEqual(['login', 'userinfo']);
  });

  it('fetchUserInfo(): a hook that refuses the renewed profile ends the login (403)', async () => {
    let refuse = false;
    const { app } = gitHubApp({
      afterCallback: () => {
        if (refuse) throw new Error('Suspended.');
      },
    });
    const { agent } = await loginWithGitHub(app);
    refuse = true;
    expect((await agent.get('/userinfo').expect(403)).body.code).toBe('ERR_OIDC_LOGIN_REFUSED');
    expect((await probe(agent)).isAuthenticated).toBe(false);
  });

  it('fetchUserInfo() refuses a profile of another user (400) and keeps the login as it was', async () => {
    const { app } = gitHubApp();
    const { agent } = await loginWithGitHub(app);
    gh.userOverride = { ...OCTOCAT, id: 1, login: 'someone-else' };
    expect((await agent.get('/userinfo').expect(400)).body.code).toBe('ERR_OIDC_USERINFO_INVALID');
    expect((await probe(agent)).claims).toEqual({ ...OCTOCAT_CLAIMS, iss: gh.url });
  });
});

describe('logout', () => {
  it('without end_session_endpoint: the local session is destroyed and the browser goes to the post-logout URL', async () => {
    const { app } = gitHubApp();
    const { agent } = await loginWithGitHub(app);
    const res = await agent.post('/logout').set('Sec-Fetch-Site', 'same-origin').expect(303);
    expect(res.headers.location).toBe(`${APP_BASE_URL}/`);
    expect((await probe(agent)).isAuthenticated).toBe(false);
    expect(gh.counts.revoke).toBe(0);
  });

  it('revokes the refresh token when the provider has a revocation endpoint', async () => {
    gh.refreshTokens = true;
    const { app } = gitHubApp({ server: { ...gh.server, issuer: gh.url } });
    const { agent } = await loginWithGitHub(app);
    const { refreshToken } = await probe(agent);
    await agent.post('/logout').set('Sec-Fetch-Site', 'same-origin').expect(303);
    expect(gh.revocations).toHaveLength(1);
    expect(gh.revocations[0]!.body.get('token')).toBe(refreshToken);
    expect(gh.revocations[0]!.body.get('token_type_hint')).toBe('refresh_token');
    expect((await probe(agent)).isAuthenticated).toBe(false);
  });

  it('mounts no back-channel logout route: nothing could ever be named by a logout token', async () => {
    const { app } = gitHubApp();
    await request(app).post('/backchannel-logout').type('form').send({ logout_token: 'x.y.z' }).expect(404);
  });
});

describe('step-up cannot be confirmed without an ID token', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('a fresh login passes maxAge by its own time; once older, the page gets 403 without a round trip to GitHub', async () => {
    const clock = fakeClock();
    const { app } = gitHubApp();
    const { agent } = await loginWithGitHub(app);
    await agent.get('/recent').set(HTML).expect(200);
    clock.advance(180);
    const redirect = await agent.get('/recent').set(HTML).expect(302);
    expect(redirect.headers.location).toBe('/login?returnTo=%2Frecent&max_age=60');
    const authorizations = gh.counts.authorize;
    const refused = await agent.get(redirect.headers.location!).expect(403);
    expect(refused.body.code).toBe('ERR_OIDC_STEP_UP_FAILED');
    expect(gh.counts.authorize).toBe(authorizations);
    // The earlier login stays; API clients get the RFC 9470 challenge as usual.
    expect((await probe(agent)).isAuthenticated).toBe(true);
    expect((await agent.get('/recent').expect(401)).body.error).toBe('insufficient_authentication');
  });
});

describe('what the profile cannot vouch for', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  /** A mapping that copies the user API's answer as it is (as the default mapping does). */
  const verbatim: OidcLoginOptions['profile'] = (user) => ({ ...user, sub: String(user.id) });

  it('an "acr" from the user API does not satisfy requireAuth({ acrValues })', async () => {
    gh.user = { ...OCTOCAT, acr: 'urn:mfa', amr: ['mfa'] };
    const { app } = gitHubApp({ profile: verbatim });
    const { agent } = await loginWithGitHub(app);
    const res = await agent.get('/mfa').expect(401);
    expect(res.body).toMatchObject({ error: 'insufficient_authentication', acr_values: 'urn:mfa' });
    const page = await agent.get('/mfa').set(HTML).expect(302);
    expect(page.headers.location).toBe('/login?returnTo=%2Fmfa&acr_values=urn%3Amfa');
    expect((await agent.get(page.headers.location!).expect(403)).body.code).toBe('ERR_OIDC_STEP_UP_FAILED');
  });

  it('an "auth_time" from the user API does not make an hour-old login recent for requireAuth({ maxAge })', async () => {
    const clock = fakeClock();
    gh.user = { ...OCTOCAT, auth_time: 9_999_999_999 };
    const { app } = gitHubApp({ profile: verbatim });
    const { agent } = await loginWithGitHub(app);
    await agent.get('/recent').set(HTML).expect(200);
    clock.advance(3600);
    await agent.get('/recent').set(HTML).expect(302);
  });

  it('claims name the configured issuer as "iss", and the reserved claims the user API sent are dropped', async () => {
    gh.user = {
      ...OCTOCAT,
      iss: 'https://accounts.google.com',
      aud: GH_CLIENT_ID,
      azp: GH_CLIENT_ID,
      nonce: 'n',
      acr: 'urn:mfa',
      amr: ['pwd'],
      auth_time: 1,
      sid: 's',
      tid: '3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d',
      exp: 9_999_999_999,
      iat: 1,
      nbf: 1,
    };
    const { app } = gitHubApp({ profile: verbatim });
    const { agent } = await loginWithGitHub(app);
    const { claims } = await probe(agent);
    expect(claims).toMatchObject({ iss: gh.url, sub: '583231', login: 'octocat' });
    for (const name of ['aud', 'azp', 'nonce', 'acr', 'amr', 'auth_time', 'sid', 'tid', 'exp', 'iat', 'nbf'])
      expect(claims).not.toHaveProperty(name);
  });

  it('"iss" is the configured issuer even when the mapping sets one; server.issuer when given', async () => {
    const { app } = gitHubApp({
      server: { ...gh.server, issuer: 'https://github.example.com' },
      profile: (user) => ({ sub: String(user.id), iss: 'https://github.com' }),
    });
    const { agent } = await loginWithGitHub(app);
    expect((await probe(agent)).claims).toEqual({ sub: '583231', iss: 'https://github.example.com' });
  });

  it('github.com and a GitHub Enterprise Server are different issuers', () => {
    const dotcom = github({ clientId: GH_CLIENT_ID, clientSecret: GH_CLIENT_SECRET });
    const enterprise = github({
      clientId: GH_CLIENT_ID,
      clientSecret: GH_CLIENT_SECRET,
      enterpriseUrl: 'https://github.example.com',
    });
    expect([dotcom.server!.issuer, enterprise.server!.issuer]).toEqual([
      'https://github.com',
      'https://github.example.com',
    ]);
  });
});

describe("profile's api.get() sends the access token to the provider only", () => {
  let other: { url: string; seen: (string | undefined)[]; close(): Promise<void> };
  beforeAll(async () => {
    const seen: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('[{"login":"octo-org"}]');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    other = {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      seen,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  });
  afterAll(() => other.close());
  beforeEach(() => {
    other.seen.length = 0;
  });

  /** A mapping that follows a URL the user API gave (GitHub's organizations_url...). */
  const following: OidcLoginOptions['profile'] = async (user, _tokens, api) => ({
    sub: String(user.id),
    orgs: (await api.get(String(user.organizations_url))) as never,
  });

  it("refuses a URL on another origin than the userinfo endpoint's before sending anything: no login", async () => {
    gh.user = { ...OCTOCAT, organizations_url: `${other.url}/steal` };
    const errors: unknown[] = [];
    const { app } = gitHubApp({
      profile: async (user, tokens, api) => {
        try {
          return await following(user, tokens, api);
        } catch (err) {
          errors.push(err);
          throw err;
        }
      },
    });
    const { res, agent } = await loginWithGitHub(app);
    expect(other.seen).toEqual([]);
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('ERR_OIDC_PROFILE_INVALID');
    expect(errors).toEqual([expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })]);
    expect((errors[0] as Error).message).toContain('"profileApiOrigins"');
    expect((await probe(agent)).isAuthenticated).toBe(false);
  });

  it('sends it to an origin listed in profileApiOrigins', async () => {
    gh.user = { ...OCTOCAT, organizations_url: `${other.url}/orgs` };
    const { app } = gitHubApp({ profile: following, profileApiOrigins: [other.url] });
    const { res, agent } = await loginWithGitHub(app);
    expect(res.status).toBe(302);
    const p = await probe(agent);
    expect(p.claims).toMatchObject({ sub: '583231', orgs: [{ login: 'octo-org' }] });
    expect(other.seen).toEqual([`Bearer ${p.accessToken}`]);
  });

  it.each([
    ['not an array', 'https://api.example.com', /"profileApiOrigins" must be an array of origins/],
    [
      'a URL with a path',
      ['https://api.example.com/v1'],
      /"profileApiOrigins" must list origins .* not "https:\/\/api.example.com\/v1"/,
    ],
    ['not a URL', ['api.example.com'], /"profileApiOrigins" must list origins/],
    ['http without dangerouslyAllowInsecureHttp', ['http://api.example.com'], /"profileApiOrigins" must use https/],
  ])('refuses profileApiOrigins %s at start-up', (_name, value, message) => {
    expectConfigError(
      {
        ...options({
          dangerouslyAllowInsecureHttp: false,
          server: { ...github({ clientId: 'a', clientSecret: 'b' }).server! },
        }),
        profileApiOrigins: value as string[],
      },
      message,
    );
  });

  it('refuses profileApiOrigins for an OpenID Connect login (no profile mapping)', () => {
    expectConfigError(
      {
        issuer: 'https://idp.example.com',
        clientId: 'a',
        clientSecret: 'b',
        baseUrl: APP_BASE_URL,
        profileApiOrigins: ['https://api.example.com'],
      },
      /"profileApiOrigins" is for "profile"/,
    );
  });
});
