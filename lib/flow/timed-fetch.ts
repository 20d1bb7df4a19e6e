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

/** Statuses whose response has no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * `inner` with `ms` for the whole request, headers and body, as openid-client's own timeout had it:
 * the timer is cleared when the body has been read, has failed, or was cancelled. The body is passed
 * through as it comes, so a failure while it arrives reaches openid-client where it did before
 * (the same error, the same status), and a body openid-client does not want is still cancelled.
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
    if (response.body === null || NULL_BODY.has(response.status)) {
      limit.clear();
      return response;
    }
    const reader = response.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            limit.clear();
            controller.close();
          } else controller.enqueue(value);
        } catch (err) {
          limit.clear();
          controller.error(err);
        }
      },
      cancel(reason) {
        limit.clear();
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
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
