import type { SessionData } from 'express-session';
import type { StoredLogin } from '../../lib/types.js';

/**
 * The login of a session as the store holds it, as data. The middleware stores a login as one
 * JSON string (lib/stored-login.ts), without the claims when they are its ID token's payload:
 * those are read here from the token (decoded here, not with the library's code). A plain object
 * (an older version's) is returned as it is.
 */
export function loginIn(data: unknown): StoredLogin | undefined {
  const login = (data as { oidc?: { login?: unknown } } | null | undefined)?.oidc?.login;
  if (login === undefined) return undefined;
  if (typeof login !== 'string') return login as StoredLogin;
  const parsed = JSON.parse(login) as StoredLogin;
  if (parsed.claims === undefined && typeof parsed.idToken === 'string') parsed.claims = JSON.parse(Buffer.from(parsed.idToken.split('.')[1]!, 'base64url').toString());
  return parsed;
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
  return { ...data, oidc: { ...data.oidc, login: (typeof raw === 'string' ? JSON.stringify(login) : login) as unknown as StoredLogin } };
}
