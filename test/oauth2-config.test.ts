import { describe, expect, it } from '@jest/globals';
import { github, google } from '../lib/index.js';
import { resolveConfig } from '../lib/options/config.js';
import { expectConfigError } from './support/config-error.js';

/** The options of plain OAuth 2.0 providers (`server`, `profile`), RFC 8414 discovery, and the presets. */

const BASE = { clientId: 'app', clientSecret: 'secret', baseUrl: 'https://app.example.com' };
const SERVER = {
  authorizationEndpoint: 'https://github.com/login/oauth/authorize',
  tokenEndpoint: 'https://github.com/login/oauth/access_token',
  userinfoEndpoint: 'https://api.github.com/user',
};
const PLAIN = { ...BASE, server: SERVER, scope: 'read:user' };

const INVALID: [string, unknown, RegExp][] = [
  [
    'server and issuer',
    { ...PLAIN, issuer: 'https://github.com' },
    /either "issuer" .* or "server" .* not both.*"server\.issuer"/,
  ],
  [
    'server and discovery',
    { ...PLAIN, discovery: 'oauth2' },
    /with "server" there is nothing to discover: remove "discovery"/,
  ],
  [
    'server and configuration',
    { baseUrl: BASE.baseUrl, configuration: { serverMetadata: () => ({}) }, server: SERVER, scope: 'openid' },
    /either "configuration" or "server"/,
  ],
  ['server without scope', { ...BASE, server: SERVER }, /"scope" is required with "server".*read:user/],
  ['server not an object', { ...PLAIN, server: 'https://github.com' }, /"server" must be an object/],
  [
    'server with an unknown member',
    { ...PLAIN, server: { ...SERVER, userInfoEndpoint: 'https://x' } },
    /unknown option "server\.userInfoEndpoint"\. Known: issuer, authorizationEndpoint/,
  ],
  [
    'no authorizationEndpoint',
    { ...PLAIN, server: { ...SERVER, authorizationEndpoint: undefined } },
    /"server\.authorizationEndpoint" is required/,
  ],
  [
    'no tokenEndpoint',
    { ...PLAIN, server: { ...SERVER, tokenEndpoint: undefined } },
    /"server\.tokenEndpoint" is required/,
  ],
  [
    'a relative endpoint',
    { ...PLAIN, server: { ...SERVER, tokenEndpoint: '/login/oauth/access_token' } },
    /"server\.tokenEndpoint" must be an absolute URL/,
  ],
  [
    'an http endpoint',
    { ...PLAIN, server: { ...SERVER, userinfoEndpoint: 'http://api.github.com/user' } },
    /"server\.userinfoEndpoint" must use https.*dangerouslyAllowInsecureHttp/,
  ],
  [
    'an endpoint with a fragment',
    { ...PLAIN, server: { ...SERVER, authorizationEndpoint: 'https://github.com/authorize#x' } },
    /"server\.authorizationEndpoint" must not have a fragment/,
  ],
  [
    'an endpoint with credentials',
    { ...PLAIN, server: { ...SERVER, tokenEndpoint: 'https://u:p@github.com/token' } },
    /"server\.tokenEndpoint" must not contain credentials/,
  ],
  [
    'plain OAuth 2.0 without userinfoEndpoint',
    { ...PLAIN, server: { ...SERVER, userinfoEndpoint: undefined } },
    /"server\.userinfoEndpoint" is required for a plain OAuth 2\.0 login/,
  ],
  [
    'openid with server but no issuer',
    { ...PLAIN, scope: 'openid', server: { ...SERVER, jwksUri: 'https://idp/jwks' } },
    /"server\.issuer" is required with "openid"/,
  ],
  [
    'openid with server but no jwksUri',
    { ...PLAIN, scope: 'openid', server: { ...SERVER, issuer: 'https://idp' } },
    /"server\.jwksUri" is required with "openid"/,
  ],
  [
    'an http server.issuer',
    { ...PLAIN, server: { ...SERVER, issuer: 'http://github.com' } },
    /"server\.issuer" must use https/,
  ],
  [
    'discovery unknown',
    { ...BASE, issuer: 'https://idp.example.com', discovery: 'oidc2' },
    /"discovery" must be "oidc" .* or "oauth2"/,
  ],
  [
    'no openid for an OpenID provider',
    { ...BASE, issuer: 'https://idp.example.com', scope: 'profile' },
    /"scope" must .* includes "openid".*give "server".*discovery: 'oauth2'/,
  ],
  ['an empty scope', { ...PLAIN, scope: ' ' }, /"scope" must be a non-empty/],
  ['profile not a function', { ...PLAIN, profile: { sub: 'id' } }, /"profile" must be a function/],
  [
    'profile for an OpenID login',
    { ...BASE, issuer: 'https://idp.example.com', profile: () => ({ sub: 'x' }) },
    /"profile" maps the userinfo of a plain OAuth 2\.0 login.*afterCallback/,
  ],
  ['silentLogin without OpenID Connect', { ...PLAIN, silentLogin: true }, /"silentLogin" needs OpenID Connect/],
  [
    'back-channel logout without OpenID Connect',
    { ...PLAIN, routes: { backchannelLogout: '/bcl' } },
    /"routes\.backchannelLogout": back-channel logout ends OpenID Connect sessions/,
  ],
  [
    'max_age without an ID token',
    { ...PLAIN, authorizationParams: { max_age: 60 } },
    /"authorizationParams\.max_age" needs an ID token/,
  ],
  [
    'allowedTenants with server',
    { ...PLAIN, allowedTenants: 'any' },
    /"allowedTenants" is for a Microsoft Entra ID multi-tenant issuer found by discovery, not for "server"/,
  ],
  [
    'allowedTenants with RFC 8414 discovery',
    { ...BASE, issuer: 'https://login.microsoftonline.com/common/v2.0', discovery: 'oauth2', allowedTenants: 'any' },
    /"allowedTenants" works with OpenID discovery/,
  ],
  [
    'github() with a bad enterpriseUrl',
    () => github({ clientId: 'a', clientSecret: 'b', enterpriseUrl: 'github.example.com' }),
    /github\(\{ enterpriseUrl \}\) must be an absolute URL/,
  ],
  [
    'github() without a clientSecret',
    () => ({ ...github({ clientId: 'a' } as never), baseUrl: BASE.baseUrl }),
    /"clientSecret" is required/,
  ],
];

