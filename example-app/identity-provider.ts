/**
 * A small OpenID Provider for trying the example app without an account anywhere: npm
 * oidc-provider with a few demo users, a real login page (the password is checked) and consent
 * given automatically for its registered clients. Everything is kept in memory.
 *
 * For demonstrations and tests only: the users and their passwords are in this file.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import Provider, {
  errors,
  interactionPolicy,
  type ClientMetadata,
  type Configuration,
  type Interaction,
  type InteractionResults,
  type KoaContextWithOIDC,
} from 'oidc-provider';
import { assets, html, page, Html } from './html.js';
import { createMemoryAdapter } from './memory-adapter.js';
import { ORDERS_API_PATH } from './orders-api.js';

export interface DemoUser {
  /** Checked by the login form. */
  password: string;
  /** The user's claims besides `sub` (which is the login name). */
  claims: Record<string, unknown>;
}

/** The demo users: log in as alice (password alice) or bob (password bob, group admin). */
export const DEMO_USERS: Readonly<Record<string, DemoUser>> = Object.freeze({
  alice: {
    password: 'alice',
    claims: { name: 'Alice Liddell', email: 'alice@example.com', email_verified: true, groups: ['users'] },
  },
  bob: {
    password: 'bob',
    claims: { name: 'Bob Builder', email: 'bob@example.com', email_verified: true, groups: ['users', 'admin'] },
  },
});

/** The client id of the app registered by {@link startIdentityProvider}. */
export const DEMO_CLIENT_ID = 'example-app';

export interface IdentityProviderOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to listen on, e.g. '127.0.0.1'. Default: all interfaces. The issuer names this host when it is an IP address, else `localhost`. */
  host?: string;
  /** The app's public URL: the demo client's redirect URI is `appBaseUrl + '/callback'`. */
  appBaseUrl: string;
  /** The demo client's secret. Default: a random one (read it from the result). */
  clientSecret?: string;
  /** More clients to register besides the demo client. */
  clients?: ClientMetadata[];
  /** The users who can log in, by login name. Default {@link DEMO_USERS}. */
  users?: Readonly<Record<string, DemoUser>>;
}

