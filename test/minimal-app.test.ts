import { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import request from 'supertest';
import type * as Library from '../lib/index.js';
import type { OidcLoginOptions } from '../lib/index.js';
import { loginAs, startTestProvider, type TestProvider } from '../lib/testing/index.js';
import { freePort } from './support/net.js';

/**
 * The README's complete app (examples/minimal/app.ts, shown verbatim on the front page) runs as a
 * newcomer would run it: configured by environment variables, listening on its port, against a
 * provider (the test kit's). One thing is added: the test provider is plain http on loopback, which
 * the app's options do not allow, so `dangerouslyAllowInsecureHttp` is set for it here.
 */

let provider: TestProvider;
let baseUrl: string;
let server: Server | undefined;
const saved = { ...process.env };

beforeAll(async () => {
  const port = await freePort();
  baseUrl = `http://localhost:${port}`;
  provider = await startTestProvider({ baseUrl });
  const { issuer, clientId, clientSecret } = provider.options();
  Object.assign(process.env, {
    PORT: String(port),
    BASE_URL: baseUrl,
    OIDC_ISSUER_URL: issuer,
    OIDC_CLIENT_ID: clientId,
    OIDC_CLIENT_SECRET: clientSecret,
    SESSION_SECRET: 'minimal-app-test-session-secret',
  });
  jest.unstable_mockModule(
    'express-oidc-login',
    async () => {
      const real: typeof Library = await import('../lib/index.js');
      const oidcLogin = (options: OidcLoginOptions) =>
        real.oidcLogin({ ...options, dangerouslyAllowInsecureHttp: true });
      return { ...real, oidcLogin };
    },
    { virtual: true },
  );
  // The app keeps its server to itself (app.listen): catch it to close it afterwards.
  const listen = jest.spyOn(Server.prototype, 'listen');
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  // By a variable: tsc does not follow it (test/docs.test.ts type-checks the file, whatever
  // examples/minimal's own package.json resolves express-oidc-login to).
  const entry = '../examples/minimal/app.js';
  await import(entry);
  server = listen.mock.contexts[0] as Server;
  listen.mockRestore();
  // 'listening', and the app's callback, come on the next tick.
  await new Promise((resolve) => setImmediate(resolve));
  expect(log).toHaveBeenCalledWith(`Listening on ${baseUrl}`);
  log.mockRestore();
});

afterAll(async () => {
  process.env = saved;
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server!.close(() => resolve()));
  }
  await provider?.close();
});

describe('the front page app (examples/minimal/app.ts)', () => {
  it('offers a login to a visitor, and sends page loads of /profile to it', async () => {
    expect((await request(baseUrl).get('/').expect(200)).text).toContain('href="/login"');
    const res = await request(baseUrl).get('/profile').set('accept', 'text/html').expect(302);
    expect(res.headers.location).toBe('/login?returnTo=%2Fprofile');
  });

  it('logs a user in: the profile shows their claims, the home page a logout button', async () => {
    const agent = await loginAs(baseUrl, { sub: 'alice', name: 'Alice', groups: ['users'] });
    expect((await agent.get('/profile').expect(200)).body).toMatchObject({ sub: 'alice', name: 'Alice' });
    expect((await agent.get('/').expect(200)).text).toContain('action="/logout"');
  });

  it("answers a 403 with the error handler's short page (no stack trace), and JSON to API clients", async () => {
    const agent = await loginAs(baseUrl, { sub: 'alice', groups: ['users'] });
    const page = await agent.get('/admin').set('accept', 'text/html').expect(403);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toContain('<h1>Access denied</h1>');
    expect(page.text).not.toMatch(/\bat \S+ \(/);
    await agent.get('/admin').set('accept', 'application/json').expect(403);
    const admin = await loginAs(baseUrl, { sub: 'bob', groups: ['admin'] });
    expect((await admin.get('/admin').expect(200)).text).toBe('Only for admins.');
  });

  it('answers a login error (a callback without its login) with its status and code', async () => {
    const res = await request(baseUrl).get('/callback?code=x&state=y').set('accept', 'application/json').expect(400);
    expect(res.body).toMatchObject({ error: 'bad_request', code: 'ERR_OIDC_MISSING_TRANSACTION' });
  });
});
