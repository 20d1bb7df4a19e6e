import type { ServerResponse } from 'node:http';
import * as client from 'openid-client';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/config.js';
import { OidcAuthorizationError, OidcError } from '../util/errors.js';
import type { Provider } from '../flow/provider.js';
import { tokenEndpointError } from '../flow/provider-errors.js';
import {
  oidcState,
  regenerateSession,
  requireSession,
  saveSession,
  type OidcRequest,
} from '../session/express-session.js';
import { checkIdTokenClaims, toStoredLogin } from '../flow/tokens.js';
import { transactionExpired, type PendingLogins } from '../flow/pending-logins.js';
import { callbackUrl, splitUrl } from '../util/url.js';
import { readFormPost, RESUBMIT_FIELD, sendResubmitPage } from './form-post.js';
import { redirect } from './respond.js';
import type { AfterCallback } from '../options/config.js';
import { emit } from '../flow/events.js';
import { indexLogin } from '../session/session-index.js';
import { forgetLogin, isLoginShaped, packLogin } from '../session/stored-login.js';
import type { StoredLogin } from '../types.js';
import { userInfoAtLogin } from '../flow/userinfo.js';
import { fetchProfile } from '../flow/profile.js';
import { stepUpTokenError } from '../flow/step-up.js';
import { checkTenant, issuerMatches } from '../vendors/entra.js';
import { createDPoPKey, dpopNotBound, isDPoPTokenType } from '../flow/dpop.js';
import { DEFAULT_PROVIDER } from '../flow/provider-set.js';

const debug = createDebug('express-oidc-login:callback');

const MISSING_TRANSACTION =
  'This login cannot be completed: no login in progress matches it. Start again from the login page. ' +
  'Usual causes: the login was started in another browser, its cookie was not sent back (a Secure cookie over http, ' +
  'or SameSite=Strict), baseUrl names another host than the one in the address bar, the session store lost the session, ' +
  'the login link was already used, or the login took too long.';

const PROVIDER_MIXUP =
  'This login response arrived at the callback of another identity provider than the one the login was started at, ' +
  'so it was refused and nothing was sent to either provider. Start again from the login page.';

function invalidCallback(reason: string): OidcError {
  return new OidcError(
    'ERR_OIDC_INVALID_CALLBACK',
    400,
    `The login response is invalid: ${reason} Start again from the login page.`,
  );
}

/**
 * `GET /callback` (and `POST /callback` with `responseMode: 'form_post'`): finishes a login. Takes
 * (and deletes) the transaction for the returned `state`, exchanges the code, validates the
 * tokens, regenerates the session id, stores the login and sends the browser to `returnTo`.
 */
