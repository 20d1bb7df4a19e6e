const MAX_RETURN_TO = 2048;
const PLACEHOLDER_ORIGIN = 'http://return-to.invalid';

function isSafePath(value: string): boolean {
  return (
    value.startsWith('/') &&
    value[1] !== '/' &&
    value[1] !== '\\' &&
    // Backslashes become slashes in browsers' URL parsing; control characters (tab, CR, LF) are
    // stripped by them, which can turn "/\t/evil" into "//evil".
    // eslint-disable-next-line no-control-regex
    !/[\\\u0000-\u001f\u007f]/.test(value)
  );
}

/**
 * Returns `value` when it is a path on this app (`/x?y#z`), else `undefined`.
 * Refuses protocol-relative (`//evil`), backslash (`/\evil`), absolute (`https://evil`,
 * `javascript:`), encoded (`/%2F%2Fevil`, `%5Cevil`), control-character and over-long values,
 * and anything that is not a string (arrays from `?returnTo=a&returnTo=b`).
 */
export function safeReturnTo(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_RETURN_TO) return undefined;
  // Check every decoding layer: some servers and proxies decode a path once more before they
  // redirect, so "/%2F%2Fevil" must be refused, not only "//evil".
  let layer = value;
  for (let i = 0; i < 3; i++) {
    if (!isSafePath(layer)) return undefined;
    let decoded: string;
    try {
      decoded = decodeURIComponent(layer);
    } catch {
      return undefined;
    }
    if (decoded === layer) break;
    layer = decoded;
  }
  let parsed: URL;
  try {
    parsed = new URL(value, PLACEHOLDER_ORIGIN);
  } catch {
    return undefined;
  }
  if (parsed.origin !== PLACEHOLDER_ORIGIN) return undefined;
  const result = parsed.pathname + parsed.search + parsed.hash;
  return isSafePath(result) ? result : undefined;
}

/**
 * The callback's current URL for the code exchange: origin and path from the configured
 * `redirect_uri`, only the query from the request. Never the `Host` or `X-Forwarded-*` headers.
 */
export function callbackUrl(redirectUri: string, requestUrl: string): URL {
  const url = new URL(redirectUri);
  const q = requestUrl.indexOf('?');
  url.search = q === -1 ? '' : requestUrl.slice(q);
  return url;
}

/** The path and the raw query of a Node request URL, without allocating a URL object. */
export function splitUrl(requestUrl: string): { path: string; query: string } {
  const q = requestUrl.indexOf('?');
  return q === -1 ? { path: requestUrl, query: '' } : { path: requestUrl.slice(0, q), query: requestUrl.slice(q + 1) };
}
