import type { Provider } from './provider.js';

/**
 * Runs `use` (a refresh grant of this session: the login's own, or a token for another API) after
 * the session's previous one has ended. A provider that rotates refresh tokens answers a second
 * use of the old one with invalid_grant (and may revoke the grant): each use must start from the
 * refresh token the previous one left. In process only; across instances, the rotation grace of
 * `findRotated` in refresh.ts (and a lock in the shared store, where there is one) covers it.
 */
export function oneRefreshAtATime<T>(
  provider: Provider,
  sessionId: string | undefined,
  use: () => Promise<T>,
): Promise<T> {
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
