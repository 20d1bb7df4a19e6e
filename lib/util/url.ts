/**
 * The longest `returnTo` accepted, in characters, before and after normalisation (normalising can
 * triple a value: `<` becomes `%3C`). It bounds what a pending login carries (a sealed cookie must
 * stay far below the ~4 KB browsers keep). Listed with the other limits in options/defaults.ts.
 */
export const MAX_RETURN_TO_LENGTH = 2048;
/** Some servers and proxies decode a path again before they redirect: this many layers are checked. */
const DECODING_LAYERS = 3;
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

/** `value` resolved as a browser would (dot segments, `%2e`, percent-encoding): the path, query and fragment; `undefined` off this origin. */
function normalisePath(value: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(value, PLACEHOLDER_ORIGIN);
  } catch {
    return undefined;
  }
  if (parsed.origin !== PLACEHOLDER_ORIGIN) return undefined;
  return parsed.pathname + parsed.search + parsed.hash;
}

/**
 * Every decoding layer of `value` is a path on this origin, also once resolved: a proxy that
 * decodes `/x/%252e%252e/%252F%252Fevil` twice must not find `//evil` (at most {@link DECODING_LAYERS}).
 */
function safeAtEveryLayer(value: string): boolean {
  let layer = value;
  for (let i = 0; i < DECODING_LAYERS; i++) {
    if (!isSafePath(layer)) return false;
    const resolved = normalisePath(layer);
    if (resolved === undefined || !isSafePath(resolved)) return false;
    let decoded: string;
    try {
      decoded = decodeURIComponent(layer);
    } catch {
      return false;
    }
    if (decoded === layer) return true;
    layer = decoded;
  }
  // Still encoded after that many layers: not a path anyone links to.
  return false;
}

/**
 * Returns `value`, normalised, when it is a path on this app (`/x?y#z`), else `undefined`.
 * It is normalised first (dot segments, `%2e`, characters a URL cannot hold), and every check runs
 * on the normalised value, which is the one used: protocol-relative (`//evil`), backslash
 * (`/\evil`), absolute (`https://evil`, `javascript:`), encoded at any of three decoding layers
 * (`/%2F%2Fevil`, `/./%2F%2Fevil`, `%5Cevil`), control-character and over-long values (longer than
 * {@link MAX_RETURN_TO_LENGTH} before or after normalising) are refused, and anything that is not
 * a string (arrays from `?returnTo=a&returnTo=b`).
 */
export function safeReturnTo(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_RETURN_TO_LENGTH) return undefined;
  // The raw value too: the URL parser strips tabs and newlines and turns backslashes into slashes.
  if (!isSafePath(value)) return undefined;
  const normalised = normalisePath(value);
  if (normalised === undefined || normalised.length > MAX_RETURN_TO_LENGTH) return undefined;
  return safeAtEveryLayer(normalised) ? normalised : undefined;
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
