import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import type { ErrorRequestHandler } from 'express';
import * as client from 'openid-client';
import request, { type Response } from 'supertest';
import { OidcError, type OidcLoginOptions } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { txCookies } from './support/flow.js';
import { signIdToken, startHostileProvider } from './support/hostile-provider.js';
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

async function attempt(
  app: App,
  agent: request.Agent = request.agent(app),
): Promise<{ agent: request.Agent; res: Response }> {
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
  expect(txCookies(a.agent).size).toBe(0);
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
      expect(txCookies(agent).size).toBe(0);
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
    return {
      issuer: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise((r) => server.close(r)),
    };
  }

  it.each([
    ['HTTP 500', 500, '{"error":"boom"}'],
    ['invalid JSON', 200, '{"issuer": '],
    ['JSON that is not an object', 200, '[1,2,3]'],
    ['HTML', 200, '<html>maintenance</html>'],
  ])(
    'answers 502 ERR_OIDC_PROVIDER_RESPONSE at /login for %s, and tries again on the next request',
    async (_name, status, body) => {
      const bad = await broken(status, body);
      try {
        const app = createApp(testOptions(bad)).app;
        for (let i = 0; i < 2; i++) {
          const res = await request(app).get('/login');
          expect({ status: res.status, code: res.body.code }).toEqual({
            status: 502,
            code: 'ERR_OIDC_PROVIDER_RESPONSE',
          });
        }
      } finally {
        await bad.close();
      }
    },
  );
});

describe('token endpoint: answers that are not a token response', () => {
  it('does not follow a redirect from the token endpoint', async () => {
    op.onToken = (ctx) => ({ status: 307, headers: { location: `${ctx.issuer}/token?followed=1` }, body: '' });
    await expectRejected(await attempt(newApp()), 502, 'ERR_OIDC_PROVIDER_RESPONSE');
    expect(op.counts.token).toBe(1);
  });

  it('answers 502 when the token response stops halfway through its body (httpTimeout runs out reading it)', async () => {
    op.onToken = async (ctx) => ({ ...(await ctx.valid()), stallAfter: 20 });
    await expectRejected(await attempt(newApp({ httpTimeout: 500 })), 502, 'ERR_OIDC_PROVIDER_RESPONSE');
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

describe("token material never reaches the app's error handler", () => {
  const AT = 'AT-SECRET-0123456789';
  const RT = 'RT-SECRET-0123456789';

  /** An app whose error handler keeps what it is given, then answers as jsonErrors. */
  function capturing(seen: unknown[]) {
    return createApp(testOptions(op, { logger: false }), {
      probes: false,
      routes: (app) => {
        app.get('/probe/oidc', (req, res) => {
          res.json({
            isAuthenticated: req.oidc!.isAuthenticated(),
            pending: Object.keys(req.session.oidc?.tx ?? {}).length,
          });
        });
        app.use(((err, _req, _res, next) => {
          seen.push(err);
          next(err);
        }) as ErrorRequestHandler);
      },
    }).app;
  }

  /** Everything an error logger could print, cause chain included. */
  const dump = (err: unknown) => inspect(err, { depth: 10, showHidden: true });

  it.each([
    ['"expires_in" is not a number', { expires_in: 'soon' }],
    ['"token_type" is not supported', { token_type: 'mac' }],
    ['"scope" is not a string', { scope: 42 }],
  ])(
    'a malformed token response (%s): 502, and neither its access, refresh nor ID token in the error or its causes',
    async (_name, fault) => {
      let idToken = '';
      op.onToken = async (ctx) => {
        idToken = await signIdToken(ctx.claims({}), ctx.keys[0]!);
        return ctx.tokenResponse(idToken, { access_token: AT, refresh_token: RT, ...fault });
      };
      const seen: unknown[] = [];
      await expectRejected(await attempt(capturing(seen)), 502, 'ERR_OIDC_PROVIDER_RESPONSE');
      expect(seen).toHaveLength(1);
      const text = dump(seen[0]);
      for (const secret of [AT, RT, idToken]) expect(text).not.toContain(secret);
      // openid-client's error is still there, as it was: its class, code and message.
      const cause = (seen[0] as Error).cause as client.ClientError;
      expect(cause).toBeInstanceOf(client.ClientError);
      expect(text).toContain(cause.message);
      expect(text).toContain(String(cause.code));
    },
  );

  it('an ID token that cannot be processed (encrypted, no key): 400, and the token is not in the causes', async () => {
    const jwe =
      'eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGe.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A.XFBoMYUZodetZdvTiFvSkQ';
    op.onToken = (ctx) => ctx.tokenResponse(jwe, { access_token: AT, refresh_token: RT });
    const seen: unknown[] = [];
    await expectRejected(await attempt(capturing(seen)), 400, 'ERR_OIDC_ID_TOKEN_INVALID');
    const text = dump(seen[0]);
    for (const secret of [AT, RT, jwe]) expect(text).not.toContain(secret);
    expect(text).toContain('ClientError');
  });
});

describe('redactTokens()', () => {
  it('replaces token members and compact JWTs in a cause chain, keeping each error, its class and everything else', () => {
    const body = {
      access_token: 'at',
      refresh_token: 'rt',
      id_token: 'x.y.z',
      token_type: 'bearer',
      expires_in: 'soon',
      iss: 'accounts.google.com',
    };
    const inner = new TypeError('"response" body "expires_in" property must be a number', {
      cause: { body, again: body },
    });
    const outer = Object.assign(new Error('invalid response encountered', { cause: inner }), {
      code: 'OAUTH_INVALID_RESPONSE',
    });
    const cyclic: Record<string, unknown> = { jws: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln' };
    cyclic.self = cyclic;
    const sibling = new Error('unsupported operation', { cause: cyclic });
    const wrapped = new OidcError('ERR_OIDC_PROVIDER_RESPONSE', 502, 'x', {
      cause: new AggregateError([outer, sibling]),
    });
    const [first, second] = (wrapped.cause as AggregateError).errors as [Error, Error];
    expect(first).toBe(outer);
    expect(first).toMatchObject({ message: 'invalid response encountered', code: 'OAUTH_INVALID_RESPONSE' });
    expect(first.cause).toBe(inner);
    expect(inner).toBeInstanceOf(TypeError);
    const redacted = { ...body, access_token: '[REDACTED]', refresh_token: '[REDACTED]', id_token: '[REDACTED]' };
    expect(inner.cause).toEqual({ body: redacted, again: redacted });
    expect((second.cause as Record<string, unknown>).jws).toBe('[REDACTED]');
    expect((second.cause as Record<string, unknown>).self).toBe(second.cause);
    // The originals were not changed: copies are.
    expect(body.access_token).toBe('at');
  });
});
