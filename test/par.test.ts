import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { MemoryStore } from 'express-session';
import request from 'supertest';
import type { OidcLoginOptions } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { authorizeAt, login, newBrowser, setCookies, startLogin, txCookies, visitCallback } from './support/flow.js';
import { startHostileProvider, type HostileProvider } from './support/hostile-provider.js';
import { freePort } from './support/net.js';
import {
  APP_BASE_URL,
  CLIENT_ID,
  CLIENT_SECRET,
  REDIRECT_URI,
  startProvider,
  type TestProvider,
} from './support/provider.js';
import { useProvider } from './support/use-provider.js';

/**
 * Pushed Authorization Requests (RFC 9126): used when the provider requires them (its metadata) or
 * when `pushedAuthorizationRequests: true`; the authorization URL then carries only `client_id`
 * and `request_uri`. A failing PAR endpoint is a clean 502/503/504 and leaves no pending login.
 */

/** The parameters the middleware owns, none of which may travel in the front channel with PAR. */
const BACK_CHANNEL_ONLY = [
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'redirect_uri',
  'scope',
  'response_type',
];

function expectPushed(url: URL, issuer: string): void {
  expect(url.origin + url.pathname).toMatch(new RegExp(`^${issuer}/`));
  expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
  expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
  for (const name of BACK_CHANNEL_ONLY) expect(url.searchParams.has(name)).toBe(false);
}

function sessionsIn(store: MemoryStore): Record<string, { oidc?: { tx?: Record<string, unknown> } }> {
  const raw = (store as unknown as { sessions: Record<string, string> }).sessions;
  return Object.fromEntries(Object.entries(raw).map(([id, s]) => [id, JSON.parse(s)]));
}

describe('a provider that requires PAR (require_pushed_authorization_requests in its metadata)', () => {
  const op = useProvider({
    configuration: {
      features: {
        devInteractions: { enabled: true },
        pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: true },
      },
    },
  });

  it('is sent the authorization request by PAR without any option; the login completes', async () => {
    const { app, store } = createApp(testOptions(op));
    const browser = newBrowser(app, op.issuer);
    const authorizationUrl = await startLogin(browser, '?returnTo=%2Fprotected');
    expectPushed(authorizationUrl, op.issuer);
    expect(authorizationUrl.searchParams.get('client_id')).toBe(CLIENT_ID);
    // The pending login is kept as usual (one cookie, nothing in the store), and the callback finds
    // it under the state that went in the pushed request.
    expect(txCookies(browser.app).size).toBe(1);
    expect(sessionsIn(store)).toEqual({});
    const res = await visitCallback(browser, await authorizeAt(browser, authorizationUrl));
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/protected');
    expect((await browser.app.get('/probe/oidc')).body.claims.sub).toBe('alice');
  });
});

describe('PAR against a provider that offers it', () => {
  let op: TestProvider;
  beforeAll(async () => {
    const base = {
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code' as const],
    };
    op = await startProvider({
      clients: [
        {
          ...base,
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          token_endpoint_auth_method: 'client_secret_basic',
        },
        // A client the provider registered as PAR-only (RFC 9126 6): the metadata does not say so.
        {
          ...base,
          client_id: 'par-only',
          client_secret: CLIENT_SECRET,
          token_endpoint_auth_method: 'client_secret_jwt',
          require_pushed_authorization_requests: true,
        },
      ],
    });
  });
  afterAll(async () => {
    await op.close();
  });

  it('is not used by default', async () => {
    const url = await startLogin(newBrowser(createApp(testOptions(op)).app, op.issuer));
    expect(url.searchParams.has('request_uri')).toBe(false);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
  });

  it('is used when forced by the option; the login completes', async () => {
    const browser = newBrowser(createApp(testOptions(op, { pushedAuthorizationRequests: true })).app, op.issuer);
    const url = await startLogin(browser);
    expectPushed(url, op.issuer);
    expect((await visitCallback(browser, await authorizeAt(browser, url))).status).toBe(302);
  });

  it('logs in a PAR-only client (client_secret_jwt at the PAR and token endpoints) with the option', async () => {
    const options = testOptions(op, {
      clientId: 'par-only',
      clientAuthMethod: 'client_secret_jwt',
      pushedAuthorizationRequests: true,
    });
    const browser = newBrowser(createApp(options).app, op.issuer);
    const res = await login(browser);
    expect(res.status).toBe(302);
    expect((await browser.app.get('/probe/oidc')).body.claims.sub).toBe('alice');
  });

  it('without the option, the PAR-only client is refused by the provider (its error comes back to the callback)', async () => {
    const options = testOptions(op, { clientId: 'par-only', clientAuthMethod: 'client_secret_jwt' });
    const res = await login(newBrowser(createApp(options).app, op.issuer));
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('ERR_OIDC_AUTHORIZATION_ERROR');
  });
});

