import type { IncomingMessage } from 'node:http';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { SETUP_LOG_INTERVAL_MS } from '../options/defaults.js';
import { isLoopbackHost } from '../options/values.js';
import { LogLimit } from '../util/log-limit.js';

/**
 * Logins started at another host than `baseUrl`'s: the app opened at `127.0.0.1` while `baseUrl`
 * says `localhost`. The pending login's cookie is then set for that host, the provider sends the
 * browser back to `baseUrl`'s callback, the browser does not send the cookie there, and the
 * callback fails with ERR_OIDC_MISSING_TRANSACTION, which alone does not say why.
 *
 * `/login` notes the last such host; a callback that finds no pending login while one was noted
 * within `transactionMaxAge`, and itself came to another host than that one, logs both hosts (once,
 * then at most once a minute) and names `baseUrl` in its message. Cookies go by host name, not
 * port, so host names are compared. Nothing is logged at `/login` itself, and a callback at the
 * noted host is not one of these: behind a proxy that rewrites the Host header, every request
 * comes to "another host" than baseUrl's, and those logins work.
 * One instance per provider of a middleware instance.
 */
export class LoginHosts {
  readonly #config: ResolvedConfig;
  /** The last host, other than baseUrl's, that a login was started at, and when. */
  #foreign: { host: string; at: number } | undefined;
  readonly #log = new LogLimit(SETUP_LOG_INTERVAL_MS);

  constructor(config: ResolvedConfig) {
    this.#config = config;
  }

  /** `/login`: notes the request's host when it is not baseUrl's. */
  noteLogin(req: IncomingMessage): void {
    // A browser always sends a valid Host: anything else is not a browser's login.
    const host = requestHost(req, this.#config.baseUrl);
    if (host !== undefined && hostname(host) !== this.#config.baseUrl.hostname)
      this.#foreign = { host, at: Date.now() };
  }

  /**
   * A callback found no pending login. When logins were started lately at another host: logs
   * both hosts and returns the sentence the error message adds (naming only `baseUrl`, and the
   * other host when it is this machine's: a Host header is the browser's to choose).
   */
  explainMissing(req: IncomingMessage): string | undefined {
    const foreign = this.#foreign;
    if (foreign === undefined || Date.now() - foreign.at > this.#config.transactionMaxAge) return undefined;
    const base = this.#config.baseUrl;
    const here = requestHost(req, base);
    if (here === undefined || hostname(here) === hostname(foreign.host)) return undefined;
    const logger = this.#config.logger;
    if (logger) {
      this.#log.log(
        (m) => logger.warn(m),
        `express-oidc-login: a login failed at the callback (${here}) with ` +
          `ERR_OIDC_MISSING_TRANSACTION, and logins were started at ${JSON.stringify(foreign.host)}, not at ` +
          `baseUrl's host ${JSON.stringify(base.host)}: the browser keeps the pending login's cookie for the ` +
          `host the login started at. Open the app at ${base.origin}, or set "baseUrl" to the address people open.`,
      );
    }
    const other = isLoopbackHost(hostname(foreign.host)) ? ` (such as ${foreign.host})` : '';
    return (
      `This app's address is ${base.origin}; a login started at another address${other} cannot finish here. ` +
      `Open ${base.origin} and log in again.`
    );
  }
}

/** A Host header that names a host: a name or IPv4 address, or an IPv6 one in brackets, and a port. */
const HOST_HEADER = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/** The host the request was sent to, as `URL.host` writes it (lower case, no default port). */
function requestHost(req: IncomingMessage, base: URL): string | undefined {
  const raw = req.headers.host;
  if (raw === undefined || !HOST_HEADER.test(raw)) return undefined;
  try {
    return new URL(`${base.protocol}//${raw}`).host;
  } catch {
    return undefined;
  }
}

/** The name part of a `URL.host` (without the port). */
function hostname(host: string): string {
  return new URL(`http://${host}`).hostname;
}
