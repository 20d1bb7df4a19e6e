import type { ClientSigningKey } from '../client-keys.js';
import { DEFAULTS } from '../defaults.js';
import { fail } from '../fail.js';
import { ROUTE_KEYS } from '../keys.js';
import type { ResolvedConfig } from '../resolved-config.js';
import { httpUrl, isLoopbackHost, isObject, routePath } from '../values.js';

/** `baseUrl`'s path without its trailing "/": what every route path is appended to ('' at the root). */
export function pathPrefix(baseUrl: URL): string {
  return baseUrl.pathname === '/' ? '' : baseUrl.pathname;
}

/**
 * The app's URLs: `baseUrl`, the paths of `routes`, `defaultReturnTo`, and what is derived from
 * them once here (the redirect URI and its path, the login URL, whether cookies are Secure).
 */
export function resolveUrls(
  o: Record<string, unknown>,
  openid: boolean,
  clientKey: ClientSigningKey | undefined,
  allowInsecureHttp: boolean,
): Pick<
  ResolvedConfig,
  | 'baseUrl'
  | 'secureCookies'
  | 'redirectUri'
  | 'redirectPath'
  | 'loginPath'
  | 'callbackPath'
  | 'logoutPath'
  | 'backchannelLogoutPath'
  | 'jwksPath'
  | 'loginUrlPath'
  | 'defaultReturnTo'
> {
  if (o.baseUrl === undefined) fail('"baseUrl" is required: the public URL of your app, e.g. https://app.example.com.');
  const baseUrl = httpUrl('baseUrl', o.baseUrl);
  if (baseUrl.protocol === 'http:' && !isLoopbackHost(baseUrl.hostname) && !allowInsecureHttp) {
    fail(
      '"baseUrl" must use https (http is allowed for localhost only). Behind a TLS proxy, give the public https URL.',
    );
  }
  if (baseUrl.pathname.endsWith('/')) baseUrl.pathname = baseUrl.pathname.slice(0, -1);
  const prefix = pathPrefix(baseUrl);

  const r = o.routes ?? {};
  if (!isObject(r)) fail('"routes" must be an object.');
  for (const key of Object.keys(r)) {
    if (!(ROUTE_KEYS as readonly string[]).includes(key))
      fail(`unknown route "routes.${key}". Known routes: ${ROUTE_KEYS.join(', ')}.`);
  }
  const loginPath = routePath('login', r.login, DEFAULTS.loginPath);
  const callbackPath = routePath('callback', r.callback, DEFAULTS.callbackPath);
  const logoutPath = routePath('logout', r.logout, DEFAULTS.logoutPath);
  if (!openid && r.backchannelLogout !== undefined && r.backchannelLogout !== false) {
    fail(
      '"routes.backchannelLogout": back-channel logout ends OpenID Connect sessions; a plain ' +
        'OAuth 2.0 login (no "openid" in "scope") has none. Remove it.',
    );
  }
  // Off for plain OAuth 2.0: no provider sends logout tokens about a login without an ID token.
  const backchannelLogoutPath = openid
    ? routePath('backchannelLogout', r.backchannelLogout, DEFAULTS.backchannelLogoutPath)
    : false;
  if (r.jwks !== undefined && r.jwks !== false && !clientKey) {
    fail(
      '"routes.jwks" serves the public key of "clientPrivateKey" (clientAuthMethod ' +
        '"private_key_jwt"): set those, or remove "routes.jwks".',
    );
  }
  const jwksPath = clientKey ? routePath('jwks', r.jwks, DEFAULTS.jwksPath) : false;
  const paths = [loginPath, callbackPath, logoutPath, backchannelLogoutPath, jwksPath].filter((p) => p !== false);
  if (new Set(paths).size !== paths.length) fail('the paths in "routes" must all differ.');

  const defaultReturnTo = o.defaultReturnTo ?? DEFAULTS.defaultReturnTo;
  if (typeof defaultReturnTo !== 'string' || !defaultReturnTo.startsWith('/') || /^\/[/\\]/.test(defaultReturnTo)) {
    fail('"defaultReturnTo" must be a path on this app, starting with a single "/".');
  }

  const redirectUri = `${baseUrl.origin}${prefix}${callbackPath === false ? DEFAULTS.callbackPath : callbackPath}`;
  return {
    baseUrl,
    secureCookies: baseUrl.protocol === 'https:',
    redirectUri,
    redirectPath: new URL(redirectUri).pathname,
    loginPath,
    callbackPath,
    logoutPath,
    backchannelLogoutPath,
    jwksPath,
    loginUrlPath: `${prefix}${loginPath === false ? DEFAULTS.loginPath : loginPath}`,
    defaultReturnTo,
  };
}
