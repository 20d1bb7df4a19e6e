import { generateKeyPairSync } from 'node:crypto';
import { beforeEach, describe, expect, it } from '@jest/globals';
import { jwtVerify } from 'jose';
import * as client from 'openid-client';
import session from 'express-session';
import request, { type Response } from 'supertest';
import { oidcLogin, type OidcLoginOptions } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { expectConfigError } from './support/config-error.js';
import {
  generateSigningKey,
  signIdToken,
  type HostileProvider,
  type TokenContext,
  type TokenHook,
} from './support/hostile-provider.js';
import { useHostileProvider } from './support/use-hostile-provider.js';
import { logoutClaims } from './support/logout-kit.js';
import { APP_BASE_URL, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } from './support/provider.js';

/**
 * Issuers that are not one plain string: Microsoft Entra ID's multi-tenant endpoints, whose
 * discovery document names the template `…/{tenantid}/v2.0` and whose ID tokens each name their
 * own tenant (`tid`, and `iss` with it), and issuers written with or without a trailing slash.
 * oidc-provider serves neither, so the hostile provider plays them, with real tokens, PKCE and
 * client authentication.
 */

const TENANT_A = '3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const TENANT_B = 'a0b1c2d3-e4f5-4607-8819-2a3b4c5d6e7f';
/** The tenant of personal Microsoft accounts. */
const CONSUMERS = '9188040d-6c67-4c5b-b112-36a304b66dad';

type App = ReturnType<typeof createApp>['app'];

interface Attempt {
  agent: request.Agent;
  res: Response;
}

/** GET /login, through the provider's authorization endpoint, and back to /callback. */
async function attempt(app: App, agent: request.Agent = request.agent(app)): Promise<Attempt> {
  const login = await agent.get('/login');
  expect(login.status).toBe(302);
  const atProvider = await fetch(login.headers.location!, { redirect: 'manual' });
  expect(atProvider.status).toBe(302);
  const callback = new URL(atProvider.headers.get('location')!);
  expect(callback.origin + callback.pathname).toBe(REDIRECT_URI);
  return { agent, res: await agent.get(callback.pathname + callback.search) };
}

async function expectLoggedIn(a: Attempt): Promise<Record<string, unknown>> {
  expect({ status: a.res.status, body: a.res.body as unknown }).toMatchObject({ status: 302 });
  const probe = await a.agent.get('/probe/oidc').expect(200);
  expect(probe.body.isAuthenticated).toBe(true);
  return probe.body.claims;
}

async function expectRejected(a: Attempt, status: number, code: string): Promise<string> {
  expect({ status: a.res.status, code: a.res.body.code }).toEqual({ status, code });
  const probe = await a.agent.get('/probe/oidc').expect(200);
  expect(probe.body.isAuthenticated).toBe(false);
  expect(probe.body.idToken).toBeNull();
  expect(probe.body.pending).toBe(0);
  return a.res.body.message;
}

/** An ID token with `overrides` over the provider's valid claims, signed with its current key. */
function idTokenWith(overrides: Record<string, unknown>): TokenHook {
  return async (ctx) => ctx.tokenResponse(await signIdToken(ctx.claims(overrides), ctx.keys[0]!));
}

/** The authorization response as Entra sends it: `code` and `state`, no `iss`. */
function withoutIss(op: HostileProvider): void {
  op.onAuthorize = ({ params, code }) => ({ code, state: params.get('state') ?? '' });
}

