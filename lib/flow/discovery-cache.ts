import type * as client from 'openid-client';
import createDebug from 'debug';
import type { OidcLogger } from '../options/dependency-types.js';

const debug = createDebug('express-oidc-login:provider');

/** After a failed refresh of the metadata, the next try is this many seconds later (at the next use after it). */
export const DISCOVERY_RETRY_SECONDS = 60;

/**
 * One provider's discovered Configuration: discovered on first use (a failure is not kept: the next
 * use tries again), then, `maxAge` seconds later, fetched again in the background
 * (stale-while-revalidate): the use that finds it stale gets it as it is, one request fetches the
 * new one, which replaces it once `discover` resolves (the start-up check passed); a failure keeps
 * the last good one and is retried {@link DISCOVERY_RETRY_SECONDS} later. Lazy: a use starts the
 * refresh, never a timer, so nothing keeps the process alive and an idle app asks nothing.
 */
export class DiscoveryCache {
  /** `again`: a refresh in the background, whose failure this cache reports itself (once, as a warning). */
  readonly #discover: (again: boolean) => Promise<client.Configuration>;
  /** Seconds, or false (discovered once). */
  readonly #maxAge: number | false;
  readonly #logger: OidcLogger | undefined;
  /** Told when new metadata replaces the old. */
  readonly #replaced: (old: client.Configuration, fresh: client.Configuration) => void;
  #configuration: Promise<client.Configuration> | undefined;
  /** When the metadata is due to be fetched again (ms since the epoch). */
  #staleAt = Infinity;
  #revalidation: Promise<void> | undefined;

  constructor(options: {
    discover: (again: boolean) => Promise<client.Configuration>;
    maxAge: number | false;
    logger: OidcLogger | undefined;
    replaced: (old: client.Configuration, fresh: client.Configuration) => void;
    /** A Configuration the app gave: used as it is, never fetched again. */
    given?: client.Configuration | undefined;
  }) {
    this.#discover = options.discover;
    this.#maxAge = options.given === undefined ? options.maxAge : false;
    this.#logger = options.logger;
    this.#replaced = options.replaced;
    if (options.given !== undefined) this.#configuration = Promise.resolve(options.given);
  }

  get(): Promise<client.Configuration> {
    if (this.#configuration === undefined) {
      this.#configuration = this.#discover(false).then(
        (configuration) => {
          this.#staleAt = this.#nextDiscovery();
          return configuration;
        },
        (err: unknown) => {
          // Forget the failure so that the next request tries again: an app started while the
          // provider is down works once it is up, without a restart.
          this.#configuration = undefined;
          throw err;
        },
      );
    } else if (Date.now() >= this.#staleAt) {
      this.#revalidate();
    }
    return this.#configuration;
  }

  /** The metadata being fetched again, if it is (for tests and diagnostics). */
  get revalidation(): Promise<void> | undefined {
    return this.#revalidation;
  }

  #nextDiscovery(): number {
    return this.#maxAge === false ? Infinity : Date.now() + this.#maxAge * 1000;
  }

  #revalidate(): void {
    if (this.#revalidation !== undefined) return;
    const previous = this.#configuration!;
    this.#revalidation = (async () => {
      try {
        const [old, fresh] = await Promise.all([previous, this.#discover(true)]);
        this.#configuration = Promise.resolve(fresh);
        this.#staleAt = this.#nextDiscovery();
        this.#replaced(old, fresh);
      } catch (err) {
        this.#staleAt = Date.now() + DISCOVERY_RETRY_SECONDS * 1000;
        debug('fetching the metadata again failed, keeping the last good: %s', (err as Error)?.message);
        this.#logger?.warn(
          `express-oidc-login: fetching the identity provider's metadata again failed (${(err as Error)?.message}); ` +
            `the last good metadata stays in use, and it is tried again in ${DISCOVERY_RETRY_SECONDS} s.`,
        );
      } finally {
        this.#revalidation = undefined;
      }
    })();
  }
}
