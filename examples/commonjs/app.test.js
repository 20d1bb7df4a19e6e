const { after, before, test } = require('node:test');
const assert = require('node:assert/strict');
const request = require('supertest');
const { loginAs, startTestProvider } = require('express-oidc-login/testing');
const { createApp } = require('./app.js');

let provider;
let app;
before(async () => {
  provider = await startTestProvider();
  app = createApp(provider.options());
});
after(() => provider.close());

test('logs alice in, and lets only admins in to /admin', async () => {
  await request(app).get('/profile').expect(401);
  const alice = await loginAs(app, { sub: 'alice', groups: ['users'] });
  assert.equal((await alice.get('/profile').expect(200)).body.sub, 'alice');
  await alice.get('/admin').expect(403);
  await (await loginAs(app, { sub: 'bob', groups: ['admin'] })).get('/admin').expect(200);
});
