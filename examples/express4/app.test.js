import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import request from 'supertest';
import { loginAs, startTestProvider } from 'express-oidc-login/testing';
import { createApp } from './app.js';

let provider;
let app;
before(async () => {
  provider = await startTestProvider();
  app = createApp(provider.options());
});
after(() => provider.close());

test('runs on Express 4', () => {
  assert.match(createRequire(import.meta.url)('express/package.json').version, /^4\./);
});

test('logs alice in, and lets only admins in to /admin', async () => {
  await request(app).get('/profile').expect(401);
  const alice = await loginAs(app, { sub: 'alice', groups: ['users'] });
  assert.equal((await alice.get('/profile').expect(200)).body.sub, 'alice');
  const page = await alice.get('/admin').set('Accept', 'text/html').expect(403);
  assert.match(page.text, /Access denied/);
  await (await loginAs(app, { sub: 'bob', groups: ['admin'] })).get('/admin').expect(200);
});
