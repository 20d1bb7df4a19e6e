import * as client from 'openid-client';

/**
 * A deadline for one request: its signal aborts with a `TimeoutError` after `ms`, or with `outer`'s
 * reason when that aborts first. `clear()` disarms both once the request is done, so that a
 * finished request leaves no timer and no listener behind (`AbortSignal.timeout()` stays armed,
 * and fetch() keeps its listener on it, until it fires).
 */
export function deadline(
  ms: number,
  message: string,
  outer?: AbortSignal | null,
): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(message, 'TimeoutError')), ms);
  timer.unref?.();
  const follow = () => controller.abort(outer!.reason);
  if (outer?.aborted) follow();
  else outer?.addEventListener('abort', follow, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', follow);
    },
  };
}

/** The Response methods that read the body: the request is over when one of them settles. */
const BODY_READERS = ['arrayBuffer', 'blob', 'bytes', 'formData', 'json', 'text'] as const;

/**
 * `inner` with `ms` for the whole request, headers and body, as openid-client's own timeout had it:
 * the timer is cleared when the body has been read (or its reading failed). The response is the one
 * `inner` gave, its body untouched, so a failure while the body arrives reaches openid-client as
 * before. A body nobody reads (or one read through a clone) leaves the timer to run out: it is
 * unref'd, and aborting a finished request does nothing.
 */
export function timedFetch(inner: client.CustomFetch, ms: number): client.CustomFetch {
  return async (url, options) => {
    const limit = deadline(ms, 'The identity provider did not answer in time.', options.signal);
    let response: Response;
    try {
      response = await inner(url, { ...options, signal: limit.signal });
    } catch (err) {
      limit.clear();
      throw err;
    }
    if (response.body === null) {
      limit.clear();
      return response;
    }
    for (const name of BODY_READERS) {
      const read = (response as unknown as Record<string, unknown>)[name];
      if (typeof read !== 'function') continue;
      Object.defineProperty(response, name, {
        configurable: true,
        value: () => (read.call(response) as Promise<unknown>).finally(limit.clear),
      });
    }
    return response;
  };
}

/**
 * Every request `configuration` makes (`inner`: client authentication's own, else the global one)
 * bounded by `ms` with {@link timedFetch}. Its `timeout` is set to 0 so that openid-client arms no
 * `AbortSignal.timeout()` of its own, which would outlive every login by `httpTimeout`.
 */
export function timeRequests(configuration: client.Configuration, inner: client.CustomFetch | undefined, ms: number) {
  configuration[client.customFetch] = timedFetch(inner ?? globalFetch, ms);
  configuration.timeout = 0;
}

const globalFetch: client.CustomFetch = (url, options) => fetch(url, options as RequestInit);
