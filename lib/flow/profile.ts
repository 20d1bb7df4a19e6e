import * as client from 'openid-client';
import createDebug from 'debug';
import type { Configuration, TokenEndpointResponse } from 'openid-client';
import type { ProfileApi } from '../options/hook-types.js';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { OidcError } from '../util/errors.js';
import { resourceError } from './provider-errors.js';
import type { Provider } from './provider.js';
import { isUsableSub, MAX_SUB_LENGTH } from './tokens.js';
import type { ProfileClaims, StoredLogin } from '../types.js';

/**
 * Plain OAuth 2.0 logins (no `openid` in `scope`, so no ID token): the user is whoever the
 * provider's userinfo (profile) endpoint says the access token belongs to, mapped to claims by the
 * `profile` option. Nothing here is stored: the callback stores the result only when all of it
 * succeeded.
 */

const debug = createDebug('express-oidc-login:profile');

/**
 * Claims about the authentication event or the token itself, which only a verified ID token can
 * carry: a user API's answer cannot vouch for them (an `acr` there would satisfy a step-up, a
 * future `auth_time` every `maxAge`), so a mapped profile never keeps them. `iss` is set apart.
 */
const RESERVED_CLAIMS = ['aud', 'azp', 'nonce', 'acr', 'amr', 'auth_time', 'sid', 'tid', 'exp', 'iat', 'nbf'] as const;

