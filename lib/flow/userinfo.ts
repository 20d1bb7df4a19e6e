import * as client from 'openid-client';
import createDebug from 'debug';
import type { Configuration, DPoPHandle } from 'openid-client';
import type { ProfileClaims, StoredLogin } from '../types.js';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { OidcError } from '../util/errors.js';
import type { Provider } from './provider.js';
import { resourceError } from './provider-errors.js';
import { getAccessToken } from './refresh.js';
import { loginOf, packLogin } from '../session/stored-login.js';
import { endOwnLogin } from '../session/session-index.js';
import { requireSession, saveSession, type OidcRequest } from '../session/express-session.js';
import { fetchProfile, tokensOf } from './profile.js';
import { decideRenewedLogin } from './after-callback.js';

const debug = createDebug('express-oidc-login:userinfo');

/**
 * The userinfo response for the request's login; its `sub` must equal the ID token's. The access
 * token is refreshed first when needed. Stored as `login.user` and saved.
 */
export async function fetchUserInfo(
  req: OidcRequest,
  config: ResolvedConfig,
  provider: Provider,
): Promise<Record<string, unknown>> {
  const accessToken = await getAccessToken(req, config, provider);
  requireSession(req);
  const current = loginOf(req);
  const sub = current?.claims.sub;
  if (sub === undefined) throw loginEnded();
  const configuration = await provider.getConfiguration();
  // A DPoP login's token is bound to its key: userinfo needs the proof (RFC 9449 §7).
  const dpop = current?.dpop ? await provider.dpopKeys.of(current.dpop).handle(configuration) : undefined;
  let user: Record<string, unknown>;
  let claims: ProfileClaims | undefined;
  if (current!.idToken === undefined) {
    // A plain OAuth 2.0 login: the profile again, mapped; it must still be the same user.
    const profile = await fetchProfile(
      provider,
      configuration,
      config,
      { ...tokensOf(current!), access_token: accessToken },
      dpop,
    );
    if (profile.claims.sub !== sub) {
      throw new OidcError(
        'ERR_OIDC_USERINFO_INVALID',
        400,
        'The identity provider\'s user info is about another user ("sub" differs from the login\'s).',
      );
    }
    ({ user, claims } = profile);
  } else {
    user = await requestUserInfo(provider, configuration, accessToken, sub, dpop);
  }
  // Read again: the login may have ended (or changed) while the request was out.
  const session = requireSession(req);
  const login = loginOf(req);
  if (!login || login.claims.sub !== sub) throw loginEnded();
  session.oidc!.login = packLogin(
    await decideUserInfo(req, config, { ...login, user, ...(claims && { claims }) }),
    req,
  );
  await saveSession(session);
  return user;
}

/**
 * The login with the provider's new user info (and, for plain OAuth 2.0, its new claims), decided
 * again by the app (`afterCallback`, reason `'userinfo'`). A refusal ends the login, saved.
 */
async function decideUserInfo(req: OidcRequest, config: ResolvedConfig, renewed: StoredLogin): Promise<StoredLogin> {
  try {
    return await decideRenewedLogin(config, req, renewed, 'userinfo');
  } catch (err) {
    if (err instanceof OidcError && err.code === 'ERR_OIDC_LOGIN_REFUSED') await endOwnLogin(req, config);
    throw err;
  }
}

/**
 * The userinfo response at login, before anything is stored: its `sub` must equal the ID token's
 * (else 400 ERR_OIDC_USERINFO_INVALID, whatever `fetchUserInfo` says: the provider speaks of
 * another user). With `fetchUserInfo: true`, an endpoint that cannot be reached or refuses is a
 * 502/503/504 and no login; with `'auto'` the login goes on without it (`undefined`), a warning
 * logged: it would have gone on so without `'auto'`.
 */
export async function userInfoAtLogin(
  config: ResolvedConfig,
  provider: Provider,
  configuration: Configuration,
  accessToken: string,
  sub: string,
  dpop?: DPoPHandle,
): Promise<Record<string, unknown> | undefined> {
  try {
    return await requestUserInfo(provider, configuration, accessToken, sub, dpop);
  } catch (err) {
    if (config.fetchUserInfo === true || (err instanceof OidcError && err.code === 'ERR_OIDC_USERINFO_INVALID'))
      throw err;
    const ofProvider = config.providerName === undefined ? '' : ` of provider "${config.providerName}"`;
    config.logger?.warn(
      `express-oidc-login: the userinfo endpoint${ofProvider} failed at login (${(err as Error).message}); ` +
        "the login goes on with the ID token's claims only. Set fetchUserInfo: false not to ask it.",
    );
    return undefined;
  }
}

function loginEnded(): OidcError {
  return new OidcError(
    'ERR_OIDC_UNAUTHENTICATED',
    401,
    'Not logged in (the login has ended). Log in to use this resource.',
  );
}

async function requestUserInfo(
  provider: Provider,
  configuration: Configuration,
  accessToken: string,
  sub: string,
  dpop: DPoPHandle | undefined,
): Promise<Record<string, unknown>> {
  if (!provider.metadata(configuration).userinfo_endpoint) {
    throw new OidcError(
      'ERR_OIDC_PROVIDER_RESPONSE',
      502,
      'The identity provider publishes no userinfo_endpoint, so user info cannot be fetched.',
    );
  }
  let response: client.UserInfoResponse;
  try {
    response = await client.fetchUserInfo(configuration, accessToken, sub, dpop && { DPoP: dpop });
  } catch (err) {
    debug('userinfo request failed: %s', (err as Error)?.message);
    throw userInfoError(err);
  }
  // Plain JSON for the session store.
  return JSON.parse(JSON.stringify(response)) as Record<string, unknown>;
}

function userInfoError(err: unknown): OidcError {
  const code = (err as { code?: unknown })?.code;
  if (code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED') {
    return new OidcError(
      'ERR_OIDC_USERINFO_INVALID',
      400,
      'The identity provider\'s user info is about another user ("sub" differs from the ID token\'s).',
      { cause: err },
    );
  }
  const detail = `${(err as Error)?.message} ${((err as Error)?.cause as Error | undefined)?.message}`;
  if (code === 'OAUTH_INVALID_RESPONSE' && /"sub"/.test(detail)) {
    return new OidcError('ERR_OIDC_USERINFO_INVALID', 400, 'The identity provider\'s user info has no "sub".', {
      cause: err,
    });
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    return new OidcError(
      'ERR_OIDC_PROVIDER_RESPONSE',
      502,
      'The identity provider refused the access token at its userinfo endpoint.',
      { cause: err },
    );
  }
  return resourceError(err, 'its userinfo endpoint');
}
