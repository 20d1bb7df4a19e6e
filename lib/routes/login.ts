import type { ServerResponse } from 'node:http';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/resolved-config.js';
import type { Provider } from '../flow/provider.js';
import { authorizationRequest, type LoginAsks } from '../flow/authorization-request.js';
import { oidcState, requireSession, type OidcRequest } from '../session/express-session.js';
import type { PendingLogins } from '../flow/pending-logins.js';
import type { LoginHosts } from '../flow/login-hosts.js';
import { safeReturnTo, splitUrl } from '../util/url.js';
import { stepUpFromQuery } from '../flow/step-up.js';
import { appStateFromApp, paramsFromApp, paramsFromQuery } from '../flow/login-params.js';
import type { ProviderSet } from '../flow/provider-set.js';
import { redirect } from '../util/respond.js';
import type { JsonValue, LoginOptions } from '../types.js';
import { bindToBrowser } from '../flow/browser-binding.js';

const debug = createDebug('express-oidc-login:login');

/** One login to start: where to return, what to ask, the app's data for the callback. */
export interface LoginRequest extends LoginAsks {
  returnTo: string;
  appState?: JsonValue;
}

/** Starts a login at one provider: the route's and `req.oidc.login()`'s common part. */
export type StartLogin = (req: OidcRequest, res: ServerResponse, request: LoginRequest) => Promise<void>;

/**
 * `GET /login?returnTo=/path`: starts a login. A new transaction (state, nonce, PKCE verifier,
 * returnTo) is kept for the callback (a sealed cookie, or the session, saved: see
 * pending-logins.ts), and the browser is sent to the provider's authorization endpoint.
 * `&max_age=...&acr_values=...` (step-up, from `requireAuth({ maxAge, acrValues })`) ask for a
 * recent or a stronger login; see step-up.ts. The parameters `authorizationParamsFromQuery`
 * lists are forwarded (login-params.ts).
 */
export function loginHandler(config: ResolvedConfig, start: StartLogin) {
  return async function login(req: OidcRequest, res: ServerResponse): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    // Read only (in cookie mode nothing is written to it), but the callback will need it: a
    // missing express-session fails here, before the user types a password at the provider.
    const session = requireSession(req);
    const query = new URLSearchParams(splitUrl(req.url ?? '').query);
    const returnTo = safeReturnTo(single(query, 'returnTo')) ?? config.defaultReturnTo;
    // A silent login (prompt=none) is tried at most once per session, so it can never loop.
    const silent = config.silentLogin && single(query, 'silent') === '1' && !session.oidc?.silentTried;
    // Step-up (requireAuth({ maxAge, acrValues })): max_age / acr_values from the query, validated
    // and only ever stricter; the transaction keeps them for the callback's checks.
    const stepUp = stepUpFromQuery(query, config);
    const params = paramsFromQuery(query, config);
    await start(req, res, { returnTo, silent, stepUp, params });
  };
}

/** The login of `request` at `provider`: the transaction kept, then the redirect to the provider. */
export function loginStarter(
  config: ResolvedConfig,
  provider: Provider,
  pending: PendingLogins,
  hosts: LoginHosts,
): StartLogin {
  return async function startLogin(req: OidcRequest, res: ServerResponse, request: LoginRequest): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    const session = requireSession(req);
    const configuration = await provider.getConfiguration();
    const { returnTo, silent, stepUp, appState } = request;
    // Built before anything goes into the session: a failed PAR request leaves no pending login.
    const { state, nonce, verifier, scope, url } = await authorizationRequest(config, provider, configuration, request);

    const named = config.providerName !== undefined && { provider: config.providerName };
    const browser = bindToBrowser(req, res, config);
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
      ...(scope !== config.scope && { scope }),
      ...(appState !== undefined && { appState }),
      browser,
    });
    // Its cookie is set for this request's host: noted when that is not baseUrl's (login-hosts.ts).
    hosts.noteLogin(req);
    debug('login started, returning to %s', returnTo);
    redirect(res, url.href);
  };
}

/**
 * `req.oidc.login(options)`: a login started by the app's code (a "Sign up" button's route, a
 * hook), at `options.provider`, else the default (or only) provider. The options are the app's,
 * so a mistake in them is a `TypeError`; an unsafe `returnTo` falls back to `defaultReturnTo`, as
 * on the login route (it may come from the browser).
 */
export function appLogin(providers: ProviderSet, starters: ReadonlyMap<string, StartLogin>) {
  return async function login(req: OidcRequest, res: ServerResponse, options: LoginOptions = {}): Promise<void> {
    const entry =
      options.provider === undefined
        ? providers.defaultEntry
        : providers.entries.find((e) => e.name === options.provider);
    const start = entry && starters.get(entry.name);
    if (!entry || !start) {
      const names = providers.entries.map((e) => e.name).join(', ');
      throw Object.assign(
        new TypeError(
          options.provider === undefined
            ? `express-oidc-login: req.oidc.login(): several providers and no "defaultProvider": say which, { provider: '<name>' } (${names}).`
            : `express-oidc-login: req.oidc.login(): no provider is named ${JSON.stringify(options.provider)} (${names}).`,
        ),
        { code: 'ERR_INVALID_ARG_VALUE' },
      );
    }
    const config = entry.config;
    const { params, stepUp } = paramsFromApp(options.authorizationParams, config);
    const appState = appStateFromApp(options.appState);
    const returnTo = safeReturnTo(options.returnTo) ?? config.defaultReturnTo;
    return start(req, res, {
      returnTo,
      silent: false,
      stepUp,
      params,
      ...(appState !== undefined && { appState }),
    });
  };
}

/** The one value of a query parameter; several (an array) count as none. */
function single(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name);
  return values.length === 1 ? values[0] : undefined;
}
