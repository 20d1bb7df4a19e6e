import type { ServerResponse } from 'node:http';

/**
 * Every redirect the middleware sends: 302, or 303 after a POST (the browser then GETs the
 * target); never 307, which would make the browser repeat a POST body at the target.
 */
export function redirect(res: ServerResponse, location: string, status: 302 | 303 = 302): void {
  res.statusCode = status;
  res.setHeader('Location', location);
  res.setHeader('Content-Length', '0');
  res.end();
}
