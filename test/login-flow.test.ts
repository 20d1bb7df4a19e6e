import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createApp, testOptions } from './support/app.js';
import { login, newBrowser } from './support/flow.js';
import { startProvider, type TestProvider } from './support/provider.js';

let op: TestProvider;
beforeAll(async () => {
  op = await startProvider();
});
afterAll(async () => {
  await op.close();
});

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
