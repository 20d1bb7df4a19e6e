import type { IncomingMessage } from 'node:http';
import createDebug from 'debug';
import type { OidcEvent, OidcEventHandlers } from '../options/hook-types.js';
import type { ResolvedConfig } from '../options/resolved-config.js';

const debug = createDebug('express-oidc-login:events');

/**
 * Calls an audit hook; what it throws, or the promise it returns rejects with, is logged and
 * ignored: an audit log never breaks a login, and an `async` hook that fails is not an unhandled
 * rejection (which ends the process).
 */
export function emit<K extends keyof OidcEventHandlers>(
  config: ResolvedConfig,
  name: K,
  event: Parameters<NonNullable<OidcEventHandlers[K]>>[0] & OidcEvent,
  req: IncomingMessage,
): void {
  debug('%s %o', name, { sub: event.sub, detail: event.detail, provider: config.providerName });
  const handler = config.on[name] as ((e: typeof event, r: IncomingMessage) => void) | undefined;
  if (!handler) return;
  const failed = (err: unknown) => debug('the "%s" hook threw: %s', name, (err as Error)?.message);
  try {
    const result: unknown = handler(
      config.providerName === undefined ? event : { ...event, provider: config.providerName },
      req,
    );
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function')
      (result as PromiseLike<unknown>).then(undefined, failed);
  } catch (err) {
    failed(err);
  }
}
