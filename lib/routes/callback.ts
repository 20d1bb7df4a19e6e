import { frontchannelLogoutActive } from './frontchannel-logout.js';
import type { ServerResponse } from 'node:http';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { OidcError } from '../util/errors.js';
import type { Provider } from '../flow/provider.js';
import { oidcState, requireSession, type OidcRequest } from '../session/express-session.js';
import type { PendingLogins } from '../flow/pending-logins.js';
import type { LoginHosts } from '../flow/login-hosts.js';
import { callbackUrl, splitUrl } from '../util/url.js';
import { readFormPost, RESUBMIT_FIELD, sendResubmitPage } from './form-post.js';
import { redirect } from '../util/respond.js';
import { emit } from '../flow/events.js';
import { saveLogin } from '../session/save-login.js';
import { requireCoordinator } from '../session/login-memory.js';
import {
  checkAuthorizationResponse,
  checkTransaction,
  exchangeCode,
  responseState,
  silentLoginDeclined,
} from '../flow/code-exchange.js';
import { loginFromTokens } from '../flow/login-result.js';
import { decideLogin } from '../flow/after-callback.js';
import { checkBrowserBinding } from '../flow/browser-binding.js';

const debug = createDebug('express-oidc-login:callback');

const NO_PENDING_LOGIN = 'This login cannot be completed: no login in progress matches it.';
const USUAL_CAUSES =
  'Start again from the login page. ' +
  'Usual causes: the login was started in another browser, its cookie was not sent back (a Secure cookie over http, ' +
  'or SameSite=Strict), baseUrl names another host than the one in the address bar, the ' +
  'session store lost the session, ' +
  'the login link was already used, or the login took too long.';

/** A state is remembered as used as long as its pending login could still be finished. */
function consumedStateTtl(config: ResolvedConfig): number {
  return config.transactionMaxAge + config.clockTolerance * 1000;
}

/** No pending login for this callback; `why`, when known, replaces the usual causes. */
function missingTransaction(why?: string): OidcError {
  return new OidcError('ERR_OIDC_MISSING_TRANSACTION', 400, `${NO_PENDING_LOGIN} ${why ?? USUAL_CAUSES}`);
}

/**
 * `GET /callback` (and `POST /callback` with `responseMode: 'form_post'`): finishes a login. Takes
 * (and deletes) the transaction for the returned `state`, exchanges the code, validates the
 * tokens, regenerates the session id, stores the login and sends the browser to `returnTo`.
 */
export function callbackHandler(config: ResolvedConfig, provider: Provider, pending: PendingLogins, hosts: LoginHosts) {
  // States whose code exchange is running in this process: a double-clicked callback exchanges once.
  const inFlight = new Set<string>();
  // Where the form_post re-POST goes: the callback as the browser sees it.
  const callbackPath = config.redirectPath;

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
    const params = await authorizationResponse(req, posted);
    const resubmitted = posted && params.has(RESUBMIT_FIELD);
    params.delete(RESUBMIT_FIELD);
    const state = responseState(params);
    if (posted && !resubmitted && !pending.has(req, state)) {
      // The provider's cross-site POST came without the SameSite=Lax cookies: POST it again from
      // this origin (see form-post.ts). Nothing is taken or written before that.
      debug("form_post without the pending login's cookie: posting it again from this origin");
      sendResubmitPage(req, res, callbackPath, params);
      return;
    }
    if (inFlight.has(state)) throw missingTransaction();

    inFlight.add(state);
    try {
      // Taken (and, in the session, saved) before any token request: the callback cannot be replayed.
      const tx = await pending.take(req, res, state);
      if (!tx) {
        // Opened at 127.0.0.1 while baseUrl says localhost? Then the cookie stayed there.
        if (!session.oidc?.login) throw missingTransaction(hosts.explainMissing(req));
        // A stale callback (the back button) for a user who is logged in already.
        debug('no transaction for this state, but logged in: going home');
        return redirect(res, config.defaultReturnTo);
      }
      checkBrowserBinding(req, tx, config);
      // Once across instances too: the same callback sent to two instances (a double click behind
      // a load balancer) opens the same cookie, or loads the same session, on both.
      if (!(await requireCoordinator(req).consumeOnce(`state:${state}`, consumedStateTtl(config))))
        throw missingTransaction();
      checkTransaction(tx, config);
      const configuration = await provider.getConfiguration();
      const metadata = provider.metadata(configuration);
      let issParam: string | undefined;
      try {
        issParam = checkAuthorizationResponse(params, metadata);
      } catch (err) {
        if (!silentLoginDeclined(tx, err)) throw err;
        // A silent login found no session at the provider: carry on, not logged in, and do not
        // try again in this session (no loop).
        debug('silent login: %s', err.error);
        oidcState(session).silentTried = true;
        return redirect(res, tx.returnTo);
      }

      const currentUrl = callbackUrl(config.redirectUri, posted ? `?${params}` : (req.url ?? ''));
      const exchanged = await exchangeCode(config, provider, configuration, tx, state, currentUrl, issParam);
      let login = await loginFromTokens(config, provider, configuration, tx, exchanged);
      const claims = login.claims;
      login = await decideLogin(config, req, res, login, { reason: 'login', appState: tx.appState });

      // Indexed for logout whenever the back-channel route is mounted: providers send logout tokens
      // without saying so in their metadata (Glewlwyd, LemonLDAP::NG), and one that arrives at
      // another instance finds the session through the index only. Front-channel logout uses the
      // same index when it acts.
      const index = config.backchannelLogoutPath !== false || frontchannelLogoutActive(config, metadata);
      // A new session id at login (no session fixation); other tabs' pending logins come along.
      await saveLogin(req, res, config, login, pending.carryOver(req), index);
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

/** The authorization response: with form_post in the body (the query is not looked at), else in the query. */
async function authorizationResponse(req: OidcRequest, posted: boolean): Promise<URLSearchParams> {
  return posted ? readFormPost(req) : new URLSearchParams(splitUrl(req.url ?? '').query);
}
