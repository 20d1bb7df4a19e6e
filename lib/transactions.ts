import type { SessionData } from 'express-session';
import type { ResolvedConfig } from './config.js';
import { oidcState } from './session.js';
import type { StoredTransaction } from './types.js';

/** openid-client's randomState(): 32 random bytes, base64url. Anything else is not ours. */
const STATE_FORMAT = /^[A-Za-z0-9_-]{43}$/;

export function isWellFormedState(state: string): boolean {
  return STATE_FORMAT.test(state);
}

function isExpired(tx: StoredTransaction, config: ResolvedConfig, now: number): boolean {
  return !(tx.createdAt <= now && now - tx.createdAt <= config.transactionMaxAge);
}

/**
 * The pending logins that are still valid, oldest first, without the expired ones, and at most
 * `maxPendingLogins - 1` of them so that one more fits.
 */
function livePending(session: Partial<SessionData>, config: ResolvedConfig, now: number): [string, StoredTransaction][] {
  const tx = session.oidc?.tx;
  if (!tx) return [];
  return Object.entries(tx)
    .filter(([state, t]) => isWellFormedState(state) && !isExpired(t, config, now))
    .sort((a, b) => a[1].createdAt - b[1].createdAt);
}

/** Stores a new pending login under its `state`, dropping expired ones and the oldest beyond the cap. */
export function addTransaction(
  session: Partial<SessionData>,
  state: string,
  tx: StoredTransaction,
  config: ResolvedConfig,
): void {
  const live = livePending(session, config, tx.createdAt);
  const kept = live.slice(Math.max(0, live.length - (config.maxPendingLogins - 1)));
  oidcState(session).tx = Object.fromEntries([...kept, [state, tx]]);
}

/** Removes and returns the pending login for `state` (so it can never be used twice). */
export function takeTransaction(session: Partial<SessionData>, state: string): StoredTransaction | undefined {
  const all = session.oidc?.tx;
  // Keys are validated and looked up as own properties: "__proto__" or "constructor" find nothing.
  if (!all || !isWellFormedState(state) || !Object.hasOwn(all, state)) return undefined;
  const { [state]: tx, ...rest } = all;
  if (Object.keys(rest).length === 0) delete session.oidc!.tx;
  else session.oidc!.tx = rest;
  return tx;
}

export function transactionExpired(tx: StoredTransaction, config: ResolvedConfig): boolean {
  return isExpired(tx, config, Date.now());
}

/** The other tabs' pending logins, to carry over into the regenerated session. */
export function remainingTransactions(
  session: Partial<SessionData>,
  config: ResolvedConfig,
): Record<string, StoredTransaction> | undefined {
  const live = livePending(session, config, Date.now());
  return live.length ? Object.fromEntries(live) : undefined;
}
