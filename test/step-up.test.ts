import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type express from 'express';
import type { Express } from 'express';
import request from 'supertest';
import {
  claimEquals,
  claimIncludes,
  requireAuth,
  type OidcLoginOptions,
  type RequireAuthHandler,
  type RequireAuthOptions,
} from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { fakeClock } from './support/clock.js';
import { authorizeAt, newBrowser, txCookies, visitCallback, type Browser } from './support/flow.js';
import { signIdToken, type TokenContext } from './support/hostile-provider.js';
import { useHostileProvider } from './support/use-hostile-provider.js';
import { useProvider } from './support/use-provider.js';

/**
 * Step-up authentication per route: `requireAuth({ maxAge, acrValues })`. Against a real
 * oidc-provider for the age of a login (its ID tokens carry `auth_time`, and it asks the user to
 * log in again for `max_age`), and against the hostile provider for `acr` (oidc-provider's dev
 * interactions never set one) and for providers that do not comply.
 */

const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const JSON_ACCEPT = 'application/json';

/** express + express-session + oidcLogin, with routes that need a recent or a strong login. */
function stepUpApp(options: OidcLoginOptions): Express {
  const { app } = createApp(options, {
    probes: false,
    routes: (app) => {
      const show: express.RequestHandler = (req, res) => {
        res.json({
          sub: req.oidc!.claims!.sub,
          auth_time: req.oidc!.claims!.auth_time ?? null,
          acr: req.oidc!.claims!.acr ?? null,
        });
      };
      app.get('/protected', requireAuth(), show);
      app.get('/recent', requireAuth({ maxAge: 300 }), show);
      app.get('/mfa', requireAuth({ acrValues: ['urn:mfa'] }), show);
      app.get('/mfa-admin', requireAuth({ acrValues: ['urn:mfa'] }, claimEquals('name', 'Admin')), show);
      app.get('/strict', requireAuth({ maxAge: 300, acrValues: ['urn:mfa', 'urn:hw'] }), show);
      app.get('/probe', (req, res) => {
        res.json({
          isAuthenticated: req.oidc!.isAuthenticated(),
          claims: req.oidc!.claims ?? null,
          sessionId: req.sessionID,
          requested: req.session.oidc?.login?.requested ?? null,
          tx: Object.values(req.session.oidc?.tx ?? {}),
        });
      });
    },
  });
  return app;
}

afterEach(() => {
  jest.useRealTimers();
});

