import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import request, { type Response } from 'supertest';
import type { OidcLoginOptions } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { startHostileProvider } from './support/hostile-provider.js';
import { useHostileProvider } from './support/use-hostile-provider.js';

/**
 * The provider misbehaving around the ID token: its JWKS endpoint failing, hanging, redirecting
 * or serving garbage, its discovery document naming another issuer, its token endpoint
 * redirecting or answering a response that is not a token response. Never a login, never a 500.
 */

const op = useHostileProvider();

type App = ReturnType<typeof createApp>['app'];

function newApp(overrides: Partial<OidcLoginOptions> = {}): App {
  return createApp(testOptions(op, overrides)).app;
}

async function attempt(app: App, agent: request.Agent = request.agent(app)): Promise<{ agent: request.Agent; res: Response }> {
  const login = await agent.get('/login').expect(302);
  const atProvider = await fetch(login.headers.location!, { redirect: 'manual' });
  expect(atProvider.status).toBe(302);
  const callback = new URL(atProvider.headers.get('location')!);
  return { agent, res: await agent.get(callback.pathname + callback.search) };
}

async function expectRejected(a: { agent: request.Agent; res: Response }, status: number, code: string): Promise<void> {
  expect({ status: a.res.status, code: a.res.body.code }).toEqual({ status, code });
  const probe = await a.agent.get('/probe/oidc').expect(200);
  expect(probe.body.isAuthenticated).toBe(false);
  expect(probe.body.pending).toBe(0);
}

async function expectLoggedIn(a: { agent: request.Agent; res: Response }): Promise<void> {
  expect(a.res.status).toBe(302);
  expect((await a.agent.get('/probe/oidc').expect(200)).body.isAuthenticated).toBe(true);
}

describe('JWKS endpoint faults', () => {
  it('answers 502 when the JWKS endpoint answers 500', async () => {
    op.onJwks = () => ({ status: 500, body: 'down' });
    await expectRejected(await attempt(newApp()), 502, 'ERR_OIDC_PROVIDER_RESPONSE');
  });

  it('answers 502 when the JWKS is not JSON', async () => {
    op.onJwks = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"keys": [' });
    await expectRejected(await attempt(newApp()), 502, 'ERR_OIDC_PROVIDER_RESPONSE');
  });

  it('answers 502 when the JWKS is not a key set', async () => {
    op.onJwks = () => ({ status: 200, body: { keys: 'none' } });
    await expectRejected(await attempt(newApp()), 502, 'ERR_OIDC_PROVIDER_RESPONSE');
  });

  it('answers 504 within httpTimeout when the JWKS endpoint hangs', async () => {
    op.onJwks = () => 'hang';
    const started = Date.now();
    const a = await attempt(newApp({ httpTimeout: 500 }));
    const elapsed = Date.now() - started;
    await expectRejected(a, 504, 'ERR_OIDC_PROVIDER_TIMEOUT');
    expect(elapsed).toBeLessThan(2000);
  });

  it('does not follow a redirect from the JWKS endpoint', async () => {
    op.onJwks = () => ({ status: 302, headers: { location: `${op.issuer}/jwks?followed=1` }, body: '' });
    await expectRejected(await attempt(newApp()), 502, 'ERR_OIDC_PROVIDER_RESPONSE');
    expect(op.counts.jwks).toBe(1);
  });

  it('does not cache a JWKS failure: the next login works once the endpoint is back', async () => {
    const app = newApp();
    op.onJwks = () => ({ status: 503, body: 'later' });
    await expectRejected(await attempt(app), 502, 'ERR_OIDC_PROVIDER_RESPONSE');
    op.onJwks = undefined;
    await expectLoggedIn(await attempt(app));
  });

  it('keeps verifying with the cached JWKS while the endpoint is down', async () => {
    const app = newApp();
    await expectLoggedIn(await attempt(app));
    op.onJwks = () => ({ status: 500, body: 'down' });
    op.counts.jwks = 0;
    await expectLoggedIn(await attempt(app));
    expect(op.counts.jwks).toBe(0);
  });
});

describe('discovery', () => {
  it('refuses a discovery document that names another issuer (502 at /login, nothing stored)', async () => {
    const liar = await startHostileProvider({ metadata: { issuer: 'http://127.0.0.1:1' } });
    try {
      const agent = request.agent(createApp(testOptions(liar)).app);
      const res = await agent.get('/login');
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 502, code: 'ERR_OIDC_PROVIDER_MISMATCH' });
      expect(res.body.message).toContain('"http://127.0.0.1:1"');
      expect(res.body.message).toContain(`"${liar.issuer}/"`);
      expect(liar.counts.authorize).toBe(0);
      expect((await agent.get('/probe/oidc')).body.pending).toBe(0);
    } finally {
      await liar.close();
    }
  });
});

describe('discovery answers garbage', () => {
  /** A server that answers every request with `status` and `body`. */
  async function broken(status: number, body: string, type = 'application/json') {
    const server = createServer((_req, res) => res.writeHead(status, { 'content-type': type }).end(body));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return { issuer: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(r)) };
  }

  it.each([
    ['HTTP 500', 500, '{"error":"boom"}'],
    ['invalid JSON', 200, '{"issuer": '],
    ['JSON that is not an object', 200, '[1,2,3]'],
    ['HTML', 200, '<html>maintenance</html>'],
  ])('answers 502 ERR_OIDC_PROVIDER_RESPONSE at /login for %s, and tries again on the next request', async (_name, status, body) => {
    const bad = await broken(status, body);
    try {
      const app = createApp(testOptions(bad)).app;
      for (let i = 0; i < 2; i++) {
        const res = await request(app).get('/login');
        expect({ status: res.status, code: res.body.code }).toEqual({ status: 502, code: 'ERR_OIDC_PROVIDER_RESPONSE' });
      }
    } finally {
      await bad.close();
    }
  });
});

describe('token endpoint: answers that are not a token response', () => {
  it('does not follow a redirect from the token endpoint', async () => {
    op.onToken = (ctx) => ({ status: 307, headers: { location: `${ctx.issuer}/token?followed=1` }, body: '' });
    await expectRejected(await attempt(newApp()), 502, 'ERR_OIDC_PROVIDER_RESPONSE');
    expect(op.counts.token).toBe(1);
  });

  it('answers 502 for a token response without access_token', async () => {
    op.onToken = async (ctx) => {
      const answer = await ctx.valid();
      delete (answer.body as Record<string, unknown>).access_token;
      return answer;
    };
    await expectRejected(await attempt(newApp()), 502, 'ERR_OIDC_PROVIDER_RESPONSE');
  });

  it('answers 502 for an unsupported token_type', async () => {
    op.onToken = async (ctx) => {
      const answer = await ctx.valid();
      (answer.body as Record<string, unknown>).token_type = 'mac';
      return answer;
    };
    await expectRejected(await attempt(newApp()), 502, 'ERR_OIDC_PROVIDER_RESPONSE');
  });

  it('answers 502 for a JSON array in place of the token response', async () => {
    op.onToken = () => ({ status: 200, body: [] });
    await expectRejected(await attempt(newApp()), 502, 'ERR_OIDC_PROVIDER_RESPONSE');
  });

  it('answers 502 for 503 temporarily_unavailable', async () => {
    op.onToken = () => ({ status: 503, body: { error: 'temporarily_unavailable' } });
    await expectRejected(await attempt(newApp()), 502, 'ERR_OIDC_PROVIDER_RESPONSE');
  });
});