export function callbackHandler(config: ResolvedConfig, provider: Provider, pending: PendingLogins) {
  // States whose code exchange is running in this process: a double-clicked callback exchanges once.
  const inFlight = new Set<string>();
  // Where the form_post re-POST goes: the callback as the browser sees it.
  const callbackPath = new URL(config.redirectUri).pathname;

  return async function callback(req: OidcRequest, res: ServerResponse): Promise<void> {
    try {
      await finishLogin(req, res);
    } catch (err) {
      const code = err instanceof OidcError ? err.code : 'ERR_UNEXPECTED';
      emit(config, 'loginFailed', { code, ...(req.sessionID && { sessionId: req.sessionID }) }, req);
      throw err;
    }
  };

  async function finishLogin(req: OidcRequest, res: ServerResponse): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Referrer-Policy', 'no-referrer');
    const session = requireSession(req);
    const posted = req.method === 'POST';
    // form_post: the response is in the body (the query is not looked at); else in the query.
    const params = posted ? await readFormPost(req) : new URLSearchParams(splitUrl(req.url ?? '').query);
    const resubmitted = posted && params.has(RESUBMIT_FIELD);
    params.delete(RESUBMIT_FIELD);
    const states = params.getAll('state');
    if (states.length === 0) {
      throw new OidcError(
        'ERR_OIDC_MISSING_STATE',
        400,
        'The login response has no "state" parameter. Start again from the login page.',
      );
    }
    if (states.length > 1) throw invalidCallback('it repeats the "state" parameter.');
    const state = states[0]!;
    if (posted && !resubmitted && !pending.has(req, state)) {
      // The provider's cross-site POST came without the SameSite=Lax cookies: POST it again from
      // this origin (see form-post.ts). Nothing is taken or written before that.
      debug("form_post without the pending login's cookie: posting it again from this origin");
      sendResubmitPage(req, res, callbackPath, params);
      return;
    }
    if (inFlight.has(state)) throw new OidcError('ERR_OIDC_MISSING_TRANSACTION', 400, MISSING_TRANSACTION);

    inFlight.add(state);
    try {
      // Taken (and, in the session, saved) before any token request: the callback cannot be replayed.
      const tx = await pending.take(req, res, state);
      if (!tx) {
        if (session.oidc?.login) {
          // A stale callback (the back button) for a user who is logged in already.
          debug('no transaction for this state, but logged in: going home');
          redirect(res, config.defaultReturnTo);
          return;
        }
        throw new OidcError('ERR_OIDC_MISSING_TRANSACTION', 400, MISSING_TRANSACTION);
      }
      // Mix-up defence (RFC 9700 4.4): a login started at another provider is never finished here.
      if ((tx.provider ?? DEFAULT_PROVIDER) !== (config.providerName ?? DEFAULT_PROVIDER)) {
        debug(
          'the transaction belongs to provider %s, not %s: refused',
          tx.provider ?? DEFAULT_PROVIDER,
          config.providerName ?? DEFAULT_PROVIDER,
        );
        throw new OidcError('ERR_OIDC_PROVIDER_MIXUP', 400, PROVIDER_MIXUP);
      }
      if (transactionExpired(tx, config)) {
        throw new OidcError(
          'ERR_OIDC_TRANSACTION_EXPIRED',
          400,
          'This login took too long and has expired. Start again from the login page.',
        );
      }
      const configuration = await provider.getConfiguration();
      const metadata = provider.metadata(configuration);
      let issParam: string | undefined;
      try {
        issParam = checkAuthorizationResponse(params, metadata);
      } catch (err) {
        if (tx.silent && err instanceof OidcAuthorizationError && err.code === 'ERR_OIDC_ACCESS_DENIED') {
          // A silent login found no session at the provider: carry on, not logged in, and do not
          // try again in this session (no loop).
          debug('silent login: %s', err.error);
          oidcState(session).silentTried = true;
          redirect(res, tx.returnTo);
          return;
        }
        throw err;
      }

      let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
      // A step-up's max_age (from the login route), else the configured one.
      const maxAge = tx.maxAge ?? config.maxAge;
      // DPoP: a key pair for this login alone, made now (PKCE already binds the code to this
      // transaction, so /login needs none: abandoned logins cost no key and no storage).
      const dpop = config.dpop ? await createDPoPKey(provider, config.dpop.alg) : undefined;
      const dpopHandle = dpop && (await dpop.key.handle(configuration));
      try {
        tokens = await provider.authorizationCodeGrant(
          callbackUrl(config.redirectUri, posted ? `?${params}` : (req.url ?? '')),
          config.openid
            ? {
                pkceCodeVerifier: tx.verifier,
                expectedState: state,
                expectedNonce: tx.nonce,
                idTokenExpected: true,
                ...(maxAge !== undefined && { maxAge }),
              }
            : // Plain OAuth 2.0: no nonce was sent and no ID token is expected; state and PKCE as always.
              { pkceCodeVerifier: tx.verifier, expectedState: state },
          issParam,
          dpopHandle && { DPoP: dpopHandle },
        );
      } catch (err) {
        throw stepUpTokenError(err, tx.maxAge) ?? tokenEndpointError(err, 'code');
      }
      // Asked for DPoP, got a token anyone holding it can use: refused, nothing stored.
      if (dpop && !isDPoPTokenType(tokens.token_type)) throw dpopNotBound('login', tokens.token_type);

      let login: StoredLogin;
      if (config.openid) {
        const claims = tokens.claims();
        if (!claims || typeof tokens.id_token !== 'string')
          throw new OidcError('ERR_OIDC_ID_TOKEN_INVALID', 400, 'The identity provider sent no ID token.');
        const clientMetadata = configuration.clientMetadata();
        await provider.verifySignature(
          tokens.id_token,
          clientMetadata.id_token_signed_response_alg ?? config.idTokenSigningAlg,
        );
        checkIdTokenClaims(claims, tx, config, clientMetadata.client_id);
        // Entra multi-tenant: the token's tenant, now verified, must be allowed.
        if (config.allowedTenants !== undefined) checkTenant(claims, metadata.issuer, config.allowedTenants);

        login = toStoredLogin(tokens, claims);
        if (maxAge !== undefined || tx.acrValues) {
          // What was asked and verified: requireAuth({ maxAge, acrValues }) then knows this login is the answer.
          login.requested = {
            ...(maxAge !== undefined && { maxAge }),
            ...(tx.acrValues && { acrValues: tx.acrValues }),
          };
        }
        if (config.fetchUserInfo)
          login.user = await userInfoAtLogin(provider, configuration, login.accessToken, claims.sub, dpopHandle);
      } else {
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
        // The user is whoever the userinfo endpoint says the access token belongs to.
        const profile = await fetchProfile(provider, configuration, config, tokens, dpopHandle);
        login = toStoredLogin(tokens, profile.claims);
        if (config.fetchUserInfo) login.user = profile.user;
      }
      if (dpop) login.dpop = dpop.stored;
      const claims = login.claims;
      if (config.providerName !== undefined) login.provider = config.providerName;
      if (config.afterCallback) login = await runAfterCallback(config.afterCallback, req, res, login);
      // Whatever the hook did: refresh and logout must go to the provider that issued the tokens.
      if (config.providerName !== undefined) login.provider = config.providerName;
      else delete login.provider;

      const carried = pending.carryOver(req);
      // A new session id at login (no session fixation); other tabs' pending logins come along.
      const previousId = req.sessionID;
      const fresh = await regenerateSession(req);
      // A login the old session held (a step-up, a second login) is not kept for reuse.
      forgetLogin(previousId);
      const stored = packLogin(login);
      fresh.oidc = carried ? { login: stored, tx: carried } : { login: stored };
      try {
        // Indexed first: a login that back-channel logout could not find is not stored at all.
        // Only when back-channel logout can happen: the provider says it supports it, or the app
        // set routes.backchannelLogout itself.
        if (config.backchannelLogoutExplicit || metadata.backchannel_logout_supported === true)
          await indexLogin(req, config);
        await saveSession(fresh);
      } catch (err) {
        // The login failed: express-session's own save at the end of the response must not
        // store it after all.
        delete fresh.oidc.login;
        throw err;
      }
      debug('login completed for sub %s', claims.sub);
      emit(
        config,
        'login',
        { sub: claims.sub, ...(typeof claims.sid === 'string' && { sid: claims.sid }), sessionId: req.sessionID },
        req,
      );
      redirect(res, tx.returnTo);
    } finally {
      inFlight.delete(state);
    }
  }
}

