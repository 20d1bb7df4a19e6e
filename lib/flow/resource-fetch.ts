import createDebug from 'debug';
import { isLoopbackTarget } from '../options/values.js';
import type { ResolvedConfig } from '../options/resolved-config.js';
import type { DPoPKey } from './dpop.js';
import { OidcError } from '../util/errors.js';
import type { Provider } from './provider.js';
import { getAccessToken } from './refresh.js';
import { getResourceToken } from './resource-tokens.js';
import type { ResourceOptions } from '../types.js';
import { requireSession, type OidcRequest } from '../session/express-session.js';
import { loginOf } from '../session/stored-login.js';

const debug = createDebug('express-oidc-login:fetch');

/** Seconds a caller should wait before retrying a resource server that cannot be reached. */
const RETRY_AFTER = '5';

/** RFC 9449 §9: `WWW-Authenticate: DPoP error="use_dpop_nonce"` (among other challenges). */
const NONCE_CHALLENGE = /(?:^|[\s,])DPoP\s+(?:[^]*?[\s,])?error\s*=\s*"?use_dpop_nonce"?/i;

function invalidArgument(message: string): TypeError {
  return Object.assign(new TypeError(`express-oidc-login: req.oidc.fetch(): ${message}`), {
    code: 'ERR_INVALID_ARG_VALUE',
  });
}

/**
 * The request URL: absolute, https (http to localhost / 127.x / [::1], or with
 * dangerouslyAllowInsecureHttp), no credentials.
 */
function targetUrl(input: string | URL, config: ResolvedConfig): URL {
  let url: URL;
  try {
    url = new URL(input instanceof URL ? input.href : String(input));
  } catch {
    throw invalidArgument('the URL must be absolute, such as https://api.example.com/orders.');
  }
  if (
    url.protocol !== 'https:' &&
    !(url.protocol === 'http:' && (isLoopbackTarget(url.hostname) || config.allowInsecureHttp))
  ) {
    throw invalidArgument(
      'the access token is sent over https only (http only to localhost, or with dangerouslyAllowInsecureHttp).',
    );
  }
  if (url.username || url.password) throw invalidArgument('the URL must not contain credentials.');
  return url;
}

/** Bodies fetch() can send twice (for a nonce retry); a stream can be read once only. */
function isReplayable(body: RequestInit['body']): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof FormData
  );
}

/**
 * `req.oidc.fetch(url, init)`: the access token (refreshed first when due), as a DPoP-bound token
 * with a fresh proof for a DPoP login, as a Bearer token otherwise. A resource server's
 * `use_dpop_nonce` challenge is answered once with the nonce it gave. The `Response` comes back
 * whatever its status. With `resource`, the token is that API's (see resource-tokens.ts).
 *
 * Not openid-client's `fetchProtectedResource()`: it sends through the provider's fetch (with
 * tls_client_auth, the client certificate and the provider's CA, to any API), throws on any
 * `WWW-Authenticate` challenge instead of returning the response, and takes no abort signal.
 */
export async function protectedFetch(
  req: OidcRequest,
  config: ResolvedConfig,
  provider: Provider,
  input: string | URL,
  options: RequestInit & ResourceOptions = {},
): Promise<Response> {
  const { resource, scope, ...init } = options;
  if (scope !== undefined && resource === undefined)
    throw invalidArgument('"scope" goes with "resource" (the API whose token to send).');
  const url = targetUrl(input, config);
  if (init.redirect !== undefined && init.redirect !== 'manual') {
    throw invalidArgument(
      'redirects are not followed (the token and its proof are for the URL given): leave "redirect" out.',
    );
  }
  const accessToken =
    resource === undefined
      ? await getAccessToken(req, config, provider)
      : await getResourceToken(req, config, provider, { resource, ...(scope !== undefined && { scope }) });
  // Read after getAccessToken(): a refresh replaces the token and the key it is bound to together.
  requireSession(req);
  const login = loginOf(req);
  if (!login || (resource === undefined && login.accessToken !== accessToken)) {
    throw new OidcError(
      'ERR_OIDC_UNAUTHENTICATED',
      401,
      'The login ended while its access token was being renewed. Log in again.',
    );
  }
  const key = login.dpop ? provider.dpopKeys.of(login.dpop) : undefined;
  const method = (init.method ?? 'GET').toUpperCase();
  const replayable = isReplayable(init.body);

  let response = await send(url, method, init, accessToken, key, config);
  if (
    key &&
    key.rememberNonce(url, response) &&
    response.status === 401 &&
    NONCE_CHALLENGE.test(response.headers.get('www-authenticate') ?? '')
  ) {
    if (replayable) {
      debug('the resource server asks for a DPoP nonce: sending the request again with it');
      await response.body?.cancel().catch(() => {});
      response = await send(url, method, init, accessToken, key, config);
      key.rememberNonce(url, response);
    } else {
      debug('the resource server asks for a DPoP nonce, but a streamed body cannot be sent twice');
    }
  }
  return response;
}

async function send(
  url: URL,
  method: string,
  init: RequestInit,
  accessToken: string,
  key: DPoPKey | undefined,
  config: ResolvedConfig,
): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.delete('dpop');
  if (key) {
    headers.set('authorization', `DPoP ${accessToken}`);
    headers.set('dpop', key.proof(method, url, accessToken));
  } else {
    headers.set('authorization', `Bearer ${accessToken}`);
  }
  // httpTimeout bounds the wait for the response's headers only: the timer is cleared once they
  // are in, so that the body, which the caller reads (or not) as it likes, is not cut off midway.
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new DOMException('The resource server did not answer in time.', 'TimeoutError')),
    config.httpTimeout,
  );
  const signal = init.signal ? AbortSignal.any([init.signal, timeout.signal]) : timeout.signal;
  try {
    return await fetch(url, {
      ...init,
      method,
      headers,
      redirect: 'manual',
      signal,
      ...(!isReplayable(init.body) && { duplex: 'half' }),
    } as RequestInit);
  } catch (err) {
    // The caller's own signal: its reason, as fetch() gives it.
    if (init.signal?.aborted) throw err;
    debug('request to %s failed: %s', url.origin, (err as Error)?.message);
    if (timeout.signal.aborted) {
      throw new OidcError(
        'ERR_OIDC_RESOURCE_TIMEOUT',
        504,
        'The resource server (API) did not answer in time. Try again in a moment.',
        {
          cause: err,
          headers: { 'Retry-After': RETRY_AFTER },
        },
      );
    }
    throw new OidcError(
      'ERR_OIDC_RESOURCE_UNREACHABLE',
      503,
      'The resource server (API) cannot be reached. Try again in a moment.',
      {
        cause: err,
        headers: { 'Retry-After': RETRY_AFTER },
      },
    );
  } finally {
    clearTimeout(timer);
  }
}
