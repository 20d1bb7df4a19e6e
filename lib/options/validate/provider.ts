import type { Configuration, ServerMetadata } from 'openid-client';
import { DEFAULTS } from '../defaults.js';
import { fail } from '../fail.js';
import type { ResolvedConfig } from '../resolved-config.js';
import { httpUrl, requireHttps } from '../values.js';
import { resolveServer } from './server.js';

/** `dangerouslyAllowInsecureHttp`: http for the provider and a non-loopback `baseUrl`. */
export function resolveInsecureHttp(o: Record<string, unknown>): boolean {
  if (o.dangerouslyAllowInsecureHttp !== undefined && typeof o.dangerouslyAllowInsecureHttp !== 'boolean') {
    fail('"dangerouslyAllowInsecureHttp" must be a boolean.');
  }
  return o.dangerouslyAllowInsecureHttp === true;
}

/**
 * Who the provider is and who the app is there: a ready-made `configuration`, or `server`'s
 * endpoints, or an `issuer` found by `discovery`; the `scope` (with `openid` or not: OpenID Connect
 * or plain OAuth 2.0); `clientId` and `clientSecret`.
 */
export function resolveProvider(
  o: Record<string, unknown>,
  allowInsecureHttp: boolean,
  needsSecret: boolean,
): Pick<
  ResolvedConfig,
  'configuration' | 'issuer' | 'discovery' | 'server' | 'scope' | 'openid' | 'clientId' | 'clientSecret'
> {
  const configuration = o.configuration as Configuration | undefined;
  let issuer: URL | undefined;
  let clientId: string | undefined;
  let clientSecret: string | undefined;
  const discovery = o.discovery ?? DEFAULTS.discovery;
  if (discovery !== 'oidc' && discovery !== 'oauth2') {
    fail(
      `"discovery" must be "oidc" (OpenID Connect Discovery) or "oauth2" (RFC 8414 authorization ` +
        `server metadata); got ${JSON.stringify(o.discovery)}.`,
    );
  }
  if (discovery === 'oauth2' && o.allowedTenants !== undefined) {
    fail(
      '"allowedTenants" works with OpenID discovery (Microsoft Entra ID serves no RFC 8414 ' +
        'document): remove "discovery: \'oauth2\'".',
    );
  }
  if (o.server !== undefined && o.scope === undefined) {
    fail(
      '"scope" is required with "server": the scopes the provider knows, e.g. "read:user ' +
        'user:email" for GitHub (with "openid" only for an OpenID provider).',
    );
  }
  const scope = o.scope ?? DEFAULTS.scope;
  if (typeof scope !== 'string' || scope.trim() === '')
    fail(`"scope" must be a non-empty space-separated string; got ${JSON.stringify(o.scope)}.`);
  const openid = scope.split(' ').includes('openid');
  // Only a provider that is not found by OpenID discovery may log in without an ID token: for an
  // OpenID provider a scope without "openid" is a mistake, not a choice.
  if (!openid && o.server === undefined && discovery !== 'oauth2') {
    fail(
      `"scope" must be a space-separated string that includes "openid"; got ${JSON.stringify(o.scope)}. ` +
        'For a plain OAuth 2.0 provider (no ID token), give "server" with its endpoints, or "discovery: \'oauth2\'".',
    );
  }

  let server: ServerMetadata | undefined;
  if (configuration !== undefined) {
    if (typeof configuration !== 'object' || typeof configuration.serverMetadata !== 'function') {
      fail('"configuration" must be an openid-client Configuration (from discovery() or new Configuration()).');
    }
    if (o.issuer !== undefined || o.clientId !== undefined || o.clientSecret !== undefined) {
      fail('give either "configuration" or "issuer" / "clientId" / "clientSecret", not both.');
    }
    if (o.server !== undefined || o.discovery !== undefined)
      fail('give either "configuration" or "server" / "discovery", not both.');
  } else {
    if (o.server !== undefined) {
      if (o.issuer !== undefined) {
        fail(
          'give either "issuer" (found by discovery) or "server" (the endpoints), not both. With ' +
            '"server", the issuer identifier is "server.issuer".',
        );
      }
      if (o.discovery !== undefined)
        fail(
          '"discovery" finds the endpoints from "issuer"; with "server" there is nothing to ' +
            'discover: remove "discovery".',
        );
      if (o.allowedTenants !== undefined)
        fail(
          '"allowedTenants" is for a Microsoft Entra ID multi-tenant issuer found by discovery, not ' +
            'for "server": remove it.',
        );
      server = resolveServer(o.server, openid, allowInsecureHttp);
    } else {
      if (o.issuer === undefined) {
        fail(
          '"issuer" is required: the URL of your OpenID Provider, e.g. https://idp.example.com (or ' +
            '"server" with the endpoints of a plain OAuth 2.0 provider).',
        );
      }
      issuer = httpUrl('issuer', o.issuer);
      requireHttps('issuer', issuer, allowInsecureHttp);
    }
    if (typeof o.clientId !== 'string' || o.clientId === '') fail('"clientId" is required: a non-empty string.');
    clientId = o.clientId;
    if (needsSecret && (typeof o.clientSecret !== 'string' || o.clientSecret === '')) {
      fail('"clientSecret" is required for a confidential client: a non-empty string.');
    }
    // With private_key_jwt and tls_client_auth a clientSecret is allowed but unused (the
    // start-up check says so): an app can switch methods without removing it first.
    if (o.clientSecret !== undefined && (typeof o.clientSecret !== 'string' || o.clientSecret === '')) {
      fail('"clientSecret" must be a non-empty string.');
    }
    clientSecret = o.clientSecret as string | undefined;
  }

  return { configuration, issuer, discovery, server, scope, openid, clientId, clientSecret };
}
