import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { contextConfig } from './context.js';
import type { Next, OidcRequest } from './session/express-session.js';
import { splitUrl } from './util/url.js';

/** Options of {@link oidcErrorHandler}. Every one has a default. */
export interface OidcErrorHandlerOptions {
  /**
   * Logs a 5xx, once per error, with its status and the request's method and path (never its
   * query: a callback's carries the authorization code). 4xx are not logged: they are the
   * browser's or the user's doing (a 403 is an answer, not a fault). `false`: nothing is logged.
   * Default: `console.error`.
   */
  log?: ((message: string, err: unknown) => void) | false;
  /** The link "Home" on every page. Default `/`. */
  homePath?: string;
  /**
   * The link "Log in again" on the pages of a failed login (400 and 401 from the middleware).
   * Default: the login route of the `oidcLogin()` the request went through (under `baseUrl`'s
   * path), else `/login`;
   * `false`: no such link.
   */
  loginPath?: string | false;
  /**
   * Renders the HTML page (the whole document), to keep the app's own layout. Its fields are
   * plain text: escape them. Default: a small page of its own (no script, no external resource).
   */
  render?: (page: OidcErrorPage, req: IncomingMessage) => string;
}

/** What an error page says, for {@link OidcErrorHandlerOptions.render}. Plain text, not HTML. */
export interface OidcErrorPage {
  status: number;
  /** Short: "Access denied", "Page not found", "Something went wrong"... */
  title: string;
  /** The error's message when it is safe to show (`expose: true`), else a generic one. */
  message: string;
  /** An `OidcError`'s code (`ERR_OIDC_FORBIDDEN`...). */
  code?: string;
  homePath: string;
  /** Set for a failed login (400 and 401 from the middleware): where to log in again. */
  loginPath?: string;
}

/** The error handler {@link oidcErrorHandler} returns: mount it last, `app.use(oidcErrorHandler())`. */
export type OidcErrorHandler = (err: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void;

interface ErrorLike {
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  message?: unknown;
  code?: unknown;
  headers?: unknown;
}

const HEADINGS: Readonly<Record<number, string>> = {
  400: 'That did not work',
  401: 'You are not logged in',
  403: 'Access denied',
  404: 'Page not found',
  405: 'Method not allowed',
};

/** For errors whose message is not meant for the user (`expose` not true): by status. */
function genericMessage(status: number): string {
  if (status === 404) return 'There is no page at this address.';
  if (status === 503 || status === 504) return 'The service is unavailable. Try again in a moment.';
  if (status >= 500) return 'Something went wrong on our side. Try again in a moment.';
  return `The request could not be handled (${STATUS_CODES[status] ?? status}).`;
}

/**
 * An error handler for the end of the app: every error (the middleware's {@link OidcError}s and the
 * app's own) becomes a small HTML page for browsers, or JSON (`{ error, code, message }`) for API
 * clients, by the `Accept` header. The status is the error's `status` (or `statusCode`, 4xx/5xx),
 * else 500; the error's `headers` (`Retry-After`) are sent. The message is shown when the error
 * says it is safe to (`expose: true`, as every `OidcError` and http-errors' 4xx do), else a generic
 * one: never a stack trace. A 5xx is logged once; a 4xx is not.
 *
 * @example
 * app.use(oidcErrorHandler());
 */
export function oidcErrorHandler(options: OidcErrorHandlerOptions = {}): OidcErrorHandler {
  const log = options.log === undefined ? defaultLog : options.log;
  const homePath = options.homePath ?? '/';
  return (err, req, res, next) => {
    // Part of the response is out: nothing to render into; Express's own handler closes it.
    if (res.headersSent) return next(err);
    const e: ErrorLike = typeof err === 'object' && err !== null ? err : {};
    const status = statusOf(e);
    const message = e.expose === true && typeof e.message === 'string' ? e.message : genericMessage(status);
    const code = typeof e.code === 'string' && e.code.startsWith('ERR_OIDC_') ? e.code : undefined;
    if (status >= 500 && log) log(`${req.method} ${pathOf(req)} answered ${status}${code ? ` (${code})` : ''}`, err);

    setErrorHeaders(res, status, e.headers);
    if (wantsHtml(req)) {
      const view = pageView(status, message, code, homePath, options.loginPath ?? loginPathOf(req));
      // The default page allows nothing but its inline style; an app's own layout keeps its own policy.
      if (!options.render) res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
      send(req, res, 'text/html; charset=utf-8', (options.render ?? page)(view, req));
    } else {
      const error = (STATUS_CODES[status] ?? 'error').toLowerCase().replace(/[^a-z]+/g, '_');
      send(
        req,
        res,
        'application/json; charset=utf-8',
        JSON.stringify(code ? { error, code, message } : { error, message }),
      );
    }
  };
}

function setErrorHeaders(res: ServerResponse, status: number, errorHeaders: unknown): void {
  // What an earlier handler set for its own body (finalhandler does the same); cookies stay.
  for (const name of ['Content-Encoding', 'Content-Language', 'Content-Range']) res.removeHeader(name);
  if (typeof errorHeaders === 'object' && errorHeaders !== null) {
    for (const [name, value] of Object.entries(errorHeaders)) if (typeof value === 'string') res.setHeader(name, value);
  }
  res.statusCode = status;
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
}

function send(req: IncomingMessage, res: ServerResponse, type: string, body: string): void {
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** "Log in again" only after a failed login (the middleware's 400 and 401); a 403 offers home. */
function pageView(
  status: number,
  message: string,
  code: string | undefined,
  homePath: string,
  loginPath: string | false,
): OidcErrorPage {
  const offerLogin = code !== undefined && (status === 400 || status === 401) && loginPath !== false;
  const title =
    offerLogin && status === 400
      ? 'Login failed'
      : (HEADINGS[status] ?? (status >= 500 ? 'Something went wrong' : (STATUS_CODES[status] ?? 'Error')));
  const view: OidcErrorPage = { status, title, message, homePath };
  if (code !== undefined) view.code = code;
  if (offerLogin) view.loginPath = loginPath;
  return view;
}

function statusOf(e: ErrorLike): number {
  const status = e.status ?? e.statusCode;
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500;
}

/** A page load or a form post (the browser shows the answer), not fetch/XHR/an API client. */
function wantsHtml(req: IncomingMessage): boolean {
  if (req.headers['sec-fetch-mode'] === 'navigate') return true;
  return (req.headers.accept ?? '').includes('text/html');
}

function pathOf(req: OidcRequest): string {
  return splitUrl(req.originalUrl ?? req.url ?? '/').path;
}

/**
 * The login route of the `oidcLogin()` the request went through, as the browser requests it
 * (`baseUrl`'s path first, as requireAuth sends it there), else `/login`; false when it serves none.
 */
function loginPathOf(req: OidcRequest): string | false {
  const config = req.oidc === undefined ? undefined : contextConfig(req.oidc);
  if (config === undefined) return '/login';
  return config.loginPath === false ? false : config.loginUrlPath;
}

function defaultLog(message: string, err: unknown): void {
  console.error(`express-oidc-login: ${message}`, err);
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

function page({ status, title, message, homePath, loginPath }: OidcErrorPage): string {
  const links = [
    loginPath === undefined ? '' : `<a href="${escapeHtml(loginPath)}">Log in again</a>`,
    `<a href="${escapeHtml(homePath)}">Home</a>`,
  ].filter(Boolean);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${status} ${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.5rem}a{margin-right:1rem}small{color:#666}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
<p>${links.join('')}</p>
<p><small>Error ${status}</small></p>
</body>
</html>
`;
}
