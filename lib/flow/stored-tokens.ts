import type { StoredLogin } from '../types.js';
import { storeError, type OidcRequest } from '../session/express-session.js';
import { loginFromSession, sameUser } from '../session/stored-login.js';

/**
 * A login's tokens as the session store has them now, for the refreshes that share a session's
 * refresh token (refresh.ts, resource-tokens.ts): another instance or request may have rotated it.
 */

/**
 * After `invalid_grant`, the session store is read again at these delays (milliseconds, about
 * 0.75 s in all): another instance that used the same refresh token a moment earlier may still be
 * receiving or saving its new tokens. Only when none show up is the refresh token taken as revoked.
 */
const ROTATION_GRACE_DELAYS_MS = [0, 50, 100, 200, 400] as const;

/**
 * The parts of a login that a refresh replaces; the rest (`loggedInAt`, `user`, `data`...) stays.
 * The DPoP key travels with the tokens bound to it.
 */
export type TokenFields = Pick<
  StoredLogin,
  'idToken' | 'claims' | 'accessToken' | 'refreshToken' | 'tokenType' | 'expiresAt' | 'scope' | 'dpop' | 'refreshes'
>;

export function pickTokens(login: StoredLogin): TokenFields {
  const { idToken, claims, accessToken, refreshToken, tokenType, expiresAt, scope, dpop, refreshes } = login;
  return { idToken, claims, accessToken, refreshToken, tokenType, expiresAt, scope, dpop, refreshes };
}

/**
 * A login in the store that replaced `current`'s tokens (another instance or request refreshed); never
 * one through fewer refreshes than `current` (an older copy, written back late).
 */
export function isNewer(stored: StoredLogin, current: StoredLogin): boolean {
  return (
    sameUser(stored, current) &&
    stored.refreshToken !== current.refreshToken &&
    typeof stored.accessToken === 'string' &&
    (stored.refreshes ?? 0) >= (current.refreshes ?? 0)
  );
}

export type StoredState = { kind: 'unknown' } | { kind: 'gone' } | { kind: 'login'; login: StoredLogin };

/** The request's session as the store has it now (not as this request loaded it). */
export function readStored(req: OidcRequest): Promise<StoredState> {
  const store = req.sessionStore;
  const id = req.sessionID;
  if (!store || typeof store.get !== 'function' || !id) return Promise.resolve({ kind: 'unknown' });
  return new Promise((resolve, reject) => {
    store.get(id, (err, data) => {
      if (err) {
        reject(storeError(err));
        return;
      }
      // In the store's callback: what throws here must reject, not escape as an uncaught exception.
      try {
        const login = loginFromSession(data);
        resolve(login ? { kind: 'login', login } : { kind: 'gone' });
      } catch (thrown) {
        reject(thrown);
      }
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * After `invalid_grant`: did another instance sharing the session store rotate the refresh token
 * (its new tokens are, or are about to be, in the store)? Store errors reject (503): without the
 * store, a revoked token cannot be told from a rotated one, and the login is kept.
 */
export async function findRotated(req: OidcRequest, current: StoredLogin): Promise<StoredLogin | undefined> {
  for (const delay of ROTATION_GRACE_DELAYS_MS) {
    if (delay > 0) await sleep(delay);
    const stored = await readStored(req);
    if (stored.kind === 'unknown') return undefined;
    if (stored.kind === 'gone') return undefined;
    if (isNewer(stored.login, current)) return stored.login;
  }
  return undefined;
}