describe('Microsoft Entra ID multi-tenant: https://login.microsoftonline.com/common/v2.0', () => {
  // Discovery at <origin>/common/v2.0/.well-known/openid-configuration names <origin>/{tenantid}/v2.0,
  // without RFC 9207 (Entra sends no "iss" in the authorization response).
  const op = useHostileProvider({
    issuerPath: '/common/v2.0',
    metadata: (issuer) => ({
      issuer: issuer.replace('/common/v2.0', '/{tenantid}/v2.0'),
      authorization_response_iss_parameter_supported: false,
    }),
  });
  beforeEach(() => withoutIss(op));

  const issuerOf = (tid: string) => `${op.origin}/${tid}/v2.0`;
  /** A valid ID token of a user in tenant `tid`. */
  const tenantToken = (tid: string, overrides: Record<string, unknown> = {}): TokenHook =>
    idTokenWith({ iss: issuerOf(tid), tid, ...overrides });
  const newApp = (overrides: Partial<OidcLoginOptions> = {}): App =>
    createApp(testOptions(op, { allowedTenants: [TENANT_A], ...overrides })).app;

  describe('logins', () => {
    it('logs in a user of an allowed tenant with one token request; the claims keep its iss and tid', async () => {
      op.onToken = tenantToken(TENANT_A);
      const claims = await expectLoggedIn(await attempt(newApp()));
      expect(claims).toMatchObject({ iss: issuerOf(TENANT_A), tid: TENANT_A, sub: 'hostile-user-1' });
      // The response was kept and processed for its tenant, not requested twice.
      expect(op.counts).toMatchObject({ discovery: 1, token: 1 });
    });

    it('refuses a user of a tenant not in allowedTenants: 403 ERR_OIDC_TENANT_NOT_ALLOWED, nothing stored', async () => {
      op.onToken = tenantToken(TENANT_B);
      const message = await expectRejected(await attempt(newApp()), 403, 'ERR_OIDC_TENANT_NOT_ALLOWED');
      expect(message).toMatch(/cannot log in to this application/);
      expect(message).not.toContain(TENANT_B);
    });

    it("lets every tenant's users in with allowedTenants: 'any'", async () => {
      const app = newApp({ allowedTenants: 'any' });
      for (const tid of [TENANT_A, TENANT_B, CONSUMERS]) {
        op.onToken = tenantToken(tid);
        expect(await expectLoggedIn(await attempt(app))).toMatchObject({ iss: issuerOf(tid), tid });
      }
    });

    it('compares tenant IDs without regard to case, and lists several', async () => {
      const app = newApp({ allowedTenants: [TENANT_B.toUpperCase(), TENANT_A] });
      op.onToken = tenantToken(TENANT_B);
      await expectLoggedIn(await attempt(app));
      op.onToken = tenantToken(TENANT_A);
      await expectLoggedIn(await attempt(app));
    });
  });

  describe('the ID token must name its own tenant', () => {
    it('refuses an iss that names another tenant than tid, even when both are allowed', async () => {
      op.onToken = tenantToken(TENANT_A, { iss: issuerOf(TENANT_B) });
      const message = await expectRejected(
        await attempt(newApp({ allowedTenants: [TENANT_A, TENANT_B] })),
        400,
        'ERR_OIDC_ID_TOKEN_INVALID',
      );
      expect(message).toMatch(/"iss" does not name the tenant in "tid"/);
    });

    it.each([
      ['a domain name', { tid: 'contoso.onmicrosoft.com' }],
      ['missing', { tid: undefined }],
      ['not a string', { tid: 42 }],
      ['a GUID with a path after it', { tid: `${TENANT_A}/x` }],
    ])('refuses a tid that is not a tenant ID (%s)', async (_name, claims) => {
      op.onToken = async (ctx) => {
        const tid = claims.tid;
        const iss = typeof tid === 'string' ? issuerOf(tid) : issuerOf(TENANT_A);
        return ctx.tokenResponse(await signIdToken(ctx.claims({ iss, tid }), ctx.keys[0]!));
      };
      const message = await expectRejected(
        await attempt(newApp({ allowedTenants: 'any' })),
        400,
        'ERR_OIDC_ID_TOKEN_INVALID',
      );
      expect(message).toMatch(/"tid" must be the tenant ID/);
    });

    it('refuses the template itself as iss', async () => {
      op.onToken = tenantToken(TENANT_A, { iss: `${op.origin}/{tenantid}/v2.0` });
      await expectRejected(await attempt(newApp()), 400, 'ERR_OIDC_ID_TOKEN_INVALID');
    });

    it('still verifies the signature, the nonce and the audience of the tenant token', async () => {
      const app = newApp();
      const impostor = await generateSigningKey('RS256', op.keys[0]!.kid);
      op.onToken = async (ctx) =>
        ctx.tokenResponse(await signIdToken(ctx.claims({ iss: issuerOf(TENANT_A), tid: TENANT_A }), impostor));
      await expectRejected(await attempt(app), 400, 'ERR_OIDC_ID_TOKEN_INVALID');
      op.onToken = tenantToken(TENANT_A, { nonce: 'another-nonce' });
      await expectRejected(await attempt(app), 400, 'ERR_OIDC_ID_TOKEN_INVALID');
      op.onToken = tenantToken(TENANT_A, { aud: 'another-client' });
      await expectRejected(await attempt(app), 400, 'ERR_OIDC_ID_TOKEN_INVALID');
    });

    it('handles a refused code as with any provider: 400 ERR_OIDC_TOKEN_REJECTED', async () => {
      op.onToken = () => ({
        status: 400,
        body: { error: 'invalid_grant', error_description: 'AADSTS54005: the code was already redeemed' },
      });
      await expectRejected(await attempt(newApp()), 400, 'ERR_OIDC_TOKEN_REJECTED');
      expect(op.counts.token).toBe(1);
    });
  });

  describe('RFC 9207 iss in the authorization response', () => {
    /** The authorization response carries `iss`. */
    const withIss = (iss: string) => {
      op.onAuthorize = ({ params, code }) => ({ code, state: params.get('state') ?? '', iss });
    };

    it("accepts an iss naming the ID token's tenant", async () => {
      withIss(issuerOf(TENANT_A));
      op.onToken = tenantToken(TENANT_A);
      await expectLoggedIn(await attempt(newApp()));
    });

    it.each([
      [
        'invalid_grant: the code is refused',
        400,
        { error: 'invalid_grant', error_description: 'AADSTS54005: the code was already redeemed' },
        400,
        'ERR_OIDC_TOKEN_REJECTED',
      ],
      [
        'invalid_client: the client credentials are refused',
        401,
        { error: 'invalid_client', error_description: 'AADSTS7000215: invalid client secret' },
        502,
        'ERR_OIDC_PROVIDER_RESPONSE',
      ],
    ])(
      'reports a token error response as it is, not as another tenant (%s)',
      async (_name, tokenStatus, body, status, code) => {
        withIss(issuerOf(TENANT_A));
        op.onToken = () => ({ status: tokenStatus, body });
        const message = await expectRejected(await attempt(newApp()), status, code);
        expect(message).not.toMatch(/tenant/);
        expect(op.counts.token).toBe(1);
      },
    );

    it('refuses an ID token of another tenant than the iss of the authorization response', async () => {
      withIss(issuerOf(TENANT_B));
      op.onToken = tenantToken(TENANT_A);
      await expectRejected(
        await attempt(newApp({ allowedTenants: [TENANT_A, TENANT_B] })),
        400,
        'ERR_OIDC_ID_TOKEN_INVALID',
      );
    });

    it.each([
      ['the template', '{tenantid}'],
      ['another provider', 'http://127.0.0.1:1/'],
      ['a tenant name', 'contoso'],
    ])('refuses an iss that is no tenant of this issuer (%s) without a token request', async (_name, iss) => {
      withIss(iss.startsWith('http') ? iss : issuerOf(iss));
      op.onToken = tenantToken(TENANT_A);
      await expectRejected(await attempt(newApp()), 400, 'ERR_OIDC_INVALID_CALLBACK');
      expect(op.counts.token).toBe(0);
    });
  });

  describe('refresh and back-channel logout', () => {
    /** An app with `/token?force` (getAccessToken({ forceRefresh: true })) on top of createApp's routes. */
    function refreshApp(overrides: Partial<OidcLoginOptions> = {}): App {
      const app = newApp(overrides);
      app.get('/token', async (req, res) => {
        try {
          res.json({ accessToken: await req.oidc!.getAccessToken({ forceRefresh: true }) });
        } catch (err) {
          const e = err as { status?: number; code?: string };
          res.status(e.status ?? 500).json({ code: e.code });
        }
      });
      return app;
    }

    /** Logs in with a refresh token; refresh requests answer `onRefresh`. */
    function tokens(tid: string, onRefresh: (ctx: TokenContext) => Promise<Record<string, unknown>>): TokenHook {
      return async (ctx) => {
        if (ctx.body.get('grant_type') === 'refresh_token') {
          return ctx.tokenResponse(
            await signIdToken(ctx.claims({ auth_time: undefined, ...(await onRefresh(ctx)) }), ctx.keys[0]!),
            {
              refresh_token: `rt-${Math.random()}`,
            },
          );
        }
        return ctx.tokenResponse(await signIdToken(ctx.claims({ iss: issuerOf(tid), tid }), ctx.keys[0]!), {
          refresh_token: 'rt-0',
        });
      };
    }

    it("refreshes with the tenant's issuer: a refreshed ID token of the same tenant is accepted", async () => {
      const app = refreshApp();
      op.onToken = tokens(TENANT_A, async () => ({ iss: issuerOf(TENANT_A), tid: TENANT_A }));
      const { agent } = await attempt(app);
      await agent.get('/token').expect(200);
      await agent.get('/token').expect(200);
      expect(op.counts.token).toBe(3);
      expect((await agent.get('/probe/oidc')).body.claims).toMatchObject({ iss: issuerOf(TENANT_A), tid: TENANT_A });
    });

    it.each([
      ['iss and tid', { iss: TENANT_B, tid: TENANT_B }],
      ['tid only', { iss: TENANT_A, tid: TENANT_B }],
    ])('ends the login when a refreshed ID token names another tenant (%s)', async (_name, refreshed) => {
      const app = refreshApp({ allowedTenants: [TENANT_A, TENANT_B] });
      op.onToken = tokens(TENANT_A, async () => ({ iss: issuerOf(refreshed.iss), tid: refreshed.tid }));
      const { agent } = await attempt(app);
      expect((await agent.get('/token')).body.code).toBe('ERR_OIDC_ID_TOKEN_INVALID');
      expect((await agent.get('/probe/oidc')).body.isAuthenticated).toBe(false);
    });

    it('ends a login whose tenant is no longer allowed at its next refresh, without a token request', async () => {
      // Same store, two configurations: the app restarted with a shorter allowedTenants.
      const store = new session.MemoryStore();
      const make = (allowedTenants: readonly string[]) => {
        return createApp(testOptions(op, { allowedTenants }), {
          store,
          probes: false,
          routes: (app) => {
            app.get('/probe/oidc', (req, res) => res.json({ isAuthenticated: req.oidc!.isAuthenticated() }));
            app.get('/token', (req, res) => {
              req.oidc!.getAccessToken({ forceRefresh: true }).then(
                () => res.json({ ok: true }),
                (err: { status: number; code: string }) => res.status(err.status).json({ code: err.code }),
              );
            });
          },
        }).app;
      };
      op.onToken = tokens(TENANT_B, async () => ({ iss: issuerOf(TENANT_B), tid: TENANT_B }));
      const login = await attempt(make([TENANT_A, TENANT_B]));
      expect((await login.agent.get('/probe/oidc')).body.isAuthenticated).toBe(true);
      const cookie = login.res.headers['set-cookie'] as unknown as string[];
      const after = make([TENANT_A]);
      const res = await request(after).get('/token').set('Cookie', cookie);
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 403, code: 'ERR_OIDC_TENANT_NOT_ALLOWED' });
      expect(op.counts.token).toBe(1);
      expect((await request(after).get('/probe/oidc').set('Cookie', cookie)).body.isAuthenticated).toBe(false);
    });

    /** POST /backchannel-logout with `claims` signed by the provider. */
    async function backchannel(app: App, claims: Record<string, unknown>): Promise<Response> {
      const token = await signIdToken(logoutClaims('', CLIENT_ID, { sub: 'hostile-user-1', ...claims }), op.keys[0]!, {
        typ: 'logout+jwt',
      });
      return request(app).post('/backchannel-logout').type('form').send({ logout_token: token });
    }

    it("ends the session on a logout token with the tenant's iss and tid, and refuses other tenants' tokens", async () => {
      const app = newApp({ allowedTenants: [TENANT_A] });
      op.onToken = tenantToken(TENANT_A);
      const { agent } = await attempt(app);
      // Another tenant (not allowed), an iss not matching tid, the template, no tid: 400, nobody logged out.
      for (const claims of [
        { iss: issuerOf(TENANT_B), tid: TENANT_B },
        { iss: issuerOf(TENANT_B), tid: TENANT_A },
        { iss: `${op.origin}/{tenantid}/v2.0`, tid: TENANT_A },
        { iss: issuerOf(TENANT_A) },
      ]) {
        const res = await backchannel(app, claims);
        expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_request' });
      }
      expect((await agent.get('/probe/oidc')).body.isAuthenticated).toBe(true);
      await backchannel(app, { iss: issuerOf(TENANT_A), tid: TENANT_A }).then((res) => expect(res.status).toBe(200));
      expect((await agent.get('/probe/oidc')).body.isAuthenticated).toBe(false);
    });
  });
});

