// #region app-test
// #region vitest-imports
import { afterAll, beforeAll, expect, it } from 'vitest';
import request from 'supertest';
import { loginAs, startTestProvider, type TestProvider } from 'express-oidc-login/testing';
import { createApp } from './app.js';
// #endregion

let provider: TestProvider;
let app: ReturnType<typeof createApp>;
beforeAll(async () => {
  provider = await startTestProvider();
  app = createApp(provider.options());
});
afterAll(() => provider.close());

it('shows the profile to a logged-in user only', async () => {
  await request(app).get('/profile').expect(401);
  const agent = await loginAs(app, { sub: 'alice', email: 'alice@example.com', groups: ['users'] });
  expect((await agent.get('/profile').expect(200)).body).toMatchObject({ sub: 'alice' });
});

it('lets admins in, and only them', async () => {
  await (await loginAs(app, { sub: 'alice', groups: ['users'] })).get('/admin').expect(403);
  await (await loginAs(app, { sub: 'bob', groups: ['admin'] })).get('/admin').expect(200);
});

it('refreshes an expired access token', async () => {
  const agent = await loginAs(app, { sub: 'alice' }, { expiresIn: 0 }); // expired on arrival
  const before = provider.tokenRequests;
  await agent.get('/api/me').expect(200);
  expect(provider.tokenRequests).toBe(before + 1);
});

it('ends the login when the refresh token is revoked', async () => {
  const agent = await loginAs(app, { sub: 'alice' }, { expiresIn: 0 });
  provider.revokeRefreshTokens('alice');
  await agent.get('/api/me').expect(401);
});

it('logs the user out on a back-channel logout', async () => {
  const agent = await loginAs(app, { sub: 'alice' });
  await provider.backchannelLogout(app, { sub: 'alice' });
  await agent.get('/profile').expect(401);
});
// #endregion