describe('invalid plain OAuth 2.0 options throw at start-up with ERR_OIDC_INVALID_OPTION, naming the option', () => {
  it.each(INVALID)('%s', (_name, options, message) => {
    expectConfigError(options, message);
  });
});

describe('valid options', () => {
  it('server without openid: a plain OAuth 2.0 login, its metadata in RFC 8414 names, the issuer defaulting to the authorization origin, no back-channel route', () => {
    const c = resolveConfig({ ...PLAIN, server: { ...SERVER, revocationEndpoint: 'https://github.com/revoke?x=1' } });
    expect(c.openid).toBe(false);
    expect(c.server).toEqual({
      issuer: 'https://github.com',
      authorization_endpoint: SERVER.authorizationEndpoint,
      token_endpoint: SERVER.tokenEndpoint,
      userinfo_endpoint: SERVER.userinfoEndpoint,
      revocation_endpoint: 'https://github.com/revoke?x=1',
    });
    expect(c.issuer).toBeUndefined();
    expect(c.backchannelLogoutPath).toBe(false);
    expect(c.logoutPath).toBe('/logout');
  });

  it('server with openid keeps the issuer exactly as written (ID tokens compare it) and the back-channel route', () => {
    const c = resolveConfig({
      ...PLAIN,
      scope: 'openid email',
      server: { ...SERVER, issuer: 'https://idp.example.com/tenant/', jwksUri: 'https://idp.example.com/jwks' },
    });
    expect(c.openid).toBe(true);
    expect(c.server?.issuer).toBe('https://idp.example.com/tenant/');
    expect(c.server?.jwks_uri).toBe('https://idp.example.com/jwks');
    expect(c.backchannelLogoutPath).toBe('/backchannel-logout');
  });

  it('discovery: "oauth2" keeps the OpenID default scope, and allows one without openid', () => {
    const oidc = resolveConfig({ ...BASE, issuer: 'https://as.example.com', discovery: 'oauth2' });
    expect(oidc).toMatchObject({ discovery: 'oauth2', scope: 'openid profile email', openid: true });
    const plain = resolveConfig({ ...BASE, issuer: 'https://as.example.com', discovery: 'oauth2', scope: 'api.read' });
    expect(plain).toMatchObject({ discovery: 'oauth2', openid: false, backchannelLogoutPath: false });
    expect(resolveConfig({ ...BASE, issuer: 'https://idp.example.com' }).discovery).toBe('oidc');
  });
});