describe('Microsoft Entra ID multi-tenant with a client assertion (private_key_jwt)', () => {
  const op = useHostileProvider({
    issuerPath: '/common/v2.0',
    metadata: (issuer) => ({
      issuer: issuer.replace('/common/v2.0', '/{tenantid}/v2.0'),
      authorization_response_iss_parameter_supported: false,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS256'],
    }),
  });
  beforeEach(() => withoutIss(op));

  it("sends the token endpoint as the assertion's aud, not the {tenantid} template openid-client would use", async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const audiences: unknown[] = [];
    op.onToken = async (ctx) => {
      // What Entra checks of a client assertion: signed by the client's key, iss = sub = client id,
      // aud = the token endpoint.
      const { payload } = await jwtVerify(ctx.body.get('client_assertion') ?? '', publicKey, {
        audience: `${op.origin}/token`,
        issuer: CLIENT_ID,
        subject: CLIENT_ID,
        algorithms: ['RS256'],
      });
      audiences.push(payload.aud);
      expect(ctx.body.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      return ctx.tokenResponse(
        await signIdToken(ctx.claims({ iss: `${op.origin}/${TENANT_A}/v2.0`, tid: TENANT_A }), ctx.keys[0]!),
      );
    };
    const app = createApp(
      testOptions(op, {
        allowedTenants: [TENANT_A],
        clientAuthMethod: 'private_key_jwt',
        clientPrivateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      }),
    ).app;
    expect(await expectLoggedIn(await attempt(app))).toMatchObject({ tid: TENANT_A });
    expect(audiences).toEqual([`${op.origin}/token`]);
  });
});

