import type { ServerMetadata } from 'openid-client';
import { fail } from '../fail.js';
import { SERVER_KEYS } from '../keys.js';
import { httpUrl, requireHttps } from '../values.js';

/** `server` as openid-client metadata (RFC 8414 names). */
export function resolveServer(value: unknown, openid: boolean, allowInsecureHttp: boolean): ServerMetadata {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(
      '"server" must be an object: { authorizationEndpoint, tokenEndpoint, userinfoEndpoint, revocationEndpoint?, issuer?, jwksUri? }.',
    );
  }
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (!(SERVER_KEYS as readonly string[]).includes(key))
      fail(`unknown option "server.${key}". Known: ${SERVER_KEYS.join(', ')}.`);
  }
  const endpoint = { allowInsecureHttp };
  const optional = (name: (typeof SERVER_KEYS)[number]): string | undefined =>
    v[name] === undefined ? undefined : httpUrl(`server.${name}`, v[name], endpoint).href;
  if (v.authorizationEndpoint === undefined)
    fail('"server.authorizationEndpoint" is required: where the browser is sent to log in.');
  if (v.tokenEndpoint === undefined)
    fail('"server.tokenEndpoint" is required: where the code is exchanged for tokens.');
  const authorization = httpUrl('server.authorizationEndpoint', v.authorizationEndpoint, endpoint);
  const token = optional('tokenEndpoint')!;
  const userinfo = optional('userinfoEndpoint');
  const revocation = optional('revocationEndpoint');
  const jwks = optional('jwksUri');
  if (!openid && userinfo === undefined) {
    fail(
      '"server.userinfoEndpoint" is required for a plain OAuth 2.0 login (no "openid" in "scope"): the URL the user\'s profile ' +
        'is read from with the access token, e.g. https://api.github.com/user.',
    );
  }
  if (openid && v.issuer === undefined)
    fail('"server.issuer" is required with "openid" in "scope": ID tokens must name it in "iss".');
  if (openid && jwks === undefined)
    fail(
      '"server.jwksUri" is required with "openid" in "scope": ID token signatures are verified with the provider\'s keys.',
    );
  let issuer = authorization.origin;
  if (v.issuer !== undefined) {
    requireHttps('server.issuer', httpUrl('server.issuer', v.issuer), allowInsecureHttp);
    // Kept as written: ID tokens' "iss" is compared with it exactly (a trailing slash matters).
    issuer = v.issuer as string;
  }
  return Object.freeze({
    issuer,
    authorization_endpoint: authorization.href,
    token_endpoint: token,
    ...(userinfo !== undefined && { userinfo_endpoint: userinfo }),
    ...(revocation !== undefined && { revocation_endpoint: revocation }),
    ...(jwks !== undefined && { jwks_uri: jwks }),
  });
}
