import type { ServerResponse } from 'node:http';
import type { SessionData } from 'express-session';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { oidcState, requireSession, saveSession, type OidcRequest } from '../session/express-session.js';
import type { StoredTransaction } from '../types.js';
import { isExpired, isWellFormedState, pendingLoginLifetimeMs, type PendingLogins } from './pending-logins.js';

/**
 * The pending logins that are still valid, oldest first, without the expired ones, and at most
 * `maxPendingLogins - 1` of them so that one more fits.
 */
function livePending(
  session: Partial<SessionData>,
  config: ResolvedConfig,
  now: number,
): [string, StoredTransaction][] {
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

/** The other tabs' pending logins, to carry over into the regenerated session. */
export function remainingTransactions(
  session: Partial<SessionData>,
  config: ResolvedConfig,
): Record<string, StoredTransaction> | undefined {
  const live = livePending(session, config, Date.now());
  return live.length ? Object.fromEntries(live) : undefined;
}

/** True when the session holds nothing of the app's: only its cookie and our pending logins. */
function isOnlyOurs(session: object): boolean {
  for (const key of Object.keys(session)) if (key !== 'cookie' && key !== 'oidc') return false;
  return true;
}

export class SessionPendingLogins implements PendingLogins {
  readonly mode = 'session';
  readonly #config: ResolvedConfig;

  constructor(config: ResolvedConfig) {
    this.#config = config;
  }

  async add(req: OidcRequest, _res: ServerResponse, state: string, tx: StoredTransaction): Promise<void> {
    const session = requireSession(req);
    addTransaction(session, state, tx, this.#config);
    if (!session.oidc?.login && isOnlyOurs(session)) {
      // A session that holds nothing but pending logins lives as long as they do, not for the
      // cookie's full age: abandoned logins do not fill the store for days.
      session.cookie.maxAge = pendingLoginLifetimeMs(this.#config);
    }
    // Saved before the redirect: the callback may arrive before a save at the end of this response.
    await saveSession(session);
  }

  has(req: OidcRequest, state: string): boolean {
    const all = req.session?.oidc?.tx;
    return !!all && isWellFormedState(state) && Object.hasOwn(all, state);
  }

  async take(req: OidcRequest, _res: ServerResponse, state: string): Promise<StoredTransaction | undefined> {
    const session = requireSession(req);
    const tx = takeTransaction(session, state);
    // Consumed and saved before any token request: the callback cannot be replayed.
    if (tx) await saveSession(session);
    return tx;
  }

  carryOver(req: OidcRequest): Record<string, StoredTransaction> | undefined {
    return req.session ? remainingTransactions(req.session, this.#config) : undefined;
  }
}