describe('Microsoft Entra ID consumers: a fixed tenant in the discovery document', () => {
  // /consumers/v2.0 discovers the personal accounts' tenant itself, not a template.
  const op = useHostileProvider({
    issuerPath: '/consumers/v2.0',
    metadata: (issuer) => ({
      issuer: issuer.replace('/consumers/v2.0', `/${CONSUMERS}/v2.0`),
      authorization_response_iss_parameter_supported: false,
    }),
  });
  beforeEach(() => withoutIss(op));
  const issuerOf = (tid: string) => `${op.origin}/${tid}/v2.0`;

  it('logs in a personal account; a token of another tenant is refused', async () => {
    const app = createApp(testOptions(op, { allowedTenants: [CONSUMERS] })).app;
    op.onToken = idTokenWith({ iss: issuerOf(CONSUMERS), tid: CONSUMERS });
    expect(await expectLoggedIn(await attempt(app))).toMatchObject({ iss: issuerOf(CONSUMERS), tid: CONSUMERS });
    op.onToken = idTokenWith({ iss: issuerOf(TENANT_A), tid: TENANT_A });
    await expectRejected(await attempt(app), 400, 'ERR_OIDC_ID_TOKEN_INVALID');
    op.onToken = idTokenWith({ iss: issuerOf(CONSUMERS), tid: TENANT_A });
    await expectRejected(await attempt(app), 400, 'ERR_OIDC_ID_TOKEN_INVALID');
  });

  it('says at discovery when allowedTenants does not list the one tenant the document names', async () => {
    const agent = request.agent(createApp(testOptions(op, { allowedTenants: [TENANT_A] })).app);
    const res = await agent.get('/login');
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 502, code: 'ERR_OIDC_PROVIDER_MISMATCH' });
    expect(res.body.message).toContain(`the one tenant ${CONSUMERS}`);
    expect(op.counts.authorize).toBe(0);
  });
});

