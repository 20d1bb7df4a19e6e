import { createHash, randomBytes } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { REDIRECT_URI as DEFAULT_REDIRECT_URI } from './provider.js';
import { readBody } from './net.js';

/**
 * A small fake GitHub (node:http on a random loopback port) that behaves like github.com's OAuth
 * app endpoints, quirks included:
 * - `GET /login/oauth/authorize` logs `user` in at once and redirects back with `code` and `state`
 *   (no `iss`), after checking `client_id` and the exact `redirect_uri`;
 * - `POST /login/oauth/access_token` checks the client credentials (form body, as GitHub documents;
 *   Basic too), `redirect_uri`, PKCE S256 and single-use codes, and answers its errors with HTTP
 *   200 and `{ error }` (`bad_verification_code`, `incorrect_client_credentials`,
 *   `bad_refresh_token`); without `Accept: application/json` it answers form-encoded, as GitHub does;
 *   the granted `scope` is comma-separated; with `refreshTokens` it issues expiring access tokens
 *   and rotating refresh tokens (a GitHub App with token expiration);
 * - `GET /user` and `GET /user/emails` (also under `/api/v3`, as GitHub Enterprise Server) need the
 *   token (`Bearer` or `token`) and a `User-Agent` (403 without, as GitHub's API);
 * - `POST /revoke`: an RFC 7009 revocation endpoint (not GitHub's API: for the logout tests);
 * - `/.well-known/oauth-authorization-server`: RFC 8414 metadata, when `metadata` is set.
 * `fail.*` switches make an endpoint answer a status, garbage, or nothing.
 */

export const GH_CLIENT_ID = 'Iv1.fakegithubclient';
export const GH_CLIENT_SECRET = 'fake-github-client-secret-0123456789abcdef';

/** The shape of GitHub's `GET /user` (the fields the preset reads, and some it does not). */
export interface GitHubUser {
  id: unknown;
  login?: unknown;
  name?: unknown;
  email?: unknown;
  avatar_url?: unknown;
  html_url?: unknown;
  [field: string]: unknown;
}

export interface GitHubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
  visibility: 'public' | 'private' | null;
}

export const OCTOCAT: GitHubUser = {
  login: 'octocat',
  id: 583231,
  node_id: 'MDQ6VXNlcjU4MzIzMQ==',
  avatar_url: 'https://avatars.githubusercontent.com/u/583231?v=4',
  html_url: 'https://github.com/octocat',
  type: 'User',
  site_admin: false,
  name: 'The Octocat',
  company: '@github',
  location: 'San Francisco',
  email: 'octocat@github.com',
  public_repos: 8,
  created_at: '2011-01-25T18:44:36Z',
};

export const OCTOCAT_EMAILS: GitHubEmail[] = [
  { email: 'octocat@users.noreply.github.com', primary: false, verified: true, visibility: null },
  { email: 'octo.private@example.com', primary: true, verified: true, visibility: 'private' },
];

/** An endpoint's fault: an HTTP status (with a JSON error body), `garbage` (200, not JSON), `array` (200, a JSON array), `hang`, `disconnect`. */
export type Fault = number | 'garbage' | 'array' | 'hang' | 'disconnect';

export interface AuthorizeRecord {
  readonly params: URLSearchParams;
  readonly code: string;
}

export interface RequestRecord {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: URLSearchParams;
}

interface Grant {
  /** The key of the user's profile in `profiles`. */
  userKey: string;
  scope: string[];
}

