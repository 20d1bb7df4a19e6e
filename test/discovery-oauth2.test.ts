import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { github, type OidcLoginOptions } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { GH_CLIENT_ID, GH_CLIENT_SECRET, startFakeGitHub, type FakeGitHub } from './support/fake-github.js';
import { login, newBrowser } from './support/flow.js';
import { startHostileProvider } from './support/hostile-provider.js';
import { APP_BASE_URL } from './support/provider.js';
import { useProvider } from './support/use-provider.js';

/**
 * RFC 8414 authorization server metadata (`discovery: 'oauth2'`) and a provider given by its
 * endpoints (`server`), against a real oidc-provider (which serves both discovery documents) and
 * the fake GitHub (RFC 8414 metadata for a plain OAuth 2.0 provider).
 */

const op = useProvider();
/** The paths the real provider was asked for (by anyone: the app, or the test playing the browser). */
const seen: string[] = [];
const onRequest = (message: unknown): void => {
  const req = (message as { request: IncomingMessage }).request;
  if (req.headers.host === `127.0.0.1:${op.port}`) seen.push(new URL(req.url ?? '/', op.issuer).pathname);
};
beforeAll(() => {
  subscribe('http.server.request.start', onRequest);
});
afterAll(() => {
  unsubscribe('http.server.request.start', onRequest);
});
beforeEach(() => {
  seen.length = 0;
});

const OPENID_DISCOVERY = '/.well-known/openid-configuration';
const RFC8414_DISCOVERY = '/.well-known/oauth-authorization-server';

describe('discovery: "oauth2" (RFC 8414)', () => {
  it('reads /.well-known/oauth-authorization-server, not the OpenID document, and logs in with a verified ID token', async () => {
    const { app } = createApp(testOptions(op, { discovery: 'oauth2' }));
    const browser = newBrowser(app, op.issuer);
    expect((await login(browser)).status).toBe(302);
    const probe = (await browser.app.get('/probe/oidc').expect(200)).body;
    expect(probe.isAuthenticated).toBe(true);
    expect(probe.claims).toMatchObject({ sub: 'alice', iss: op.issuer });
    expect(probe.idToken.split('.')).toHaveLength(3);
    expect(seen.filter((p) => p === RFC8414_DISCOVERY)).toHaveLength(1);
    expect(seen).not.toContain(OPENID_DISCOVERY);
  });

  it('does not fall back to OpenID discovery when the server has no RFC 8414 document: 502', async () => {
    const hp = await startHostileProvider();
    try {
      const { app } = createApp(testOptions(hp, { discovery: 'oauth2', logger: false }));
      const res = await request(app).get('/login').expect(502);
      expect(res.body.code).toBe('ERR_OIDC_PROVIDER_RESPONSE');
      expect(hp.counts.discovery).toBe(0);
    } finally {
      await hp.close();
    }
  });
});

describe('server: the endpoints of an OpenID provider, without discovery', () => {
  it('logs in with the ID token verified against server.jwksUri, and never asks for a discovery document', async () => {
    const metadata = (await (await fetch(`${op.issuer}${OPENID_DISCOVERY}`)).json()) as Record<string, string>;
    seen.length = 0;
    const { issuer: _issuer, ...rest } = testOptions(op);
    const options: OidcLoginOptions = {
      ...rest,
      scope: 'openid profile email offline_access',
      server: {
        issuer: metadata.issuer!,
        authorizationEndpoint: metadata.authorization_endpoint!,
        tokenEndpoint: metadata.token_endpoint!,
        userinfoEndpoint: metadata.userinfo_endpoint!,
        revocationEndpoint: metadata.revocation_endpoint!,
        jwksUri: metadata.jwks_uri!,
      },
    };
    const { app } = createApp(options);
    const browser = newBrowser(app, op.issuer);
    expect((await login(browser)).status).toBe(302);
    const probe = (await browser.app.get('/probe/oidc').expect(200)).body;
    expect(probe.claims).toMatchObject({ sub: 'alice', iss: op.issuer, aud: rest.clientId });
    expect(typeof probe.refreshToken).toBe('string');
    expect(seen.filter((p) => p.startsWith('/.well-known/'))).toEqual([]);
    expect(seen).toContain(new URL(metadata.jwks_uri!).pathname);

    // No end_session_endpoint was given: a local logout, the refresh token revoked at revocationEndpoint.
    const out = await browser.app.post('/logout').set('Sec-Fetch-Site', 'same-origin').expect(303);
    expect(out.headers.location).toBe(`${APP_BASE_URL}/`);
    expect(seen).toContain(new URL(metadata.revocation_endpoint!).pathname);
    expect((await browser.app.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(false);
  });
});

describe('a plain OAuth 2.0 provider found by RFC 8414 metadata', () => {
  let gh: FakeGitHub;
  beforeAll(async () => {
    gh = await startFakeGitHub();
  });
  afterAll(() => gh.close());
  beforeEach(() => gh.reset());

  const metadata = () => ({
    issuer: gh.url,
    authorization_endpoint: gh.server.authorizationEndpoint,
    token_endpoint: gh.server.tokenEndpoint,
    userinfo_endpoint: gh.server.userinfoEndpoint,
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_post'],
  });

  function options(logger: OidcLoginOptions['logger'] = false): OidcLoginOptions {
    const preset = github({ clientId: GH_CLIENT_ID, clientSecret: GH_CLIENT_SECRET, scope: 'read:user' });
    return {
      issuer: gh.url,
      discovery: 'oauth2',
      clientId: GH_CLIENT_ID,
      clientSecret: GH_CLIENT_SECRET,
      clientAuthMethod: 'client_secret_post',
      scope: 'read:user',
      profile: preset.profile!,
      baseUrl: APP_BASE_URL,
      dangerouslyAllowInsecureHttp: true,
      httpTimeout: 1000,
      logger,
    };
  }

  it('logs in without an ID token, the user from the discovered userinfo_endpoint', async () => {
    gh.metadata = metadata();
    const { app } = createApp(options());
    const agent = request.agent(app);
    const start = await agent.get('/login').expect(302);
    const authorize = new URL(start.headers.location!);
    expect(authorize.searchParams.has('nonce')).toBe(false);
    const back = new URL(
      (
        await request(gh.url)
          .get(authorize.pathname + authorize.search)
          .expect(302)
      ).headers.location!,
    );
    await agent.get(back.pathname + back.search).expect(302);
    const probe = (await agent.get('/probe/oidc').expect(200)).body;
    expect(probe).toMatchObject({
      isAuthenticated: true,
      idToken: null,
      claims: { sub: '583231', preferred_username: 'octocat' },
    });
    expect(gh.counts.metadata).toBe(1);
  });

  it('metadata without userinfo_endpoint cannot identify anyone: 502 ERR_OIDC_PROVIDER_MISMATCH naming the fix', async () => {
    const { userinfo_endpoint: _none, ...rest } = metadata();
    gh.metadata = rest;
    const errors: string[] = [];
    const { app } = createApp(options({ warn: () => {}, error: (m) => errors.push(m) }));
    const res = await request(app).get('/login').expect(502);
    expect(res.body.code).toBe('ERR_OIDC_PROVIDER_MISMATCH');
    expect(res.body.message).toMatch(/userinfo_endpoint.*server\.userinfoEndpoint/);
    expect(errors).toHaveLength(1);
    expect(gh.counts.authorize).toBe(0);
  });
});
