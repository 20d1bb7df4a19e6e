// Runs app.ts as written (compiled by tsc to dist/app.js) in its own process, and logs in to it
// with the test kit.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { loginAs, startTestProvider } from 'express-oidc-login/testing';

let provider;
let server;
let baseUrl;

before(async () => {
  const port = await freePort();
  baseUrl = `http://localhost:${port}`;
  provider = await startTestProvider({ baseUrl });
  const options = provider.options();
  server = spawn(process.execPath, ['--import', './test/allow-http-issuer.mjs', 'dist/app.js'], {
    env: {
      ...process.env,
      PORT: String(port),
      BASE_URL: baseUrl,
      SESSION_SECRET: 'a-long-random-string-for-this-test-only',
      OIDC_ISSUER_URL: options.issuer,
      OIDC_CLIENT_ID: options.clientId,
      OIDC_CLIENT_SECRET: options.clientSecret,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await listening(port);
});

after(async () => {
  server?.kill();
  await provider?.close();
});

test('logs alice in and shows her profile', async () => {
  await request(baseUrl).get('/profile').set('Accept', 'application/json').expect(401);
  const agent = await loginAs(baseUrl, { sub: 'alice', groups: ['users'] });
  const profile = await agent.get('/profile').expect(200);
  assert.equal(profile.body.sub, 'alice');
  assert.match((await agent.get('/').expect(200)).text, /Log out/);
});

test('answers alice on /admin with a 403 page, not a stack trace', async () => {
  const agent = await loginAs(baseUrl, { sub: 'alice', groups: ['users'] });
  const page = await agent.get('/admin').set('Accept', 'text/html').expect(403);
  assert.match(page.text, /<h1>Access denied<\/h1>/);
  assert.doesNotMatch(page.text, /\bat \w|node_modules/);
  await (await loginAs(baseUrl, { sub: 'bob', groups: ['admin'] })).get('/admin').expect(200, 'Only for admins.');
});

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

async function listening(port) {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (server.exitCode !== null) throw new Error(`app.ts exited with ${server.exitCode}`);
    try {
      await fetch(`http://localhost:${port}/`);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error('app.ts did not listen');
}