describe('github()', () => {
  it('returns the endpoints of github.com, client_secret_post, PKCE-ready options without openid', () => {
    const preset = github({ clientId: 'Iv1.abc', clientSecret: 's3cret' });
    expect(preset).toEqual({
      server: {
        issuer: 'https://github.com',
        authorizationEndpoint: 'https://github.com/login/oauth/authorize',
        tokenEndpoint: 'https://github.com/login/oauth/access_token',
        userinfoEndpoint: 'https://api.github.com/user',
      },
      clientId: 'Iv1.abc',
      clientSecret: 's3cret',
      clientAuthMethod: 'client_secret_post',
      scope: 'read:user user:email',
      profile: expect.any(Function),
    });
    const c = resolveConfig({ ...preset, baseUrl: BASE.baseUrl });
    expect(c.openid).toBe(false);
    expect(c.clientAuthMethod).toBe('client_secret_post');
  });

  it('GitHub Enterprise Server: the web endpoints on its host, the API under /api/v3', () => {
    expect(
      github({ clientId: 'a', clientSecret: 'b', enterpriseUrl: 'https://ghe.example.com/ignored/path' }).server,
    ).toEqual({
      issuer: 'https://ghe.example.com',
      authorizationEndpoint: 'https://ghe.example.com/login/oauth/authorize',
      tokenEndpoint: 'https://ghe.example.com/login/oauth/access_token',
      userinfoEndpoint: 'https://ghe.example.com/api/v3/user',
    });
  });

  it('maps a GitHub user: the numeric id as sub (never the renamable login), only the fields that are there', async () => {
    const { profile } = github({ clientId: 'a', clientSecret: 'b', scope: 'read:user' });
    const api = { get: () => Promise.reject(new Error('not called')) };
    const tokens = { access_token: 't', token_type: 'bearer' as const, scope: 'read:user' };
    expect(await profile!({ id: 1, login: 'mona', name: null, email: null }, tokens, api)).toEqual({
      sub: '1',
      preferred_username: 'mona',
    });
    expect((await profile!({ login: 'mona' }, tokens, api)).sub).toBe('');
    expect((await profile!({ id: 1.5 }, tokens, api)).sub).toBe('');
    expect((await profile!({ id: '42' }, tokens, api)).sub).toBe('42');
  });
});

describe('google()', () => {
  it('is an OpenID provider by discovery at https://accounts.google.com', () => {
    const preset = google({ clientId: 'x.apps.googleusercontent.com', clientSecret: 'GOCSPX-s' });
    expect(preset).toEqual({
      issuer: 'https://accounts.google.com',
      clientId: 'x.apps.googleusercontent.com',
      clientSecret: 'GOCSPX-s',
      scope: 'openid profile email',
    });
    const c = resolveConfig({ ...preset, baseUrl: BASE.baseUrl });
    expect(c).toMatchObject({ openid: true, discovery: 'oidc', server: undefined });
    expect(c.issuer?.href).toBe('https://accounts.google.com/');
  });

  it('offline: true asks for a refresh token the way Google wants (access_type=offline, prompt=consent)', () => {
    const preset = google({ clientId: 'x', clientSecret: 'y', offline: true });
    expect(preset.authorizationParams).toEqual({ access_type: 'offline', prompt: 'consent' });
    expect(resolveConfig({ ...preset, baseUrl: BASE.baseUrl }).authorizationParams).toEqual({
      access_type: 'offline',
      prompt: 'consent',
    });
  });
});
