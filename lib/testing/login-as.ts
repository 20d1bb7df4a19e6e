import { checkUser } from './checks.js';
import { excerpt } from './http.js';
import { providerAt, runningProviders, type ProviderInternals } from './registry.js';
import { loadSupertest } from './supertest.js';
import type { LoginAsOptions, TestAgent, TestApp, TestResponse, TestUser } from './types.js';

const SECURE_COOKIE_HINT =
  'Under supertest the app is served over plain http, so a session cookie marked Secure ' +
  '(cookie: { secure: true }) is ' +
  "neither set nor sent back. In tests, use cookie: { secure: process.env.NODE_ENV === 'production' }, or " +
  "secure: 'auto' with app.set('trust proxy', 1).";

function fail(message: string): never {
  throw new Error(`loginAs: ${message}`);
}

function setCookies(res: TestResponse): string[] {
  const raw = res.headers['set-cookie'] as string | string[] | undefined;
  return raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
}

/**
 * Logs `user` in to `app` through the app's own login route and callback, and resolves with a
 * supertest agent that carries the session cookie: the app's middleware runs the whole flow (state,
 * nonce, PKCE, the code exchange, the ID token's signature and claims checks, a new session id).
 * The user's claims (`sub` required) go into the ID token that the test provider signs.
 *
 * The app must be configured with a provider from {@link startTestProvider}
 * (`oidcLogin({ ...provider.options() })`); the provider is found by the address the app's login
 * route redirects to. Rejects with what went wrong, step by step, when the login does not complete.
 *
 * @example
 * const agent = await loginAs(app, { sub: 'alice', groups: ['admin'] });
 * await agent.get('/admin').expect(200);
 */
export async function loginAs(app: TestApp, user: TestUser, options: LoginAsOptions = {}): Promise<TestAgent> {
  const claims = checkUser(user, 'loginAs');
  const expiresIn = options.expiresIn;
  if (expiresIn !== undefined && (typeof expiresIn !== 'number' || !Number.isInteger(expiresIn) || expiresIn < 0)) {
    fail('"expiresIn" must be a whole number of seconds, 0 or more.');
  }
  const loginPath = options.loginPath ?? '/login';
  if (typeof loginPath !== 'string' || !loginPath.startsWith('/')) fail('"loginPath" must be a path such as /login.');
  const request = await loadSupertest();
  const agent = options.agent ?? request.agent(app);

  // 1. The app's login route: a redirect to the provider's authorization endpoint.
  const loginUrl =
    options.returnTo === undefined
      ? loginPath
      : `${loginPath}${loginPath.includes('?') ? '&' : '?'}returnTo=${encodeURIComponent(options.returnTo)}`;
  const started = await agent.get(loginUrl).redirects(0);
  const location = started.headers.location as string | undefined;
  if (started.status < 300 || started.status > 399 || !location) {
    fail(
      `GET ${loginUrl} answered ${started.status}, not a redirect to the identity provider. Is oidcLogin() mounted ` +
        `(after express-session), with its login route at ${loginPath} (else pass { loginPath })? ` +
        `Response: ${excerpt(started.text)}`,
    );
  }
  const cookies = setCookies(started);
  const appIsHttps = typeof app === 'string' && app.startsWith('https:');
  const secureCookie = (lines: string[]) => !appIsHttps && lines.some((c) => /;\s*secure\s*(;|$)/i.test(c));
  if (secureCookie(cookies)) fail(SECURE_COOKIE_HINT);

  let authorizationUrl: URL;
  try {
    authorizationUrl = new URL(location);
  } catch {
    fail(`GET ${loginUrl} redirected to ${JSON.stringify(location)}, not to an identity provider.`);
  }
  const provider = findProvider(authorizationUrl, options, loginUrl);

  // 2. The provider: it logs this user in at once and redirects back with a code.
  const state = authorizationUrl.searchParams.get('state') ?? '';
  provider.expectLogin(state, claims, { expiresIn });
  let answer: Response;
  try {
    answer = await fetch(authorizationUrl, { redirect: 'manual' });
  } finally {
    provider.forgetLogin(state);
  }
  const callback = answer.headers.get('location');
  if (answer.status !== 302 || !callback) {
    fail(
      `the test provider refused the app's authorization request (${answer.status}): ${excerpt(await answer.text())}`,
    );
  }
  const callbackUrl = new URL(callback);
  const providerError = callbackUrl.searchParams.get('error');

  // 3. The app's callback, in the same agent: the app redeems the code and checks the tokens.
  const finished = await agent.get(callbackUrl.pathname + callbackUrl.search).redirects(0);
  if (providerError !== null) {
    fail(
      `the test provider answered the authorization request with error=${providerError} ` +
        `(${callbackUrl.searchParams.get('error_description') ?? 'no description'}); the app's ` +
        `callback answered ${finished.status}.`,
    );
  }
  if (finished.status < 300 || finished.status > 399) {
    const hint =
      cookies.length === 0 && /ERR_OIDC_MISSING_TRANSACTION|no login in progress/i.test(finished.text ?? '')
        ? ` ${SECURE_COOKIE_HINT}`
        : '';
    fail(
      `the app's callback (GET ${callbackUrl.pathname}) answered ${finished.status}, so ` +
        `${claims.sub} is not logged in.${hint} Response: ${excerpt(finished.text)}`,
    );
  }
  if (!provider.redeemed(state)) {
    fail(
      `the app's callback answered ${finished.status} to ${finished.headers.location ?? '?'} ` +
        `without redeeming the code at the ` +
        `test provider: the login did not happen. Response: ${excerpt(finished.text)}`,
    );
  }
  // The session cookie comes with the callback's answer (the login route writes no session when
  // pending logins are kept in cookies; the login gets a new session id): without one, express-
  // session did not set it, which over http means it is Secure.
  const sessionCookies = setCookies(finished).filter((c) => !c.startsWith('oidc.'));
  if (sessionCookies.length === 0 || secureCookie(sessionCookies)) {
    fail(
      `the app's callback logged ${claims.sub} in, but its answer set no session cookie the ` +
        `agent can send back. ${SECURE_COOKIE_HINT}`,
    );
  }
  return agent;
}

function findProvider(authorizationUrl: URL, options: LoginAsOptions, loginUrl: string): ProviderInternals {
  const found = providerAt(authorizationUrl.origin);
  if (options.provider !== undefined) {
    const wanted = new URL(options.provider.issuer).origin;
    if (authorizationUrl.origin !== wanted) {
      fail(
        `the app's login route sent the browser to ${authorizationUrl.origin}, not to the given ` +
          `provider (${wanted}). Configure the app with oidcLogin({ ...provider.options() }).`,
      );
    }
    if (!found) fail(`the given provider (${wanted}) has been closed.`);
  }
  if (!found) {
    const running = runningProviders();
    fail(
      `GET ${loginUrl} redirected to ${authorizationUrl.origin}, which is not a test provider of this process ` +
        `(${running.length ? `running: ${running.join(', ')}` : 'none is running'}). Start one ` +
        `with startTestProvider() ` +
        'and configure the app with oidcLogin({ ...provider.options() }).',
    );
  }
  return found;
}
