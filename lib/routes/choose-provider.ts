import type { ServerResponse } from 'node:http';
import type { ProviderSet } from '../flow/provider-set.js';
import type { OidcRequest } from '../session/express-session.js';
import { safeReturnTo, splitUrl } from '../util/url.js';
import { redirect } from '../util/respond.js';
import { escapeHtml } from '../util/html.js';

/** What the chooser's links carry over from its own query: the login route checks each again. */
const KEPT = ['max_age', 'acr_values'] as const;

/** KEPT, and the parameters some provider forwards from its query (`authorizationParamsFromQuery`). */
function keptParams(providers: ProviderSet): readonly string[] {
  return [...new Set([...KEPT, ...providers.entries.flatMap((e) => e.config.authorizationParamsFromQuery)])];
}
const MAX_KEPT_LENGTH = 1024;

/**
 * `GET /login` with `providers`: to `defaultProvider`'s (or the only provider's) login route, the
 * query kept as it is; otherwise a small HTML page with one link per provider, each keeping a safe
 * `returnTo` (and a step-up's `max_age` / `acr_values`, and what `authorizationParamsFromQuery` lists). The page has no script, no style and no
 * input echoed unescaped, so it works under a strict Content-Security-Policy (it sends one itself
 * when the app has not).
 */
export function chooseProviderHandler(providers: ProviderSet) {
  const target = providers.defaultEntry;
  const keptNames = keptParams(providers);
  return async function chooseProvider(req: OidcRequest, res: ServerResponse): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    const { query } = splitUrl(req.url ?? '');
    if (target) {
      const path = target.config.loginUrlPath;
      redirect(res, query ? `${path}?${query}` : path);
      return;
    }
    const params = new URLSearchParams(query);
    const kept = new URLSearchParams();
    const returnTo = params.getAll('returnTo');
    const safe = returnTo.length === 1 ? safeReturnTo(returnTo[0]) : undefined;
    if (safe) kept.set('returnTo', safe);
    for (const name of keptNames) {
      const values = params.getAll(name);
      if (values.length === 1 && values[0]!.length <= MAX_KEPT_LENGTH) kept.set(name, values[0]!);
    }
    const search = kept.toString();
    const items = providers.entries
      .filter((e) => e.config.loginPath !== false)
      .map((e) => {
        const href = search ? `${e.config.loginUrlPath}?${search}` : e.config.loginUrlPath;
        return `<li><a href="${escapeHtml(href)}">Log in with ${escapeHtml(e.label)}</a></li>`;
      });
    const body =
      '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
      '<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>Log in</title>\n</head>\n' +
      `<body>\n<main>\n<h1>Log in</h1>\n<ul>\n${items.join('\n')}\n</ul>\n</main>\n</body>\n</html>\n`;
    res.statusCode = 200;
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (!res.hasHeader('Content-Security-Policy')) {
      res.setHeader(
        'Content-Security-Policy',
        "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      );
    }
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  };
}
