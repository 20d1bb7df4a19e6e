import type { ServerResponse } from 'node:http';
import * as client from 'openid-client';
import createDebug from 'debug';
import type { ResolvedConfig } from '../config.js';
import type { Provider } from '../provider.js';
import { requireSession, saveSession, type OidcRequest } from '../session.js';
import { addTransaction } from '../transactions.js';
import { safeReturnTo, splitUrl } from '../url.js';
import { redirect } from './respond.js';

const debug = createDebug('express-oidc-login:login');

/**
 * `GET /login?returnTo=/path`: starts a login. A new transaction (state, nonce, PKCE verifier,
 * returnTo) goes into the session under its `state`, the session is saved, and the browser is
 * sent to the provider's authorization endpoint.
 */
export function loginHandler(config: ResolvedConfig, provider: Provider) {
  return async function login(req: OidcRequest, res: ServerResponse): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    const session = requireSession(req);
    const configuration = await provider.getConfiguration();

    const returnTo = safeReturnTo(readReturnTo(req.url ?? '')) ?? config.defaultReturnTo;
    const state = client.randomState();
    const nonce = client.randomNonce();
    const verifier = client.randomPKCECodeVerifier();
    const challenge = await client.calculatePKCECodeChallenge(verifier);

    addTransaction(session, state, { nonce, verifier, returnTo, createdAt: Date.now() }, config);
    const url = client.buildAuthorizationUrl(configuration, {
      ...config.authorizationParams,
      response_type: 'code',
      redirect_uri: config.redirectUri,
      scope: config.scope,
      state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    // Saved before the redirect: the callback may arrive before a save at the end of this response.
    await saveSession(session);
    debug('login started, returning to %s', returnTo);
    redirect(res, url.href);
  };
}

/** The one `returnTo` value of the query; several (an array) count as none. */
function readReturnTo(url: string): string | undefined {
  const values = new URLSearchParams(splitUrl(url).query).getAll('returnTo');
  return values.length === 1 ? values[0] : undefined;
}
