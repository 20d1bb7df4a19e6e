import { CookieAccessInfo } from 'cookiejar';
import request, { type Response } from 'supertest';
import { APP_BASE_URL } from './provider.js';

export type Agent = request.Agent;
type App = Parameters<typeof request.agent>[0];

/** A browser: one cookie-keeping agent for the app, one for the provider. */
export interface Browser {
  app: Agent;
  op: Agent;
}

export function newBrowser(app: App, issuer: string): Browser {
  return { app: request.agent(app), op: request.agent(issuer) };
}

/**
 * An agent for `app` that shares `agent`'s cookie jar: the same browser at another port of the same
 * host (cookies are not port-scoped), e.g. a second app instance on 127.0.0.1.
 */
export function sameBrowserAt(agent: Agent, app: App): Agent {
  const other = request.agent(app);
  other.jar = agent.jar;
  return other;
}

/** Path and query of an absolute URL. */
export function pathOf(url: string): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

/** `GET /login` on the app; returns the authorization URL it redirects to. */
export async function startLogin(browser: Browser, query = ''): Promise<URL> {
  const res = await browser.app.get(`/login${query}`).expect(302);
  return new URL(res.headers.location!);
}

/**
 * Plays the user at the provider: follows redirects from the authorization URL, submits the
 * dev login form as `account` and the consent form, until the provider redirects to the app.
 * Returns the callback URL (not yet visited).
 */
export async function authorizeAt(browser: Browser, authorizationUrl: URL, account = 'alice'): Promise<URL> {
  let res: Response = await browser.op.get(pathOf(authorizationUrl.href));
  for (let step = 0; step < 12; step++) {
    if (res.status === 302 || res.status === 303) {
      const location = new URL(res.headers.location!, authorizationUrl);
      if (location.origin !== authorizationUrl.origin) return location;
      res = await browser.op.get(location.pathname + location.search);
      continue;
    }
    if (res.status === 200 && typeof res.text === 'string') {
      const rawAction = /<form[^>]*action="([^"]+)"/.exec(res.text)?.[1];
      const action = rawAction && pathOf(new URL(rawAction, authorizationUrl).href);
      const prompt = /name="prompt" value="([a-z]+)"/.exec(res.text)?.[1];
      if (action && prompt === 'login') {
        res = await browser.op.post(action).type('form').send({ prompt: 'login', login: account, password: account });
        continue;
      }
      if (action && prompt === 'consent') {
        res = await browser.op.post(action).type('form').send({ prompt: 'consent' });
        continue;
      }
    }
    throw new Error(`unexpected provider response ${res.status}: ${String(res.text).slice(0, 300)}`);
  }
  throw new Error('too many steps at the provider');
}

/** Visits the callback URL on the app (only its path and query: the app is not really at baseUrl). */
export function visitCallback(browser: Browser, callback: URL): request.Test {
  if (callback.origin !== new URL(APP_BASE_URL).origin) throw new Error(`provider redirected to ${callback.origin}`);
  return browser.app.get(callback.pathname + callback.search);
}

/** A complete login; resolves with the callback's response (a 302 to returnTo on success). */
export async function login(browser: Browser, options: { account?: string; query?: string } = {}): Promise<Response> {
  const authorizationUrl = await startLogin(browser, options.query);
  const callback = await authorizeAt(browser, authorizationUrl, options.account);
  return visitCallback(browser, callback);
}

/**
 * The pending-login cookies (`oidc.tx.*`, pendingLogins: 'cookie') an agent holds and would send to
 * the callback, by name. `host` is the agent's: 127.0.0.1 for `request.agent(app)`.
 */
export function txCookies(agent: Agent, host = '127.0.0.1', callbackPath = '/callback'): Map<string, string> {
  const cookies = agent.jar.getCookies(new CookieAccessInfo(host, callbackPath, false, false));
  return new Map(cookies.filter((c) => c.name.startsWith('oidc.tx.')).map((c) => [c.name, c.value]));
}

/** The `Set-Cookie` lines of a response whose name starts with `prefix`. */
export function setCookies(res: Response, prefix = ''): string[] {
  const raw = res.headers['set-cookie'] as string | string[] | undefined;
  return (raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]).filter((c) => c.startsWith(prefix));
}