describe('Microsoft Entra ID: what discovery may announce', () => {
  /** /login's answer from an app against `op` with `options`. */
  async function loginWith(op: HostileProvider, options: Partial<OidcLoginOptions>): Promise<Response> {
    return request(createApp(testOptions(op, options)).app).get('/login');
  }

  describe('a {tenantid} issuer for an issuer that is not multi-tenant', () => {
    const op = useHostileProvider({ metadata: (issuer) => ({ issuer: `${issuer}/{tenantid}/v2.0` }) });

    it('is refused with a hint at the multi-tenant endpoint (502 ERR_OIDC_PROVIDER_MISMATCH)', async () => {
      const res = await loginWith(op, {});
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 502, code: 'ERR_OIDC_PROVIDER_MISMATCH' });
      expect(res.body.message).toMatch(
        /multi-tenant endpoint: set "issuer" to .*organizations\/v2\.0 .*"allowedTenants"/,
      );
      expect(op.counts.authorize).toBe(0);
    });
  });

  describe('a {tenantid} issuer configured as the issuer itself', () => {
    // openid-client's exact check passes (the issuer is the template): it must be refused all the same.
    const op = useHostileProvider({ issuerPath: '/{tenantid}/v2.0' });

    it('is refused: no token could name it', async () => {
      const res = await loginWith(op, {});
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 502, code: 'ERR_OIDC_PROVIDER_MISMATCH' });
      expect(res.body.message).toMatch(/issuer template .* which no token can match/);
      expect(op.counts).toMatchObject({ discovery: 1, authorize: 0 });
    });
  });

  describe('a multi-tenant issuer whose document names something else', () => {
    const op = useHostileProvider({
      issuerPath: '/organizations/v2.0',
      metadata: () => ({ issuer: 'http://127.0.0.1:1/{tenantid}/v2.0' }),
    });

    it('refuses a template on another origin', async () => {
      const res = await loginWith(op, { allowedTenants: 'any' });
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 502, code: 'ERR_OIDC_PROVIDER_MISMATCH' });
      expect(res.body.message).toContain('"http://127.0.0.1:1/{tenantid}/v2.0"');
    });
  });

  describe('a multi-tenant issuer whose document names itself', () => {
    const op = useHostileProvider({ issuerPath: '/organizations/v2.0' });

    it('refuses it: a multi-tenant endpoint names a tenant or the template', async () => {
      const res = await loginWith(op, { allowedTenants: [TENANT_A] });
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 502, code: 'ERR_OIDC_PROVIDER_MISMATCH' });
    });
  });
});

