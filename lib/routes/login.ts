import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import * as client from 'openid-client';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/config.js';
import type { Provider } from '../flow/provider.js';
import { tokenEndpointError } from '../flow/provider-errors.js';
import { oidcState, requireSession, type OidcRequest } from '../session/express-session.js';
import type { PendingLogins } from '../flow/pending-logins.js';
import { safeReturnTo, splitUrl } from '../util/url.js';
import { stepUpFailed, stepUpFromQuery, stepUpParams } from '../flow/step-up.js';
import { redirect } from './respond.js';

const debug = createDebug('express-oidc-login:login');

/**
 * `GET /login?returnTo=/path`: starts a login. A new transaction (state, nonce, PKCE verifier,
 * returnTo) is kept for the callback (a sealed cookie, or the session, saved: see
 * transactions.ts), and the browser is sent to the provider's authorization endpoint.
 * `&max_age=...&acr_values=...` (step-up, from `requireAuth({ maxAge, acrValues })`) ask for a
 * recent or a stronger login; see step-up.ts.
 */
export function loginHandler(config: ResolvedConfig, provider: Provider, pending: PendingLogins) {
  return async function login(req: OidcRequest, res: ServerResponse): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    // Read only (in cookie mode nothing is written to it), but the callback will need it: a
    // missing express-session fails here, before the user types a password at the provider.
    const session = requireSession(req);
    const configuration = await provider.getConfiguration();

    const query = new URLSearchParams(splitUrl(req.url ?? '').query);
    const returnTo = safeReturnTo(single(query, 'returnTo')) ?? config.defaultReturnTo;
    // A silent login (prompt=none) is tried at most once per session, so it can never loop.
    const silent = config.silentLogin && single(query, 'silent') === '1' && !session.oidc?.silentTried;
    const state = client.randomState();
    // No nonce without an ID token to carry it back (plain OAuth 2.0).
    const nonce = config.openid ? client.randomNonce() : undefined;
    const verifier = client.randomPKCECodeVerifier();
    // S256 (RFC 7636 4.2) with node:crypto: the same value as openid-client's WebCrypto version
    // at a tenth of the CPU (measured in bench/micro).
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const parameters: Record<string, string> = {
      ...config.authorizationParams,
      response_type: 'code',
      redirect_uri: config.redirectUri,
      scope: config.scope,
      state,
      ...(nonce !== undefined && { nonce }),
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...(config.responseMode === 'form_post' && { response_mode: 'form_post' }),
      ...(silent && { prompt: 'none' }),
    };
    // Step-up (requireAuth({ maxAge, acrValues })): max_age / acr_values from the query, validated
    // and only ever stricter; the transaction keeps them for the callback's checks.
    const stepUp = stepUpFromQuery(query, config);
    if (!config.openid && (stepUp.maxAge !== undefined || stepUp.acrValues)) {
      // No ID token, so no auth_time or acr: a round trip to the provider could prove nothing.
      throw stepUpFailed(
        'This page needs a recent or stronger login, which this identity provider (OAuth 2.0 without OpenID Connect) cannot confirm.',
      );
    }
    Object.assign(parameters, stepUpParams(stepUp));
    // Built before anything goes into the session: a failed PAR request leaves no pending login.
    const url = await authorizationUrl(config, provider, configuration, parameters);

    const named = config.providerName !== undefined && { provider: config.providerName };
    // In session mode the session is saved anyway, so the silent attempt is noted now; in cookie
    // mode the callback notes it when the provider answers (login_required...).
    if (silent && pending.mode === 'session') oidcState(session).silentTried = true;
    await pending.add(req, res, state, {
      ...(nonce !== undefined && { nonce }),
      verifier,
      returnTo,
      createdAt: Date.now(),
      ...(silent && { silent }),
      ...stepUp,
      ...named,
    });
    debug('login started, returning to %s', returnTo);
    redirect(res, url.href);
  };
}

/**
 * The authorization URL. With PAR (RFC 9126: the option, or the provider's
 * `require_pushed_authorization_requests`) the parameters are POSTed to the provider's PAR endpoint
 * with client authentication, and the URL carries only `client_id` and `request_uri`.
 */
async function authorizationUrl(
  config: ResolvedConfig,
  provider: Provider,
  configuration: client.Configuration,
  parameters: Record<string, string>,
): Promise<URL> {
  const usePar =
    config.pushedAuthorizationRequests ||
    provider.metadata(configuration).require_pushed_authorization_requests === true;
  if (!usePar) return client.buildAuthorizationUrl(configuration, parameters);
  try {
    return await client.buildAuthorizationUrlWithPAR(configuration, parameters);
  } catch (err) {
    debug('pushed authorization request failed: %s', (err as Error)?.message);
    // A failed PAR request: 502 (refused, or an invalid answer), 503 (unreachable) or 504 (timeout).
    throw tokenEndpointError(err, 'par');
  }
}

/** The one value of a query parameter; several (an array) count as none. */
function single(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name);
  return values.length === 1 ? values[0] : undefined;
}