export interface IdentityProvider {
  /** The issuer URL, e.g. `http://localhost:3001`: give it to the app as its issuer. */
  readonly issuer: string;
  readonly port: number;
  /** The registered demo client. */
  readonly client: { readonly clientId: string; readonly clientSecret: string };
  /** The provider's signing keys (JWKS): what the app's orders API verifies its access tokens with. */
  readonly jwksUri: string;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** Starts the provider; resolves once it is listening. */
export async function startIdentityProvider(options: IdentityProviderOptions): Promise<IdentityProvider> {
  const appBaseUrl = options.appBaseUrl.replace(/\/+$/, '');
  const clientSecret = options.clientSecret ?? randomBytes(32).toString('base64url');
  const users = new Map(Object.entries(options.users ?? DEMO_USERS));
  const clients: ClientMetadata[] = [
    {
      client_id: DEMO_CLIENT_ID,
      client_secret: clientSecret,
      client_name: 'express-oidc-login example app',
      redirect_uris: [`${appBaseUrl}/callback`],
      post_logout_redirect_uris: [`${appBaseUrl}/`],
      // Logging out here ends the app's session too (OpenID Connect Back-Channel Logout).
      backchannel_logout_uri: `${appBaseUrl}/backchannel-logout`,
      backchannel_logout_session_required: true,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    ...(options.clients ?? []),
  ];

  // Listen first (port 0 becomes a real port), then build the provider for that issuer.
  const ready: { handler?: (req: IncomingMessage, res: ServerResponse) => void } = {};
  const server = createServer((req, res) => {
    if (ready.handler) ready.handler(req, res);
    else res.writeHead(503, { 'Retry-After': '1' }).end();
  });
  const port = await listen(server, options.port ?? 0, options.host);
  const issuer = issuerUrl(options.host, port);

  const provider = new Provider(issuer, await configuration(clients, users, `${appBaseUrl}${ORDERS_API_PATH}`));
  // oidc-provider reports its own errors through events; a failing request is answered anyway.
  provider.on('server_error', (_ctx: unknown, err: unknown) => {
    console.error('demo identity provider: server error:', err);
  });
  ready.handler = providerApp(provider, clients, users);

  return {
    issuer,
    port,
    client: { clientId: DEMO_CLIENT_ID, clientSecret },
    jwksUri: `${issuer}/jwks`,
    close: () => closeServer(server),
  };
}

async function configuration(
  clients: ClientMetadata[],
  users: Map<string, DemoUser>,
  ordersApi: string,
): Promise<Configuration> {
  // A fresh RS256 signing key at every start: tokens do not outlive the process anyway.
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);

  return {
    clients,
    adapter: createMemoryAdapter(),
    jwks: { keys: [{ ...jwk, kid, alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    responseTypes: ['code'],
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username', 'picture', 'updated_at'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    findAccount: (_ctx, sub) => {
      const user = users.get(sub);
      return user && { accountId: sub, claims: () => ({ ...user.claims, sub }) };
    },
    // The claims of the granted scopes go into the ID token too (not only to userinfo), so the
    // app has them right after login.
    conformIdTokenClaims: false,
    // oidc-provider's outgoing requests (the back-channel logout POST) refuse loopback addresses
    // to guard real deployments against SSRF; the demo's app is on this machine, so only its
    // loopback requests go without that guard.
    fetch: (input, init) => {
      const url = new URL(input instanceof Request ? input.url : input);
      if (!/^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/.test(url.hostname)) return globalThis.fetch(input, init);
      const { dispatcher: _guard, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
      return globalThis.fetch(input, rest);
    },
    // Our own login page below, not oidc-provider's development one (which accepts any login).
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true, allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      backchannelLogout: { enabled: true },
      // Access tokens for the app's orders API (RFC 8707): a JWT whose audience is that API, which
      // it verifies with this provider's keys. Any other resource is refused. Without a resource,
      // a token for userinfo, as before (the login's own).
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== ordersApi) throw new errors.InvalidTarget();
          return {
            scope: 'orders:read',
            audience: ordersApi,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 15 * 60,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}`, policy: demoPolicy() },
    pkce: { required: () => true },
    // oidc-provider grants offline_access only with prompt=consent (OpenID Connect Core 11),
    // which the app does not send; the demo gives its clients refresh tokens all the same,
    // valid as long as the login session at the provider.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    clientBasedCORS: () => false,
    renderError,
    // Lifetimes in seconds, chosen for a demo (explicit, so oidc-provider does not warn).
    ttl: {
      AccessToken: 15 * 60,
      AuthorizationCode: 60,
      ClientCredentials: 10 * 60,
      IdToken: 60 * 60,
      RefreshToken: 24 * 60 * 60,
      Interaction: 30 * 60,
      Session: 8 * 60 * 60,
      Grant: 24 * 60 * 60,
    },
  };
}

const SITE = 'Demo identity provider';

/** The HTTP side: security headers, the stylesheet, the login pages, then oidc-provider itself. */
function providerApp(provider: Provider, clients: ClientMetadata[], users: Map<string, DemoUser>) {
  const app = express();
  app.disable('x-powered-by');
  // Forms may post here and, after the login, lead on to the registered apps.
  const appOrigins = new Set(clients.flatMap((c) => (c.redirect_uris ?? []).map((uri) => new URL(uri).origin)));
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          styleSrc: ["'self'"],
          formAction: ["'self'", ...appOrigins],
          frameAncestors: ["'none'"],
          // The demo provider speaks http on loopback; do not ask browsers to upgrade.
          upgradeInsecureRequests: null,
        },
      },
      strictTransportSecurity: false,
    }),
  );
  app.use('/assets', assets());

  const clientName = (interaction: Interaction): string => {
    const id = interaction.params.client_id;
    const client = clients.find((c) => c.client_id === id);
    return client?.client_name ?? (typeof id === 'string' ? id : 'the application');
  };

  /** The interaction of this request, or a 400 when the cookie names another one. */
  const details = async (req: Request<{ uid: string }>, res: Response): Promise<Interaction> => {
    const interaction = await provider.interactionDetails(req, res);
    if (interaction.uid !== req.params.uid) throw new errors.SessionNotFound('interaction mismatch');
    res.set('Cache-Control', 'no-store');
    return interaction;
  };

  app.get('/interaction/:uid', async (req: Request<{ uid: string }>, res: Response) => {
    const interaction = await details(req, res);
    if (interaction.prompt.name === 'login' || interaction.prompt.name === 'create') {
      const hint = interaction.params.login_hint;
      res.type('html').send(
        loginPage(interaction.uid, clientName(interaction), {
          login: typeof hint === 'string' ? hint : '',
          signUp: interaction.prompt.name === 'create',
        }),
      );
      return;
    }
    if (interaction.prompt.name === 'consent') {
      await provider.interactionFinished(req, res, await autoConsent(provider, interaction), {
        mergeWithLastSubmission: true,
      });
      return;
    }
    throw new Error(`unsupported interaction prompt "${interaction.prompt.name}"`);
  });

  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 });

  app.post('/interaction/:uid/login', form, async (req: Request<{ uid: string }>, res: Response) => {
    const interaction = await details(req, res);
    const signUp = interaction.prompt.name === 'create';
    if (interaction.prompt.name !== 'login' && !signUp) throw new errors.SessionNotFound('not at the login step');
    const body: unknown = req.body;
    const login = field(body, 'login').trim();
    const user = users.get(login);
    if (!passwordMatches(user, field(body, 'password'))) {
      res
        .type('html')
        .send(
          loginPage(interaction.uid, clientName(interaction), { login, signUp, error: 'Wrong user name or password.' }),
        );
      return;
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: login }, ...(signUp && { create: {} }) },
      { mergeWithLastSubmission: false },
    );
  });

  app.post('/interaction/:uid/abort', async (req: Request<{ uid: string }>, res: Response) => {
    await details(req, res);
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'The user cancelled the login.' },
      { mergeWithLastSubmission: false },
    );
  });

  app.use('/interaction', interactionError);
  const oidc = provider.callback();
  app.use((req, res) => {
    void oidc(req, res);
  });
  return app;
}

/** Consent without asking: every registered client is the demo's own first-party app. */
async function autoConsent(provider: Provider, interaction: Interaction): Promise<InteractionResults> {
  const accountId = interaction.session?.accountId;
  const clientId = interaction.params.client_id;
  if (!accountId || typeof clientId !== 'string') throw new errors.SessionNotFound('no login for this consent');
  const grant =
    (interaction.grantId && (await provider.Grant.find(interaction.grantId))) ||
    new provider.Grant({ accountId, clientId });
  const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = interaction.prompt.details;
  if (isStringArray(missingOIDCScope)) grant.addOIDCScope(missingOIDCScope.join(' '));
  if (isStringArray(missingOIDCClaims)) grant.addOIDCClaims(missingOIDCClaims);
  if (missingResourceScopes && typeof missingResourceScopes === 'object') {
    for (const [resource, scopes] of Object.entries(missingResourceScopes)) {
      if (isStringArray(scopes)) grant.addResourceScope(resource, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  return { consent: interaction.grantId ? {} : { grantId } };
}

/**
 * oidc-provider's interactions, and `prompt=create` (OpenID Connect Prompt Create 1.0) for the
 * app's "Sign up" button: a requestable prompt, answered here by the login page under a sign-up
 * title (the demo's users are fixed).
 */
function demoPolicy(): ReturnType<typeof interactionPolicy.base> {
  const policy = interactionPolicy.base();
  policy.add(new interactionPolicy.Prompt({ name: 'create', requestable: true }), 0);
  return policy;
}

function loginPage(
  uid: string,
  clientName: string,
  state: { login: string; signUp?: boolean; error?: string },
): string {
  const title = state.signUp ? 'Sign up' : 'Log in';
  return page({
    site: SITE,
    title,
    body: html`<h1>${title}</h1>
${state.signUp ? html`<p class="muted">The demo identity provider creates no accounts: sign up as one of its demo users.</p>` : ''}
<p class="muted">to continue to <strong>${clientName}</strong></p>
${state.error ? html`<p class="error" role="alert">${state.error}</p>` : ''}
<form class="login" method="post" action="/interaction/${uid}/login">
<label>User name <input name="login" autocomplete="username" required autofocus value="${state.login}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<div class="actions">
<button type="submit">Log in</button>
<button type="submit" class="secondary" formaction="/interaction/${uid}/abort" formnovalidate>Cancel</button>
</div>
</form>
<p class="hint muted">This is the example app's demo identity provider. Its users and their passwords are printed in the terminal that runs <code>npm start</code>.</p>`,
  });
}

/** Renders failures of the login pages (an expired or replayed login, mostly) as a page. */
function interactionError(err: unknown, _req: Request, res: Response, next: NextFunction): void {
  if (res.headersSent) {
    next(err);
    return;
  }
  const expired = err instanceof errors.SessionNotFound;
  if (!expired) console.error('demo identity provider: login page error:', err);
  res
    .status(expired ? 400 : 500)
    .set('Cache-Control', 'no-store')
    .type('html')
    .send(
      page({
        site: SITE,
        title: 'Login interrupted',
        body: html`<h1>This login cannot go on</h1>
<p>${expired ? 'This login page has expired or was already used.' : 'Something went wrong at the identity provider.'}
Go back to the application and log in again.</p>`,
      }),
    );
}

async function renderError(
  ctx: KoaContextWithOIDC,
  out: { error: string; error_description?: string | undefined },
): Promise<void> {
  ctx.type = 'html';
  ctx.body = page({
    site: SITE,
    title: 'Error',
    body: html`<h1>The identity provider cannot go on</h1>
<p>${out.error_description ?? 'The request was not valid.'}</p>
<p class="muted">Error: <code>${out.error}</code></p>`,
  });
}

async function logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  ctx.type = 'html';
  ctx.body = page({
    site: SITE,
    title: 'Log out',
    // `form` is oidc-provider's own hidden form (with its CSRF token): HTML it made, not input.
    body: html`<h1>Log out of the identity provider?</h1>
${new Html(form)}
<div class="actions">
<button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Yes, log me out</button>
<button type="submit" form="op.logoutForm" class="secondary">No, stay logged in</button>
</div>`,
  });
}

async function postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
  ctx.type = 'html';
  ctx.body = page({
    site: SITE,
    title: 'Logged out',
    body: html`<h1>You are logged out</h1><p>You may close this page.</p>`,
  });
}

function field(body: unknown, name: string): string {
  if (typeof body !== 'object' || body === null) return '';
  const value: unknown = (body as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : '';
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** Compares in constant time, and as long for an unknown user as for a known one. */
function passwordMatches(user: DemoUser | undefined, password: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  const same = timingSafeEqual(digest(user?.password ?? randomBytes(16).toString('hex')), digest(password));
  return user !== undefined && password !== '' && same;
}

function issuerUrl(host: string | undefined, port: number): string {
  if (host === undefined || host === '' || host === '0.0.0.0' || host === '::') return `http://localhost:${port}`;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function listen(server: Server, port: number, host: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