/** Runs the app's `afterCallback`; a throw refuses the login with the hook's message (401/403). */
async function runAfterCallback(
  hook: AfterCallback,
  req: OidcRequest,
  res: ServerResponse,
  login: StoredLogin,
): Promise<StoredLogin> {
  let result: Awaited<ReturnType<AfterCallback>>;
  try {
    result = await hook(req, res, login);
  } catch (err) {
    const status = (err as { status?: unknown })?.status === 401 ? 401 : 403;
    const message = err instanceof Error && err.message ? err.message : 'This login was refused by the application.';
    throw new OidcError('ERR_OIDC_LOGIN_REFUSED', status, message, { cause: err });
  }
  const accepted = result ?? login;
  // A hook that drops the access token or the claims would store a login the next request drops,
  // and the user would be sent to log in again and again: refused here, nothing stored.
  if (!isLoginShaped(accepted)) {
    throw new TypeError(
      'express-oidc-login: afterCallback returned something that is not a login (it needs "claims" and "accessToken"). Return the login it was given, changed, or nothing.',
    );
  }
  return accepted as StoredLogin;
}

/**
 * The authorization response checks, done here first so that their errors are told apart from
 * the token request's; openid-client repeats them. Returns the `iss` parameter, if any: with an
 * Entra `{tenantid}` issuer, any tenant's issuer, which the ID token must then name.
 */
function checkAuthorizationResponse(params: URLSearchParams, metadata: client.ServerMetadata): string | undefined {
  const iss = params.getAll('iss');
  if (iss.length > 1) throw invalidCallback('it repeats the "iss" parameter.');
  if (iss.length === 1 && !issuerMatches(iss[0]!, metadata.issuer)) {
    throw invalidCallback('it comes from another identity provider ("iss" does not match).');
  }
  if (iss.length === 0 && metadata.authorization_response_iss_parameter_supported) {
    throw invalidCallback('the "iss" parameter is missing.');
  }
  const error = params.getAll('error');
  if (error.length > 0) {
    const description = params.get('error_description') ?? undefined;
    throw new OidcAuthorizationError(error[0]!, description);
  }
  const code = params.getAll('code');
  if (code.length !== 1 || code[0] === '') throw invalidCallback('it must carry exactly one "code".');
  return iss[0];
}
