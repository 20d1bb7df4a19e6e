import type { ResolvedConfig } from '../options/resolved-config.js';
import type { OidcRequest } from '../session/express-session.js';
import type { ServerResponse } from 'node:http';
import type { StoredTransaction } from '../types.js';

/**
 * Pending logins: what `/login` keeps for the callback (state, nonce, PKCE verifier, returnTo,
 * createdAt, silent and step-up fields, and whatever else a transaction carries), behind one small
 * interface with two stores (createPendingLogins in pending-login-store.ts picks one):
 * - `CookiePendingLogins` (cookie-pending-logins.ts; `pendingLogins: 'cookie'`, the default): one
 *   sealed cookie per login, `Path` = the callback, so nothing reaches the session store before
 *   the login completes;
 * - `SessionPendingLogins` (session-pending-logins.ts; `pendingLogins: 'session'`): in the session,
 *   keyed by `state`.
 */
export interface PendingLogins {
  readonly mode: 'cookie' | 'session';
  /** Keeps a new pending login until its callback (before the redirect to the provider). */
  add(req: OidcRequest, res: ServerResponse, state: string, tx: StoredTransaction): Promise<void>;
  /** Whether the request carries a pending login for `state`, without taking or opening it. */
  has(req: OidcRequest, state: string): boolean;
  /**
   * Takes the pending login for `state`, so that it can never be used again: removed (and, in the
   * session, saved) before this resolves. Undefined when there is none; rejects with
   * `ERR_OIDC_TRANSACTION_INVALID` for a cookie that does not open.
   */
  take(req: OidcRequest, res: ServerResponse, state: string): Promise<StoredTransaction | undefined>;
  /** The other pending logins to carry over into the session regenerated at login. */
  carryOver(req: OidcRequest): Record<string, StoredTransaction> | undefined;
}

/** A state as authorizationRequest() makes it: 32 random bytes, base64url. Anything else is not ours. */
const STATE_FORMAT = /^[A-Za-z0-9_-]{43}$/;

export function isWellFormedState(state: string): boolean {
  return STATE_FORMAT.test(state);
}

/**
 * How long what carries a pending login lives, milliseconds: `transactionMaxAge` and a minute, so
 * that a late callback still brings it and is told "expired" (by the time sealed or stored in the
 * pending login), not "no login". The pre-login session, the sealed cookies and the browser
 * binding cookie all live this long.
 */
export function pendingLoginLifetimeMs(config: ResolvedConfig): number {
  return config.transactionMaxAge + 60_000;
}

export function isExpired(tx: StoredTransaction, config: ResolvedConfig, now: number): boolean {
  // A login started on another instance may carry a time a little ahead of this one's clock.
  return !(tx.createdAt <= now + config.clockTolerance * 1000 && now - tx.createdAt <= config.transactionMaxAge);
}
