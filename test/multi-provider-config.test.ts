import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { github, google } from '../lib/index.js';
import { resolveProviders } from '../lib/flow/provider-set.js';
import { expectConfigError } from './support/config-error.js';

/** `providers: { ... }` at start-up: what is refused (each with its code) and what it resolves to. */

const A = { issuer: 'https://a.example.com', clientId: 'app-a', clientSecret: 'secret-a' };
const B = { issuer: 'https://b.example.com', clientId: 'app-b', clientSecret: 'secret-b' };
const GOOD = { baseUrl: 'https://app.example.com', providers: { a: A, b: B } };

function pkcs8(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
    type: 'pkcs8',
    format: 'pem',
  }) as string;
}

const INVALID: [string, unknown, RegExp][] = [
  ['providers empty', { ...GOOD, providers: {} }, /"providers" names no provider/],
  ['providers an array', { ...GOOD, providers: [A, B] }, /"providers" must be an object of named providers/],
  ['providers null', { ...GOOD, providers: null }, /"providers" must be an object/],
  ['an upper-case name', { ...GOOD, providers: { Keycloak: A } }, /the provider name "Keycloak" is not allowed/],
  ['a name starting with "-"', { ...GOOD, providers: { '-a': A } }, /the provider name "-a" is not allowed/],
  ['an empty name', { ...GOOD, providers: { '': A } }, /the provider name "" is not allowed/],
  ['a name of 33 characters', { ...GOOD, providers: { ['a'.repeat(33)]: A } }, /is not allowed: use 1 to 32/],
  ['a name with a dot', { ...GOOD, providers: { 'a.b': A } }, /the provider name "a.b" is not allowed/],
  ['a name with a slash', { ...GOOD, providers: { 'a/b': A } }, /the provider name "a\/b" is not allowed/],
  [
    'the name __proto__',
    { ...GOOD, providers: JSON.parse('{"__proto__": {}}') },
    /the provider name "__proto__" is not allowed/,
  ],
  [
    'a top-level issuer next to providers',
    { ...GOOD, issuer: A.issuer },
    /"issuer" belongs to each provider when "providers" is given: move it into providers\.<name>\.issuer/,
  ],
  ['a top-level clientId next to providers', { ...GOOD, clientId: 'x' }, /"clientId" belongs to each provider/],
  [
    'a top-level clientSecret next to providers',
    { ...GOOD, clientSecret: 'x' },
    /"clientSecret" belongs to each provider/,
  ],
  [
    'a top-level configuration next to providers',
    { ...GOOD, configuration: {} },
    /"configuration" belongs to each provider/,
  ],
  [
    'a top-level server next to providers',
    { ...GOOD, server: { authorizationEndpoint: 'https://x/a', tokenEndpoint: 'https://x/t' } },
    /"server" belongs to each provider/,
  ],
  [
    'an unknown defaultProvider',
    { ...GOOD, defaultProvider: 'c' },
    /"defaultProvider" must be the name of one of "providers" \(a, b\); got "c"/,
  ],
  [
    'a defaultProvider that is not a string',
    { ...GOOD, defaultProvider: 1 },
    /"defaultProvider" must be the name of one of "providers"/,
  ],
  [
    'a defaultProvider inherited from Object',
    { ...GOOD, defaultProvider: 'toString' },
    /"defaultProvider" must be the name/,
  ],
  [
    'defaultProvider without providers',
    { ...A, baseUrl: GOOD.baseUrl, defaultProvider: 'a' },
    /"defaultProvider" picks one of "providers", and there are none/,
  ],
  [
    'a provider that is not an object',
    { ...GOOD, providers: { a: 'https://a.example.com' } },
    /"providers\.a" must be an object of that provider's options/,
  ],
  [
    'baseUrl inside a provider',
    { ...GOOD, providers: { a: { ...A, baseUrl: 'https://x.example.com' } } },
    /"providers\.a\.baseUrl" is an app-level option, the same for every provider: set "baseUrl" next to "providers"/,
  ],
  [
    'routes inside a provider',
    { ...GOOD, providers: { a: { ...A, routes: { login: '/x' } } } },
    /"providers\.a\.routes" is an app-level option/,
  ],
  [
    'on inside a provider',
    { ...GOOD, providers: { a: { ...A, on: {} } } },
    /"providers\.a\.on" is an app-level option/,
  ],
  [
    'transactionMaxAge inside a provider',
    { ...GOOD, providers: { b: { ...B, transactionMaxAge: 1000 } } },
    /"providers\.b\.transactionMaxAge" is an app-level option/,
  ],
  [
    'logout.allowGet inside a provider',
    { ...GOOD, providers: { a: { ...A, logout: { allowGet: false } } } },
    /"providers\.a\.logout\.allowGet" is app-level/,
  ],
  [
    'providers inside a provider',
    { ...GOOD, providers: { a: { ...A, providers: {} } } },
    /"providers\.a\.providers" cannot be nested/,
  ],
  [
    'an empty label',
    { ...GOOD, providers: { a: { ...A, label: ' ' } } },
    /"providers\.a\.label" must be a non-empty string/,
  ],
  [
    'a provider without clientId',
    { ...GOOD, providers: { a: A, b: { issuer: B.issuer, clientSecret: 's' } } },
    /^express-oidc-login: providers\.b: "clientId" is required/,
  ],
  [
    'a provider without issuer',
    { ...GOOD, providers: { a: { clientId: 'x', clientSecret: 's' } } },
    /^express-oidc-login: providers\.a: "issuer" is required/,
  ],
  [
    'a typo in a provider',
    { ...GOOD, providers: { a: { ...A, clientID: 'x' } } },
    /^express-oidc-login: providers\.a: unknown option "clientID"\. Did you mean "clientId"\?/,
  ],
  [
    'an http issuer in a provider',
    { ...GOOD, providers: { a: { ...A, issuer: 'http://a.example.com' } } },
    /^express-oidc-login: providers\.a: "issuer" must use https/,
  ],
  [
    'a bad provider-level option in a provider',
    { ...GOOD, providers: { a: { ...A, idTokenSigningAlg: 'HS256' } } },
    /^express-oidc-login: providers\.a: "idTokenSigningAlg"/,
  ],
  [
    'a typo at the top level',
    { ...GOOD, scopes: 'openid' },
    /^express-oidc-login: unknown option "scopes"\. Did you mean "scope"\?/,
  ],
  [
    'a typo of providers',
    { ...A, baseUrl: GOOD.baseUrl, provider: {} },
    /unknown option "provider"\. Did you mean "providers"\?/,
  ],
  [
    'an http baseUrl',
    { ...GOOD, baseUrl: 'http://app.example.com' },
    /^express-oidc-login: "baseUrl" must use https[^]*\.$/,
  ],
  [
    'a top-level default that does not fit one provider',
    {
      ...GOOD,
      allowedTenants: 'any',
      providers: {
        entra: { issuer: 'https://login.microsoftonline.com/common/v2.0', clientId: 'x', clientSecret: 's' },
        b: B,
      },
    },
    /"allowedTenants" is for a Microsoft Entra ID multi-tenant issuer.*"allowedTenants" is set at the top level, as a default for every provider, and does not fit providers\.b: move it into the providers it is for\./,
  ],
  [
    'an Entra multi-tenant provider without allowedTenants',
    {
      ...GOOD,
      providers: {
        a: A,
        entra: { issuer: 'https://login.microsoftonline.com/organizations/v2.0', clientId: 'x', clientSecret: 's' },
      },
    },
    /^express-oidc-login: providers\.entra: "issuer" https:\/\/login\.microsoftonline\.com\/organizations\/v2\.0 is Microsoft Entra ID's multi-tenant endpoint/,
  ],
  [
    'a bad top-level default',
    { ...GOOD, scope: 'profile' },
    /^express-oidc-login: "scope" must be a space-separated string that includes "openid"/,
  ],
  [
    'a route of a provider that is a shared route',
    { ...GOOD, routes: { logout: '/login/out' }, providers: { a: A, out: B } },
    /the route \/login\/out would serve both logout \(routes\.logout\) and provider "out"'s login/,
  ],
  [
    'routes.jwks without private_key_jwt',
    { ...GOOD, routes: { jwks: '/keys' } },
    /"routes\.jwks" serves the public keys of "clientPrivateKey".*no provider has one/,
  ],
  [
    'two different client keys with one kid',
    {
      ...GOOD,
      providers: {
        a: {
          issuer: A.issuer,
          clientId: 'a',
          clientAuthMethod: 'private_key_jwt',
          clientPrivateKey: { key: pkcs8(), kid: 'k1' },
        },
        b: {
          issuer: B.issuer,
          clientId: 'b',
          clientAuthMethod: 'private_key_jwt',
          clientPrivateKey: { key: pkcs8(), kid: 'k1' },
        },
      },
    },
    /two providers' "clientPrivateKey" have the kid "k1" but are different keys/,
  ],
];

