import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ErrorRequestHandler } from 'express';
import * as client from 'openid-client';
import { OidcAuthorizationError } from '../lib/index.js';
import { tokenEndpointError } from '../lib/flow/provider-errors.js';
import { createApp, testOptions } from './support/app.js';
import { authorizeAt, newBrowser, startLogin, visitCallback } from './support/flow.js';
import { CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } from './support/provider.js';
import { countGrants } from './support/refresh-kit.js';
import { useProvider } from './support/use-provider.js';

/**
 * What the browser brings to the callback is answered 400 ERR_OIDC_INVALID_CALLBACK, never a 5xx
 * and never blamed on the provider: a real provider's authorization response with parameters the
 * code flow never returns added to it, or repeated, or with another `iss`.
 */

const op = useProvider();

/** Token requests for a code the provider received (answered or refused). */
let codeGrants: ReturnType<typeof countGrants>;
beforeAll(() => {
  codeGrants = countGrants(op, 'authorization_code');
});
afterAll(() => codeGrants.detach());
const tokenRequests = () => codeGrants.counts.succeeded + codeGrants.counts.failed.length;

/** A well-formed JWS (not signed by anyone the app trusts): what a front-channel token looks like. */
const A_JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl';

type Change = (params: URLSearchParams) => void;
const append =
  (name: string, value: string): Change =>
  (params) =>
    params.append(name, value);
const again =
  (name: string): Change =>
  (params) =>
    params.append(name, params.get(name)!);

const HOSTILE: [string, Change][] = [
  ['an id_token appended (a front-channel token injected)', append('id_token', A_JWT)],
  ['an access_token', append('access_token', 'stolen-or-forged')],
  ['token_type', append('token_type', 'Bearer')],
  ['expires_in', append('expires_in', '3600')],
  ['a refresh_token', append('refresh_token', 'x')],
  ['token (oauth4webapi: implicit)', append('token', 'x')],
  ['a JARM response on a client that never asked for one', append('response', A_JWT)],
  ['code twice', append('code', 'another-code')],
  ['iss twice', again('iss')],
  ['a parameter the provider did not send, twice', (p) => (p.append('x', '1'), p.append('x', '2'))],
  ['another issuer in iss', (p) => p.set('iss', 'https://evil.example')],
  ['no iss from a provider that always sends it (RFC 9207)', (p) => p.delete('iss')],
];