describe('a failing PAR endpoint', () => {
  type Answer = { status: number; body: unknown } | 'hang';
  let hp: HostileProvider;
  let par: Server;
  let answer: Answer;
  let received: { body: URLSearchParams; authorization: string | undefined }[];

  beforeAll(async () => {
    par = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({
          body: new URLSearchParams(Buffer.concat(chunks).toString()),
          authorization: req.headers.authorization,
        });
        if (answer === 'hang') return;
        const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
        res.writeHead(answer.status, {
          'content-type': typeof answer.body === 'string' ? 'text/html' : 'application/json',
        });
        res.end(text);
      });
    });
    await new Promise<void>((resolve) => par.listen(0, '127.0.0.1', resolve));
    hp = await startHostileProvider({
      metadata: {
        pushed_authorization_request_endpoint: `http://127.0.0.1:${(par.address() as AddressInfo).port}/par`,
        require_pushed_authorization_requests: true,
      },
    });
  });
  afterAll(async () => {
    await hp.close();
    par.closeAllConnections();
    await new Promise((resolve) => par.close(resolve));
  });
  beforeEach(() => {
    hp.reset();
    received = [];
    answer = { status: 201, body: { request_uri: 'urn:ietf:params:oauth:request_uri:abc', expires_in: 60 } };
  });

  function app(overrides: Partial<OidcLoginOptions> = {}) {
    return createApp(testOptions(hp, overrides));
  }

  it('is sent the whole authorization request, with client authentication', async () => {
    const res = await request(app().app).get('/login').expect(302);
    expectPushed(new URL(res.headers.location!), hp.issuer);
    expect(received).toHaveLength(1);
    const body = received[0]!.body;
    expect(body.get('client_id')).toBe(CLIENT_ID);
    expect(body.get('redirect_uri')).toBe(`${APP_BASE_URL}/callback`);
    expect(body.get('response_type')).toBe('code');
    expect(body.get('code_challenge_method')).toBe('S256');
    for (const name of ['state', 'nonce', 'code_challenge', 'scope']) expect(body.get(name)).toBeTruthy();
    expect(received[0]!.authorization).toMatch(/^Basic /);
    expect(hp.counts.authorize).toBe(0);
  });

  it.each([
    [
      'a 500 with an HTML page',
      { status: 500, body: '<h1>Internal Server Error</h1>' },
      502,
      'ERR_OIDC_PROVIDER_RESPONSE',
      /invalid answer \(the pushed authorization request\)/,
    ],
    [
      'a 503 with a JSON error',
      { status: 503, body: { error: 'temporarily_unavailable' } },
      502,
      'ERR_OIDC_PROVIDER_RESPONSE',
      /invalid answer \(the pushed authorization request\)/,
    ],
    [
      '400 invalid_request',
      { status: 400, body: { error: 'invalid_request', error_description: 'nope' } },
      502,
      'ERR_OIDC_PROVIDER_RESPONSE',
      /refused the pushed authorization request \(invalid_request\)/,
    ],
    [
      '401 invalid_client',
      { status: 401, body: { error: 'invalid_client' } },
      502,
      'ERR_OIDC_PROVIDER_RESPONSE',
      /client credentials/,
    ],
    [
      'a 201 without request_uri',
      { status: 201, body: { expires_in: 60 } },
      502,
      'ERR_OIDC_PROVIDER_RESPONSE',
      /invalid answer/,
    ],
  ] as const)('answers %s with a clean error, storing nothing', async (_name, failure, status, code, message) => {
    for (const pendingLogins of ['cookie', 'session'] as const) {
      answer = failure;
      const { app: a, store } = app({ pendingLogins });
      const res = await request(a).get('/login').expect(status);
      expect(res.body.code).toBe(code);
      expect(res.body.message).toMatch(message);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(sessionsIn(store)).toEqual({});
    }
    expect(hp.counts.authorize).toBe(0);
  });

  it('keeps the other pending logins of the browser as they were', async () => {
    const agent = request.agent(app().app);
    await agent.get('/login').expect(302);
    const before = txCookies(agent);
    expect(before.size).toBe(1);
    answer = { status: 500, body: 'down' };
    const res = await agent.get('/login').expect(502);
    expect(setCookies(res)).toEqual([]);
    expect(txCookies(agent)).toEqual(before);
  });

  it('keeps the other pending logins of the session as they were (session mode)', async () => {
    const { app: a, store } = app({ pendingLogins: 'session' });
    const agent = request.agent(a);
    await agent.get('/login').expect(302);
    const pending = () => Object.values(sessionsIn(store)).map((s) => s.oidc);
    const before = pending();
    answer = { status: 500, body: 'down' };
    await agent.get('/login').expect(502);
    expect(pending()).toEqual(before);
    expect(Object.keys(before[0]!.tx!)).toHaveLength(1);
    expect((await agent.get('/probe/oidc')).body.pending).toBe(1);
  });

  it('answers 504 with Retry-After when the PAR endpoint does not answer in time', async () => {
    answer = 'hang';
    const { app: a, store } = app({ httpTimeout: 300 });
    const res = await request(a).get('/login').expect(504);
    expect(res.body.code).toBe('ERR_OIDC_PROVIDER_TIMEOUT');
    expect(res.headers['retry-after']).toBe('5');
    expect(sessionsIn(store)).toEqual({});
  });

  it('answers 503 when the PAR endpoint cannot be reached', async () => {
    const down = await startHostileProvider({
      metadata: {
        pushed_authorization_request_endpoint: `http://127.0.0.1:${await freePort()}/par`,
        require_pushed_authorization_requests: true,
      },
    });
    try {
      const { app: a, store } = createApp(testOptions(down));
      const res = await request(a).get('/login').expect(503);
      expect(res.body.code).toBe('ERR_OIDC_PROVIDER_UNREACHABLE');
      expect(sessionsIn(store)).toEqual({});
    } finally {
      await down.close();
    }
  });

  it('says at start-up that the option cannot work when the provider has no PAR endpoint (502 ERR_OIDC_PROVIDER_MISMATCH)', async () => {
    const plain = await startHostileProvider();
    try {
      const lines: string[] = [];
      const { app: a } = createApp(
        testOptions(plain, {
          pushedAuthorizationRequests: true,
          logger: { warn: (m) => lines.push(m), error: (m) => lines.push(m) },
        }),
      );
      const res = await request(a).get('/login').expect(502);
      expect(res.body.code).toBe('ERR_OIDC_PROVIDER_MISMATCH');
      expect(res.body.message).toMatch(
        /"pushedAuthorizationRequests" is true but the provider has no pushed_authorization_request_endpoint/,
      );
      expect(lines).toEqual([expect.stringMatching(/pushed_authorization_request_endpoint/)]);
    } finally {
      await plain.close();
    }
  });
});
