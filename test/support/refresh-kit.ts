import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ErrorRequestHandler, Express, RequestHandler } from 'express';
import { MemoryStore, type SessionData, type Store } from 'express-session';
import request, { type Response } from 'supertest';
import { requireAuth, type OidcLoginOptions, type StoredLogin } from '../../lib/index.js';
import { createApp } from './app.js';
import type { Configuration } from 'oidc-provider';
import type { TestProvider } from './provider.js';
import { loginIn, patchedLogin } from './stored-login.js';
import { storeGet } from './store.js';

/**
 * Test kit for getAccessToken(), autoRefresh and fetchUserInfo(): app instances that can share one
 * session store, an HTTP server per app (so that 100 requests share one listener), session store
 * helpers, and a tap on the real provider's refresh grants (counting them, and holding them to
 * force an order).
 */

export interface Instance {
  app: Express;
  store: Store;
}

export interface InstanceOptions {
  /** The session store; a new MemoryStore by default. Pass the same store to two instances for a "cluster". */
  store?: Store;
  /** Runs before the handlers of `/token` (after express-session has loaded the session). */
  beforeToken?: RequestHandler;
  /** Receives every error the app's error handler is given (as the app's own logger would). */
  errors?: unknown[];
}

/**
 * express + express-session + oidcLogin, with probe routes:
 * `/probe/oidc` (the login as JSON), `/token` (`getAccessToken()`, and what `req.session` then holds), `/token/many?n=` (n concurrent
 * calls in one request), `/userinfo` (`fetchUserInfo()`), `/protected` (`requireAuth()`).
 */
export function createInstance(options: OidcLoginOptions, kit: InstanceOptions = {}): Instance {
  const store = kit.store ?? new MemoryStore();
  const { app } = createApp(options, {
    store,
    probes: false,
    routes: (app) => {
      app.get('/probe/oidc', (req, res) => {
        const oidc = req.oidc!;
        res.json({
          isAuthenticated: oidc.isAuthenticated(),
          sub: oidc.claims?.sub ?? null,
          claims: oidc.claims ?? null,
          idToken: oidc.idToken ?? null,
          accessToken: oidc.accessToken ?? null,
          refreshToken: oidc.refreshToken ?? null,
          expiresAt: oidc.expiresAt ?? null,
          user: oidc.user ?? null,
          sessionId: req.sessionID,
          pending: Object.keys(req.session.oidc?.tx ?? {}).length,
        });
      });
      const token: RequestHandler[] = kit.beforeToken ? [kit.beforeToken] : [];
      app.get('/token', ...token, async (req, res, next) => {
        try {
          const accessToken = await req.oidc!.getAccessToken();
          // ?touch: the request changes its session too, so express-session saves it at the end.
          if (req.query.touch !== undefined) (req.session as unknown as Record<string, unknown>).touchedAt = Date.now();
          // What this request's own req.session holds now.
          res.json({
            accessToken,
            session: { accessToken: req.oidc!.accessToken, refreshToken: req.oidc!.refreshToken },
          });
        } catch (err) {
          next(err);
        }
      });
      app.get('/token/many', async (req, res, next) => {
        try {
          const n = Number(req.query.n);
          const tokens = await Promise.all(Array.from({ length: n }, () => req.oidc!.getAccessToken()));
          res.json({ tokens });
        } catch (err) {
          next(err);
        }
      });
      app.get('/userinfo', async (req, res, next) => {
        try {
          res.json({ user: await req.oidc!.fetchUserInfo() });
        } catch (err) {
          next(err);
        }
      });
      app.get('/protected', requireAuth(), (req, res) => {
        res.json({ sub: req.oidc!.claims!.sub, accessToken: req.oidc!.accessToken });
      });
      const errors = kit.errors;
      if (errors) {
        app.use(((err, _req, _res, next) => {
          errors.push(err);
          next(err);
        }) as ErrorRequestHandler);
      }
    },
  });
  return { app, store };
}

