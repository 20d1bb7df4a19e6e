import type { ServerResponse } from 'node:http';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/resolved-config.js';
import type { Provider } from '../flow/provider.js';
import { authorizationRequest } from '../flow/authorization-request.js';
import { oidcState, requireSession, type OidcRequest } from '../session/express-session.js';
import type { PendingLogins } from '../flow/pending-logins.js';
import type { LoginHosts } from '../flow/login-hosts.js';
import { safeReturnTo, splitUrl } from '../util/url.js';
import { stepUpFromQuery } from '../flow/step-up.js';
import { redirect } from '../util/respond.js';

const debug = createDebug('express-oidc-login:login');

/**
 * `GET /login?returnTo=/path`: starts a login. A new transaction (state, nonce, PKCE verifier,
 * returnTo) is kept for the callback (a sealed cookie, or the session, saved: see
 * transactions.ts), and the browser is sent to the provider's authorization endpoint.
 * `&max_age=...&acr_values=...` (step-up, from `requireAuth({ maxAge, acrValues })`) ask for a
 * recent or a stronger login; see step-up.ts.
 */
export function loginHandler(config: ResolvedConfig, provider: Provider, pending: PendingLogins, hosts: LoginHosts) {
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
    // Step-up (requireAuth({ maxAge, acrValues })): max_age / acr_values from the query, validated
    // and only ever stricter; the transaction keeps them for the callback's checks.
    const stepUp = stepUpFromQuery(query, config);
    // Built before anything goes into the session: a failed PAR request leaves no pending login.
    const { state, nonce, verifier, url } = await authorizationRequest(config, provider, configuration, silent, stepUp);

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
    // Its cookie is set for this request's host: noted when that is not baseUrl's (login-hosts.ts).
    hosts.noteLogin(req);
    debug('login started, returning to %s', returnTo);
    redirect(res, url.href);
  };
}

/** The one value of a query parameter; several (an array) count as none. */
function single(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name);
  return values.length === 1 ? values[0] : undefined;
}
