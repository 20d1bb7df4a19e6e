import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { freePort } from '../support/net.js';
import { glewlwydMissing, startGlewlwyd, type TestGlewlwyd } from '../support/glewlwyd.js';

/**
 * A third-party OpenID Provider in our own tests: Glewlwyd (Debian's `glewlwyd`, written in C by
 * people who never saw this library) with the REAL example app, unchanged, configured by its
 * environment as a user would, in Chromium. Its quirks are not oidc-provider's: a client id with a
 * `-` under client_secret_basic (issue 15 §1), logout tokens without `exp` (§2), back-channel logout
 * sent although discovery does not advertise it (§4).
 * `.ci/run` installs glewlwyd; without it these tests are skipped with a warning.
 */
const SERVER = join(process.cwd(), 'example-app', 'dist', 'server.js');
const skipReason = [
  existsSync(CHROMIUM) ? '' : `no chromium at ${CHROMIUM} (apt-get install chromium)`,
  existsSync(SERVER) ? '' : 'example app not built (npm run build:example)',
  glewlwydMissing ?? '',
]
  .filter(Boolean)
  .join('; ');
if (skipReason) console.warn(`Glewlwyd tests skipped: ${skipReason}.`);
const describeGlewlwyd = skipReason ? describe.skip : describe;
jest.setTimeout(60_000);

const USER = { username: 'dwho', password: 'Tardis-1963', name: 'Doctor Who', email: 'dwho@example.org' };
/** Two apps of one user, so that logging out of one shows the back-channel logout at the other. */
const APPS = ['interop-app', 'interop-app-2'] as const;
type AppName = (typeof APPS)[number];

interface RunningApp {
  baseUrl: string;
  process: ChildProcess;
  output: string;
}

let glewlwyd: TestGlewlwyd;
let browser: Browser;
const apps = {} as Record<AppName, RunningApp>;

