import type { IncomingMessage } from 'node:http';

/** What a refused body becomes: the route's own error, with its status and code. */
export interface BodyErrors {
  tooLarge(): Error;
  unreadable(cause: unknown): Error;
}

/**
 * Reads a request body as UTF-8, at most `limit` bytes: a larger declared `Content-Length` is
 * refused before anything is read, and a body that grows past the limit stops being buffered (the
 * rest is drained and discarded).
 */
export function readLimitedBody(req: IncomingMessage, limit: number, errors: BodyErrors): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(errors.tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.resume();
        reject(errors.tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (err: unknown): void => {
      cleanup();
      reject(errors.unreadable(err));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
