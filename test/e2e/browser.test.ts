import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { freePort } from '../support/net.js';

/**
 * A person in a real browser (Debian's chromium, driven by playwright-core) against the example
 * app and its embedded identity provider, started as `npm start` starts them.
 * `.ci/run` installs chromium; on a machine without it these tests are skipped with a warning.
 */
const SERVER = join(process.cwd(), 'example-app', 'dist', 'server.js');
const ARTIFACTS = join(process.cwd(), 'test-artifacts');
/** Every page as a person sees it (test-artifacts/ is not committed): look at them after a change. */
const SCREENSHOTS = join(ARTIFACTS, 'screenshots');
const available = existsSync(CHROMIUM) && existsSync(SERVER);
if (!available) {
  console.warn(
    `Browser tests skipped: ${existsSync(CHROMIUM) ? '' : `no chromium at ${CHROMIUM} (apt-get install chromium) `}` +
      `${existsSync(SERVER) ? '' : '(example app not built: npm run build:example)'}`,
  );
}
const describeBrowser = available ? describe : describe.skip;

let app: ChildProcess;
let browser: Browser;
let baseUrl: string;
let output = '';

async function startExampleApp(): Promise<void> {
  const port = await freePort();
  const idpPort = await freePort();
  baseUrl = `http://localhost:${port}`;
  app = spawn(process.execPath, [SERVER], {
    env: {
      ...process.env,
      PORT: String(port),
      IDP_PORT: String(idpPort),
      SESSION_SECRET: 'e2e-session-secret-0123456789',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  app.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  app.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 20_000;
  while (!output.includes('is running')) {
    if (app.exitCode !== null) throw new Error(`the example app exited:\n${output}`);
    if (Date.now() > deadline) throw new Error(`the example app did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function signIn(page: Page, user: string, password = user): Promise<void> {
  await page.fill('input[name="login"]', user);
  await page.fill('input[name="password"]', password);
  await Promise.all([
    page.waitForURL((url) => url.origin === baseUrl),
    page.click('button[type="submit"]:not(.secondary)'),
  ]);
}

describeBrowser('a person in a browser', () => {
  beforeAll(async () => {
    await startExampleApp();
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    app?.kill('SIGTERM');
  });

  let context: BrowserContext;
  const newContext = async () => {
    context = await browser.newContext();
    return context;
  };

  it('opens /profile logged out, signs in at the provider, lands on /profile with their name; reload stays logged in', async () => {
    const page = await (await newContext()).newPage();
    await page.goto(`${baseUrl}/profile`);
    // At the provider's login page now.
    expect(new URL(page.url()).origin).not.toBe(baseUrl);
    await expect(page.locator('input[name="password"]').count()).resolves.toBe(1);
    await signIn(page, 'alice');
    expect(new URL(page.url()).pathname).toBe('/profile');
    await expect(page.locator('h1').textContent()).resolves.toBe('Alice Liddell');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'profile.png'), fullPage: true });
    await page.reload();
    expect(new URL(page.url()).pathname).toBe('/profile');
    await expect(page.locator('h1').textContent()).resolves.toBe('Alice Liddell');
    await context.close();
  });

  it('refuses a wrong password at the provider', async () => {
    const page = await (await newContext()).newPage();
    await page.goto(`${baseUrl}/profile`);
    await page.fill('input[name="login"]', 'alice');
    await page.fill('input[name="password"]', 'wrong');
    await page.click('button[type="submit"]:not(.secondary)');
    await page.waitForLoadState();
    expect(new URL(page.url()).origin).not.toBe(baseUrl);
    await expect(page.locator('input[name="password"]').count()).resolves.toBe(1);
    await context.close();
  });

  it('logs two tabs in at once', async () => {
    const ctx = await newContext();
    const one = await ctx.newPage();
    const two = await ctx.newPage();
    await one.goto(`${baseUrl}/profile`);
    await two.goto(`${baseUrl}/api/me`.replace('/api/me', '/admin'));
    await signIn(one, 'bob');
    expect(new URL(one.url()).pathname).toBe('/profile');
    // The second tab still shows the provider's login form of its own login; finish it too.
    if (new URL(two.url()).origin !== baseUrl) {
      const hasForm = (await two.locator('input[name="password"]').count()) === 1;
      if (hasForm) await signIn(two, 'bob');
      else await two.reload();
    }
    await two.waitForURL((url) => url.origin === baseUrl);
    expect(new URL(two.url()).pathname).toBe('/admin');
    await expect(two.locator('h1').textContent()).resolves.toBe('Admin area');
    await context.close();
  });

  it('the back button after login shows no error page', async () => {
    const page = await (await newContext()).newPage();
    await page.goto(`${baseUrl}/`);
    await page.goto(`${baseUrl}/profile`);
    await signIn(page, 'alice');
    expect(new URL(page.url()).pathname).toBe('/profile');
    await page.goBack();
    await page.waitForLoadState();
    const status = await page.evaluate(() => document.title);
    expect(status).not.toMatch(/error/i);
    const body = (await page.locator('body').textContent()) ?? '';
    expect(body).not.toMatch(/cannot be completed|invalid/i);
    await context.close();
  });

  it('logs out with the header button, at the provider too: /profile then asks for the password again', async () => {
    const page = await (await newContext()).newPage();
    await page.goto(`${baseUrl}/profile`);
    await signIn(page, 'alice');
    await expect(page.locator('header .user').textContent()).resolves.toBe('Alice Liddell');
    await Promise.all([page.waitForURL((url) => url.pathname !== '/profile'), page.click('header form.logout button')]);
    // At the provider's "log out?" confirmation: confirm it.
    if (new URL(page.url()).origin !== baseUrl) {
      await Promise.all([page.waitForURL((url) => url.origin === baseUrl), page.click('button[value="yes"]')]);
    }
    // Exactly the home page: no ?state=... from the provider.
    expect(page.url()).toBe(`${baseUrl}/`);
    await expect(page.locator('header .user').count()).resolves.toBe(0);
    // Logged out at the provider as well: the next login asks for the password.
    await page.goto(`${baseUrl}/profile`);
    expect(new URL(page.url()).origin).not.toBe(baseUrl);
    await expect(page.locator('input[name="password"]').count()).resolves.toBe(1);
    await context.close();
  });

  it('shows the tokens page and refreshes the access token with a button', async () => {
    const page = await (await newContext()).newPage();
    await page.goto(`${baseUrl}/tokens`);
    await signIn(page, 'bob');
    expect(new URL(page.url()).pathname).toBe('/tokens');
    const before = await page.locator('#expires-at').textContent();
    await expect(page.locator('pre.token').first().textContent()).resolves.toMatch(/"alg": "RS256"/);
    await page.waitForTimeout(1100); // expiry has a resolution of one second
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/tokens' && url.searchParams.has('refreshed')),
      page.click('form[action="/tokens/refresh"] button'),
    ]);
    const after = await page.locator('#expires-at').textContent();
    expect(Date.parse(after!)).toBeGreaterThan(Date.parse(before!));
    await context.close();
  });

  it('opened at 127.0.0.1 while BASE_URL says localhost: the error page names the address to use', async () => {
    const page = await (await newContext()).newPage();
    const other = baseUrl.replace('localhost', '127.0.0.1');
    await page.goto(`${other}/profile`);
    await signIn(page, 'alice');
    expect(new URL(page.url()).pathname).toBe('/callback');
    await expect(page.locator('h1').textContent()).resolves.toBe('The login did not finish');
    const text = (await page.locator('main').textContent()) ?? '';
    expect(text).toContain(`This app's address is ${baseUrl}`);
    expect(text).toContain('ERR_OIDC_MISSING_TRANSACTION');
    expect(output).toMatch(/logins were started at "127\.0\.0\.1:\d+", not at baseUrl's host "localhost:\d+"/);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'error-wrong-host.png'), fullPage: true });
    await context.close();
  });

  it('screenshots every page (test-artifacts/screenshots/)', async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const page = await (await newContext()).newPage();
    const shoot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
    const favicon = await page.request.get(`${baseUrl}/favicon.ico`);
    expect(favicon.status()).toBe(200);
    await page.goto(`${baseUrl}/`);
    await shoot('home-logged-out');
    await page.goto(`${baseUrl}/nowhere`);
    await shoot('error-404');
    await page.goto(`${baseUrl}/profile`);
    await shoot('provider-login');
    await signIn(page, 'alice');
    await shoot('profile');
    await page.goto(`${baseUrl}/`);
    await shoot('home-logged-in');
    await page.goto(`${baseUrl}/admin`);
    await shoot('error-403');
    await page.goto(`${baseUrl}/tokens`);
    await shoot('tokens');
    await page.waitForTimeout(1100); // expiry has a resolution of one second
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/tokens' && url.searchParams.has('refreshed')),
      page.click('form[action="/tokens/refresh"] button'),
    ]);
    await expect(page.locator('.notice').textContent()).resolves.toMatch(/^Access token refreshed/);
    await shoot('tokens-refreshed');
    await Promise.all([page.waitForURL((url) => url.origin !== baseUrl), page.click('header form.logout button')]);
    await shoot('provider-logout');
    await Promise.all([page.waitForURL((url) => url.origin === baseUrl), page.click('button[value="yes"]')]);
    await shoot('after-logout');
    await context.close();
  });

  it('ends the app session when the user logs out at the provider (back-channel logout)', async () => {
    const ctx = await newContext();
    const page = await ctx.newPage();
    await page.goto(`${baseUrl}/profile`);
    await signIn(page, 'alice');
    const issuer = /Provider:\s+(http:\/\/\S+)/.exec(output)![1]!;
    // Log out at the provider directly (as from another app of the same provider).
    await page.goto(`${issuer}/session/end`);
    await Promise.all([page.waitForLoadState(), page.click('button[value="yes"]')]);
    // The provider told the app by back-channel: the app session is gone.
    const res = await page.request.get(`${baseUrl}/api/me`);
    expect(res.status()).toBe(401);
    await ctx.close();
  });
});