export interface Served {
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

/** Serves `handler` on a loopback port. */
export function serve(handler: RequestListener): Promise<Served> {
  const server: Server = createServer(handler);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

/** The login stored under session id `sid`, as the store has it now. */
export function storedLogin(store: Store, sid: string): Promise<StoredLogin | undefined> {
  return storeGet(store, sid).then(loginIn);
}

/** Changes the login stored under `sid` (e.g. makes its access token expire), in the store. */
export function patchStoredLogin(store: Store, sid: string, patch: (login: StoredLogin) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    store.get(sid, (err, data) => {
      if (err || !data) {
        reject(err ?? new Error(`no session ${sid}`));
        return;
      }
      if (!loginIn(data)) {
        reject(new Error(`no login in session ${sid}`));
        return;
      }
      store.set(sid, patchedLogin(data, patch) as SessionData, (e) => (e ? reject(e) : resolve()));
    });
  });
}

/** Makes the stored access token expired (one minute ago). */
export function expireAccessToken(store: Store, sid: string): Promise<void> {
  return patchStoredLogin(store, sid, (login) => {
    login.expiresAt = Math.floor(Date.now() / 1000) - 60;
  });
}

export interface RefreshTap {
  /** Refresh grants the provider answered with tokens. */
  readonly succeeded: number;
  /** Refresh grants the provider refused (`invalid_grant`...), with their error codes. */
  readonly failed: string[];
  /**
   * The next `n` refresh grants wait until all `n` have arrived, then go through one after
   * another, each once the previous one has finished. Resolves when all `n` are done.
   */
  serializeNext(n: number): Promise<void>;
  reset(): void;
  detach(): void;
}

type GrantCtx = { oidc?: { params?: { grant_type?: unknown } } };
type Listener = (ctx: GrantCtx, err?: { error?: string }) => void;

/**
 * oidc-provider's access-token lifetimes for refresh tests (its `ttl`): a login's access token lives
 * 30 s, inside the 60 s `refreshLeeway`, so it is due for refresh at once; refreshed ones live an
 * hour. No sleeping.
 */
export const FIRST_ACCESS_TOKEN_DUE: NonNullable<Configuration['ttl']> = {
  AccessToken: (_ctx, token) => (token.gty?.includes('refresh_token') ? 3600 : 30),
};

/**
 * Counts the real provider's refresh grants (oidc-provider's `grant.success` / `grant.error`
 * events) and can hold them: `RefreshToken.find`, the grant's first look at the token, is wrapped.
 */
export function tapRefreshGrants(op: TestProvider): RefreshTap {
  const provider = op.provider;
  let succeeded = 0;
  const failed: string[] = [];
  const finished: Array<() => void> = [];
  const isRefresh = (ctx: GrantCtx) => ctx?.oidc?.params?.grant_type === 'refresh_token';
  const onSuccess: Listener = (ctx) => {
    if (!isRefresh(ctx)) return;
    succeeded++;
    finished.shift()?.();
  };
  const onError: Listener = (ctx, err) => {
    if (!isRefresh(ctx)) return;
    failed.push(err?.error ?? 'unknown');
    finished.shift()?.();
  };
  provider.on('grant.success', onSuccess);
  provider.on('grant.error', onError);

  const RefreshToken = provider.RefreshToken as unknown as { find: (...args: unknown[]) => Promise<unknown> };
  const originalFind = RefreshToken.find;
  let gate: { n: number; waiting: Array<() => void>; done: () => void } | undefined;
  RefreshToken.find = async function find(this: unknown, ...args: unknown[]) {
    const g = gate;
    if (g) {
      await new Promise<void>((release) => {
        g.waiting.push(release);
        if (g.waiting.length === g.n) {
          gate = undefined;
          void (async () => {
            for (const next of g.waiting) {
              const done = new Promise<void>((resolve) => finished.push(resolve));
              next();
              await done;
            }
            g.done();
          })();
        }
      });
    }
    return originalFind.apply(this, args);
  };

  return {
    get succeeded() {
      return succeeded;
    },
    get failed() {
      return failed;
    },
    serializeNext(n) {
      return new Promise<void>((done) => {
        gate = { n, waiting: [], done };
      });
    },
    reset() {
      succeeded = 0;
      failed.length = 0;
    },
    detach() {
      provider.off('grant.success', onSuccess);
      provider.off('grant.error', onError);
      RefreshToken.find = originalFind;
    },
  };
}

