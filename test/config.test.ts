import { describe, expect, it } from '@jest/globals';
import express from 'express';
import { oidcLogin } from '../lib/index.js';
import { resolveConfig } from '../lib/options/config.js';
import { expectConfigError } from './support/config-error.js';

const GOOD = {
  issuer: 'https://idp.example.com',
  clientId: 'app',
  clientSecret: 'secret',
  baseUrl: 'https://app.example.com',
};

const INVALID: [string, unknown, RegExp][] = [
  ['no options', undefined, /needs an options object/],
  ['a string', 'https://idp.example.com', /needs an options object/],
  [
    'clientID (typo)',
    { ...GOOD, clientId: undefined, clientID: 'app' },
    /unknown option "clientID"\. Did you mean "clientId"\?/,
  ],
  [
    'issuerBaseURL (express-openid-connect name)',
    { ...GOOD, issuer: undefined, issuerBaseURL: 'https://x' },
    /Did you mean "issuer"\?/,
  ],
  ['secret (close to nothing)', { ...GOOD, secert: 'x' }, /unknown option "secert"/],
  ['baseURL', { ...GOOD, baseUrl: undefined, baseURL: 'https://a' }, /Did you mean "baseUrl"\?/],
  ['missing issuer', { ...GOOD, issuer: undefined }, /"issuer" is required/],
  ['relative issuer', { ...GOOD, issuer: 'idp.example.com' }, /"issuer" must be an absolute URL/],
  [
    'http issuer',
    { ...GOOD, issuer: 'http://idp.example.com' },
    /"issuer" must use https.*dangerouslyAllowInsecureHttp/,
  ],
  ['ftp issuer', { ...GOOD, issuer: 'ftp://idp.example.com' }, /"issuer" must be an http\(s\) URL/],
  ['issuer with query', { ...GOOD, issuer: 'https://idp.example.com/?a=1' }, /"issuer" must not have a query/],
  ['missing clientId', { ...GOOD, clientId: undefined }, /"clientId" is required/],
  ['empty clientId', { ...GOOD, clientId: '' }, /"clientId" is required/],
  ['missing clientSecret', { ...GOOD, clientSecret: undefined }, /"clientSecret" is required/],
  ['missing baseUrl', { ...GOOD, baseUrl: undefined }, /"baseUrl" is required/],
  ['http baseUrl on a public host', { ...GOOD, baseUrl: 'http://app.example.com' }, /"baseUrl" must use https/],
  ['baseUrl with credentials', { ...GOOD, baseUrl: 'https://u:p@app.example.com' }, /must not contain credentials/],
  [
    'baseUrl that is the redirect URI',
    { ...GOOD, baseUrl: 'https://app.example.com/callback' },
    /"baseUrl" ends with the callback path "\/callback".*Set "baseUrl" to "https:\/\/app\.example\.com"/,
  ],
  [
    'baseUrl ending in a custom callback path',
    { ...GOOD, baseUrl: 'https://app.example.com/app/auth/cb/', routes: { callback: '/auth/cb' } },
    /ends with the callback path "\/auth\/cb".*Set "baseUrl" to "https:\/\/app\.example\.com\/app"/,
  ],
  ['scope without openid', { ...GOOD, scope: 'profile email' }, /"scope" must .* includes "openid"/],
  ['scope not a string', { ...GOOD, scope: ['openid'] }, /"scope"/],
  ['unknown route', { ...GOOD, routes: { signin: '/x' } }, /unknown route "routes.signin"/],
  ['route without slash', { ...GOOD, routes: { login: 'login' } }, /"routes.login" must be a path/],
  ['protocol-relative route', { ...GOOD, routes: { callback: '//cb' } }, /"routes.callback" must be a path/],
  ['same login and callback', { ...GOOD, routes: { login: '/auth', callback: '/auth' } }, /must all differ/],
  [
    'authorizationParams.state',
    { ...GOOD, authorizationParams: { state: 'x' } },
    /"authorizationParams.state" is set by the middleware/,
  ],
  [
    'authorizationParams.redirect_uri',
    { ...GOOD, authorizationParams: { redirect_uri: 'https://evil' } },
    /cannot be overridden/,
  ],
  ['authorizationParams.scope', { ...GOOD, authorizationParams: { scope: 'openid' } }, /with the "scope" option/],
  [
    'authorizationParams value an object',
    { ...GOOD, authorizationParams: { prompt: {} } },
    /must be a string or a number/,
  ],
  ['bad max_age', { ...GOOD, authorizationParams: { max_age: 'soon' } }, /max_age/],
  ['clientAuthMethod unknown', { ...GOOD, clientAuthMethod: 'client_secret_magic' }, /"clientAuthMethod" must be/],
  ['HS256 ID tokens', { ...GOOD, idTokenSigningAlg: 'HS256' }, /Symmetric \(HS\*\) and unsigned/],
  ['none ID tokens', { ...GOOD, idTokenSigningAlg: 'none' }, /"idTokenSigningAlg"/],
  ['httpTimeout negative', { ...GOOD, httpTimeout: -1 }, /"httpTimeout" must be a number/],
  ['httpTimeout string', { ...GOOD, httpTimeout: '5s' }, /"httpTimeout"/],
  ['clockTolerance huge', { ...GOOD, clockTolerance: 3600 }, /"clockTolerance"/],
  ['logoutTokenMaxAge huge', { ...GOOD, logoutTokenMaxAge: 7200 }, /"logoutTokenMaxAge" must be .* or false/],
  ['logoutTokenMaxAge true', { ...GOOD, logoutTokenMaxAge: true }, /"logoutTokenMaxAge"/],
  ['defaultReturnTo absolute', { ...GOOD, defaultReturnTo: 'https://evil' }, /"defaultReturnTo"/],
  ['defaultReturnTo protocol-relative', { ...GOOD, defaultReturnTo: '//evil' }, /"defaultReturnTo"/],
  ['maxPendingLogins fractional', { ...GOOD, maxPendingLogins: 2.5 }, /whole number/],
  ['additionalAudiences not an array', { ...GOOD, additionalAudiences: 'api' }, /"additionalAudiences"/],
  ['dangerouslyAllowInsecureHttp as string', { ...GOOD, dangerouslyAllowInsecureHttp: 'yes' }, /must be a boolean/],
  ['coordinator not an object', { ...GOOD, coordinator: 'redis' }, /"coordinator" must be an object/],
  ['coordinator unknown key', { ...GOOD, coordinator: { client: {} } }, /unknown option "coordinator.client"/],
  [
    'coordinator.redis without sendCommand (a connection URL)',
    { ...GOOD, coordinator: { redis: 'redis://localhost' } },
    /"coordinator.redis" must be a connected Redis client with sendCommand/,
  ],
  ['coordinator.timeout zero', { ...GOOD, coordinator: { timeout: 0 } }, /"coordinator.timeout" must be a number/],
  ['coordinator.prefix not a string', { ...GOOD, coordinator: { prefix: 1 } }, /"coordinator.prefix" must be a string/],
  [
    'configuration not a Configuration',
    { baseUrl: GOOD.baseUrl, configuration: {} },
    /"configuration" must be an openid-client Configuration/,
  ],
];

