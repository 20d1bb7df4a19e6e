import type { IDToken, TokenEndpointResponse } from 'openid-client';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { OidcError } from '../util/errors.js';
import { stepUpFailed } from './step-up.js';
import type { LoginClaims, StoredLogin, StoredTransaction } from '../types.js';

/**
 * What a token response becomes in the session: plain JSON with an absolute `expiresAt`. `claims`
 * are the ID token's, or a plain OAuth 2.0 login's mapped profile (no `idToken` then).
 */
export function toStoredLogin(tokens: TokenEndpointResponse, claims: LoginClaims, now = Date.now()): StoredLogin {
  const login: StoredLogin = {
    ...(typeof tokens.id_token === 'string' && { idToken: tokens.id_token }),
    accessToken: tokens.access_token,
    tokenType: tokens.token_type,
    claims,
    loggedInAt: now,
    activeAt: now,
  };
  if (typeof tokens.refresh_token === 'string') login.refreshToken = tokens.refresh_token;
  if (typeof tokens.expires_in === 'number') login.expiresAt = Math.floor(now / 1000) + tokens.expires_in;
  if (typeof tokens.scope === 'string') login.scope = tokens.scope;
  return login;
}

/**
 * OpenID Connect Core 2 caps `sub` at 255 ASCII characters: an ID token's, and so a mapped
 * profile's and a logout token's.
 */
export const MAX_SUB_LENGTH = 255;

/** A usable `sub`: a non-empty string of at most {@link MAX_SUB_LENGTH} characters. */
export function isUsableSub(sub: unknown): sub is string {
  return typeof sub === 'string' && sub.length > 0 && sub.length <= MAX_SUB_LENGTH;
}

function invalid(reason: string): OidcError {
  return new OidcError('ERR_OIDC_ID_TOKEN_INVALID', 400, `The ID token failed validation: ${reason}`);
}

/**
 * The ID token checks of OpenID Connect Core 3.1.3.7 that openid-client leaves to the relying
 * party (it already checks iss, aud contains client_id, azp with several audiences, alg, exp,
 * nonce, auth_time against max_age, and the presence and types of the required claims).
 */
export function checkIdTokenClaims(
  claims: IDToken,
  tx: StoredTransaction,
  config: ResolvedConfig,
  clientId: string,
  now = Date.now(),
): void {
  // 3: no audience we do not trust; azp, when present, must be us (also with a single audience).
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  for (const aud of audiences) {
    if (aud !== clientId && !config.additionalAudiences.includes(aud))
      throw invalid('"aud" names an audience this app does not trust.');
  }
  if (claims.azp !== undefined && claims.azp !== clientId) throw invalid('"azp" is not this app\'s client_id.');
  // 10: iat neither in the future nor before this login began.
  const nowSeconds = now / 1000;
  const tolerance = config.clockTolerance;
  if (typeof claims.iat !== 'number' || claims.iat > nowSeconds + tolerance) throw invalid('"iat" lies in the future.');
  if (claims.iat < tx.createdAt / 1000 - tolerance) throw invalid('"iat" is older than the login it answers.');
  if (!isUsableSub(claims.sub)) {
    throw invalid(`"sub" must be a non-empty string of at most ${MAX_SUB_LENGTH} characters.`);
  }
  if (typeof claims.exp !== 'number') throw invalid('"exp" is missing.');
  // 13: with max_age, auth_time is required (openid-client then checks its value).
  if (tx.maxAge === undefined && config.maxAge !== undefined && typeof claims.auth_time !== 'number') {
    throw invalid('"auth_time" is missing though max_age was requested.');
  }
  // Step-up (requireAuth({ maxAge, acrValues })): the login must be what was asked for.
  if (tx.maxAge !== undefined && typeof claims.auth_time !== 'number') {
    throw stepUpFailed('The identity provider did not say when you logged in, which this page requires.');
  }
  if (tx.acrValues && !(typeof claims.acr === 'string' && tx.acrValues.includes(claims.acr))) {
    throw stepUpFailed(
      'The identity provider did not log you in with the method this page requires. Try again, or ask your administrator.',
    );
  }
}