/** The provider's token requests of one grant type: answered with tokens, or refused. */
export function countGrants(op: TestProvider, grantType: string) {
  const counts = { succeeded: 0, failed: [] as string[] };
  const is = (ctx: GrantCtx) => ctx?.oidc?.params?.grant_type === grantType;
  const onSuccess = (ctx: GrantCtx) => {
    if (is(ctx)) counts.succeeded++;
  };
  const onError = (ctx: GrantCtx, err: { error?: string }) => {
    if (is(ctx)) counts.failed.push(err?.error ?? 'unknown');
  };
  op.provider.on('grant.success', onSuccess);
  op.provider.on('grant.error', onError);
  return {
    counts,
    detach() {
      op.provider.off('grant.success', onSuccess);
      op.provider.off('grant.error', onError);
    },
  };
}

/** The provider's store of what each grant type redeems: where a held grant waits. */
const GRANT_SOURCES = { refresh_token: 'RefreshToken', authorization_code: 'AuthorizationCode' } as const;

/**
 * Holds every token request of `grantType` at the provider (before it looks at the token or code)
 * until `release()`; `arrived(n)` resolves once n have come in.
 */
export function holdGrants(op: TestProvider, grantType: keyof typeof GRANT_SOURCES) {
  const source = op.provider[GRANT_SOURCES[grantType]] as unknown as { find: (...args: unknown[]) => Promise<unknown> };
  const originalFind = source.find;
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let count = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  source.find = async function find(this: unknown, ...args: unknown[]) {
    count++;
    for (const w of waiters) if (count >= w.n) w.resolve();
    await released;
    return originalFind.apply(this, args);
  };
  return {
    arrived: (n: number) => new Promise<void>((resolve) => (count >= n ? resolve() : waiters.push({ n, resolve }))),
    release,
    detach() {
      release();
      source.find = originalFind;
    },
  };
}

/**
 * The same refresh raced over two instances, in an order forced without sleeps: `send(instance)`'s
 * requests go to A first, and to B once A's token request is held at the provider (A holds the
 * lock). That request is held until `bWaits` (B seen waiting for the lock) or, without the
 * coordinator, until B's own token request arrives: either way B has read the session before A
 * refreshed it. Resolves to every response, A's first.
 */
export async function raceRefreshes<R>(
  hold: ReturnType<typeof holdGrants>,
  bWaits: Promise<unknown>,
  send: (instance: 'a' | 'b') => Promise<R>[],
): Promise<R[]> {
  const toA = send('a');
  await hold.arrived(1);
  const toB = send('b');
  await Promise.race([bWaits, hold.arrived(2)]);
  hold.release();
  return Promise.all([...toA, ...toB]);
}

/** Resolves every waiter once `n` of them are waiting; later callers pass at once. */
export function barrier(n: number): () => Promise<void> {
  const waiting: Array<() => void> = [];
  let open = false;
  return () =>
    new Promise<void>((resolve) => {
      if (open) {
        resolve();
        return;
      }
      waiting.push(resolve);
      if (waiting.length === n) {
        open = true;
        for (const release of waiting) release();
      }
    });
}

/**
 * A login attempt at the hostile provider (it redirects straight back, no forms): `/login`, the
 * authorization endpoint, then the callback. Resolves with the callback's response.
 */
export async function hostileAttempt(
  url: string,
  agent: request.Agent = request.agent(url),
): Promise<{ agent: request.Agent; res: Response }> {
  const start = await agent.get('/login').expect(302);
  const atProvider = await fetch(start.headers.location!, { redirect: 'manual' });
  if (atProvider.status !== 302) throw new Error(`hostile provider answered ${atProvider.status}`);
  const callback = new URL(atProvider.headers.get('location')!);
  return { agent, res: await agent.get(callback.pathname + callback.search) };
}

/** A port nothing listens on (connections refused). */
export async function closedPort(): Promise<number> {
  const s = await serve(() => {});
  const port = Number(new URL(s.url).port);
  await s.close();
  return port;
}
