import type { IncomingMessage, ServerResponse } from 'node:http';

// What oidcLogin() is given to work with, beside plain values: a logger, the coordinator's Redis
// client and options, the session middleware of the `session` option.

/** Receives the start-up check's findings. */
export interface OidcLogger {
  warn(message: string): void;
  error(message: string): void;
}

/**
 * A Redis client the coordinator can send commands with: node-redis's `createClient()` (v4 or
 * later) fits as it is. For ioredis, pass `{ sendCommand: (args) => ioredis.call(...args) }`.
 */
export interface RedisCommandClient {
  sendCommand(args: string[]): Promise<unknown>;
}

/** The `coordinator` option. */
export interface CoordinatorOptions {
  /** The Redis client, or `false` not to use the session store's. Default: connect-redis's client, if the store is one. */
  redis?: RedisCommandClient | false;
  /** Prefix of the coordinator's Redis keys. Default `'oidc:'` (after connect-redis's own prefix when its client is used). */
  prefix?: string;
  /** How long one Redis command may take before the request fails with 503, in milliseconds. Default 2000. */
  timeout?: number;
}

/**
 * A session middleware such as express-session's: `(req, res, next)`, setting `req.session`
 * before it calls `next()`. Its parameters are compared both ways (as a method's are), so that
 * express-session's own type, which asks for Express's request, fits.
 */
export type SessionMiddleware = {
  bivariance(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void;
}['bivariance'];
