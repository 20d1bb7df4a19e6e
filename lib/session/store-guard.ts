import type { Store } from 'express-session';
import { OidcError } from '../util/errors.js';
import { STORE_TIMEOUT_MS } from '../options/defaults.js';
import { storeError } from './express-session.js';

type Callback = (err?: unknown, value?: unknown) => void;

/** The store methods express-session calls per request, whose failure or hang would stall it. */
const GUARDED = ['get', 'set', 'destroy', 'touch'] as const;

export interface GuardSessionStoreOptions {
  /** How long one store call may take before the request fails with 503, in milliseconds. Default 2000. */
  timeout?: number;
}

/**
 * Makes a session store fail fast and fail closed: a call that errors or takes longer than
 * `timeout` ends the request with a 503 `ERR_OIDC_SESSION_STORE` (with `Retry-After`) instead of
 * a hanging request or a 500, and nothing is treated as logged out. Use it when the store is on the
 * network (Redis, a database). The store is changed in place and returned.
 *
 * @example
 * app.use(session({ store: guardSessionStore(new RedisStore({ client })), ... }));
 */
export function guardSessionStore<S extends Store>(store: S, options: GuardSessionStoreOptions = {}): S {
  const timeout = options.timeout ?? STORE_TIMEOUT_MS;
  if (typeof timeout !== 'number' || !(timeout > 0))
    throw new TypeError('guardSessionStore: "timeout" must be a number of milliseconds greater than 0.');
  const target = store as unknown as Record<string, unknown>;
  for (const method of GUARDED) {
    const original = target[method];
    if (typeof original !== 'function') continue;
    target[method] = function guarded(this: Store, ...args: unknown[]) {
      const last = args[args.length - 1];
      const cb: Callback | undefined = typeof last === 'function' ? (last as Callback) : undefined;
      const rest = cb ? args.slice(0, -1) : args;
      let done = false;
      const finish: Callback = (err, value) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        // A store guarded twice: the inner guard's error is passed on as it is.
        cb?.(err === undefined || err === null || err instanceof OidcError ? err : storeError(err), value);
      };
      const timer = setTimeout(
        () => finish(new Error(`session store ${method}() took longer than ${timeout} ms`)),
        timeout,
      );
      timer.unref?.();
      try {
        const result = (original as (...a: unknown[]) => unknown).call(this, ...rest, finish);
        // Promise-returning stores (connect-redis) also call the callback; a rejection without one is caught here.
        if (result && typeof (result as Promise<unknown>).catch === 'function')
          (result as Promise<unknown>).catch((err) => finish(err));
      } catch (err) {
        finish(err);
      }
    };
  }
  return store;
}
