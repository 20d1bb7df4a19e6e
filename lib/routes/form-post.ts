import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { OidcError } from '../util/errors.js';
import type { OidcRequest } from '../session/express-session.js';
import { readLimitedBody } from '../util/body.js';
import { escapeHtml } from '../util/html.js';

/**
 * `responseMode: 'form_post'` (OAuth 2.0 Form Post Response Mode): the provider answers with an
 * HTML form that the browser POSTs to the callback. That POST is cross-site, so the browser sends
 * no `SameSite=Lax` cookie with it: neither the session cookie nor the pending-login cookie. The
 * callback then answers once with a page of its own that POSTs the same fields again, from the
 * app's own origin: a same-site request, which carries the cookies. The login then completes in the
 * user's own session (regenerated, the old one destroyed) like any other, and no cookie needs
 * `SameSite=None`.
 */

/** The field the re-POST adds, so that it is never answered with the page again. */
export const RESUBMIT_FIELD = 'oidc_resubmit';
/** The largest callback body read (a code, a state, an `iss`, an error description...). */
export const MAX_CALLBACK_BODY = 32 * 1024;

const SCRIPT = 'document.forms[0].submit();';
const SCRIPT_HASH = `'sha256-${createHash('sha256').update(SCRIPT).digest('base64')}'`;

function invalidBody(status: number, reason: string): OidcError {
  return new OidcError(
    'ERR_OIDC_INVALID_CALLBACK',
    status,
    `The login response is invalid: ${reason} Start again from the login page.`,
  );
}

/**
 * The authorization response POSTed to the callback: `application/x-www-form-urlencoded` only, at
 * most {@link MAX_CALLBACK_BODY} bytes; taken from `req.body` when a body parser already read it.
 */
export async function readFormPost(req: OidcRequest): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw invalidBody(415, 'a POSTed login response must be application/x-www-form-urlencoded.');
  }
  // Already read by a body parser (express.urlencoded(), body-parser: v1 marks it with _body, v2
  // leaves the stream ended): its req.body, then.
  const r = req as OidcRequest & { body?: unknown; _body?: unknown };
  if (r._body === true || req.readableEnded) {
    if (typeof r.body === 'object' && r.body !== null) return fromParsedBody(r.body);
    throw invalidBody(400, 'its body was already read by other middleware.');
  }
  return new URLSearchParams(await readBody(req));
}

function tooLarge(): OidcError {
  // The rest of the body is not read; the connection closes after the answer.
  return new OidcError(
    'ERR_OIDC_INVALID_CALLBACK',
    413,
    'The login response is invalid: it is too large. Start again from the login page.',
    {
      headers: { Connection: 'close' },
    },
  );
}

function readBody(req: OidcRequest): Promise<string> {
  return readLimitedBody(req, MAX_CALLBACK_BODY, {
    tooLarge,
    unreadable: (err) =>
      new OidcError(
        'ERR_OIDC_INVALID_CALLBACK',
        400,
        'The login response could not be read. Start again from the login page.',
        { cause: err },
      ),
  });
}

/** `req.body` as form fields: strings, and arrays of strings for repeated fields (then refused as such). */
function fromParsedBody(body: unknown): URLSearchParams {
  const params = new URLSearchParams();
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw invalidBody(400, 'its body is not a form.');
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (typeof v !== 'string')
        throw invalidBody(400, `its field "${/^[a-z_]{1,32}$/.test(name) ? name : '?'}" is not a plain value.`);
      params.append(name, v);
    }
  }
  return params;
}

/**
 * Answers the provider's cross-site POST with a page that POSTs the same fields to `action` from
 * the app's own origin (script, or a button without JavaScript). The page's own Content-Security-
 * Policy replaces the app's for this response: only its one script, only a form to this origin.
 */
export function sendResubmitPage(req: OidcRequest, res: ServerResponse, action: string, params: URLSearchParams): void {
  const fields = [...params, [RESUBMIT_FIELD, '1']]
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name!)}" value="${escapeHtml(value!)}">`)
    .join('');
  const html =
    '<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>Signing in…</title></head>' +
    `<body><form method="post" action="${escapeHtml(action)}">${fields}` +
    '<noscript><p>JavaScript is off: press Continue to finish signing in.</p><button type="submit">Continue</button></noscript>' +
    `</form><script>${SCRIPT}</script></body></html>`;
  // A session the request brought nothing to (no cookie came with the cross-site POST) must not
  // answer with a new session cookie (saveUninitialized: true would), which would replace the
  // browser's own before the re-POST can send it.
  const session = req.session as (object & { cookie?: unknown }) | undefined;
  if (session && Object.keys(session).every((key) => key === 'cookie')) req.session = undefined;
  res.statusCode = 200;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader(
    'Content-Security-Policy',
    `default-src 'none'; script-src ${SCRIPT_HASH}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
  );
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Content-Length', Buffer.byteLength(html));
  res.end(html);
}
