import { describe, expect, it } from '@jest/globals';
import { createApp, testOptions } from './support/app.js';
import { login, newBrowser } from './support/flow.js';
import request from 'supertest';
import { signIdToken, startHostileProvider } from './support/hostile-provider.js';
import { CLIENT_ID, CLIENT_SECRET } from './support/provider.js';
import { useProvider } from './support/use-provider.js';

const op = useProvider();

describe('the login flow against a real provider', () => {
  it('logs in: claims and tokens on req.oidc, returnTo honoured', async () => {
    const { app } = createApp(testOptions(op));
    const browser = newBrowser(app, op.issuer);
    const res = await login(browser, { query: '?returnTo=%2Fprotected%3Fx%3D1' });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/protected?x=1');
    const probe = await browser.app.get('/probe/oidc').expect(200);
    expect(probe.body.isAuthenticated).toBe(true);
    expect(probe.body.claims.sub).toBe('alice');
    expect(probe.body.claims.email).toBe('alice@example.com');
    expect(probe.body.idToken.split('.')).toHaveLength(3);
    expect(typeof probe.body.accessToken).toBe('string');
    expect(probe.body.expiresAt).toBeGreaterThan(Date.now() / 1000);
    const page = await browser.app.get('/protected?x=1').expect(200);
    expect(page.body).toEqual({ sub: 'alice', path: '/protected?x=1' });
  });
});

describe('client authentication at the token endpoint', () => {
  async function tokenRequestWith(clientAuthMethod: 'client_secret_basic' | 'client_secret_post') {
    const hp = await startHostileProvider({
      metadata: { token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'] },
    });
    try {
      let seen: { body: URLSearchParams; authorization: string | undefined } | undefined;
      hp.onToken = async (ctx) => {
        seen = { body: new URLSearchParams(ctx.body), authorization: ctx.authorizationHeader };
        return ctx.tokenResponse(await signIdToken(ctx.claims(), ctx.keys[0]!));
      };
      const { app } = createApp(testOptions(hp, { clientAuthMethod }));
      const agent = request.agent(app);
      const start = await agent.get('/login').expect(302);
      const back = new URL((await fetch(start.headers.location!, { redirect: 'manual' })).headers.get('location')!);
      await agent.get(back.pathname + back.search).expect(302);
      return seen!;
    } finally {
      await hp.close();
    }
  }

  it('sends the client secret in the Basic header by default (client_secret_basic)', async () => {
    const seen = await tokenRequestWith('client_secret_basic');
    // RFC 6749 2.3.1: id and secret are form-urlencoded inside the Basic credentials.
    const [id, secret] = Buffer.from(seen.authorization!.replace(/^Basic /, ''), 'base64')
      .toString()
      .split(':')
      .map(decodeURIComponent);
    expect([id, secret]).toEqual([CLIENT_ID, CLIENT_SECRET]);
    expect(seen.body.has('client_secret')).toBe(false);
  });

  it('sends it in the form body with client_secret_post', async () => {
    const seen = await tokenRequestWith('client_secret_post');
    expect(seen.authorization).toBeUndefined();
    expect(seen.body.get('client_id')).toBe(CLIENT_ID);
    expect(seen.body.get('client_secret')).toBe(CLIENT_SECRET);
  });
});