/** The userinfo response and the claims `profile` made of it. */
export interface Profile {
  readonly user: Record<string, unknown>;
  readonly claims: ProfileClaims;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalidProfile(reason: string, cause?: unknown): OidcError {
  return new OidcError(
    'ERR_OIDC_PROFILE_INVALID',
    502,
    `The user's profile from the identity provider cannot be used: ${reason} Nobody was logged in.`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * GETs the userinfo endpoint with the access token and maps the answer with `profile`. Fails with
 * 502/503/504 when the endpoint does (HTTP error, not a JSON object, unreachable, timeout) and
 * with 502 `ERR_OIDC_PROFILE_INVALID` when `profile` throws or yields no usable `sub`.
 */
export async function fetchProfile(
  provider: Provider,
  configuration: Configuration,
  config: ResolvedConfig,
  tokens: TokenEndpointResponse,
  dpop?: client.DPoPHandle,
): Promise<Profile> {
  const metadata = provider.metadata(configuration);
  const endpoint = metadata.userinfo_endpoint;
  if (!endpoint) {
    throw new OidcError(
      'ERR_OIDC_PROVIDER_RESPONSE',
      502,
      'The identity provider publishes no userinfo_endpoint, so the user cannot be identified.',
    );
  }
  const user = await getJson(configuration, tokens.access_token, endpoint, 'its userinfo endpoint', dpop);
  if (!isObject(user)) {
    throw new OidcError(
      'ERR_OIDC_PROVIDER_RESPONSE',
      502,
      'The identity provider sent an invalid answer (its userinfo endpoint): not a JSON object.',
    );
  }
  const allowed = new Set([new URL(endpoint).origin, ...config.profileApiOrigins]);
  const api: ProfileApi = {
    get: async (url) => getJson(configuration, tokens.access_token, apiUrl(url, allowed, endpoint), 'its API', dpop),
  };
  let mapped: unknown;
  try {
    // Copies: what the mapping changes is neither the stored `user` nor the token response.
    mapped = await config.profile(structuredClone(user), Object.freeze({ ...tokens }), api);
  } catch (err) {
    debug('the profile mapping threw: %s', (err as Error)?.message);
    // The API helper's own failures (502/503/504) keep their code.
    if (err instanceof OidcError) throw err;
    throw invalidProfile('the "profile" option threw on it.', err);
  }
  return { user, claims: toClaims(mapped, metadata.issuer) };
}

/**
 * What `api.get(url)` may request: a URL on the userinfo endpoint's origin or one of
 * `profileApiOrigins`. The access token goes nowhere else (a URL the profile itself names, such
 * as GitHub's `organizations_url`, is the provider's word, not the app's). A URL that is not
 * absolute is the provider's resource gone wrong (502), as before.
 */
function apiUrl(url: string | URL, allowed: ReadonlySet<string>, endpoint: string): string {
  const href = String(url);
  let origin: string;
  try {
    origin = new URL(href).origin;
  } catch {
    return href;
  }
  if (!allowed.has(origin)) {
    throw Object.assign(
      new TypeError(
        `express-oidc-login: profile's api.get(): ${origin} is not the origin of the userinfo endpoint (${new URL(endpoint).origin}), ` +
          'so the access token is not sent there. Add it to "profileApiOrigins" if it is an API of this provider.',
      ),
      { code: 'ERR_INVALID_ARG_VALUE' },
    );
  }
  return href;
}

/**
 * The mapping's answer as plain JSON claims with a usable `sub`, without the claims only an ID
 * token can carry, and with `iss` the configured (or discovered) issuer: users are keyed on
 * (`iss`, `sub`), so github.com's user 1 is not a GitHub Enterprise Server's user 1.
 */
function toClaims(mapped: unknown, issuer: string): ProfileClaims {
  if (!isObject(mapped)) throw invalidProfile('the "profile" option returned no object.');
  const sub = mapped.sub;
  if (!isUsableSub(sub)) {
    throw invalidProfile(
      `it has no "sub" to identify the user by (a non-empty string of at most ${MAX_SUB_LENGTH} characters). ` +
        'Give a "profile" option that maps the provider\'s stable user id to "sub".',
    );
  }
  let claims: unknown;
  try {
    claims = JSON.parse(JSON.stringify(mapped));
  } catch (err) {
    throw invalidProfile('the "profile" option returned claims that are not JSON.', err);
  }
  const entries = Object.entries(claims as Record<string, unknown>);
  const dropped = entries
    .filter(([name]) => (RESERVED_CLAIMS as readonly string[]).includes(name))
    .map(([name]) => name);
  if (dropped.length > 0) debug('dropped claims the profile cannot vouch for: %s', dropped.join(', '));
  const kept = entries.filter(([name]) => name !== 'iss' && !dropped.includes(name));
  return Object.fromEntries([...kept, ['iss', issuer]]) as ProfileClaims;
}

/** The token response a stored login came from, for `profile` when the profile is fetched again. */
export function tokensOf(login: StoredLogin, now = Date.now()): TokenEndpointResponse {
  return {
    access_token: login.accessToken,
    token_type: login.tokenType.toLowerCase() as Lowercase<string>,
    ...(login.refreshToken !== undefined && { refresh_token: login.refreshToken }),
    ...(login.scope !== undefined && { scope: login.scope }),
    ...(login.expiresAt !== undefined && { expires_in: Math.max(0, login.expiresAt - Math.floor(now / 1000)) }),
  };
}

/** A protected resource of the provider as JSON: 502 (HTTP error, not JSON), 503 (unreachable), 504 (timeout). */
/** `dpop`: a DPoP login's handle (its proof, and one retry on `use_dpop_nonce`). */
async function getJson(
  configuration: Configuration,
  accessToken: string,
  url: string,
  what: string,
  dpop?: client.DPoPHandle,
): Promise<unknown> {
  let target: URL;
  try {
    target = new URL(url);
  } catch (err) {
    throw new OidcError(
      'ERR_OIDC_PROVIDER_RESPONSE',
      502,
      `The URL of the identity provider's resource is not absolute (${what}).`,
      { cause: err },
    );
  }
  try {
    const response = await client.fetchProtectedResource(
      configuration,
      accessToken,
      target,
      'GET',
      undefined,
      new Headers({ accept: 'application/json' }),
      dpop && { DPoP: dpop },
    );
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      throw new OidcError(
        'ERR_OIDC_PROVIDER_RESPONSE',
        502,
        `The identity provider answered HTTP ${response.status} (${what}).`,
      );
    }
    return await response.json();
  } catch (err) {
    debug('request to %s failed: %s', what, (err as Error)?.message);
    throw profileError(err, what);
  }
}

function profileError(err: unknown, what: string): OidcError {
  if (err instanceof OidcError) return err;
  if (err instanceof client.WWWAuthenticateChallengeError) {
    return new OidcError(
      'ERR_OIDC_PROVIDER_RESPONSE',
      502,
      `The identity provider refused the access token (${what}).`,
      { cause: err },
    );
  }
  return resourceError(err, what);
}
