import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import session from 'express-session';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { oidcLogin } from '../../lib/index.js';
import { startTestProvider, type TestProvider } from '../../lib/testing/index.js';
import { jsonErrors } from '../support/app.js';
import { freePort } from '../support/net.js';

/**
 * Front-Channel Logout 1.0 in a real browser (Debian's chromium, driven by playwright-core) across
 * two sites: the app on http://localhost:<port>, the test kit's provider on http://127.0.0.1:<port>.
 * The provider's logout page frames the app's front-channel logout URL: a third-party iframe, so
 * the app's SameSite=Lax session cookie does not come, and the session ends by its `sid` alone.
 * Once with the specification's `iss` and `sid`, once with Microsoft Entra ID's `sid` only.
 */
const available = existsSync(CHROMIUM);
if (!available) console.warn(`Browser tests skipped: no chromium at ${CHROMIUM} (apt-get install chromium)`);
const describeBrowser = available ? describe : describe.skip;

interface Site {
  op: TestProvider;
  server: Server;
  appUrl: string;
  /** The Cookie header of each front-channel logout request the app received ('' for none). */
  frontchannelCookies: string[];
}

async function startSite(params: 'iss-and-sid' | 'sid'): Promise<Site> {
  const port = await freePort();
  const appUrl = `http://localhost:${port}`;
  const op = await startTestProvider({
    baseUrl: appUrl,
    frontchannelLogoutUri: `${appUrl}/frontchannel-logout`,
    frontchannelLogoutParams: params,
  });
  const frontchannelCookies: string[] = [];
  const app = express();
  app.use('/frontchannel-logout', (req, _res, next) => {
    frontchannelCookies.push(req.headers.cookie ?? '');
    next();
  });
  app.use(
    session({
      name: 'sid',
      secret: 'e2e-session-secret',
      resave: false,
      saveUninitialized: false,
      cookie: { sameSite: 'lax', httpOnly: true },
    }),
  );
  app.use(oidcLogin({ ...op.options(appUrl), logger: false }));
  app.get('/probe', (req, res) =>
    res.json({
      sub: req.oidc!.claims?.sub ?? null,
      sid: req.oidc!.claims?.sid ?? null,
      idToken: req.oidc!.idToken ?? null,
    }),
  );
  app.use(jsonErrors);
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(port, () => resolve()));
  return { op, server, appUrl, frontchannelCookies };
}

async function stopSite(site: Site | undefined): Promise<void> {
  if (!site) return;
  site.server.closeAllConnections();
  site.server.close();
  await site.op.close();
}

describeBrowser('front-channel logout in a browser, framed by the provider across two sites', () => {
  let browser: Browser;
  const sites: Site[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const site of sites) await stopSite(site);
  });

  async function json(page: Page): Promise<Record<string, unknown>> {
    return JSON.parse((await page.locator('body').textContent()) ?? '') as Record<string, unknown>;
  }

  for (const params of ['iss-and-sid', 'sid'] as const) {
    it(`a logout at the provider ends the app's session (${params === 'sid' ? "Entra's shape: sid only" : 'iss and sid'})`, async () => {
      const site = await startSite(params);
      sites.push(site);
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(`${site.appUrl}/login?returnTo=/probe`);
        await page.waitForURL(`${site.appUrl}/probe`);
        const login = await json(page);
        expect(login.sub).toBe('test-user');
        expect(typeof login.sid).toBe('string');

        // The user logs out at the provider (another app of theirs started it): its page frames ours.
        await page.goto(`${site.op.issuer}/logout?id_token_hint=${login.idToken as string}`);
        const frame = page.frameLocator('#frontchannel-logout');
        await expect(frame.locator('body').textContent()).resolves.toContain('You are logged out of this application.');

        expect(site.frontchannelCookies).toHaveLength(1);
        expect(site.frontchannelCookies[0]).not.toMatch(/sid=/);
        await page.goto(`${site.appUrl}/probe`);
        expect((await json(page)).sub).toBeNull();
      } finally {
        await context.close();
      }
    }, 60_000);
  }
});