describe('requireAuth({ maxAge }) against a real oidc-provider', () => {
  const op = useProvider({ configuration: { acrValues: ['urn:low', 'urn:mfa'] } });

  /** A login through the app's /login?query, the user typing `account` at the provider when asked. */
  async function loginVia(
    browser: Browser,
    query: string,
    account = 'alice',
  ): Promise<{ authorizationUrl: URL; res: request.Response }> {
    const start = await browser.app.get(`/login${query}`).expect(302);
    const authorizationUrl = new URL(start.headers.location!);
    const callback = await authorizeAt(browser, authorizationUrl, account);
    return { authorizationUrl, res: await visitCallback(browser, callback) };
  }

  it('sends a page load on a login older than maxAge to log in again with max_age; the new login passes', async () => {
    const clock = fakeClock();
    const browser = newBrowser(stepUpApp(testOptions(op)), op.issuer);
    await loginVia(browser, '');
    const first = (await browser.app.get('/probe').expect(200)).body;
    // oidc-provider sends auth_time only when asked (max_age): the age is then the login's own.
    expect(first.claims.auth_time).toBeUndefined();
    expect(first.requested).toBeNull();
    const loggedInAt = Math.floor(Date.now() / 1000);
    await browser.app.get('/recent').set('Accept', HTML).expect(200);

    clock.advance(400); // older than 300 s and the 60 s clock tolerance
    await browser.app.get('/protected').set('Accept', HTML).expect(200); // other routes do not care
    const page = await browser.app.get('/recent?x=1').set('Accept', HTML).expect(302);
    expect(page.headers.location).toBe(`/login?returnTo=${encodeURIComponent('/recent?x=1')}&max_age=300`);
    expect(page.headers['cache-control']).toBe('no-store');

    const { authorizationUrl, res } = await loginVia(browser, page.headers.location!.slice('/login'.length));
    expect(authorizationUrl.searchParams.get('max_age')).toBe('300');
    expect(authorizationUrl.searchParams.has('acr_values')).toBe(false);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/recent?x=1');

    // A new login, as any login: new session id, new auth_time, and it knows what it answered.
    const second = (await browser.app.get('/probe').expect(200)).body;
    expect(second.sessionId).not.toBe(first.sessionId);
    expect(second.claims.sub).toBe('alice');
    // The user logged in again at the provider (its login form was shown again: a new auth_time).
    expect(second.claims.auth_time).toBeGreaterThanOrEqual(loggedInAt + 400);
    expect(second.requested).toEqual({ maxAge: 300 });
    const ok = await browser.app.get('/recent?x=1').set('Accept', HTML).expect(200);
    expect(ok.body.auth_time).toBe(second.claims.auth_time);
  });

  it('answers an API request on a login older than maxAge with 401 and an RFC 9470 WWW-Authenticate challenge', async () => {
    const clock = fakeClock();
    const browser = newBrowser(stepUpApp(testOptions(op)), op.issuer);
    await loginVia(browser, '');
    await browser.app.get('/recent').set('Accept', JSON_ACCEPT).expect(200);
    clock.advance(400);
    const api = await browser.app.get('/recent').set('Accept', JSON_ACCEPT).expect(401);
    expect(api.headers['www-authenticate']).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A more recent authentication is required", max_age="300"',
    );
    expect(api.headers['content-type']).toMatch(/^application\/json/);
    expect(api.headers['cache-control']).toBe('no-store');
    expect(api.body).toEqual({ error: 'insufficient_authentication', message: expect.any(String), max_age: 300 });
    // fetch() from a page, and POST, are API requests too.
    await browser.app.get('/recent').set('Sec-Fetch-Mode', 'cors').set('Accept', HTML).expect(401);
    // Still logged in: nothing was ended.
    expect((await browser.app.get('/probe').expect(200)).body.isAuthenticated).toBe(true);
  });

  it("a step-up with acr_values that oidc-provider's dev login cannot honour (no acr) fails at the callback with 403; the old login stays", async () => {
    const browser = newBrowser(stepUpApp(testOptions(op)), op.issuer);
    await loginVia(browser, '');
    const before = (await browser.app.get('/probe').expect(200)).body;
    expect(before.claims.acr).toBeUndefined();

    const page = await browser.app.get('/mfa').set('Accept', HTML).expect(302);
    expect(page.headers.location).toBe('/login?returnTo=%2Fmfa&acr_values=urn%3Amfa');
    const { authorizationUrl, res } = await loginVia(browser, page.headers.location!.slice('/login'.length));
    expect(authorizationUrl.searchParams.get('acr_values')).toBe('urn:mfa');
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('ERR_OIDC_STEP_UP_FAILED');
    expect(res.headers.location).toBeUndefined();

    const after = (await browser.app.get('/probe').expect(200)).body;
    expect(after.isAuthenticated).toBe(true);
    expect(after.sessionId).toBe(before.sessionId);
    // The step-up's pending login was used up: its cookie is gone, and nothing is left in the session.
    expect(txCookies(browser.app).size).toBe(0);
    expect(after.tx).toEqual([]);
  });
});

