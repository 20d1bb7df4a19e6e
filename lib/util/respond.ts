import type { ServerResponse } from 'node:http';

/** A 302 (never 307: the browser must not repeat a POST body at the provider). */
export function redirect(res: ServerResponse, location: string): void {
  res.statusCode = 302;
  res.setHeader('Location', location);
  res.setHeader('Content-Length', '0');
  res.end();
}
