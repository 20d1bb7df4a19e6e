import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import * as client from 'openid-client';
import createDebug from 'debug';
import type { ResolvedConfig } from '../config.js';
import type { Provider } from '../provider.js';
import { oidcState, requireSession, saveSession, type OidcRequest } from '../session.js';
import { addTransaction } from '../transactions.js';
import { safeReturnTo, splitUrl } from '../url.js';
import { redirect } from './respond.js';

const debug = createDebug('express-oidc-login:login');

/** A pre-login session outlives its last transaction a little, so a late callback is told "expired". */
const PRE_LOGIN_GRACE_MS = 60_000;

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

    const query = new URLSearchParams(splitUrl(req.url ?? '').query);
    const returnTo = safeReturnTo(single(query, 'returnTo')) ?? config.defaultReturnTo;
    // A silent login (prompt=none) is tried at most once per session, so it can never loop.
    const silent = config.silentLogin && single(query, 'silent') === '1' && !session.oidc?.silentTried;
    const state = client.randomState();
    const nonce = client.randomNonce();
    const verifier = client.randomPKCECodeVerifier();
    // S256 (RFC 7636 4.2) with node:crypto: the same value as openid-client's WebCrypto version
    // at a tenth of the CPU (measured in bench/micro).
    const challenge = createHash('sha256').update(verifier).digest('base64url');

    addTransaction(session, state, { nonce, verifier, returnTo, createdAt: Date.now(), ...(silent && { silent }) }, config);
    if (silent) oidcState(session).silentTried = true;
    if (!session.oidc?.login && isOnlyOurs(session)) {
      // A session that holds nothing but pending logins lives as long as they do, not for the
      // cookie's full age: abandoned logins do not fill the store for days.
      session.cookie.maxAge = config.transactionMaxAge + PRE_LOGIN_GRACE_MS;
    }
    const url = client.buildAuthorizationUrl(configuration, {
      ...config.authorizationParams,
      response_type: 'code',
      redirect_uri: config.redirectUri,
      scope: config.scope,
      state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...(silent && { prompt: 'none' }),
    });
    // Saved before the redirect: the callback may arrive before a save at the end of this response.
    await saveSession(session);
    debug('login started, returning to %s', returnTo);
    redirect(res, url.href);
  };
}

/** The one value of a query parameter; several (an array) count as none. */
function single(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name);
  return values.length === 1 ? values[0] : undefined;
}

/** True when the session holds nothing of the app's: only its cookie and our pending logins. */
function isOnlyOurs(session: object): boolean {
  for (const key of Object.keys(session)) if (key !== 'cookie' && key !== 'oidc') return false;
  return true;
}