describe('allowedTenants at start-up', () => {
  const base = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, baseUrl: APP_BASE_URL };
  const start = (options: Partial<OidcLoginOptions>) => () => oidcLogin({ ...base, ...options });

  it.each([
    [
      'common',
      'https://login.microsoftonline.com/common/v2.0',
      /any Microsoft Entra organisation and any personal Microsoft account/,
    ],
    [
      'organizations',
      'https://login.microsoftonline.com/organizations/v2.0',
      /the users of any Microsoft Entra organisation can/,
    ],
    ['consumers', 'https://login.microsoftonline.com/consumers/v2.0', /any personal Microsoft account can/],
    ['a trailing slash', 'https://login.microsoftonline.com/common/v2.0/', /any personal Microsoft account/],
    ['another case', 'https://login.microsoftonline.com/Organizations/v2.0', /any Microsoft Entra organisation/],
    [
      'a national cloud',
      'https://login.microsoftonline.us/organizations/v2.0',
      /login\.microsoftonline\.us\/<tenant id>\/v2\.0/,
    ],
  ])('is required with a multi-tenant issuer (%s), and the error says how to set it', (_name, issuer, who) => {
    const err = expectConfigError(start({ issuer }), /Set "allowedTenants" to the tenant IDs \(GUIDs\)/);
    expect(err.message).toMatch(/'any'/);
    expect(err.message).toMatch(who);
  });

  it.each([
    ['a single-tenant issuer', 'https://login.microsoftonline.com/3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d/v2.0'],
    ['another provider', 'https://idp.example.com'],
    ['a v1 multi-tenant issuer', 'https://login.microsoftonline.com/common'],
  ])('is refused with %s', (_name, issuer) => {
    expectConfigError(
      start({ issuer, allowedTenants: [TENANT_A] }),
      /"allowedTenants" is for a Microsoft Entra ID multi-tenant issuer/,
    );
  });

  it.each([
    ['an empty list', []],
    ['a domain name', ['contoso.onmicrosoft.com']],
    ['a GUID in braces', [`{${TENANT_A}}`]],
    ['a number', [42]],
    ['a string other than any', 'all'],
    ['an object', { tenants: [TENANT_A] }],
  ])('must list tenant IDs or be any (%s)', (_name, allowedTenants) => {
    const attemptStart = start({
      issuer: 'https://login.microsoftonline.com/organizations/v2.0',
      allowedTenants: allowedTenants as never,
    });
    expectConfigError(attemptStart, /"allowedTenants" must/);
  });

  it('is required with a ready-made configuration whose issuer is the {tenantid} template', () => {
    const configuration = new client.Configuration(
      {
        issuer: 'https://login.microsoftonline.com/{tenantid}/v2.0',
        authorization_endpoint: 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize',
      },
      CLIENT_ID,
      CLIENT_SECRET,
    );
    expectConfigError(
      { configuration, baseUrl: APP_BASE_URL },
      /The "configuration" issuer is Microsoft Entra ID's multi-tenant endpoint/,
    );
    expect(() => oidcLogin({ configuration, baseUrl: APP_BASE_URL, allowedTenants: [TENANT_A] })).not.toThrow();
  });

  it('accepts tenant IDs or any', () => {
    expect(
      start({
        issuer: 'https://login.microsoftonline.com/organizations/v2.0',
        allowedTenants: [TENANT_A, TENANT_B.toUpperCase()],
      }),
    ).not.toThrow();
    expect(start({ issuer: 'https://login.microsoftonline.com/common/v2.0', allowedTenants: 'any' })).not.toThrow();
  });
});