export interface FakeGitHub {
  /** `http://127.0.0.1:<port>`: give it as `github({ enterpriseUrl })`. */
  readonly url: string;
  /** The endpoints, for `server` (the API at `/api/v3`, as `enterpriseUrl` expects). */
  readonly server: {
    authorizationEndpoint: string;
    tokenEndpoint: string;
    userinfoEndpoint: string;
    revocationEndpoint: string;
  };
  /** Who logs in at the next authorization (and whom its tokens are about). */
  user: GitHubUser;
  emails: GitHubEmail[];
  /** Issue expiring access tokens (`accessTokenTtl` seconds) with rotating refresh tokens. Default false. */
  refreshTokens: boolean;
  accessTokenTtl: number;
  /** Extra members of every successful token response (an `id_token` a plain OAuth 2.0 login did not ask for...). */
  extraTokenFields: Record<string, unknown>;
  /** RFC 8414 metadata served at `/.well-known/oauth-authorization-server` (none when undefined). */
  metadata: Record<string, unknown> | undefined;
  /** `/user` answers this profile instead of the token's user's (a confused provider). */
  userOverride: GitHubUser | undefined;
  /** Replaces the profile of the user with `user.id` (the user edited it on GitHub). */
  updateProfile(user: GitHubUser): void;
  /** Faults: `authorize` is an OAuth error code to redirect back with. */
  fail: { authorize?: string; token?: Fault; user?: Fault; emails?: Fault };
  readonly counts: { authorize: number; token: number; user: number; emails: number; revoke: number; metadata: number };
  readonly authorizations: AuthorizeRecord[];
  readonly tokenRequests: RequestRecord[];
  readonly apiRequests: RequestRecord[];
  readonly revocations: RequestRecord[];
  /** What went wrong inside the fake itself (a test bug). */
  readonly errors: unknown[];
  /** The user revokes the app: every token and refresh token stops working. */
  revokeAll(): void;
  reset(): void;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** RFC 6749 2.3.1 Basic credentials. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
}

