import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import connect from 'connect';
import session from 'express-session';
import express4 from 'express4';
import type express from 'express';
import { oidcLogin } from '../lib/index.js';
import { connectProtected, createApp, testOptions } from './support/app.js';
import { login, newBrowser } from './support/flow.js';
import { useProvider } from './support/use-provider.js';

const op = useProvider();

describe('Express 4', () => {
  it('logs in and protects routes', async () => {
    const version = (await import('express4/package.json', { with: { type: 'json' } })).default.version;
    expect(version).toMatch(/^4\./);
    const { app } = createApp(testOptions(op), { framework: express4 as unknown as typeof express });
    const browser = newBrowser(app, op.issuer);
    await browser.app.get('/protected').set('Accept', 'text/html').expect(302);
    const res = await login(browser, { query: '?returnTo=/protected' });
    expect(res.headers.location).toBe('/protected');
    const page = await browser.app.get('/protected').expect(200);
    expect(page.body.sub).toBe('alice');
  });
});

describe('Connect (no Express at all)', () => {
  it('logs in and protects routes with plain Node req/res', async () => {
    const app = connect();
    // express-session is typed for Express; at run time it is a plain Connect middleware.
    app.use(
      session({
        secret: 'connect-secret',
        resave: false,
        saveUninitialized: false,
      }) as unknown as connect.NextHandleFunction,
    );
    app.use(oidcLogin(testOptions(op)));
    connectProtected(app);
    const browser = newBrowser(app, op.issuer);
    await browser.app.get('/protected').set('Accept', 'application/json').expect(401);
    const res = await login(browser, { query: '?returnTo=/protected' });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/protected');
    const page = await browser.app.get('/protected').expect(200);
    expect(page.body.sub).toBe('alice');
    // Errors reach Connect's final handler with their status.
    await newBrowser(app, op.issuer).app.get('/callback?state=nope').expect(400);
  });
});

describe('the published package', () => {
  const run = promisify(execFile);

  it('loads with require() (CommonJS) and with import', async () => {
    const script = `
      const cjs = require('express-oidc-login');
      import('express-oidc-login').then((esm) => {
        const names = ['oidcLogin', 'requireAuth', 'claimIncludes', 'claimEquals', 'claimCheck', 'isAuthenticated', 'OidcError'];
        for (const n of names) {
          if (typeof cjs[n] !== 'function') throw new Error('require: ' + n + ' missing');
          if (esm[n] !== cjs[n]) throw new Error('import and require differ on ' + n);
        }
        console.log('ok');
      });`;
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: process.cwd() });
    expect(stdout.trim()).toBe('ok');
  });
});