describe('an issuer written with a trailing slash the provider does not write', () => {
  // Keycloak realms: the provider writes http://…/realms/demo, the app has http://…/realms/demo/.
  const op = useHostileProvider({ issuerPath: '/realms/demo' });

  it('logs in; the ID token must name the issuer exactly as the provider writes it', async () => {
    const app = createApp(testOptions(op, { issuer: `${op.issuer}/` })).app;
    expect((await expectLoggedIn(await attempt(app))).iss).toBe(op.issuer);
    op.onToken = idTokenWith({ iss: `${op.issuer}/` });
    await expectRejected(await attempt(app), 400, 'ERR_OIDC_ID_TOKEN_INVALID');
  });

  it("refuses an authorization response's iss written as configured (with the slash)", async () => {
    const app = createApp(testOptions(op, { issuer: `${op.issuer}/` })).app;
    op.onAuthorize = ({ params, code }) => ({ code, state: params.get('state') ?? '', iss: `${op.issuer}/` });
    await expectRejected(await attempt(app), 400, 'ERR_OIDC_INVALID_CALLBACK');
    expect(op.counts.token).toBe(0);
  });
});

describe('an issuer that differs by more than a trailing slash', () => {
  // Served at …/realms/demo, naming …/realms/demo2/.
  const op = useHostileProvider({ issuerPath: '/realms/demo', metadata: (issuer) => ({ issuer: `${issuer}2/` }) });

  it('is still refused, naming both (502 ERR_OIDC_PROVIDER_MISMATCH)', async () => {
    const res = await request(createApp(testOptions(op, { issuer: `${op.issuer}/` })).app).get('/login');
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 502, code: 'ERR_OIDC_PROVIDER_MISMATCH' });
    expect(res.body.message).toContain(
      `names the issuer "${op.issuer}2/", not the configured "issuer" "${op.issuer}/"`,
    );
    expect(op.counts).toMatchObject({ discovery: 1, authorize: 0 });
  });
});

describe('an issuer written without the trailing slash the provider writes', () => {
  // The provider writes http://…/tenant/ (as Auth0 writes https://tenant.auth0.com/).
  const op = useHostileProvider({ issuerPath: '/tenant/' });

  it('logs in; tokens name the issuer with its slash, and not without', async () => {
    const app = createApp(testOptions(op, { issuer: op.issuer.replace(/\/$/, '') })).app;
    expect((await expectLoggedIn(await attempt(app))).iss).toBe(op.issuer);
    op.onToken = idTokenWith({ iss: op.issuer.replace(/\/$/, '') });
    await expectRejected(await attempt(app), 400, 'ERR_OIDC_ID_TOKEN_INVALID');
  });
});

describe('an issuer without a path, with or without the slash', () => {
  const op = useHostileProvider();

  it.each([
    ['without', (i: string) => i],
    ['with', (i: string) => `${i}/`],
  ])('logs in %s the slash', async (_name, write) => {
    const app = createApp(testOptions(op, { issuer: write(op.issuer) })).app;
    expect((await expectLoggedIn(await attempt(app))).iss).toBe(op.issuer);
    expect(op.counts.discovery).toBe(1);
  });
});
