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
  | 'frontchannelLogoutPath'
  | 'frontchannelLogoutExplicit'
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
  for (const name of ['backchannelLogout', 'frontchannelLogout'] as const) {
    if (!openid && r[name] !== undefined && r[name] !== false) {
      fail(
        `"routes.${name}": ${name === 'backchannelLogout' ? 'back' : 'front'}-channel logout ends OpenID Connect sessions; a plain ` +
          'OAuth 2.0 login (no "openid" in "scope") has none. Remove it.',
      );
    }
  }
  // Off for plain OAuth 2.0: no provider sends logout tokens about a login without an ID token.
  const backchannelLogoutPath = openid
    ? routePath('backchannelLogout', r.backchannelLogout, DEFAULTS.backchannelLogoutPath)
    : false;
  const frontchannelLogoutPath = openid
    ? routePath('frontchannelLogout', r.frontchannelLogout, DEFAULTS.frontchannelLogoutPath)
    : false;
  if (r.jwks !== undefined && r.jwks !== false && !clientKey) {
    fail(
      '"routes.jwks" serves the public key of "clientPrivateKey" (clientAuthMethod ' +
        '"private_key_jwt"): set those, or remove "routes.jwks".',
    );
  }
  const jwksPath = clientKey ? routePath('jwks', r.jwks, DEFAULTS.jwksPath) : false;
  const paths = [loginPath, callbackPath, logoutPath, backchannelLogoutPath, frontchannelLogoutPath, jwksPath].filter(
    (p) => p !== false,
  );
  if (new Set(paths).size !== paths.length) fail('the paths in "routes" must all differ.');

  refuseCallbackInBaseUrl(baseUrl, prefix, callbackPath === false ? DEFAULTS.callbackPath : callbackPath);

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
    frontchannelLogoutPath,
    frontchannelLogoutExplicit: r.frontchannelLogout !== undefined && r.frontchannelLogout !== false,
    jwksPath,
    loginUrlPath: `${prefix}${loginPath === false ? DEFAULTS.loginPath : loginPath}`,
    defaultReturnTo,
  };
}

/**
 * A `baseUrl` that is the redirect URI (`https://app/callback`) would make it `/callback/callback`,
 * which no provider has registered: the login would fail at the provider with a vague
 * "invalid redirect_uri". Refused here, with the value to use.
 */
function refuseCallbackInBaseUrl(baseUrl: URL, prefix: string, callbackPath: string): void {
  for (const path of new Set([DEFAULTS.callbackPath, callbackPath])) {
    if (!prefix.endsWith(path)) continue;
    const intended = `${baseUrl.origin}${prefix.slice(0, -path.length)}`;
    fail(
      `"baseUrl" ends with the callback path "${path}" (${baseUrl.href}): it is the app's public URL, ` +
        `and the redirect URI is made from it (baseUrl + "${callbackPath}"). Set "baseUrl" to ${JSON.stringify(intended)}.`,
    );
  }
}
