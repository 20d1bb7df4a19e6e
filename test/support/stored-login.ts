import type { SessionData } from 'express-session';
import type { StoredLogin } from '../../lib/types.js';

/**
 * The login of a session as the store holds it, as data. The middleware stores a login as one
 * JSON string (lib/session/stored-login.ts), with `"claims":"idToken"` when they are its ID token's
 * payload: those are read here from the token (decoded here, not with the library's code). A plain object
 * (an older version's) is returned as it is.
 */
export function loginIn(data: unknown): StoredLogin | undefined {
  const login = (data as { oidc?: { login?: unknown } } | null | undefined)?.oidc?.login;
  if (login === undefined) return undefined;
  if (typeof login !== 'string') return login as StoredLogin;
  const parsed = JSON.parse(login) as StoredLogin;
  if ((parsed.claims as unknown) === 'idToken') parsed.claims = tokenPayload(parsed.idToken!) as StoredLogin['claims'];
  return parsed;
}

/** A JWT's payload, decoded here (not with the library's code). */
export function tokenPayload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
}

/** A stored session with its login as data (see {@link loginIn}). */
export function decoded<T extends Partial<SessionData> | undefined>(data: T): T {
  if (!data?.oidc?.login) return data;
  return { ...data, oidc: { ...data.oidc, login: loginIn(data) } };
}

/**
 * The session `data` with its login changed by `patch`, stored back the way it was found (a JSON
 * string, or an object).
 */
export function patchedLogin(data: Partial<SessionData>, patch: (login: StoredLogin) => void): Partial<SessionData> {
  const raw = (data.oidc as { login?: unknown } | undefined)?.login;
  const login = loginIn(data);
  if (!login) throw new Error('no login in this session');
  patch(login);
  if (typeof raw !== 'string') return { ...data, oidc: { ...data.oidc, login } };
  // Stored as the middleware stores it: claims that are the ID token's payload as "idToken".
  const sameAsToken =
    typeof login.idToken === 'string' && JSON.stringify(login.claims) === JSON.stringify(tokenPayload(login.idToken));
  const stored = sameAsToken ? { ...login, claims: 'idToken' } : login;
  return { ...data, oidc: { ...data.oidc, login: JSON.stringify(stored) as unknown as StoredLogin } };
}
