import type { IDToken } from 'openid-client';
import type { ResolvedConfig } from '../options/resolved-config.js';
import type { StoredLogin } from '../types.js';

/**
 * The userinfo claims of a login (OpenID Connect Core 5.3, 5.4): when they are worth a request
 * at login (`fetchUserInfo: 'auto'`), and how they join the ID token's.
 */

/** The claims each standard scope asks for (OpenID Connect Core 5.4). */
const SCOPE_CLAIMS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  profile: [
    'name',
    'family_name',
    'given_name',
    'middle_name',
    'nickname',
    'preferred_username',
    'profile',
    'picture',
    'website',
    'gender',
    'birthdate',
    'zoneinfo',
    'locale',
    'updated_at',
  ],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
});

/**
 * Claims about the token or the authentication rather than the user: only the verified ID
 * token's count. From userinfo they would be unchecked (an `acr` there would pass a step-up).
 */
const PROTOCOL_CLAIMS = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'iat',
  'nbf',
  'jti',
  'nonce',
  'acr',
  'amr',
  'auth_time',
  'azp',
  'sid',
  'tid',
  'at_hash',
  'c_hash',
  's_hash',
  'cnf',
  'events',
  'sub_jwk',
]);

/**
 * Whether the login's userinfo is to be fetched: always (`true`), never (`false`), or with
 * `'auto'` when the provider has a userinfo endpoint and a scope of `scope` (the one granted,
 * else the one asked for) has none of its claims in the ID token. A provider leaves out a claim
 * the user does not have, so one missing claim of a scope is no reason; all of them is.
 */
export function wantsUserInfo(
  config: ResolvedConfig,
  claims: IDToken,
  scope: string,
  userinfoEndpoint: string | undefined,
): boolean {
  if (config.fetchUserInfo !== 'auto') return config.fetchUserInfo;
  if (userinfoEndpoint === undefined) return false;
  return scope.split(' ').some((s) => {
    const wanted = Object.hasOwn(SCOPE_CLAIMS, s) ? SCOPE_CLAIMS[s]! : undefined;
    return wanted !== undefined && !wanted.some((c) => claims[c] !== undefined);
  });
}

/**
 * The login's claims: the ID token's (which win, all of them), then the userinfo's about the user
 * that it lacks. Nothing to add: `claims` itself (stored as the token's payload, see stored-login.ts).
 */
export function mergeUserInfoClaims(claims: IDToken, userinfo: Record<string, unknown>): IDToken {
  return withClaims(claims, userinfo, (name) => {
    // A pair is one statement: userinfo's email_verified is about userinfo's email, which may not be the ID token's.
    const pair = VERIFIED_PAIRS.find((p) => p.includes(name));
    return pair === undefined || !pair.some((n) => Object.hasOwn(claims, n));
  });
}

/** Claims that only make sense together (OpenID Connect Core 5.1): merged both or neither. */
const VERIFIED_PAIRS: readonly (readonly string[])[] = [
  ['email', 'email_verified'],
  ['phone_number', 'phone_number_verified'],
];

/** `claims` and, after them, those of `extra` it lacks that `keep` keeps (never protocol claims). */
function withClaims(claims: IDToken, extra: object, keep: (name: string) => boolean): IDToken {
  let merged: Record<string, unknown> | undefined;
  for (const [name, value] of Object.entries(extra)) {
    if (Object.hasOwn(claims, name) || PROTOCOL_CLAIMS.has(name) || name === '__proto__' || !keep(name)) continue;
    merged ??= { ...claims };
    merged[name] = value;
  }
  return (merged as IDToken | undefined) ?? claims;
}

/**
 * The claims after a refresh that brought a new ID token: its own, and those merged from userinfo
 * at login (`userinfoClaims`), which a refresh does not fetch again. Not what `afterCallback` added:
 * the hook runs again on these (after-callback.ts) and decides anew, so a role the app's database
 * no longer grants is not carried. Protocol claims come only from the new token.
 */
export function refreshedClaims(current: StoredLogin, fresh: IDToken): IDToken {
  const carried = new Set(current.userinfoClaims ?? []);
  if (carried.size === 0) return { ...fresh };
  return withClaims({ ...fresh }, current.claims, (name) => carried.has(name));
}
