import { describe, expect, it } from '@jest/globals';
import express from 'express';
import express4 from 'express4';
import { MemoryStore } from 'express-session';
import request, { type Response } from 'supertest';
import type { OidcLoginOptions } from '../lib/index.js';
import { MAX_CALLBACK_BODY } from '../lib/routes/form-post.js';
import { createApp, testOptions } from './support/app.js';
import { newBrowser, pathOf, setCookies, txCookies, type Browser } from './support/flow.js';
import { APP_BASE_URL, REDIRECT_URI } from './support/provider.js';
import { storeGet } from './support/store.js';
import { useHostileProvider } from './support/use-hostile-provider.js';
import { useProvider } from './support/use-provider.js';

/**
 * `responseMode: 'form_post'` against a real oidc-provider: the provider's page POSTs the
 * response to the callback. supertest sends every cookie whatever its SameSite, so a browser's
 * cross-site POST (which carries no SameSite=Lax cookie) is played by a POST without cookies;
 * test/e2e/form-post.test.ts does it in a real browser across two sites.
 */

const op = useProvider();

const formPost = (overrides: Partial<OidcLoginOptions> = {}) =>
  testOptions(op, { responseMode: 'form_post', ...overrides });

interface FormPostAnswer {
  action: string;
  fields: Record<string, string>;
}

function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/?>/g)) {
    fields[m[1]!] = m[2]!
      .replace(/&#(\d+);/g, (_x, n: string) => String.fromCharCode(Number(n)))
      .replace(/&amp;/g, '&')
      .replace(/&quot;/g, '"');
  }
  return fields;
}

/** Plays the user at the provider until its form_post page; returns the form it would POST. */
async function authorizeFormPost(browser: Browser, authorizationUrl: URL, account = 'alice'): Promise<FormPostAnswer> {
  let res: Response = await browser.op.get(pathOf(authorizationUrl.href));
  for (let step = 0; step < 12; step++) {
    if (res.status === 302 || res.status === 303) {
      const location = new URL(res.headers.location!, authorizationUrl);
      res = await browser.op.get(location.pathname + location.search);
      continue;
    }
    const action = /<form[^>]*action="([^"]+)"/.exec(res.text ?? '')?.[1];
    if (res.status === 200 && action?.startsWith(APP_BASE_URL)) return { action, fields: hiddenFields(res.text) };
    const prompt = /name="prompt" value="([a-z]+)"/.exec(res.text ?? '')?.[1];
    if (res.status === 200 && action && prompt === 'login') {
      res = await browser.op
        .post(pathOf(new URL(action, authorizationUrl).href))
        .type('form')
        .send({ prompt: 'login', login: account, password: account });
      continue;
    }
    if (res.status === 200 && action && prompt === 'consent') {
      res = await browser.op
        .post(pathOf(new URL(action, authorizationUrl).href))
        .type('form')
        .send({ prompt: 'consent' });
      continue;
    }
    throw new Error(`unexpected provider response ${res.status}: ${String(res.text).slice(0, 300)}`);
  }
  throw new Error('too many steps at the provider');
}

async function startFormPost(browser: Browser, query = ''): Promise<FormPostAnswer> {
  const start = await browser.app.get(`/login${query}`).expect(302);
  const authorizationUrl = new URL(start.headers.location!);
  expect(authorizationUrl.searchParams.get('response_mode')).toBe('form_post');
  return authorizeFormPost(browser, authorizationUrl);
}

/** What the browser does with the provider's page: POST the fields to the callback. */
function post(agent: request.Agent | ReturnType<typeof request>, form: FormPostAnswer | Record<string, string>) {
  const fields = 'fields' in form ? (form.fields as Record<string, string>) : form;
  return agent.post('/callback').type('form').send(fields);
}

const probe = async (browser: Browser) => (await browser.app.get('/probe/oidc').expect(200)).body;