describe('a real authorization response with hostile parameters added by the browser', () => {
  it.each(HOSTILE)('%s: 400 ERR_OIDC_INVALID_CALLBACK, no token request, nobody logged in', async (_name, change) => {
    const { app } = createApp(testOptions(op));
    const browser = newBrowser(app, op.issuer);
    const callback = await authorizeAt(browser, await startLogin(browser));
    const params = new URLSearchParams(callback.search);
    change(params);
    callback.search = `?${params}`;
    const before = tokenRequests();
    const res = await visitCallback(browser, callback);
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 400, code: 'ERR_OIDC_INVALID_CALLBACK' });
    // Nothing of what the browser sent is echoed.
    expect(res.body.message).not.toMatch(/evil|another-code|stolen|eyJ/);
    expect(tokenRequests()).toBe(before);
    expect((await browser.app.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(false);
  });

  it('the same response without the additions logs in (the table above is about them alone)', async () => {
    const { app } = createApp(testOptions(op));
    const browser = newBrowser(app, op.issuer);
    const callback = await authorizeAt(browser, await startLogin(browser));
    callback.searchParams.append('session_state', 'kept-by-some-providers');
    await visitCallback(browser, callback).expect(302);
    expect((await browser.app.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(true);
  });
});

/**
 * An `error=` response is what the browser brings too: anyone can start a login, keep its cookies
 * and state, and send the callback a `server_error` of their own. It is a 400 (never a 5xx, which
 * the error handler logs as the app's failure), and it uses up the pending login as any error does.
 */
describe('an error= response the browser made up', () => {
  it.each(['server_error', 'temporarily_unavailable', 'invalid_scope'])(
    '%s: 400 ERR_OIDC_AUTHORIZATION_ERROR, no token request, the pending login used up',
    async (error) => {
      const errors: unknown[] = [];
      const { app } = createApp(testOptions(op), {
        routes: (a) => a.use(((err, _req, _res, next) => (errors.push(err), next(err))) as ErrorRequestHandler),
      });
      const browser = newBrowser(app, op.issuer);
      const authorizationUrl = await startLogin(browser);
      const state = authorizationUrl.searchParams.get('state')!;
      const forged = new URLSearchParams({ state, error, iss: op.issuer });
      const before = tokenRequests();
      const res = await browser.app.get(`/callback?${forged}`);
      expect({ status: res.status, code: res.body.code }).toEqual({
        status: 400,
        code: 'ERR_OIDC_AUTHORIZATION_ERROR',
      });
      expect(errors[0]).toBeInstanceOf(OidcAuthorizationError);
      expect((errors[0] as OidcAuthorizationError).error).toBe(error);
      // The real answer to that login comes too late: its pending login was used up.
      const callback = await authorizeAt(browser, authorizationUrl);
      const late = await visitCallback(browser, callback);
      expect({ status: late.status, code: late.body.code }).toEqual({
        status: 400,
        code: 'ERR_OIDC_MISSING_TRANSACTION',
      });
      expect(tokenRequests()).toBe(before);
      expect((await browser.app.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(false);
    },
  );
});

/**
 * The one mapping (provider-errors.ts), on its own: what openid-client itself throws for an
 * authorization response it refuses is 400 ERR_OIDC_INVALID_CALLBACK (an `error=` response stays
 * the provider's error), whatever the callback's own checks let through.
 */
describe("openid-client's refusals of an authorization response, mapped", () => {
  let configuration: client.Configuration;
  beforeAll(async () => {
    configuration = await client.discovery(new URL(op.issuer), CLIENT_ID, CLIENT_SECRET, undefined, {
      execute: [client.allowInsecureRequests],
    });
  });

  const STATE = 'expected-state';
  const base = () => new URLSearchParams({ code: 'a-code', state: STATE, iss: op.issuer });

  const REFUSED: [string, Change][] = [
    ['id_token', append('id_token', A_JWT)],
    ['token', append('token', 'x')],
    ['response (JARM)', append('response', A_JWT)],
    ['state twice', again('state')],
    ['iss twice', again('iss')],
    ['code twice', append('code', 'another-code')],
    ['another state', (p) => p.set('state', 'another-state')],
    ['no state', (p) => p.delete('state')],
    ['another iss', (p) => p.set('iss', 'https://evil.example')],
    ['no iss', (p) => p.delete('iss')],
  ];

  it.each(REFUSED)('%s: 400 ERR_OIDC_INVALID_CALLBACK', async (_name, change) => {
    const params = base();
    change(params);
    const url = new URL(`${REDIRECT_URI}?${params}`);
    const err = await client
      .authorizationCodeGrant(configuration, url, { expectedState: STATE, pkceCodeVerifier: 'v'.repeat(43) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeDefined();
    const mapped = tokenEndpointError(err, 'code', 'client_secret_basic');
    expect({ status: mapped.status, code: mapped.code }).toEqual({ status: 400, code: 'ERR_OIDC_INVALID_CALLBACK' });
  });

  it('an error= response stays the provider error it is (401 for access_denied)', async () => {
    const params = base();
    params.delete('code');
    params.set('error', 'access_denied');
    const err = await client
      .authorizationCodeGrant(configuration, new URL(`${REDIRECT_URI}?${params}`), { expectedState: STATE })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const mapped = tokenEndpointError(err, 'code', 'client_secret_basic');
    expect({ status: mapped.status, code: mapped.code }).toEqual({ status: 401, code: 'ERR_OIDC_ACCESS_DENIED' });
  });
});