describe('step-up against the hostile provider', () => {
  const op = useHostileProvider({ metadata: { acr_values_supported: ['urn:low', 'urn:mfa'] } });
  beforeEach(() => {
    op.reset();
  });
  afterEach(() => {
    expect(op.errors).toEqual([]);
  });

  /** The authorization request the token request's code was issued for. */
  function authorizationOf(ctx: TokenContext): URLSearchParams {
    const record = op.authorizations.find((a) => a.nonce === ctx.nonce);
    if (!record) throw new Error('no authorization request for this code');
    return record.params;
  }

  /** A provider that logs in with MFA when acr_values asks for it, else with a password. */
  async function honestAcr(ctx: TokenContext) {
    const requested = authorizationOf(ctx).get('acr_values')?.split(' ') ?? [];
    const acr = requested.includes('urn:mfa') ? 'urn:mfa' : 'urn:low';
    return ctx.tokenResponse(await signIdToken(ctx.claims({ acr }), ctx.keys[0]!));
  }

  /** GET /login?query, through the provider, back to the callback. */
  async function loginVia(agent: request.Agent, query = ''): Promise<{ authorizationUrl: URL; res: request.Response }> {
    const start = await agent.get(`/login${query}`).expect(302);
    const authorizationUrl = new URL(start.headers.location!);
    const atProvider = await fetch(authorizationUrl, { redirect: 'manual' });
    expect(atProvider.status).toBe(302);
    const callback = new URL(atProvider.headers.get('location')!);
    return { authorizationUrl, res: await agent.get(callback.pathname + callback.search) };
  }

  /** Follows a step-up redirect from a protected route. */
  async function stepUp(
    agent: request.Agent,
    path: string,
  ): Promise<{ location: string; authorizationUrl: URL; res: request.Response }> {
    const page = await agent.get(path).set('Accept', HTML).expect(302);
    const location = page.headers.location!;
    expect(location.startsWith('/login?')).toBe(true);
    return { location, ...(await loginVia(agent, location.slice('/login'.length))) };
  }

  function newAgent(overrides: Partial<OidcLoginOptions> = {}): request.Agent {
    return request.agent(stepUpApp(testOptions(op, overrides)));
  }

  async function probe(agent: request.Agent) {
    return (await agent.get('/probe').expect(200)).body;
  }

  it('steps up a login whose acr is not acceptable; the login with urn:mfa passes', async () => {
    op.onToken = honestAcr;
    const agent = newAgent();
    await loginVia(agent);
    const before = await probe(agent);
    expect(before.claims.acr).toBe('urn:low');
    await agent.get('/protected').set('Accept', HTML).expect(200);

    const { location, authorizationUrl, res } = await stepUp(agent, '/mfa');
    expect(location).toBe('/login?returnTo=%2Fmfa&acr_values=urn%3Amfa');
    expect(authorizationUrl.searchParams.get('acr_values')).toBe('urn:mfa');
    expect(authorizationUrl.searchParams.has('max_age')).toBe(false);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/mfa');

    const after = await probe(agent);
    expect(after.sessionId).not.toBe(before.sessionId);
    expect(after.claims.acr).toBe('urn:mfa');
    expect(after.requested).toEqual({ acrValues: ['urn:mfa'] });
    expect((await agent.get('/mfa').set('Accept', HTML).expect(200)).body.acr).toBe('urn:mfa');
  });

  it('answers an API request on a weak login with 401 insufficient_authentication and acr_values in WWW-Authenticate', async () => {
    op.onToken = honestAcr;
    const agent = newAgent();
    await loginVia(agent);
    const api = await agent.get('/strict').set('Accept', JSON_ACCEPT).expect(401);
    expect(api.headers['www-authenticate']).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A stronger authentication is required", ' +
        'max_age="300", acr_values="urn:mfa urn:hw"',
    );
    expect(api.body).toEqual({
      error: 'insufficient_authentication',
      message: expect.any(String),
      max_age: 300,
      acr_values: 'urn:mfa urn:hw',
    });
  });

  it('asks for both max_age and acr_values when a route needs both, and accepts any of the acceptable acr values', async () => {
    op.onToken = async (ctx) => {
      const acr = authorizationOf(ctx).get('acr_values') ? 'urn:hw' : 'urn:low';
      return ctx.tokenResponse(await signIdToken(ctx.claims({ acr }), ctx.keys[0]!));
    };
    const agent = newAgent();
    await loginVia(agent);
    const { location, authorizationUrl, res } = await stepUp(agent, '/strict');
    expect(location).toBe('/login?returnTo=%2Fstrict&max_age=300&acr_values=urn%3Amfa+urn%3Ahw');
    expect(authorizationUrl.searchParams.get('max_age')).toBe('300');
    expect(authorizationUrl.searchParams.get('acr_values')).toBe('urn:mfa urn:hw');
    expect(res.headers.location).toBe('/strict');
    expect((await probe(agent)).requested).toEqual({ maxAge: 300, acrValues: ['urn:mfa', 'urn:hw'] });
    await agent.get('/strict').set('Accept', HTML).expect(200);
  });

  it('refuses (403 ERR_OIDC_STEP_UP_FAILED) a step-up whose acr is not among the requested ones; the old login stays, no redirect', async () => {
    op.onToken = async (ctx) => ctx.tokenResponse(await signIdToken(ctx.claims({ acr: 'urn:low' }), ctx.keys[0]!));
    const agent = newAgent();
    await loginVia(agent);
    const before = await probe(agent);
    const { res } = await stepUp(agent, '/mfa');
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('ERR_OIDC_STEP_UP_FAILED');
    expect(res.headers.location).toBeUndefined();
    const after = await probe(agent);
    expect(after.isAuthenticated).toBe(true);
    expect(after.sessionId).toBe(before.sessionId);
    expect(after.claims.acr).toBe('urn:low');
  });

  it('runs the claim checks once the login is strong enough', async () => {
    op.onToken = honestAcr;
    const agent = newAgent();
    await loginVia(agent);
    await stepUp(agent, '/mfa-admin');
    const page = await agent.get('/mfa-admin').set('Accept', HTML).expect(403);
    expect(page.body.code).toBe('ERR_OIDC_FORBIDDEN');
    await agent.get('/mfa-admin').set('Accept', JSON_ACCEPT).expect(403);
  });

  it('refuses with a clear 403 a provider that ignores the requested max_age (an old auth_time), and does not loop', async () => {
    const oldAuthTime = Math.floor(Date.now() / 1000) - 3600;
    op.onToken = async (ctx) =>
      ctx.tokenResponse(await signIdToken(ctx.claims({ auth_time: oldAuthTime }), ctx.keys[0]!));
    const agent = newAgent();
    await loginVia(agent);
    const before = await probe(agent);

    const { location, authorizationUrl, res } = await stepUp(agent, '/recent');
    expect(location).toBe('/login?returnTo=%2Frecent&max_age=300');
    expect(authorizationUrl.searchParams.get('max_age')).toBe('300');
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('ERR_OIDC_STEP_UP_FAILED');
    expect(res.body.message).toMatch(/did not log you in again/);
    expect(res.headers.location).toBeUndefined();
    expect(op.counts.authorize).toBe(2);

    // The earlier login is kept (a failed step-up logs nobody out).
    const after = await probe(agent);
    expect(after.isAuthenticated).toBe(true);
    expect(after.sessionId).toBe(before.sessionId);
  });

  it('refuses a step-up whose ID token has no auth_time', async () => {
    op.onToken = async (ctx) => {
      const claims = ctx.claims();
      delete claims.auth_time;
      return ctx.tokenResponse(await signIdToken(claims, ctx.keys[0]!));
    };
    const agent = newAgent();
    await loginVia(agent); // no max_age asked: fine without auth_time (the login time counts)
    await agent.get('/recent').set('Accept', HTML).expect(200);
    const { res } = await loginVia(agent, '?max_age=300');
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('ERR_OIDC_STEP_UP_FAILED');
  });

  it('takes the login time when the ID token has no auth_time', async () => {
    const clock = fakeClock();
    op.onToken = async (ctx) => {
      const claims = ctx.claims();
      delete claims.auth_time;
      return ctx.tokenResponse(await signIdToken(claims, ctx.keys[0]!));
    };
    const agent = newAgent();
    await loginVia(agent);
    clock.advance(300);
    await agent.get('/recent').set('Accept', HTML).expect(200);
    clock.advance(100);
    await agent.get('/recent').set('Accept', HTML).expect(302);
  });

  it('answers 403 rather than another round when the step-up login it just got still does not satisfy the route', async () => {
    const clock = fakeClock();
    // A provider that does not quite re-authenticate: auth_time 330 s ago for max_age=300 passes the
    // callback's check (60 s clock tolerance), and stops satisfying the route 31 s later.
    op.onToken = async (ctx) => {
      const stale = authorizationOf(ctx).get('max_age')
        ? { auth_time: Math.floor(Date.now() / 1000) - 330 }
        : { auth_time: Math.floor(Date.now() / 1000) - 3600 };
      return ctx.tokenResponse(await signIdToken(ctx.claims(stale), ctx.keys[0]!));
    };
    const agent = newAgent();
    await loginVia(agent);
    const { res } = await stepUp(agent, '/recent');
    expect(res.headers.location).toBe('/recent');
    await agent.get('/recent').set('Accept', HTML).expect(200);

    clock.advance(40);
    const page = await agent.get('/recent').set('Accept', HTML).expect(403);
    expect(page.body.code).toBe('ERR_OIDC_STEP_UP_FAILED');
    const api = await agent.get('/recent').set('Accept', JSON_ACCEPT).expect(403);
    expect(api.body.error).toBe('step_up_failed');
    expect(op.counts.authorize).toBe(2);

    // Once the step-up login itself is older than maxAge, a new step-up is due (not a loop).
    clock.advance(300);
    const again = await agent.get('/recent').set('Accept', HTML).expect(302);
    expect(again.headers.location).toBe('/login?returnTo=%2Frecent&max_age=300');
  });

  it("answers 403 when the step-up login's acr was changed after the callback (afterCallback), not another round", async () => {
    op.onToken = honestAcr;
    const agent = newAgent({
      afterCallback: (_req, _res, login) => {
        delete (login.claims as Record<string, unknown>).acr;
        return login;
      },
    });
    await loginVia(agent);
    const { res } = await stepUp(agent, '/mfa');
    expect(res.headers.location).toBe('/mfa');
    const page = await agent.get('/mfa').set('Accept', HTML).expect(403);
    expect(page.body.code).toBe('ERR_OIDC_STEP_UP_FAILED');
    expect(op.counts.authorize).toBe(2);
  });

  it('steps up again a login that was a step-up for a weaker requirement', async () => {
    op.onToken = honestAcr;
    const agent = newAgent();
    await loginVia(agent, '?acr_values=urn:low');
    expect((await probe(agent)).requested).toEqual({ acrValues: ['urn:low'] });
    const page = await agent.get('/mfa').set('Accept', HTML).expect(302);
    expect(page.headers.location).toBe('/login?returnTo=%2Fmfa&acr_values=urn%3Amfa');
  });

  describe("the login route's max_age and acr_values", () => {
    // What the transaction keeps, read where the session mode keeps it; the cookie mode seals the
    // same object (the callback's checks of it are tested above, in the default mode).
    async function authorizationFor(
      query: string,
      overrides: Partial<OidcLoginOptions> = {},
    ): Promise<{ url: URL; tx: Record<string, unknown> }> {
      const agent = newAgent({ pendingLogins: 'session', ...overrides });
      const start = await agent.get(`/login${query}`).expect(302);
      const { tx } = await probe(agent);
      expect(tx).toHaveLength(1);
      return { url: new URL(start.headers.location!), tx: tx[0] };
    }

    it('puts valid values in the authorization request and the transaction', async () => {
      const { url, tx } = await authorizationFor(
        '?max_age=0&acr_values=urn:mfa%20http://schemas.openid.net/pape/policies/2007/06/multi-factor',
      );
      expect(url.searchParams.get('max_age')).toBe('0');
      expect(url.searchParams.get('acr_values')).toBe(
        'urn:mfa http://schemas.openid.net/pape/policies/2007/06/multi-factor',
      );
      expect(tx.maxAge).toBe(0);
      expect(tx.acrValues).toEqual(['urn:mfa', 'http://schemas.openid.net/pape/policies/2007/06/multi-factor']);
    });

    it.each([
      ['negative', '?max_age=-1'],
      ['a fraction', '?max_age=1.5'],
      ['an exponent', '?max_age=1e3'],
      ['a unit', '?max_age=5m'],
      ['empty', '?max_age='],
      ['ten digits', '?max_age=1234567890'],
      ['repeated', '?max_age=60&max_age=30'],
      ['an empty acr_values', '?acr_values='],
      ['a double space', '?acr_values=a%20%20b'],
      ['a leading space', '?acr_values=%20a'],
      ['a quote', '?acr_values=a%22b'],
      ['a backslash', '?acr_values=a%5Cb'],
      ['a control character', '?acr_values=a%0Ab'],
      ['non-ASCII', '?acr_values=%C3%A9'],
      ['eleven values', `?acr_values=${Array.from({ length: 11 }, (_, i) => `v${i}`).join('+')}`],
      ['a value over 256 characters', `?acr_values=${'a'.repeat(257)}`],
      ['over 1024 characters', `?acr_values=${Array.from({ length: 5 }, () => 'a'.repeat(250)).join('+')}`],
      ['repeated acr_values', '?acr_values=a&acr_values=b'],
    ])('ignores %s', async (_name, query) => {
      const { url, tx } = await authorizationFor(query);
      expect(url.searchParams.has('max_age')).toBe(false);
      expect(url.searchParams.has('acr_values')).toBe(false);
      expect(tx.maxAge).toBeUndefined();
      expect(tx.acrValues).toBeUndefined();
    });

    it('keeps one valid value when the other is not', async () => {
      const { url, tx } = await authorizationFor('?max_age=abc&acr_values=urn:mfa');
      expect(url.searchParams.has('max_age')).toBe(false);
      expect(url.searchParams.get('acr_values')).toBe('urn:mfa');
      expect(tx).toMatchObject({ acrValues: ['urn:mfa'] });
    });

    it('never loosens the configured max_age: the smaller one is sent and checked', async () => {
      const looser = await authorizationFor('?max_age=900', { authorizationParams: { max_age: 600 } });
      expect(looser.url.searchParams.get('max_age')).toBe('600');
      expect(looser.tx.maxAge).toBe(600);
      const stricter = await authorizationFor('?max_age=60', { authorizationParams: { max_age: 600 } });
      expect(stricter.url.searchParams.get('max_age')).toBe('60');
      expect(stricter.tx.maxAge).toBe(60);
      const none = await authorizationFor('', { authorizationParams: { max_age: 600 } });
      expect(none.url.searchParams.get('max_age')).toBe('600');
      expect(none.tx.maxAge).toBeUndefined();
    });

    it('sends no max_age or acr_values on an ordinary login', async () => {
      const { url, tx } = await authorizationFor('?returnTo=/x');
      expect(url.searchParams.has('max_age')).toBe(false);
      expect(url.searchParams.has('acr_values')).toBe(false);
      expect(Object.keys(tx).sort()).toEqual(['browser', 'createdAt', 'nonce', 'returnTo', 'verifier']);
    });
  });
});