describe('responseMode: form_post', () => {
  it('asks for response_mode=form_post and completes the login from the POSTed form', async () => {
    const { app } = createApp(formPost());
    const browser = newBrowser(app, op.issuer);
    const form = await startFormPost(browser, '?returnTo=/protected');
    expect(form.action).toBe(REDIRECT_URI);
    expect(Object.keys(form.fields).sort()).toEqual(['code', 'iss', 'state']);
    // supertest sends the cookies, as a browser does on a same-site POST (or without SameSite).
    const res = await post(browser.app, form).expect(302);
    expect(res.headers.location).toBe('/protected');
    expect(res.headers['cache-control']).toBe('no-store');
    expect((await probe(browser)).claims.sub).toBe('alice');
    expect(txCookies(browser.app).size).toBe(0);
  });

  it("answers the cross-site POST (no cookies) with a page that POSTs it again from this origin, taking nothing; that POST logs in, in the browser's own session", async () => {
    const { app, store } = createApp(formPost());
    app.get('/visit', (req, res) => {
      (req.session as unknown as { visited: boolean }).visited = true;
      res.send('ok');
    });
    const browser = newBrowser(app, op.issuer);
    await browser.app.get('/visit').expect(200);
    const before = (await probe(browser)).sessionId;
    const form = await startFormPost(browser);

    const crossSite = await post(request(app), form).expect(200);
    expect(crossSite.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(crossSite.headers['cache-control']).toBe('no-store');
    expect(crossSite.headers['referrer-policy']).toBe('no-referrer');
    expect(crossSite.headers['x-frame-options']).toBe('DENY');
    const csp = crossSite.headers['content-security-policy'];
    expect(csp).toMatch(
      /^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'$/,
    );
    expect(crossSite.text).toContain('<form method="post" action="/callback">');
    expect(crossSite.text).toContain('<script>document.forms[0].submit();</script>');
    expect(crossSite.text).toContain('<button type="submit">Continue</button>');
    expect(setCookies(crossSite)).toEqual([]);
    const again = hiddenFields(crossSite.text);
    expect(again).toEqual({ ...form.fields, oidc_resubmit: '1' });

    // The page's POST is same-site: the browser's cookies come along.
    const res = await post(browser.app, again).expect(302);
    expect(res.headers.location).toBe('/');
    const after = await probe(browser);
    expect(after.claims.sub).toBe('alice');
    expect(after.sessionId).not.toBe(before);
    // The browser's session before the login was regenerated, not left behind.
    const old = await storeGet(store, before);
    expect(old).toBeFalsy();
  });

  it('refuses a POST that was posted again and still has no cookie (no loop), and one from another browser', async () => {
    const { app } = createApp(formPost());
    const browser = newBrowser(app, op.issuer);
    const form = await startFormPost(browser);
    const noCookie = await post(request(app), { ...form.fields, oidc_resubmit: '1' }).expect(400);
    expect(noCookie.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
    const other = newBrowser(app, op.issuer);
    await other.app.get('/login').expect(302);
    const fromOther = await post(other.app, { ...form.fields, oidc_resubmit: '1' }).expect(400);
    expect(fromOther.body.code).toBe('ERR_OIDC_MISSING_TRANSACTION');
    expect((await probe(other)).isAuthenticated).toBe(false);
    // The real browser still logs in: nothing was used up.
    await post(browser.app, form).expect(302);
  });

  it('works with pending logins in the session too (the re-POST brings the session cookie)', async () => {
    const { app } = createApp(formPost({ pendingLogins: 'session' }));
    const browser = newBrowser(app, op.issuer);
    const form = await startFormPost(browser);
    const crossSite = await post(request(app), form).expect(200);
    await post(browser.app, hiddenFields(crossSite.text)).expect(302);
    expect((await probe(browser)).isAuthenticated).toBe(true);
  });

  it('sets no session cookie on the page it answers the cross-site POST with, even with saveUninitialized: true', async () => {
    const store = new MemoryStore();
    const { app } = createApp(formPost(), {
      store,
      session: { saveUninitialized: true },
      probes: false,
      routes: (app) => {
        app.get('/probe/oidc', (req, res) =>
          res.json({ isAuthenticated: req.oidc!.isAuthenticated(), sessionId: req.sessionID }),
        );
      },
    });
    const browser = newBrowser(app, op.issuer);
    const form = await startFormPost(browser);
    const stored = () => new Promise<number>((r) => store.length((_e, n) => r(n ?? -1)));
    const before = await stored();
    const crossSite = await post(request(app), form).expect(200);
    expect(setCookies(crossSite)).toEqual([]);
    expect(await stored()).toBe(before);
    await post(browser.app, hiddenFields(crossSite.text)).expect(302);
    expect((await browser.app.get('/probe/oidc')).body.isAuthenticated).toBe(true);
  });

  it('escapes what it echoes into the page', async () => {
    const { app } = createApp(formPost());
    const hostile = '"><script>alert(1)</script>&\'';
    const res = await post(request(app), { state: 'x'.repeat(43), code: hostile, [hostile]: 'v' }).expect(200);
    expect(res.text).not.toContain('<script>alert');
    expect(res.text).toContain('value="&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;&#38;&#39;"');
    expect(hiddenFields(res.text).code).toBe(hostile);
  });

  it('still answers a GET callback (a provider that ignores response_mode)', async () => {
    const { app } = createApp(formPost());
    const browser = newBrowser(app, op.issuer);
    const form = await startFormPost(browser);
    const res = await browser.app.get(`/callback?${new URLSearchParams(form.fields)}`).expect(302);
    expect(res.headers.location).toBe('/');
  });

  it('answers 405 to a POST callback without responseMode: form_post', async () => {
    const { app } = createApp(testOptions(op));
    const res = await request(app).post('/callback').type('form').send({ state: 'x', code: 'y' }).expect(405);
    expect(res.body.code).toBe('ERR_OIDC_METHOD_NOT_ALLOWED');
    expect(res.headers.allow).toBe('GET');
  });

  it('applies the same checks as a GET: a repeated state, a wrong iss, a missing state, a provider error', async () => {
    const { app } = createApp(formPost());
    const browser = newBrowser(app, op.issuer);
    const form = await startFormPost(browser);
    const repeated = await browser.app
      .post('/callback')
      .type('form')
      .send(`${new URLSearchParams(form.fields)}&state=${form.fields.state}`)
      .expect(400);
    expect(repeated.body.code).toBe('ERR_OIDC_INVALID_CALLBACK');
    const noState = await post(browser.app, { code: 'x' }).expect(400);
    expect(noState.body.code).toBe('ERR_OIDC_MISSING_STATE');
    const other = newBrowser(app, op.issuer);
    const second = await startFormPost(other);
    const wrongIss = await post(other.app, { ...second.fields, iss: 'https://evil.example' }).expect(400);
    expect(wrongIss.body.code).toBe('ERR_OIDC_INVALID_CALLBACK');
    const third = newBrowser(app, op.issuer);
    const start = await third.app.get('/login').expect(302);
    const state = new URL(start.headers.location!).searchParams.get('state')!;
    const denied = await post(third.app, { error: 'access_denied', state, iss: op.issuer }).expect(401);
    expect(denied.body.code).toBe('ERR_OIDC_ACCESS_DENIED');
    for (const b of [browser, other, third]) expect((await probe(b)).isAuthenticated).toBe(false);
  });

  it.each([
    ['JSON', 'application/json', '{"state":"x"}'],
    ['text', 'text/plain', 'state=x'],
    [
      'multipart',
      'multipart/form-data; boundary=b',
      '--b\r\nContent-Disposition: form-data; name="state"\r\n\r\nx\r\n--b--',
    ],
  ])('refuses a %s body with 415', async (_name, type, body) => {
    const { app } = createApp(formPost());
    const res = await request(app).post('/callback').set('Content-Type', type).send(body).expect(415);
    expect(res.body.code).toBe('ERR_OIDC_INVALID_CALLBACK');
  });

  it('refuses a body without a content type with 415', async () => {
    const { app } = createApp(formPost());
    const res = await request(app).post('/callback').expect(415);
    expect(res.body.code).toBe('ERR_OIDC_INVALID_CALLBACK');
  });

  it('refuses a body over the limit with 413, by its Content-Length or as it arrives', async () => {
    const { app } = createApp(formPost());
    const big = `state=${'x'.repeat(43)}&code=${'c'.repeat(MAX_CALLBACK_BODY)}`;
    const declared = await request(app).post('/callback').type('form').send(big).expect(413);
    expect(declared.body.code).toBe('ERR_OIDC_INVALID_CALLBACK');
    // Chunked, without a Content-Length.
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const { port } = server.address() as { port: number };
      const stream = new ReadableStream({
        start(controller) {
          for (let i = 0; i < 8; i++)
            controller.enqueue(new TextEncoder().encode(big.slice(i * 5000, (i + 1) * 5000) || 'c'.repeat(5000)));
          controller.close();
        },
      });
      const res = await fetch(`http://127.0.0.1:${port}/callback`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      expect(res.status).toBe(413);
      expect(((await res.json()) as { code: string }).code).toBe('ERR_OIDC_INVALID_CALLBACK');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('uses req.body when a body parser already read it (express.urlencoded, Express 5 and 4), and refuses nested fields', async () => {
    for (const [framework, extended] of [
      [express, false],
      [express, true],
      [express4 as unknown as typeof express, true],
    ] as const) {
      const store = new MemoryStore();
      const { app } = createApp(formPost(), {
        framework,
        store,
        before: (app) => app.use(framework.urlencoded({ extended })),
        probes: false,
        routes: (app) => {
          app.get('/probe/oidc', (req, res) => res.json({ isAuthenticated: req.oidc!.isAuthenticated() }));
        },
      });
      const browser = newBrowser(app, op.issuer);
      const form = await startFormPost(browser);
      await post(browser.app, form).expect(302);
      expect((await browser.app.get('/probe/oidc')).body.isAuthenticated).toBe(true);
      if (extended) {
        const nested = await browser.app.post('/callback').type('form').send('state[a]=b&code=c').expect(400);
        expect(nested.body.code).toBe('ERR_OIDC_INVALID_CALLBACK');
      }
    }
  });
});

describe('a provider that does not offer form_post', () => {
  const hp = useHostileProvider({ metadata: { response_modes_supported: ['query', 'fragment'] } });

  it('makes logins fail with 502 ERR_OIDC_PROVIDER_MISMATCH naming the option', async () => {
    const { app } = createApp(testOptions(hp, { responseMode: 'form_post', logger: false }));
    const res = await request(app).get('/login').expect(502);
    expect(res.body.code).toBe('ERR_OIDC_PROVIDER_MISMATCH');
    expect(res.body.message).toMatch(/"responseMode"/);
    expect(hp.counts.authorize).toBe(0);
  });
});
