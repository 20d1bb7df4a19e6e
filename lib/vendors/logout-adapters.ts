import type { IdpLogoutContext, IdpLogoutUrl } from '../options/hook-types.js';
import { fail } from '../options/fail.js';

/**
 * Ready-made `logout.idpLogoutUrl` functions for providers whose logout is not OpenID Connect
 * RP-Initiated Logout (no `end_session_endpoint` in their discovery document). Each builds the
 * URL from the configuration alone: the client id and `logout.postLogoutRedirectUri`, never
 * anything from the request.
 */

/** `https://` + a host name (or an https origin), validated once, when the adapter is made. */
function httpsOrigin(name: string, domain: unknown): string {
  if (typeof domain !== 'string' || domain === '')
    fail(`${name} needs "domain": a host name such as "example.auth0.com".`);
  const value = domain.includes('://') ? domain : `https://${domain}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(`${name}: "domain" must be a host name such as "example.auth0.com"; got ${JSON.stringify(domain)}.`);
  }
  if (url.protocol !== 'https:') fail(`${name}: "domain" must be https.`);
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    fail(`${name}: "domain" must be a host name only (no path, query or credentials); got ${JSON.stringify(domain)}.`);
  }
  return url.origin;
}

/**
 * Auth0's logout: `https://<domain>/v2/logout?client_id=...&returnTo=<postLogoutRedirectUri>`.
 * `domain` defaults to the issuer's host (your tenant or custom domain). Add the post-logout URI to
 * the application's "Allowed Logout URLs" in Auth0.
 *
 * @example
 * oidcLogin({ ..., logout: { idpLogoutUrl: auth0Logout() } })
 */
export function auth0Logout(options: { domain?: string } = {}): IdpLogoutUrl {
  const origin = options.domain === undefined ? undefined : httpsOrigin('auth0Logout()', options.domain);
  return (ctx: IdpLogoutContext) => {
    const url = new URL('/v2/logout', origin ?? `https://${new URL(ctx.metadata.issuer).host}`);
    url.searchParams.set('client_id', ctx.clientId);
    url.searchParams.set('returnTo', ctx.postLogoutRedirectUri);
    return url;
  };
}

/**
 * Amazon Cognito's logout: `https://<domain>/logout?client_id=...&logout_uri=<postLogoutRedirectUri>`.
 * `domain` is the user pool's hosted UI domain (`<prefix>.auth.<region>.amazoncognito.com`, or your
 * custom domain), not the issuer's host. Add the post-logout URI to the app client's "Allowed
 * sign-out URLs".
 *
 * @example
 * oidcLogin({ ..., logout: { idpLogoutUrl: cognitoLogout({ domain: 'myapp.auth.eu-west-1.amazoncognito.com' }) } })
 */
export function cognitoLogout(options: { domain: string }): IdpLogoutUrl {
  const origin = httpsOrigin('cognitoLogout()', (options as { domain?: unknown } | undefined)?.domain);
  return (ctx: IdpLogoutContext) => {
    const url = new URL('/logout', origin);
    url.searchParams.set('client_id', ctx.clientId);
    url.searchParams.set('logout_uri', ctx.postLogoutRedirectUri);
    return url;
  };
}
