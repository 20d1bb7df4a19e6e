import { describe, expect, it } from '@jest/globals';
import request from 'supertest';
import type { OidcLoginOptions } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { authorizeAt, newBrowser, pathOf, startLogin } from './support/flow.js';
import { freePort } from './support/net.js';
import { APP_BASE_URL } from './support/provider.js';
import { useProvider } from './support/use-provider.js';

/**
 * The usual mistakes of a first setup, against a real provider: each error names what was
 * tried, what came back and the option to change, and the server log says it once.
 */

const op = useProvider();

function logged(): { logger: NonNullable<OidcLoginOptions['logger']>; lines: string[] } {
  const lines: string[] = [];
  return { lines, logger: { warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) } };
}

describe('a wrong issuer', () => {
  it('a path with no discovery document: 502 naming the URL, the HTTP status and "issuer"; logged once', async () => {
    const { logger, lines } = logged();
    const issuer = `${op.issuer}/realms/wrong`;
    const { app } = createApp(testOptions(op, { issuer, logger }));
    const url = `${issuer}/.well-known/openid-configuration`;
    for (let i = 0; i < 3; i++) {
      const res = await request(app).get('/login').expect(502);
      expect(res.body.code).toBe('ERR_OIDC_PROVIDER_RESPONSE');
      expect(res.body.message).toContain(`GET ${url}`);
      expect(res.body.message).toContain('HTTP 404');
      expect(res.body.message).toContain('"issuer" option');
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error express-oidc-login: .*HTTP 404.*"issuer"/);
    expect(lines[0]).toContain(url);
  });

  it('a host nobody listens on: 503 naming the URL and the network error; logged once', async () => {
    const { logger, lines } = logged();
    const issuer = `http://127.0.0.1:${await freePort()}`;
    const { app } = createApp(testOptions({ issuer }, { logger }));
    for (let i = 0; i < 3; i++) {
      const res = await request(app).get('/login').expect(503);
      expect(res.body.code).toBe('ERR_OIDC_PROVIDER_UNREACHABLE');
      expect(res.body.message).toContain(`GET ${issuer}/.well-known/openid-configuration failed (ECONNREFUSED)`);
      expect(res.body.message).toContain('"issuer" option');
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^error express-oidc-login: .*ECONNREFUSED.*"issuer" option.*\(cause: .*connect ECONNREFUSED 127\.0\.0\.1/,
    );
  });
});

describe('the app opened at another host than baseUrl', () => {
  // baseUrl is http://app.localhost; the test app is reached at 127.0.0.1, as a browser would
  // reach http://127.0.0.1:3000 with baseUrl http://localhost:3000.
  const baseHost = new URL(APP_BASE_URL).host;

  async function loginAtOtherHost(app: Parameters<typeof newBrowser>[0]): Promise<URL> {
    const browser = newBrowser(app, op.issuer);
    const authorization = await startLogin(browser);
    return authorizeAt(browser, authorization);
  }

  it('the callback at baseUrl gets no cookie: the error names baseUrl and the other host; logged once', async () => {
    const { logger, lines } = logged();
    const { app } = createApp(testOptions(op, { logger }));
    for (let i = 0; i < 2; i++) {
      const callback = await loginAtOtherHost(app);
      // The provider sends the browser to baseUrl's host, where the pending login's cookie is not.
      const res = await request(app).get(pathOf(callback.href)).set('Host', baseHost).expect(400);
      expect(res.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
      expect(res.body.message).toContain(`This app's address is ${APP_BASE_URL}`);
      expect(res.body.message).toMatch(/another address \(such as 127\.0\.0\.1:\d+\)/);
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^warn express-oidc-login: .*ERR_OIDC_MISSING_TRANSACTION.*"127\\.0\\.0\\.1:\\d+".*"${baseHost}"`),
    );
  });

  it('a missing cookie at the host the login started at keeps the usual causes, and logs nothing', async () => {
    const { logger, lines } = logged();
    const { app } = createApp(testOptions(op, { logger }));
    const callback = await loginAtOtherHost(app);
    // As behind a proxy that rewrites Host: the callback comes to the same host as the login.
    const res = await request(app).get(pathOf(callback.href)).expect(400);
    expect(res.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
    expect(res.body.message).toContain('Usual causes');
    expect(lines).toEqual([]);
  });
});
