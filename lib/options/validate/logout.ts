import { fail } from '../fail.js';
import type { IdpLogoutUrl } from '../hook-types.js';
import { LOGOUT_KEYS } from '../keys.js';
import type { ResolvedConfig } from '../resolved-config.js';
import { httpUrl, isObject } from '../values.js';
import { pathPrefix } from './urls.js';

/** `logout`: every switch on by default; the browser comes back to `baseUrl` unless told otherwise (same origin only). */
export function resolveLogout(o: Record<string, unknown>, baseUrl: URL): ResolvedConfig['logout'] {
  const lo = o.logout ?? {};
  if (!isObject(lo)) fail('"logout" must be an object.');
  for (const key of Object.keys(lo)) {
    if (!(LOGOUT_KEYS as readonly string[]).includes(key))
      fail(`unknown option "logout.${key}". Known: ${LOGOUT_KEYS.join(', ')}.`);
  }
  for (const key of ['idpLogout', 'allowGet', 'revokeTokens'] as const) {
    if (lo[key] !== undefined && typeof lo[key] !== 'boolean') fail(`"logout.${key}" must be a boolean.`);
  }
  let postLogoutRedirectUri = `${baseUrl.origin}${pathPrefix(baseUrl)}/`;
  if (lo.postLogoutRedirectUri !== undefined) {
    const u = httpUrl('logout.postLogoutRedirectUri', lo.postLogoutRedirectUri);
    if (u.origin !== baseUrl.origin) fail('"logout.postLogoutRedirectUri" must be on the same origin as "baseUrl".');
    postLogoutRedirectUri = u.href;
  }
  if (lo.idpLogoutUrl !== undefined && typeof lo.idpLogoutUrl !== 'function') {
    fail(
      '"logout.idpLogoutUrl" must be a function ({ idToken, clientId, postLogoutRedirectUri, ' +
        'state, metadata }) => URL, such as auth0Logout().',
    );
  }
  return Object.freeze({
    idpLogout: lo.idpLogout !== false,
    postLogoutRedirectUri,
    allowGet: lo.allowGet !== false,
    revokeTokens: lo.revokeTokens !== false,
    idpLogoutUrl: lo.idpLogoutUrl as IdpLogoutUrl | undefined,
  });
}
