import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import session, { MemoryStore } from 'express-session';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { oidcLogin } from '../../lib/index.js';
import { jsonErrors } from '../support/app.js';
import { freePort } from '../support/net.js';
import { CLIENT_ID, CLIENT_SECRET, startProvider, type TestProvider } from '../support/provider.js';
import { storeGet } from '../support/store.js';

/**
 * `responseMode: 'form_post'` in a real browser (Debian's chromium, driven by playwright-core)
 * across two sites: the app on http://localhost:<port>, the provider (a real oidc-provider) on
 * http://127.0.0.1:<port>. The provider's form POSTs cross-site to the callback, so the browser
 * sends no SameSite=Lax cookie with it; the callback posts it again from its own origin, and the
 * login completes in the browser's own session.
 */
const available = existsSync(CHROMIUM);
if (!available) console.warn(`Browser tests skipped: no chromium at ${CHROMIUM} (apt-get install chromium)`);
const describeBrowser = available ? describe : describe.skip;

describeBrowser('form_post in a browser, across two sites', () => {
  let op: TestProvider;
  let server: Server;
  let appUrl: string;
  let store: MemoryStore;
  let browser: Browser;

  beforeAll(async () => {
    const port = await freePort();
    appUrl = `http://localhost:${port}`;
    op = await startProvider({
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: [`${appUrl}/callback`],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
    });
    expect(new URL(op.issuer).hostname).toBe('127.0.0.1');
    store = new MemoryStore();
    const app = express();
    app.use(
      session({
        name: 'sid',
        secret: 'e2e-session-secret',
        resave: false,
        saveUninitialized: false,
        store,
        cookie: { sameSite: 'lax', httpOnly: true },
      }),
    );
    app.use(
      oidcLogin({
        issuer: op.issuer,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        baseUrl: appUrl,
        responseMode: 'form_post',
        dangerouslyAllowInsecureHttp: true,
        logger: false,
      }),
    );
    app.get('/visit', (req, res) => {
      (req.session as unknown as { visited: boolean }).visited = true;
      res.json({ sessionId: req.sessionID });
    });
    app.get('/probe', (req, res) => res.json({ sub: req.oidc!.claims?.sub ?? null, sessionId: req.sessionID }));
    app.use(jsonErrors);
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(port, () => resolve()));
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    server?.closeAllConnections();
    server?.close();
    await op?.close();
  });

  async function json(page: Page): Promise<Record<string, unknown>> {
    return JSON.parse((await page.locator('body').textContent()) ?? '') as Record<string, unknown>;
  }

  it('logs in: the cross-site POST carries no cookie, the page posts it again same-site with them, and the old session is replaced', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const callbacks: { method: string; headers: Record<string, string> }[] = [];
      page.on('request', (r) => {
        if (new URL(r.url()).pathname === '/callback') {
          void r.allHeaders().then((headers) => callbacks.push({ method: r.method(), headers }));
        }
      });
      // A session of the app's before the login.
      await page.goto(`${appUrl}/visit`);
      const before = (await json(page)).sessionId as string;

      await page.goto(`${appUrl}/login?returnTo=/probe`);
      expect(new URL(page.url()).origin).toBe(new URL(op.issuer).origin);
      await page.fill('input[name="login"]', 'alice');
      await page.fill('input[name="password"]', 'alice');
      await page.click('button[type="submit"]');
      // The consent form, then the provider's form_post page, then ours, then the app.
      await page.waitForSelector('input[name="prompt"][value="consent"]', { state: 'attached' });
      await Promise.all([page.waitForURL(`${appUrl}/probe`, { timeout: 15_000 }), page.click('button[type="submit"]')]);

      const after = await json(page);
      expect(after.sub).toBe('alice');
      expect(after.sessionId).not.toBe(before);
      // The browser's earlier session was destroyed in the store, not left behind.
      await expect(storeGet(store, before).then((s) => s ?? null)).resolves.toBeNull();

      for (let i = 0; i < 50 && callbacks.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(callbacks).toHaveLength(2);
      const [crossSite, sameSite] = callbacks;
      expect(crossSite!.method).toBe('POST');
      expect(crossSite!.headers['sec-fetch-site']).toBe('cross-site');
      expect(crossSite!.headers.cookie ?? '').not.toMatch(/sid=|oidc\.tx\./);
      expect(sameSite!.method).toBe('POST');
      expect(sameSite!.headers['sec-fetch-site']).toBe('same-origin');
      expect(sameSite!.headers.cookie).toMatch(/sid=/);
      expect(sameSite!.headers.cookie).toMatch(/oidc\.tx\./);
      // The pending login's cookie is gone; the session cookie stays Lax.
      const cookies = await context.cookies(appUrl);
      expect(cookies.filter((c) => c.name.startsWith('oidc.tx.'))).toEqual([]);
      expect(cookies.find((c) => c.name === 'sid')).toMatchObject({ sameSite: 'Lax', httpOnly: true });
    } finally {
      await context.close();
    }
  }, 60_000);
});