async function startExampleApp(baseUrl: string, clientId: string, clientSecret: string): Promise<RunningApp> {
  const child = spawn(process.execPath, [SERVER], {
    env: {
      ...process.env,
      PORT: new URL(baseUrl).port,
      BASE_URL: baseUrl,
      SESSION_SECRET: 'glewlwyd-e2e-session-secret-0123456789',
      OIDC_ISSUER_URL: glewlwyd.issuer,
      OIDC_CLIENT_ID: clientId,
      OIDC_CLIENT_SECRET: clientSecret,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const app: RunningApp = { baseUrl, process: child, output: '' };
  child.stdout!.on('data', (d: Buffer) => (app.output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (app.output += d.toString()));
  const deadline = Date.now() + 20_000;
  while (!app.output.includes('is running')) {
    if (child.exitCode !== null) throw new Error(`the example app exited:\n${app.output}`);
    if (Date.now() > deadline) throw new Error(`the example app did not start:\n${app.output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return app;
}

/**
 * At Glewlwyd's login page (a JavaScript app): the password form when asked, the consent to the
 * app's scopes the first time, then "Continue" back to the app.
 */
async function signInAtGlewlwyd(page: Page, app: RunningApp, { password }: { password: boolean }): Promise<void> {
  expect(new URL(page.url()).origin).toBe(glewlwyd.origin);
  if (password) {
    await page.fill('#username', USER.username);
    await page.fill('#password', USER.password);
    await page.click('#loginbut');
  }
  const grant = page.locator('button:has-text("Grant access")');
  const proceed = page.locator('.card-footer button:has-text("Continue")');
  await grant.or(proceed).first().waitFor();
  if (await grant.isVisible()) {
    for (const box of await page.locator('.list-group input[type="checkbox"]:not([disabled])').all()) await box.check();
    await grant.click();
  }
  await Promise.all([page.waitForURL((url) => url.origin === app.baseUrl), proceed.click()]).catch((err: unknown) => {
    // Once seen in a full suite run, not reproduced alone, beside two CPU hogs, with Chromium's CPU
    // slowed 8 times, or with Glewlwyd's page getting its grant, scheme or profile answers 1.5 s
    // late: say where the browser stopped and what both servers logged, so that the next failure
    // shows its cause.
    throw new Error(
      `the browser did not come back to ${app.baseUrl} after "Continue" at Glewlwyd; it is at ${page.url()}. ` +
        `The app printed:\n${app.output.slice(-4000)}\nGlewlwyd logged:\n${glewlwyd.log().slice(-4000)}`,
      { cause: err },
    );
  });
}

async function passwordFormShown(page: Page): Promise<boolean> {
  await page.locator('#username').or(page.locator('.card-footer button:has-text("Continue")')).first().waitFor();
  return page.locator('#password').isVisible();
}

describeGlewlwyd('Glewlwyd as the OpenID Provider of the example app', () => {
  beforeAll(async () => {
    const ports = await Promise.all(APPS.map(() => freePort()));
    const clients = APPS.map((clientId, i) => ({
      clientId,
      // 32 characters or more (no startup warning); ids and secrets with the `-` that openid-client's
      // own Basic encoding turned into %2D, which Glewlwyd does not decode (issue 15 §1).
      clientSecret: `${clientId}-secret-0123456789-abcdefghij`,
      // Cookies do not tell ports apart: each app on a host of its own, or their "sid" cookies collide.
      baseUrl: `http://${i === 0 ? 'localhost' : '127.0.0.1'}:${ports[i]}`,
    }));
    glewlwyd = await startGlewlwyd({ user: USER, clients });
    console.info(`Glewlwyd ${glewlwyd.version} at ${glewlwyd.issuer}`);
    const started = await Promise.all(clients.map((c) => startExampleApp(c.baseUrl, c.clientId, c.clientSecret)));
    APPS.forEach((name, i) => (apps[name] = started[i]!));
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all(
      Object.values(apps).map(async (app) => {
        if (app.process.exitCode !== null) return;
        const exited = new Promise((r) => app.process.once('exit', r));
        app.process.kill('SIGTERM');
        await exited;
      }),
    );
    await glewlwyd?.close();
  });

  it('logs in with the password form (client id with "-", client_secret_basic), shows the claims, refreshes the tokens', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const app = apps['interop-app'];
    await page.goto(`${app.baseUrl}/profile`);
    await expect(passwordFormShown(page)).resolves.toBe(true);
    await signInAtGlewlwyd(page, app, { password: true });
    expect(new URL(page.url()).pathname).toBe('/profile');
    await expect(page.locator('h1').textContent()).resolves.toBe(USER.name);
    const claims = (await page.locator('table').first().textContent()) ?? '';
    expect(claims).toContain(USER.email);
    expect(claims).toContain(glewlwyd.issuer);

    await page.goto(`${app.baseUrl}/tokens`);
    const before = await page.locator('#expires-at').textContent();
    await page.waitForTimeout(1100); // expiry has a resolution of one second
    await Promise.all([page.waitForURL(`${app.baseUrl}/tokens`), page.click('form[action="/tokens/refresh"] button')]);
    const after = await page.locator('#expires-at').textContent();
    expect(Date.parse(after!)).toBeGreaterThan(Date.parse(before!));
    expect(app.output).not.toMatch(/refused|error/i);
    await context.close();
  });

  it("logs out of one app at Glewlwyd (RP-initiated), which ends the other app's session (back-channel, token without exp)", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const one = apps['interop-app'];
    const two = apps['interop-app-2'];
    await page.goto(`${one.baseUrl}/profile`);
    await signInAtGlewlwyd(page, one, { password: true });
    // Single sign-on: the second app's login asks no password, only the consent to its scopes.
    await page.goto(`${two.baseUrl}/profile`);
    await expect(passwordFormShown(page)).resolves.toBe(false);
    await signInAtGlewlwyd(page, two, { password: false });
    await expect(page.locator('h1').textContent()).resolves.toBe(USER.name);

    await page.goto(`${one.baseUrl}/`);
    await Promise.all([
      page.waitForURL((url) => url.origin === glewlwyd.origin),
      page.click('header form.logout button'),
    ]);
    // Glewlwyd's "end session?" page: confirm; it then sends the browser to the post-logout URI.
    await Promise.all([
      page.waitForURL((url) => url.origin === one.baseUrl),
      page.click('.card-body button:has-text("Logout")'),
    ]);
    expect(new URL(page.url()).pathname).toBe('/');
    await expect(page.locator('header .user').count()).resolves.toBe(0);

    // Glewlwyd told the second app by back-channel: its session is gone.
    await glewlwyd.waitForLog('Send backchannel_logout successfully for client interop-app-2');
    const res = await page.request.get(`${two.baseUrl}/api/me`, { maxRedirects: 0 });
    expect(res.status()).toBe(401);
    expect(two.output).not.toMatch(/refused|error/i);

    // Logged out at Glewlwyd as well: the next login asks for the password.
    await page.goto(`${one.baseUrl}/profile`);
    await expect(passwordFormShown(page)).resolves.toBe(true);
    await context.close();
  });
});
