import type * as client from 'openid-client';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { OidcError } from '../util/errors.js';
import type { StoredLogin, StoredTransaction } from '../types.js';
import { checkTenant } from '../vendors/entra.js';
import { requestedMaxAge, type ExchangedCode } from './code-exchange.js';
import { fetchProfile } from './profile.js';
import type { Provider } from './provider.js';
import { checkIdTokenClaims, toStoredLogin } from './tokens.js';
import { userInfoAtLogin } from './userinfo.js';
import { mergeUserInfoClaims, wantsUserInfo } from './userinfo-claims.js';

/**
 * The login the tokens of a code exchange make, checked and not yet stored: with OpenID Connect
 * from the verified ID token, with plain OAuth 2.0 from the user's profile.
 */
export async function loginFromTokens(
  config: ResolvedConfig,
  provider: Provider,
  configuration: client.Configuration,
  tx: StoredTransaction,
  { tokens, dpop }: ExchangedCode,
): Promise<StoredLogin> {
  const login = config.openid
    ? await openIdLogin(config, provider, configuration, tx, tokens, dpop?.handle)
    : await oauth2Login(config, provider, configuration, tokens, dpop?.handle);
  if (dpop) login.dpop = dpop.stored;
  if (config.providerName !== undefined) login.provider = config.providerName;
  return login;
}

/** The ID token verified (signature, claims, Entra tenant, step-up), then userinfo merged in when wanted. */
async function openIdLogin(
  config: ResolvedConfig,
  provider: Provider,
  configuration: client.Configuration,
  tx: StoredTransaction,
  tokens: ExchangedCode['tokens'],
  dpopHandle: client.DPoPHandle | undefined,
): Promise<StoredLogin> {
  const claims = tokens.claims();
  if (!claims || typeof tokens.id_token !== 'string')
    throw new OidcError('ERR_OIDC_ID_TOKEN_INVALID', 400, 'The identity provider sent no ID token.');
  const clientMetadata = provider.clientMetadata(configuration);
  await provider.verifySignature(
    tokens.id_token,
    clientMetadata.id_token_signed_response_alg ?? config.idTokenSigningAlg,
  );
  checkIdTokenClaims(claims, tx, config, clientMetadata.client_id);
  // Entra multi-tenant: the token's tenant, now verified, must be allowed.
  if (config.allowedTenants !== undefined)
    checkTenant(claims, provider.metadata(configuration).issuer, config.allowedTenants);

  const login = toStoredLogin(tokens, claims);
  const maxAge = requestedMaxAge(tx, config);
  if (maxAge !== undefined || tx.acrValues) {
    // What was asked and verified: requireAuth({ maxAge, acrValues }) then knows this login is the answer.
    login.requested = {
      ...(maxAge !== undefined && { maxAge }),
      ...(tx.acrValues && { acrValues: tx.acrValues }),
    };
  }
  const scope = typeof tokens.scope === 'string' ? tokens.scope : (tx.scope ?? config.scope);
  if (wantsUserInfo(config, claims, scope, provider.metadata(configuration).userinfo_endpoint)) {
    const user = await userInfoAtLogin(config, provider, configuration, login.accessToken, claims.sub, dpopHandle);
    if (user) {
      login.claims = mergeUserInfoClaims(claims, user);
      const merged = Object.keys(login.claims).filter((name) => !Object.hasOwn(claims, name));
      if (merged.length > 0) login.userinfoClaims = merged;
      if (config.fetchUserInfo === true) login.user = user;
    }
  }
  return login;
}

/** Plain OAuth 2.0: the user is whoever the userinfo endpoint says the access token belongs to. */
async function oauth2Login(
  config: ResolvedConfig,
  provider: Provider,
  configuration: client.Configuration,
  tokens: ExchangedCode['tokens'],
  dpopHandle: client.DPoPHandle | undefined,
): Promise<StoredLogin> {
  if (typeof tokens.id_token === 'string') {
    // Refused rather than ignored: "openid" was not asked for, no nonce binds it to this
    // login, and a provider that sends one anyway should be configured as an OpenID provider.
    throw new OidcError(
      'ERR_OIDC_ID_TOKEN_INVALID',
      400,
      'The identity provider sent an ID token though "openid" was not requested, so it cannot be checked. ' +
        'Add "openid" to "scope" (and give the provider\'s issuer and keys) to log in with OpenID Connect.',
    );
  }
  const profile = await fetchProfile(provider, configuration, config, tokens, dpopHandle);
  const login = toStoredLogin(tokens, profile.claims);
  // The claims are the userinfo's already: kept a second time only when asked for.
  if (config.fetchUserInfo === true) login.user = profile.user;
  return login;
}