describe('invalid providers options throw at start-up, naming the option and the fix', () => {
  it.each(INVALID)('%s', (_name, options, message) => {
    expectConfigError(options, message);
  });
});

describe('what providers resolve to', () => {
  it('gives each provider its routes, its redirect URI and its name', () => {
    const set = resolveProviders({ ...GOOD, baseUrl: 'https://app.example.com/portal' });
    expect(set.multi).toBe(true);
    expect(set.defaultEntry).toBeUndefined();
    expect(
      set.entries.map((e) => [
        e.name,
        e.config.providerName,
        e.config.loginPath,
        e.config.callbackPath,
        e.config.backchannelLogoutPath,
        e.config.logoutPath,
      ]),
    ).toEqual([
      ['a', 'a', '/login/a', '/callback/a', '/backchannel-logout/a', false],
      ['b', 'b', '/login/b', '/callback/b', '/backchannel-logout/b', false],
    ]);
    expect(set.entries.map((e) => e.config.redirectUri)).toEqual([
      'https://app.example.com/portal/callback/a',
      'https://app.example.com/portal/callback/b',
    ]);
    expect(set.entries.map((e) => e.config.loginUrlPath)).toEqual(['/portal/login/a', '/portal/login/b']);
    expect(set.app.config.loginUrlPath).toBe('/portal/login');
    expect(set.app.config.logoutPath).toBe('/logout');
    expect(set.entries.map((e) => [e.config.issuer?.href, e.config.clientId])).toEqual([
      ['https://a.example.com/', 'app-a'],
      ['https://b.example.com/', 'app-b'],
    ]);
  });

  it('puts the provider name under renamed routes, and turns a route off for all', () => {
    const set = resolveProviders({
      ...GOOD,
      routes: { login: '/auth/login/', callback: '/auth/cb', backchannelLogout: false },
    });
    expect(set.entries.map((e) => [e.config.loginPath, e.config.callbackPath, e.config.backchannelLogoutPath])).toEqual(
      [
        ['/auth/login/a', '/auth/cb/a', false],
        ['/auth/login/b', '/auth/cb/b', false],
      ],
    );
  });

  it("takes top-level provider options as defaults; a provider's own replace them, logout key by key", () => {
    const set = resolveProviders({
      ...GOOD,
      scope: 'openid profile',
      httpTimeout: 3000,
      fetchUserInfo: true,
      logout: { postLogoutRedirectUri: 'https://app.example.com/bye', revokeTokens: false },
      providers: {
        a: {
          ...A,
          scope: 'openid email',
          idTokenSigningAlg: 'ES256',
          additionalAudiences: ['api'],
          clockTolerance: 5,
          logout: { idpLogout: false },
        },
        b: {
          ...B,
          refreshLeeway: 10,
          autoRefresh: true,
          pushedAuthorizationRequests: true,
          authorizationParams: { prompt: 'login' },
        },
      },
    });
    const [a, b] = set.entries.map((e) => e.config);
    expect([
      a!.scope,
      a!.idTokenSigningAlg,
      a!.additionalAudiences,
      a!.clockTolerance,
      a!.httpTimeout,
      a!.fetchUserInfo,
    ]).toEqual(['openid email', 'ES256', ['api'], 5, 3000, true]);
    expect([
      b!.scope,
      b!.idTokenSigningAlg,
      b!.refreshLeeway,
      b!.autoRefresh,
      b!.pushedAuthorizationRequests,
      b!.authorizationParams,
    ]).toEqual(['openid profile', 'RS256', 10, true, true, { prompt: 'login' }]);
    expect(a!.logout).toMatchObject({
      idpLogout: false,
      revokeTokens: false,
      postLogoutRedirectUri: 'https://app.example.com/bye',
    });
    expect(b!.logout).toMatchObject({
      idpLogout: true,
      revokeTokens: false,
      postLogoutRedirectUri: 'https://app.example.com/bye',
    });
    // The app-level logout options are the top-level ones, whatever a provider says.
    expect(set.app.config.logout).toMatchObject({
      idpLogout: true,
      postLogoutRedirectUri: 'https://app.example.com/bye',
    });
  });

  it('takes a provider-level option added to resolveConfig() in an entry unchanged (allowedTenants)', () => {
    const tenant = '72f988bf-86f1-41af-91ab-2d7cd011db47';
    const set = resolveProviders({
      ...GOOD,
      providers: {
        a: A,
        entra: {
          issuer: 'https://login.microsoftonline.com/common/v2.0',
          clientId: 'x',
          clientSecret: 's',
          allowedTenants: [tenant],
        },
      },
    });
    expect(set.entries.map((e) => e.config.allowedTenants)).toEqual([undefined, [tenant]]);
  });

  it('takes the github() and google() presets as entries; a plain OAuth 2.0 provider gets no back-channel route', () => {
    const set = resolveProviders({
      ...GOOD,
      routes: { backchannelLogout: '/bcl' },
      providers: {
        gh: github({ clientId: 'x', clientSecret: 's' }),
        google: google({ clientId: 'g', clientSecret: 's' }),
      },
    });
    expect(
      set.entries.map((e) => [e.name, e.config.openid, e.config.callbackPath, e.config.backchannelLogoutPath]),
    ).toEqual([
      ['gh', false, '/callback/gh', false],
      ['google', true, '/callback/google', '/bcl/google'],
    ]);
    expect(set.app.config.backchannelLogoutPath).toBe(false);
  });

  it('lets a provider be a ready-made configuration next to one found by discovery', async () => {
    const client = await import('openid-client');
    const configuration = new client.Configuration({ issuer: 'https://c.example.com' }, 'app-c', 'secret-c');
    const set = resolveProviders({ ...GOOD, providers: { a: A, c: { configuration } } });
    expect(set.entries.map((e) => e.config.configuration === configuration)).toEqual([false, true]);
  });

  it('picks defaultProvider, or the only provider', () => {
    expect(resolveProviders({ ...GOOD, defaultProvider: 'b' }).defaultEntry?.name).toBe('b');
    expect(resolveProviders({ ...GOOD, providers: { only: A } }).defaultEntry?.name).toBe('only');
  });

  it('labels providers by their name unless given a label', () => {
    const set = resolveProviders({ ...GOOD, providers: { a: { ...A, label: ' Staff ' }, b: B } });
    expect(set.entries.map((e) => e.label)).toEqual(['Staff', 'b']);
  });

  it('keeps the single-provider form as it was: one provider named "default", no providerName', () => {
    const set = resolveProviders({ ...A, baseUrl: GOOD.baseUrl });
    expect(set.multi).toBe(false);
    expect(set.entries.map((e) => e.name)).toEqual(['default']);
    expect(set.app.config.providerName).toBeUndefined();
    expect(set.app.config.loginPath).toBe('/login');
    expect(set.app.config.redirectUri).toBe('https://app.example.com/callback');
  });

  it('finds the provider of a stored login by name; a login without one is "default"\'s', () => {
    const set = resolveProviders({ ...GOOD, providers: { default: A, b: B } });
    const login = (provider?: string) => ({ provider }) as Parameters<typeof set.of>[0];
    expect(set.of(login('b'))?.name).toBe('b');
    expect(set.of(login())?.name).toBe('default');
    expect(set.of(login('gone'))).toBeUndefined();
    expect(set.of(login('constructor'))).toBeUndefined();
  });
});
