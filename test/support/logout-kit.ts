import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { MemoryStore, type SessionData, type Store } from 'express-session';
import { exportJWK } from 'jose';
import type { Response } from 'supertest';
import type { OidcLoginOptions } from '../../lib/index.js';
import { createApp } from './app.js';
import type { Browser } from './flow.js';
import { generateSigningKey, signIdToken, type SigningKey } from './hostile-provider.js';
import { decoded } from './stored-login.js';
import { storeGet } from './store.js';

/**
 * Helpers of the logout tests: an app whose session store is given (several instances can share
 * one), a request that can be held in flight, a loopback server for the provider's back-channel
 * POSTs, and the provider's end_session page played as a user.
 */

export const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** A request held inside the app until released. */
export interface HeldRequest {
  /** Resolves once the request is inside the route (its session loaded). */
  readonly entered: Promise<void>;
  release(): void;
}

export interface LogoutApp {
  app: Express;
  store: Store;
  /** The next `GET /slow` waits inside the route until `release()`, then changes its session. */
  hold(): HeldRequest;
}

/**
 * express + express-session on `store` (cookie `sid`, the same secret for every instance) +
 * oidcLogin, with `/probe/oidc` (the login as JSON) and `/slow` (a request that stays in flight,
 * then modifies the session so that express-session writes it back).
 */
export function createLogoutApp(
  options: OidcLoginOptions,
  store: Store = new MemoryStore(),
  before?: (app: Express) => void,
): LogoutApp {
  const waiting: { enter: () => void; released: Promise<void> }[] = [];
  const { app } = createApp(options, {
    store,
    ...(before && { before }),
    probes: false,
    routes: (app) => {
      app.get('/probe/oidc', (req, res) => {
        const oidc = req.oidc!;
        res.json({
          isAuthenticated: oidc.isAuthenticated(),
          claims: oidc.claims ?? null,
          idToken: oidc.idToken ?? null,
          refreshToken: oidc.refreshToken ?? null,
          sessionId: req.sessionID,
        });
      });
      app.get('/slow', async (req, res) => {
        const held = waiting.shift();
        if (held) {
          held.enter();
          await held.released;
        }
        const s = req.session as unknown as { views?: number };
        s.views = (s.views ?? 0) + 1;
        res.json({ views: s.views });
      });
    },
  });
  return {
    app,
    store,
    hold() {
      let enter!: () => void;
      let release!: () => void;
      const entered = new Promise<void>((r) => (enter = r));
      const released = new Promise<void>((r) => (release = r));
      waiting.push({ enter, released });
      return { entered, release };
    },
  };
}

/** A server on 127.0.0.1 whose handler can be set (and switched) after it listens. */
export interface LoopbackServer {
  readonly url: string;
  /** Requests received so far. */
  readonly requests: number;
  serve(handler: RequestListener): void;
  close(): Promise<void>;
}

export async function listenLoopback(): Promise<LoopbackServer> {
  let handler: RequestListener | undefined;
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    if (handler) handler(req, res);
    else {
      res.statusCode = 503;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    serve(h) {
      handler = h;
    },
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}

/** A signing key, and the same key as the private JWK `startProvider({ signingKey })` takes. */
export async function providerKey(): Promise<{ key: SigningKey; jwk: Record<string, unknown> }> {
  const key = await generateSigningKey('RS256');
  const jwk = { ...(await exportJWK(key.privateKey)), kid: key.kid, alg: key.alg };
  return { key, jwk };
}

/** The claims of a valid logout token; `overrides` with `undefined` values removes a claim. */
export function logoutClaims(
  issuer: string,
  audience: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: issuer,
    aud: audience,
    iat: now,
    exp: now + 120,
    jti: `jti-${Math.random().toString(36).slice(2)}`,
    events: { [BACKCHANNEL_EVENT]: {} },
    ...overrides,
  };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  return claims;
}

/** A logout token signed with `key` (header `typ: logout+jwt` unless overridden). */
export function signLogoutToken(
  claims: Record<string, unknown>,
  key: SigningKey,
  header: Record<string, unknown> = {},
): Promise<string> {
  return signIdToken(claims, key, { typ: 'logout+jwt', ...header });
}

/**
 * Logs the browser out at the provider as a user would: its end_session page, then "Yes, sign me
 * out" (the confirm form with `logout=yes`). oidc-provider POSTs the logout tokens before it
 * answers. Resolves with the confirm response (a 303).
 */
export async function logoutAtProvider(browser: Browser, query = ''): Promise<Response> {
  const page = await browser.op.get(`/session/end${query}`);
  if (page.status !== 200) throw new Error(`end_session answered ${page.status}: ${page.text.slice(0, 300)}`);
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.text)?.[1];
  const action = /<form[^>]*action="([^"]+)"/.exec(page.text)?.[1];
  if (!xsrf || !action) throw new Error(`no logout form on the end_session page: ${page.text.slice(0, 300)}`);
  return browser.op.post(new URL(action, 'http://op.invalid').pathname).type('form').send({ xsrf, logout: 'yes' });
}

/** The session in `store` (undefined when there is none). */
export function storedSession(store: Store, id: string): Promise<SessionData | undefined> {
  return storeGet(store, id).then((s) => decoded(s ?? undefined));
}

/** The `sid=...` cookie pair of a response that set it. */
export function sessionCookie(res: Response): string {
  const raw = res.headers['set-cookie'] as unknown as string[] | undefined;
  const cookie = raw?.find((c) => c.startsWith('sid='));
  if (!cookie) throw new Error('no session cookie in this response');
  return cookie.split(';', 1)[0]!;
}
