/**
 * The logout token of OpenID Connect Back-Channel Logout 1.0 (§2.6): decoded and checked before any
 * key lookup (steps 2 to 6), then its signature (step 1); the replay check is the route's, with the
 * session index. And the error a refused back-channel logout request answers.
 */
import type { ResolvedConfig } from '../options/resolved-config.js';
import { OidcError } from '../util/errors.js';
import { expectedIssuer } from '../vendors/entra.js';
import type { Provider } from './provider.js';
import { isUsableSub, MAX_SUB_LENGTH } from './tokens.js';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const MAX_JTI_LENGTH = 1024;

/**
 * Why a back-channel logout failed. Back-Channel Logout 1.0 §2.8: a request that fails validation
 * or a logout that fails is a 400, with an OAuth-style `error` / `error_description`:
 * - `invalid_request`: the request or the logout token is bad (retrying it is pointless);
 * - `temporarily_unavailable`: the session store or the provider failed (the token's `jti` is
 *   not kept, so the provider may retry the same token);
 * - `server_error`: this app cannot do back-channel logout at all (no session store).
 */
export class LogoutRequestError extends Error {
  readonly error: 'invalid_request' | 'temporarily_unavailable' | 'server_error';
  constructor(error: LogoutRequestError['error'], description: string, options?: { cause?: unknown }) {
    super(description, options);
    this.error = error;
  }
}

export function invalid(description: string, cause?: unknown): LogoutRequestError {
  return new LogoutRequestError('invalid_request', description, cause === undefined ? undefined : { cause });
}

/**
 * A logout token's claims, checked before any key lookup (a token that fails them costs no JWKS
 * request), with the algorithm its signature must have. The provider's configuration out of reach
 * is `temporarily_unavailable` (the provider may retry).
 */
export async function checkedLogoutClaims(
  token: string,
  config: ResolvedConfig,
  provider: Provider,
): Promise<{ claims: LogoutClaims; alg: string }> {
  const { header, payload } = decodeJws(token);
  const configuration = await provider.getConfiguration().catch((err: unknown) => {
    throw new LogoutRequestError('temporarily_unavailable', "The identity provider's configuration is unavailable.", {
      cause: err,
    });
  });
  const metadata = provider.clientMetadata(configuration);
  const alg = metadata.id_token_signed_response_alg ?? config.idTokenSigningAlg;
  const claims = checkLogoutToken(header, payload, {
    alg,
    issuer: logoutTokenIssuer(payload, provider.metadata(configuration).issuer, config.allowedTenants),
    clientId: metadata.client_id,
    additionalAudiences: config.additionalAudiences,
    clockTolerance: config.clockTolerance,
    logoutTokenMaxAge: config.logoutTokenMaxAge,
  });
  return { claims, alg };
}

/** The logout token's signature, with the provider's JWKS; its keys out of reach is `temporarily_unavailable`. */
export async function verifyLogoutSignature(token: string, alg: string, provider: Provider): Promise<void> {
  try {
    await provider.verifySignature(token, alg);
  } catch (err) {
    if (err instanceof OidcError && err.code === 'ERR_OIDC_ID_TOKEN_INVALID') {
      throw invalid("The logout token's signature could not be verified with the identity provider's keys.", err);
    }
    throw new LogoutRequestError('temporarily_unavailable', "The identity provider's signing keys are unavailable.", {
      cause: err,
    });
  }
}

/** The issuer the logout token must name; with an Entra multi-tenant issuer, its own allowed tenant's. */
function logoutTokenIssuer(
  payload: Record<string, unknown>,
  discovered: string,
  allowed: readonly string[] | 'any' | undefined,
): string {
  try {
    return expectedIssuer(payload, discovered, allowed);
  } catch (err) {
    throw invalid('The logout token does not name an allowed tenant of the identity provider ("iss", "tid").', err);
  }
}

// ---------------------------------------------------------------------------------------------
// The logout token, before any key lookup.

const B64URL = /^[A-Za-z0-9_-]+$/;

function decodePart(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw invalid(`The logout token's ${what} is not base64url-encoded JSON.`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(`The logout token's ${what} is not a JSON object.`);
  return value as Record<string, unknown>;
}

/** A compact JWS: three base64url parts, a non-empty signature, JSON objects for header and claims. */
export function decodeJws(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) {
    throw invalid('The logout token is not a signed JWT (compact JWS).');
  }
  return { header: decodePart(parts[0]!, 'header'), payload: decodePart(parts[1]!, 'claims') };
}

export interface LogoutClaims {
  iss: string;
  jti: string;
  exp: number;
  iat: number;
  sid?: string;
  sub?: string;
}

