import type { IncomingMessage } from 'node:http';
import type { Session, SessionData, Store } from 'express-session';
import { OidcError } from '../util/errors.js';
import type { OidcContext, StoredOidcState } from '../types.js';

/** A request as the handlers see it: Node's own, plus what express-session and we add. */
export type OidcRequest = IncomingMessage & {
  session?: Session & Partial<SessionData>;
  sessionID?: string;
  sessionStore?: Store;
  oidc?: OidcContext;
  originalUrl?: string;
};

export type Next = (err?: unknown) => void;

/** The session, or a 503: fail closed when express-session is missing or its store is down. */
export function requireSession(req: OidcRequest): Session & Partial<SessionData> {
  const session = req.session;
  if (!session || typeof session.save !== 'function') {
    throw new OidcError(
      'ERR_OIDC_SESSION_UNAVAILABLE',
      503,
      'Login needs a session, and req.session is missing: either express-session is not mounted before ' +
        'oidcLogin(), or its session store is unavailable. Did you forget app.use(session({ ... })) (or oidcLogin({ session }))?',
    );
  }
  return session;
}

/** The middleware's part of the session, created on first write. */
export function oidcState(session: Partial<SessionData>): StoredOidcState {
  return (session.oidc ??= {});
}

/**
 * A session store's failure, as every request answers it: 503, try again shortly. `message` says
 * more where the failure left the user somewhere worth naming (still logged in after a logout).
 */
export function storeError(
  cause: unknown,
  message = 'The session store is unavailable. Try again in a moment.',
): OidcError {
  return new OidcError('ERR_OIDC_SESSION_STORE', 503, message, { cause, headers: { 'Retry-After': '5' } });
}

export function saveSession(session: Session): Promise<void> {
  return new Promise((resolve, reject) => {
    session.save((err?: unknown) => (err ? reject(storeError(err)) : resolve()));
  });
}

/** Destroys the session in the store; a failure leaves the user logged in, and says so. */
export function destroySession(session: Session): Promise<void> {
  return new Promise((resolve, reject) => {
    session.destroy((err?: unknown) =>
      err
        ? reject(
            storeError(err, 'The session store is unavailable, so you are still logged in. Try again in a moment.'),
          )
        : resolve(),
    );
  });
}

/** Replaces `req.session` with a new one under a new id; the old one is destroyed in the store. */
export function regenerateSession(req: OidcRequest): Promise<Session & Partial<SessionData>> {
  return new Promise((resolve, reject) => {
    req.session!.regenerate((err?: unknown) => (err ? reject(storeError(err)) : resolve(req.session!)));
  });
}
