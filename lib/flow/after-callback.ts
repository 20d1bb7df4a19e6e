import { ServerResponse } from 'node:http';
import type { AfterCallback, AfterCallbackDetails } from '../options/hook-types.js';
import type { ResolvedConfig } from '../options/resolved-config.js';
import type { OidcRequest } from '../session/express-session.js';
import { isLoginShaped } from '../session/stored-login.js';
import type { StoredLogin } from '../types.js';
import { OidcError } from '../util/errors.js';

/**
 * The app's decision about a login (`afterCallback`): at the callback, and again whenever the
 * provider's claims are renewed (a refresh with a new ID token, `fetchUserInfo()`), so that a
 * refresh never brings back what the app took away (an `admin` group it does not trust) nor drops
 * what it added (roles from its own database). Re-running the decision is what the app means in
 * both cases; keeping a diff of its changes would not be, once the provider changes the claims.
 */

/** Where `req.oidc` keeps the request's response (context.ts), for the hook run at a refresh. */
export const RESPONSE = Symbol('express-oidc-login.response');

function responseOf(req: OidcRequest): ServerResponse {
  const kept = (req.oidc as { [RESPONSE]?: ServerResponse } | undefined)?.[RESPONSE];
  // Outside a request the middleware saw (never in practice): a response that goes nowhere.
  return kept ?? (req as { res?: ServerResponse }).res ?? new ServerResponse(req);
}

/**
 * Runs the app's `afterCallback`; a throw refuses the login with the hook's message (401 when the
 * error says 401, else 403: `ERR_OIDC_LOGIN_REFUSED`). The login's bookkeeping stays ours, whatever
 * the hook returned (a login it built anew, without it): its provider (the one that issued its
 * tokens), when it began (`absoluteDuration`), its last activity (`idleDuration`) and how many
 * refreshes its tokens came through (which of two copies is the later: see laterStoredLogin).
 */
export async function decideLogin(
  config: ResolvedConfig,
  req: OidcRequest,
  res: ServerResponse,
  login: StoredLogin,
  details: AfterCallbackDetails,
): Promise<StoredLogin> {
  // Read before the hook runs: it may change the login it is given in place.
  const { loggedInAt, activeAt, refreshes } = login;
  const decided = config.afterCallback ? await runAfterCallback(config.afterCallback, req, res, login, details) : login;
  // Refresh and logout must go to the provider that issued the tokens.
  if (config.providerName !== undefined) decided.provider = config.providerName;
  else delete decided.provider;
  decided.loggedInAt = loggedInAt;
  decided.activeAt = activeAt;
  if (refreshes !== undefined) decided.refreshes = refreshes;
  else delete decided.refreshes;
  return decided;
}

/**
 * After a refresh or a userinfo request: the login with the provider's new claims (`renewed`,
 * whose other fields are the stored login's) decided again by the app. The hook is given a copy it
 * may change; without a hook, `renewed` as it is.
 */
export function decideRenewedLogin(
  config: ResolvedConfig,
  req: OidcRequest,
  renewed: StoredLogin,
  reason: 'refresh' | 'userinfo',
): Promise<StoredLogin> {
  if (!config.afterCallback) return Promise.resolve(renewed);
  // The stored login is frozen: the hook gets a plain copy, as at the callback.
  return decideLogin(config, req, responseOf(req), structuredClone({ ...renewed }), { reason, appState: undefined });
}

async function runAfterCallback(
  hook: AfterCallback,
  req: OidcRequest,
  res: ServerResponse,
  login: StoredLogin,
  details: AfterCallbackDetails,
): Promise<StoredLogin> {
  let result: Awaited<ReturnType<AfterCallback>>;
  try {
    result = await hook(req, res, login, details);
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
      'express-oidc-login: afterCallback returned something that is not a login (it needs ' +
        '"claims" and "accessToken"). Return the login it was given, changed, or nothing.',
    );
  }
  return accepted as StoredLogin;
}
