import type { ResolvedConfig } from '../options/resolved-config.js';
import type { LockOptions } from '../session/coordinator.js';
import type { OidcRequest } from '../session/express-session.js';
import { requireCoordinator } from '../session/login-memory.js';
import type { Provider } from './provider.js';

/** The refresh lock lives this much longer than its provider requests: the store read and save (see refreshLock). */
const REFRESH_LOCK_MARGIN_MS = 2000;

/**
 * Runs `use` as the session's one use of its refresh token: after the previous one in this process
 * ({@link oneRefreshAtATime}), under the session's lock across instances (Redis; in process
 * without it). The login's refresh (refresh.ts) and tokens for other APIs (resource-tokens.ts)
 * both go through here, so that they share one lock key.
 */
export function underRefreshLock<T>(
  req: OidcRequest,
  config: ResolvedConfig,
  provider: Provider,
  use: () => Promise<T>,
): Promise<T> {
  return oneRefreshAtATime(provider, req.sessionID, async () => {
    const release = await requireCoordinator(req).lock(`refresh:${req.sessionID ?? ''}`, refreshLock(config));
    try {
      return await use();
    } finally {
      await release();
    }
  });
}

/**
 * Runs `use` (a refresh grant of this session: the login's own, or a token for another API) after
 * the session's previous one has ended. A provider that rotates refresh tokens answers a second
 * use of the old one with invalid_grant (and may revoke the grant): each use must start from the
 * refresh token the previous one left. In process only; across instances, the rotation grace of
 * `findRotated` in refresh.ts (and a lock in the shared store, where there is one) covers it.
 */
function oneRefreshAtATime<T>(provider: Provider, sessionId: string | undefined, use: () => Promise<T>): Promise<T> {
  if (sessionId === undefined) return use();
  const uses = provider.refreshTokenUses;
  const previous = uses.get(sessionId);
  const run = previous === undefined ? use() : previous.then(use, use);
  const tail = run.catch(() => {});
  uses.set(sessionId, tail);
  void tail.then(() => {
    if (uses.get(sessionId) === tail) uses.delete(sessionId);
  });
  return run;
}

/** How long the refresh lock holds and is waited for (see REFRESH_LOCK_MARGIN_MS). */
function refreshLock(config: ResolvedConfig): LockOptions {
  // Discovery or the JWKS, the token request and, after a rotation race (findRotated), a second
  // token request, each up to httpTimeout; then the save. A lock that expired under a holder still
  // at work would let another instance spend the rotated refresh token, so a holder also renews it
  // while it works (redis-coordinator.ts): this is how long it outlives a holder that crashed.
  const ttlMs = 3 * config.httpTimeout + REFRESH_LOCK_MARGIN_MS;
  // A waiter outwaits a holder that crashed: its lock has expired by then.
  return { ttlMs, waitMs: ttlMs + REFRESH_LOCK_MARGIN_MS };
}
