import type { IncomingMessage, ServerResponse } from 'node:http';

/* The test provider's HTTP plumbing: bodies in, answers out, OAuth errors and challenges. */

const MAX_BODY = 64 * 1024;

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  /** JSON, or a string sent as text/plain; undefined for no body. */
  body?: unknown;
}

export function send(res: ServerResponse, answer: Answer): void {
  const headers: Record<string, string> = { 'cache-control': 'no-store', pragma: 'no-cache', ...answer.headers };
  if (answer.body === undefined) {
    res.writeHead(answer.status, headers);
    res.end();
    return;
  }
  const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  headers['content-type'] ??= typeof answer.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
  res.writeHead(answer.status, headers);
  res.end(text);
}

export function oauthError(
  status: number,
  error: string,
  description: string,
  headers?: Record<string, string>,
): Answer {
  return { status, body: { error, error_description: description }, ...(headers && { headers }) };
}

/** A `WWW-Authenticate` challenge (RFC 6750 §3, RFC 9449 §7.1), its values cut to what a quoted string may hold. */
export function challenge(scheme: 'Bearer' | 'DPoP', params: Record<string, string>): string {
  const quoted = (value: string) => value.replace(/"/g, "'").replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, '');
  return `${scheme} ${Object.entries({ realm: 'test-provider', ...params })
    .map(([key, value]) => `${key}="${quoted(value)}"`)
    .join(', ')}`;
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The form parameters of a POST (or the query of a GET); a repeated parameter is an error. */
export function uniqueParams(params: URLSearchParams): URLSearchParams | string {
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (seen.has(key)) return key;
    seen.add(key);
  }
  return params;
}

/** RFC 6749 2.3.1: the client id and secret are form-urlencoded inside the Basic credentials. */
export function parseBasic(header: string): { id: string; secret: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  try {
    const unescape = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { id: unescape(decoded.slice(0, colon)), secret: unescape(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

/** The start of a response body, for error messages. */
export function excerpt(text: unknown): string {
  const s = typeof text === 'string' ? text : '';
  if (s === '') return '(empty)';
  return s.length > 400 ? `${s.slice(0, 400)}…` : s;
}
