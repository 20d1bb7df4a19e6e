import { describe, expect, it } from '@jest/globals';
import express from 'express';
import session from 'express-session';
import request from 'supertest';
import type { ServerMetadata } from 'openid-client';
import { resolveConfig } from '../lib/options/config.js';
import { checkProviderMetadata } from '../lib/options/config-check.js';
import { oidcLogin, type OidcLoginOptions } from '../lib/index.js';
import { createApp, jsonErrors, testOptions } from './support/app.js';
import { startHostileProvider } from './support/hostile-provider.js';
import { useProvider } from './support/use-provider.js';

const config = resolveConfig({
  issuer: 'https://idp.example',
  clientId: 'c',
  clientSecret: 's',
  baseUrl: 'https://app.example',
});
const GOOD: ServerMetadata = {
  issuer: 'https://idp.example',
  authorization_endpoint: 'https://idp.example/auth',
  token_endpoint: 'https://idp.example/token',
  jwks_uri: 'https://idp.example/jwks',
  response_types_supported: ['code'],
  code_challenge_methods_supported: ['S256'],
  id_token_signing_alg_values_supported: ['RS256'],
  token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
};

describe('the provider metadata check', () => {
  it('finds nothing wrong with a matching provider', () => {
    expect(checkProviderMetadata(config, GOOD, 'client_secret_basic')).toEqual([]);
  });

  it.each([
    ['client-auth-unsupported', 'error', { token_endpoint_auth_methods_supported: ['private_key_jwt'] }],
    ['pkce-not-advertised', 'warning', { code_challenge_methods_supported: undefined }],
    ['pkce-s256-not-advertised', 'warning', { code_challenge_methods_supported: ['plain'] }],
    ['id-token-alg-unsupported', 'error', { id_token_signing_alg_values_supported: ['ES256'] }],
    ['code-flow-unsupported', 'error', { response_types_supported: ['id_token'] }],
    ['jwks-missing', 'error', { jwks_uri: undefined }],
  ] as const)('says %s (%s)', (id, level, patch) => {
    const findings = checkProviderMetadata(config, { ...GOOD, ...patch } as ServerMetadata, 'client_secret_basic');
    expect(findings).toEqual([
      expect.objectContaining({ id, level, message: expect.stringMatching(/^express-oidc-login: /) }),
    ]);
  });
});

describe('the first-request check', () => {
  const op = useProvider();

  function logged(): { logger: OidcLoginOptions['logger']; lines: string[] } {
    const lines: string[] = [];
    return { lines, logger: { warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) } };
  }

  it('says express-session is missing (or mounted after the middleware)', async () => {
    const { logger, lines } = logged();
    const app = express();
    app.use(oidcLogin(testOptions(op, { logger })));
    app.use(session({ secret: 's', resave: false, saveUninitialized: false }));
    app.use(jsonErrors);
    await request(app).get('/login').expect(503);
    expect(lines).toEqual([expect.stringMatching(/^error .*mount express-session before oidcLogin/)]);
  });

  it('says a Secure cookie cannot work on an http baseUrl, and SameSite=Strict breaks the callback', async () => {
    const { logger, lines } = logged();
    const { app } = createApp(testOptions(op, { logger }), {
      session: { cookie: { secure: true, sameSite: 'strict' } },
      probes: false,
    });
    await request(app).get('/');
    await request(app).get('/'); // reported once, not per request
    expect(lines).toEqual([
      expect.stringMatching(/^error .*Secure but "baseUrl" is http/),
      expect.stringMatching(/^error .*SameSite=Strict/),
    ]);
  });

  it('says trust proxy is not set when requests come through a proxy', async () => {
    const { logger, lines } = logged();
    const { app } = createApp(testOptions(op, { logger }), { probes: false });
    await request(app).get('/').set('X-Forwarded-Proto', 'https');
    expect(lines).toEqual([expect.stringMatching(/^warn .*trust proxy/)]);
  });

  it('says started logins go to the session store when there is no key to seal them, unless pendingLogins says so', async () => {
    for (const [overrides, expected] of [
      [{ clientSecret: 'short' }, [expect.stringMatching(/^warn .*kept in the session store.*"secret"/)]],
      [{ clientSecret: 'short', pendingLogins: 'session' }, []],
      [{}, []],
    ] as const) {
      const { logger, lines } = logged();
      const { app } = createApp(testOptions(op, { logger, ...overrides }), { probes: false });
      await request(app).get('/');
      expect(lines).toEqual(expected);
    }
  });

  it('stays quiet with logger: false', async () => {
    const app = express();
    app.use(oidcLogin(testOptions(op, { logger: false })));
    app.use(jsonErrors);
    await request(app).get('/login').expect(503);
  });

  it('fails discovery with the reason when the provider cannot take this client authentication', async () => {
    const picky = await startHostileProvider({
      metadata: { token_endpoint_auth_methods_supported: ['private_key_jwt'] },
    });
    try {
      const { logger, lines } = logged();
      const { app } = createApp(testOptions(picky, { logger }), { probes: false });
      const res = await request(app).get('/login').expect(502);
      expect(res.body.code).toBe('ERR_OIDC_PROVIDER_MISMATCH');
      expect(res.body.message).toMatch(/does not support clientAuthMethod "client_secret_basic"/);
      await request(app).get('/login').expect(502);
      expect(lines).toEqual([expect.stringMatching(/^error .*private_key_jwt/)]);
    } finally {
      await picky.close();
    }
  });
});