describe('requireAuth() options', () => {
  it.each<[string, unknown]>([
    ['a negative maxAge', { maxAge: -1 }],
    ['a fractional maxAge', { maxAge: 1.5 }],
    ['a string maxAge', { maxAge: '300' }],
    ['an infinite maxAge', { maxAge: Infinity }],
    ['acrValues as a string', { acrValues: 'urn:mfa' }],
    ['empty acrValues', { acrValues: [] }],
    ['an acr value with a space', { acrValues: ['urn:a urn:b'] }],
    ['an acr value with a quote', { acrValues: ['urn:"a'] }],
    ['an unknown option', { max_age: 300 }],
  ])('refuses %s when the route is defined', (_name, options) => {
    expect(() => requireAuth(options as RequireAuthOptions)).toThrow(TypeError);
  });

  it('still refuses a claim check that is not a function, after the options too', () => {
    expect(() => requireAuth({ maxAge: 60 }, 'admin' as never)).toThrow(/claim checks/);
    expect(() => requireAuth(null as never)).toThrow(/claim checks/);
  });

  it('takes options, checks, both, or nothing (typed)', () => {
    const handlers: RequireAuthHandler[] = [
      requireAuth(),
      requireAuth(claimIncludes('groups', 'admin')),
      requireAuth({ maxAge: 300 }),
      requireAuth({ acrValues: ['urn:mfa'] }, claimEquals('email_verified', true), claimIncludes('groups', 'admin')),
      requireAuth({}),
    ];
    expect(handlers.every((h) => typeof h === 'function')).toBe(true);
    // @ts-expect-error the options come first
    expect(() => requireAuth(claimIncludes('groups', 'admin'), { maxAge: 300 })).toThrow(TypeError);
    // @ts-expect-error acrValues is a list
    expect(() => requireAuth({ acrValues: 'urn:mfa' })).toThrow(TypeError);
  });

  it('a route with maxAge sends a page load without any login to the plain login (no step-up parameters)', async () => {
    const app = stepUpApp(testOptions({ issuer: 'http://127.0.0.1:9' }));
    const res = await request(app).get('/recent').set('Accept', HTML).expect(302);
    expect(res.headers.location).toBe('/login?returnTo=%2Frecent');
    const api = await request(app).get('/strict').set('Accept', JSON_ACCEPT).expect(401);
    expect(api.body.error).toBe('unauthenticated');
  });
});