/** `redirectUri`: the OAuth app's registered callback URL (default the test app's `/callback`). */
export async function startFakeGitHub(options: { redirectUri?: string } = {}): Promise<FakeGitHub> {
  const REDIRECT_URI = options.redirectUri ?? DEFAULT_REDIRECT_URI;
  const sockets = new Set<Socket>();
  const codes = new Map<string, { params: URLSearchParams; grant: Grant; expiresAt: number }>();
  const accessTokens = new Map<string, { grant: Grant; expiresAt: number | undefined }>();
  const refreshTokens = new Map<string, Grant>();
  /** The users' current profiles, by a key made of their id. */
  const profiles = new Map<string, GitHubUser>();
  const keyOf = (user: GitHubUser): string => JSON.stringify(user.id ?? null);

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      gh.errors.push(err);
      if (!res.headersSent) json(res, 500, { message: `fake GitHub bug: ${String(err)}` });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const gh: FakeGitHub = {
    url,
    server: {
      authorizationEndpoint: `${url}/login/oauth/authorize`,
      tokenEndpoint: `${url}/login/oauth/access_token`,
      userinfoEndpoint: `${url}/api/v3/user`,
      revocationEndpoint: `${url}/revoke`,
    },
    user: OCTOCAT,
    emails: OCTOCAT_EMAILS,
    refreshTokens: false,
    accessTokenTtl: 28800,
    extraTokenFields: {},
    metadata: undefined,
    fail: {},
    userOverride: undefined,
    updateProfile(user) {
      profiles.set(keyOf(user), structuredClone(user));
    },
    counts: { authorize: 0, token: 0, user: 0, emails: 0, revoke: 0, metadata: 0 },
    authorizations: [],
    tokenRequests: [],
    apiRequests: [],
    revocations: [],
    errors: [],
    revokeAll() {
      accessTokens.clear();
      refreshTokens.clear();
    },
    reset() {
      gh.user = OCTOCAT;
      gh.emails = OCTOCAT_EMAILS;
      gh.refreshTokens = false;
      gh.accessTokenTtl = 28800;
      gh.extraTokenFields = {};
      gh.metadata = undefined;
      gh.fail = {};
      gh.userOverride = undefined;
      for (const key of Object.keys(gh.counts) as (keyof FakeGitHub['counts'])[]) gh.counts[key] = 0;
      gh.authorizations.length = 0;
      gh.tokenRequests.length = 0;
      gh.apiRequests.length = 0;
      gh.revocations.length = 0;
      gh.errors.length = 0;
    },
    close() {
      return new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
    },
  };

  /** Applies a fault; true when it answered (or will never answer). */
  function fault(req: IncomingMessage, res: ServerResponse, f: Fault | undefined): boolean {
    if (f === undefined) return false;
    if (f === 'hang') return true;
    if (f === 'disconnect') {
      req.socket.destroy();
      return true;
    }
    if (f === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('<html>Unicorn! This page is taking too long to load.</html>');
      return true;
    }
    if (f === 'array') {
      json(res, 200, [gh.user]);
      return true;
    }
    json(res, f, { message: 'Server Error' });
    return true;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', url);
    // GitHub Enterprise Server serves the API under /api/v3.
    const path = u.pathname.startsWith('/api/v3/') ? u.pathname.slice('/api/v3'.length) : u.pathname;
    if (req.method === 'GET' && path === '/.well-known/oauth-authorization-server' && gh.metadata) {
      gh.counts.metadata++;
      json(res, 200, gh.metadata);
      return;
    }
    if (req.method === 'GET' && path === '/login/oauth/authorize') return authorize(u, res);
    if (req.method === 'POST' && path === '/login/oauth/access_token') return token(req, res);
    if (req.method === 'POST' && path === '/revoke') return revoke(req, res);
    if (req.method === 'GET' && (path === '/user' || path === '/user/emails')) return api(req, res, path);
    json(res, 404, { message: 'Not Found' });
  }

  function authorize(u: URL, res: ServerResponse): void {
    gh.counts.authorize++;
    const params = u.searchParams;
    const code = randomBytes(10).toString('hex');
    gh.authorizations.push({ params, code });
    if (params.get('client_id') !== GH_CLIENT_ID) {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<h1>404</h1>');
      return;
    }
    const redirectUri = params.get('redirect_uri') ?? REDIRECT_URI;
    if (redirectUri !== REDIRECT_URI) {
      // GitHub shows an error page and never redirects to an unregistered redirect_uri.
      res.writeHead(400, { 'content-type': 'text/html' });
      res.end('The redirect_uri is not associated with this application.');
      return;
    }
    const back = new URL(redirectUri);
    const state = params.get('state');
    if (gh.fail.authorize) {
      back.search = new URLSearchParams({
        error: gh.fail.authorize,
        error_description: 'The user has denied your application access.',
        ...(state !== null && { state }),
      }).toString();
    } else {
      const scope = (params.get('scope') ?? '').split(/[ ,]+/).filter(Boolean);
      profiles.set(keyOf(gh.user), structuredClone(gh.user));
      codes.set(code, { params, grant: { userKey: keyOf(gh.user), scope }, expiresAt: Date.now() + 10 * 60 * 1000 });
      back.search = new URLSearchParams({ code, ...(state !== null && { state }) }).toString();
    }
    res.writeHead(302, { location: back.href });
    res.end();
  }

  /** GitHub's token endpoint: JSON only when asked for, errors with HTTP 200. */
  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    gh.counts.token++;
    const body = new URLSearchParams(await readBody(req));
    gh.tokenRequests.push({ path: '/login/oauth/access_token', headers: req.headers, body });
    if (fault(req, res, gh.fail.token)) return;
    const wantsJson = (req.headers.accept ?? '').includes('application/json');
    const answer = (fields: Record<string, unknown>): void => {
      if (wantsJson) {
        json(res, 200, fields);
        return;
      }
      const text = new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, String(v)])).toString();
      res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' });
      res.end(text);
    };
    const error = (code: string, description: string): void =>
      answer({
        error: code,
        error_description: description,
        error_uri: 'https://docs.github.com/apps/troubleshooting-oauth-apps',
      });

    const basic = basicCredentials(req.headers.authorization);
    const clientId = basic?.id ?? body.get('client_id');
    const clientSecret = basic?.secret ?? body.get('client_secret');
    if (clientId !== GH_CLIENT_ID || clientSecret !== GH_CLIENT_SECRET) {
      error('incorrect_client_credentials', 'The client_id and/or client_secret passed are incorrect.');
      return;
    }

    let grant: Grant;
    if (body.get('grant_type') === 'refresh_token') {
      const refreshToken = body.get('refresh_token') ?? '';
      const found = refreshTokens.get(refreshToken);
      refreshTokens.delete(refreshToken); // rotated: good once
      if (!found) {
        error('bad_refresh_token', 'The refresh token passed is incorrect or expired.');
        return;
      }
      grant = found;
    } else {
      const code = body.get('code') ?? '';
      const issued = codes.get(code);
      codes.delete(code); // a code is good once, whatever happens next
      if (!issued || issued.expiresAt < Date.now()) {
        error('bad_verification_code', 'The code passed is incorrect or expired.');
        return;
      }
      const sentRedirectUri = body.get('redirect_uri');
      if (sentRedirectUri !== null && sentRedirectUri !== (issued.params.get('redirect_uri') ?? REDIRECT_URI)) {
        error('redirect_uri_mismatch', 'The redirect_uri MUST match the registered callback URL for this application.');
        return;
      }
      const challenge = issued.params.get('code_challenge');
      if (challenge !== null) {
        const verifier = body.get('code_verifier') ?? '';
        const method = issued.params.get('code_challenge_method');
        if (method !== 'S256' || createHash('sha256').update(verifier).digest('base64url') !== challenge) {
          error('bad_verification_code', 'The code_verifier does not match the code_challenge.');
          return;
        }
      }
      grant = issued.grant;
    }

    const accessToken = `gho_${randomBytes(18).toString('base64url')}`;
    accessTokens.set(accessToken, {
      grant,
      expiresAt: gh.refreshTokens ? Date.now() + gh.accessTokenTtl * 1000 : undefined,
    });
    const fields: Record<string, unknown> = {
      access_token: accessToken,
      token_type: 'bearer',
      scope: grant.scope.join(','),
      ...gh.extraTokenFields,
    };
    if (gh.refreshTokens) {
      const refreshToken = `ghr_${randomBytes(30).toString('base64url')}`;
      refreshTokens.set(refreshToken, grant);
      Object.assign(fields, {
        expires_in: gh.accessTokenTtl,
        refresh_token: refreshToken,
        refresh_token_expires_in: 15897600,
      });
    }
    answer(fields);
  }

  async function revoke(req: IncomingMessage, res: ServerResponse): Promise<void> {
    gh.counts.revoke++;
    const body = new URLSearchParams(await readBody(req));
    gh.revocations.push({ path: '/revoke', headers: req.headers, body });
    const basic = basicCredentials(req.headers.authorization);
    if (
      (basic?.id ?? body.get('client_id')) !== GH_CLIENT_ID ||
      (basic?.secret ?? body.get('client_secret')) !== GH_CLIENT_SECRET
    ) {
      json(res, 401, { error: 'invalid_client' });
      return;
    }
    const value = body.get('token') ?? '';
    refreshTokens.delete(value);
    accessTokens.delete(value);
    res.writeHead(200, { 'content-length': '0' });
    res.end();
  }

  function api(req: IncomingMessage, res: ServerResponse, path: '/user' | '/user/emails'): void {
    gh.apiRequests.push({ path, headers: req.headers, body: new URLSearchParams() });
    if (path === '/user') gh.counts.user++;
    else gh.counts.emails++;
    if (!req.headers['user-agent']) {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end('Request forbidden by administrative rules. Please make sure your request has a User-Agent header.');
      return;
    }
    if (fault(req, res, path === '/user' ? gh.fail.user : gh.fail.emails)) return;
    const value = /^(?:Bearer|token) (\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const issued = accessTokens.get(value);
    if (!issued || (issued.expiresAt !== undefined && issued.expiresAt < Date.now())) {
      json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
      return;
    }
    if (path === '/user') {
      json(res, 200, gh.userOverride ?? profiles.get(issued.grant.userKey));
      return;
    }
    if (!issued.grant.scope.includes('user:email') && !issued.grant.scope.includes('user')) {
      json(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/users/emails' });
      return;
    }
    json(res, 200, gh.emails);
  }

  return gh;
}