describe('invalid options throw at start-up, naming the option and the fix', () => {
  it.each(INVALID)('%s', (_name, options, message) => {
    expectConfigError(options, message);
  });

  it('catches app.use(oidcLogin) written for app.use(oidcLogin({ ... }))', async () => {
    const app = express();
    app.use(oidcLogin as unknown as express.RequestHandler);
    app.use(((err, _req, res, _next) => res.status(500).send(String(err.message))) as express.ErrorRequestHandler);
    const { default: request } = await import('supertest');
    const res = await request(app).get('/');
    expect(res.text).toMatch(/app\.use\(oidcLogin\(\{ \.\.\. \}\)\)/);
  });
});

describe('valid options', () => {
  it('fills in the defaults', () => {
    const c = resolveConfig(GOOD);
    expect(c.scope).toBe('openid profile email');
    expect(c.redirectUri).toBe('https://app.example.com/callback');
    expect(c.clientAuthMethod).toBe('client_secret_basic');
    expect(c.idTokenSigningAlg).toBe('RS256');
    expect(c.loginPath).toBe('/login');
    expect(c.transactionMaxAge).toBe(600_000);
    expect(c.logoutTokenMaxAge).toBe(120);
    expect(resolveConfig({ ...GOOD, logoutTokenMaxAge: false }).logoutTokenMaxAge).toBe(false);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('keeps a baseUrl path prefix in the redirect URI and the login URL', () => {
    const c = resolveConfig({ ...GOOD, baseUrl: 'https://example.com/app/', routes: { callback: '/auth/cb' } });
    expect(c.redirectUri).toBe('https://example.com/app/auth/cb');
    expect(c.loginUrlPath).toBe('/app/login');
  });

  it('allows http for a loopback baseUrl, and an http issuer only with the loud switch', () => {
    expect(() => resolveConfig({ ...GOOD, baseUrl: 'http://localhost:3000' })).not.toThrow();
    expect(() => resolveConfig({ ...GOOD, baseUrl: 'http://127.0.0.1:3000' })).not.toThrow();
    expect(() =>
      resolveConfig({ ...GOOD, issuer: 'http://localhost:3001', dangerouslyAllowInsecureHttp: true }),
    ).not.toThrow();
  });

  it('turns routes off', () => {
    const c = resolveConfig({ ...GOOD, routes: { login: false } });
    expect(c.loginPath).toBe(false);
  });
});