export interface LogoutTokenExpectations {
  alg: string;
  issuer: string;
  clientId: string;
  additionalAudiences: readonly string[];
  /** Seconds. */
  clockTolerance: number;
  /** Seconds a token without `exp` may be old (by its `iat`); false: `exp` is required. */
  logoutTokenMaxAge: number | false;
}

/** A logout token's `sub` or `sid`, when it has one: what makes a usable `sub`, for both. */
function optionalId(payload: Record<string, unknown>, name: 'sid' | 'sub'): string | undefined {
  if (!Object.hasOwn(payload, name)) return undefined;
  const value = payload[name];
  if (!isUsableSub(value)) {
    throw invalid(`The logout token's "${name}" must be a non-empty string of at most ${MAX_SUB_LENGTH} characters.`);
  }
  return value;
}

/**
 * Back-Channel Logout 1.0 §2.6 steps 2 to 6 (all but the signature and replay checks), on the
 * decoded token.
 */
export function checkLogoutToken(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  expected: LogoutTokenExpectations,
  now = Date.now(),
): LogoutClaims {
  if (header.alg !== expected.alg) throw invalid(`The logout token must be signed with ${expected.alg}.`);
  if (header.typ !== undefined) {
    const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : '';
    if (typ !== 'logout+jwt' && typ !== 'jwt')
      throw invalid('The logout token\'s "typ" must be "logout+jwt" or "JWT".');
  }
  if (header.crit !== undefined) throw invalid('The logout token has a "crit" header this app does not understand.');

  if (payload.iss !== expected.issuer) throw invalid('The logout token comes from another issuer ("iss").');
  const aud = payload.aud;
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  if (audiences.length === 0 || !audiences.every((a) => typeof a === 'string'))
    throw invalid('The logout token\'s "aud" is missing or malformed.');
  if (!audiences.includes(expected.clientId)) throw invalid('The logout token is not for this app ("aud").');
  for (const a of audiences) {
    if (a !== expected.clientId && !expected.additionalAudiences.includes(a as string)) {
      throw invalid('The logout token names an audience this app does not trust ("aud").');
    }
  }
  if (payload.azp !== undefined && payload.azp !== expected.clientId)
    throw invalid('The logout token\'s "azp" is not this app.');

  // An ID token (which carries a nonce) must never be accepted as a logout token.
  if (Object.hasOwn(payload, 'nonce')) throw invalid('The logout token must not contain a "nonce".');
  const events = payload.events;
  if (typeof events !== 'object' || events === null || Array.isArray(events)) {
    throw invalid('The logout token has no "events" object.');
  }
  const event = Object.hasOwn(events, EVENT) ? (events as Record<string, unknown>)[EVENT] : undefined;
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw invalid(`The logout token's "events" must have the member "${EVENT}" with an object value.`);
  }

  const nowSeconds = now / 1000;
  const { iat, jti } = payload;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalid('The logout token has no "iat".');
  if (iat > nowSeconds + expected.clockTolerance) throw invalid('The logout token\'s "iat" lies in the future.');
  const expires = logoutTokenExpiry(payload, iat, nowSeconds, expected);
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH)
    throw invalid('The logout token has no "jti".');

  const sid = optionalId(payload, 'sid');
  const sub = optionalId(payload, 'sub');
  if (sid === undefined && sub === undefined) throw invalid('The logout token names neither a "sid" nor a "sub".');
  return {
    iss: expected.issuer,
    jti,
    exp: expires,
    iat,
    ...(sid !== undefined && { sid }),
    ...(sub !== undefined && { sub }),
  };
}

/**
 * When the token stops being accepted (and its `jti` can be forgotten): its `exp`; or, for a token
 * without one (providers implementing a draft from before `exp` was required), `iat` plus
 * `logoutTokenMaxAge` and the clock tolerance, refused once past that.
 */
function logoutTokenExpiry(
  payload: Record<string, unknown>,
  iat: number,
  nowSeconds: number,
  expected: LogoutTokenExpectations,
): number {
  const { exp } = payload;
  if (exp === undefined && expected.logoutTokenMaxAge !== false) {
    const until = iat + expected.logoutTokenMaxAge + expected.clockTolerance;
    if (until <= nowSeconds) {
      throw invalid(
        `The logout token has no "exp", and its "iat" is more than logoutTokenMaxAge (${expected.logoutTokenMaxAge} s) ago.`,
      );
    }
    return until;
  }
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw invalid('The logout token has no "exp".');
  if (exp <= nowSeconds - expected.clockTolerance) throw invalid('The logout token has expired ("exp").');
  return exp;
}
