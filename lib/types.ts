import type { IDToken } from 'openid-client';

export type { IDToken, TokenEndpointResponse } from 'openid-client';

/** A login in progress, stored in the session under its `state` until the callback takes it. */
export interface StoredTransaction {
  /** The `nonce` sent in the authorization request; the ID token must carry it back. */
  nonce: string;
  /** The PKCE `code_verifier`; never leaves the server. */
  verifier: string;
  /** A path on this app to return to after the login. */
  returnTo: string;
  /** When the login started, in milliseconds since the epoch. */
  createdAt: number;
}

/** What a successful login leaves in the session: plain JSON, safe for any session store. */
export interface StoredLogin {
  idToken: string;
  accessToken: string;
  refreshToken?: string;
  tokenType: string;
  /** When the access token expires, in seconds since the epoch. */
  expiresAt?: number;
  scope?: string;
  /** The verified ID token claims. */
  claims: IDToken;
}

/** The middleware's part of the session (`req.session.oidc`). */
export interface StoredOidcState {
  /** Pending logins keyed by `state`. */
  tx?: Record<string, StoredTransaction>;
  login?: StoredLogin;
}

/** `req.oidc`: the login of the current request, read lazily from the session. */
export interface OidcContext {
  /** True when the session holds a completed login. */
  isAuthenticated(): boolean;
  /** The verified ID token claims, or `undefined` when not logged in. */
  readonly claims: IDToken | undefined;
  readonly idToken: string | undefined;
  readonly accessToken: string | undefined;
  readonly refreshToken: string | undefined;
  /** When the access token expires, in seconds since the epoch. */
  readonly expiresAt: number | undefined;
  readonly scope: string | undefined;
  readonly tokenType: string | undefined;
}

/** `req.oidc` once {@link isAuthenticated} or `requireAuth()` said yes. */
export interface AuthenticatedOidcContext extends OidcContext {
  readonly claims: IDToken;
  readonly idToken: string;
  readonly accessToken: string;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `oidcLogin()` on every request that passes through it. */
      oidc?: OidcContext;
    }
  }
}

declare module 'express-session' {
  interface SessionData {
    oidc?: StoredOidcState;
  }
}
