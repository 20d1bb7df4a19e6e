// Compilation is the assertion: `npm run typecheck` compiles this file and fails if the public
// types change shape. Nothing here runs.
import express from 'express';
import session from 'express-session';
import {
  authenticated,
  claimCheck,
  claimEquals,
  claimIncludes,
  github,
  google,
  isAuthenticated,
  oidcLogin,
  OidcError,
  requireAuth,
  type DPoPAlg,
  type DPoPOptions,
  type IDToken,
  type JsonValue,
  type LoginOptions,
  type LoginClaims,
  type OidcErrorCode,
  type StoredDPoPKey,
  type StoredResourceToken,
  type OidcEvent,
  type OidcLoginOptions,
  type ProfileClaims,
  type ProviderOptions,
} from '../lib/index.js';

const app = express();
app.use(session({ secret: 's', resave: false, saveUninitialized: false }));

const options: OidcLoginOptions = {
  issuer: 'https://idp.example.com',
  clientId: 'id',
  clientSecret: 'secret',
  baseUrl: 'https://app.example.com',
  authorizationParams: { prompt: 'login', max_age: 3600 },
  routes: { login: '/signin', callback: false },
};
app.use(oidcLogin(options));

// @ts-expect-error baseUrl is required
oidcLogin({ issuer: 'https://idp.example.com', clientId: 'id', clientSecret: 'secret' });
// @ts-expect-error clientAuthMethod is a closed set
oidcLogin({ ...options, clientAuthMethod: 'none' });
// Pending logins, their key (one, or several to rotate), form_post.
oidcLogin({
  ...options,
  pendingLogins: 'cookie',
  secret: ['new-secret-of-at-least-32-characters', 'old-secret-of-at-least-32-characters'],
  responseMode: 'form_post',
});
oidcLogin({ ...options, pendingLogins: 'session', secret: 'a-secret-of-at-least-32-characters!!' });
// @ts-expect-error pendingLogins is 'cookie' or 'session'
oidcLogin({ ...options, pendingLogins: 'redis' });
// @ts-expect-error responseMode is 'query' or 'form_post'
oidcLogin({ ...options, responseMode: 'fragment' });
// private_key_jwt with the key's certificate (Entra ID certificate credentials).
oidcLogin({
  ...options,
  clientAuthMethod: 'private_key_jwt',
  clientPrivateKey: { key: 'pem', certificate: 'pem', alg: 'PS256' },
});
// express-session inside the login middleware: its own type fits.
app.use(oidcLogin({ ...options, session: session({ secret: 's', resave: false, saveUninitialized: false }) }));
oidcLogin({ ...options, session: (_req, _res, next) => next() });
// @ts-expect-error "session" is a middleware, not express-session's options
oidcLogin({ ...options, session: { secret: 's' } });

app.get(
  '/p',
  requireAuth(
    claimIncludes('groups', 'admin'),
    claimEquals('email_verified', true),
    claimCheck((c) => c.sub !== ''),
  ),
  (req, res) => {
    // req.oidc is optional on Express.Request (routes may be mounted before the middleware)...
    const maybe: LoginClaims | undefined = req.oidc?.claims;
    void maybe;
    // ...and narrowed by isAuthenticated().
    if (isAuthenticated(req)) {
      const sub: string = req.oidc.claims.sub;
      const token: string = req.oidc.accessToken;
      // An ID token tells an OpenID Connect login from a plain OAuth 2.0 one.
      if (req.oidc.idToken !== undefined) {
        const claims: IDToken = req.oidc.claims;
        const idToken: string = req.oidc.idToken;
        void [claims.iss, idToken];
      } else {
        const claims: ProfileClaims = req.oidc.claims;
        // The configured issuer: (iss, sub) names the user for both kinds of login.
        const iss: string = claims.iss;
        // @ts-expect-error a mapped profile has no typed "auth_time" (only an ID token vouches for it)
        const authTime: number = claims.auth_time;
        void [iss, authTime];
      }
      res.json({ sub, token });
    }
  },
);

// Behind requireAuth(), authenticated(req) is the login without `!` (it throws a 401 without one).
app.get('/me', requireAuth(), (req, res) => {
  const login = authenticated(req);
  const sub: string = login.claims.sub;
  const token: string = login.accessToken;
  const provider: string = login.provider;
  if (login.idToken !== undefined) {
    const claims: IDToken = login.claims;
    void claims.iss;
  }
  // @ts-expect-error req.oidc itself stays optional: the route may be mounted without the middleware
  void req.oidc.claims;
  res.json({ sub, token, provider });
});
app.get('/me/async', requireAuth(), async (req, res) => {
  const token = await authenticated(req).getAccessToken();
  res.json({ token, email: authenticated(req).claims.email });
});
// @ts-expect-error authenticated() takes a request
authenticated();

// Plain OAuth 2.0 providers: the presets spread into the options, or the endpoints by hand.
app.use(oidcLogin({ ...github({ clientId: 'id', clientSecret: 's' }), baseUrl: 'https://app.example.com' }));
app.use(
  oidcLogin({ ...google({ clientId: 'id', clientSecret: 's', offline: true }), baseUrl: 'https://app.example.com' }),
);
oidcLogin({
  server: {
    authorizationEndpoint: 'https://as/authorize',
    tokenEndpoint: 'https://as/token',
    userinfoEndpoint: 'https://as/me',
  },
  clientId: 'id',
  clientSecret: 's',
  baseUrl: 'https://app.example.com',
  scope: 'profile',
  profile: async (user, tokens, api) => ({
    sub: String(user.id),
    name: user.name,
    scope: tokens.scope,
    orgs: await api.get('https://as/orgs'),
  }),
});
oidcLogin({ ...options, discovery: 'oauth2' });
// @ts-expect-error discovery is 'oidc' or 'oauth2'
oidcLogin({ ...options, discovery: 'oauth' });
// @ts-expect-error server needs a token endpoint
oidcLogin({ ...options, issuer: undefined, server: { authorizationEndpoint: 'https://as/authorize' } });
// @ts-expect-error profile must return a sub
oidcLogin({ ...options, profile: () => ({ name: 'x' }) });

app.use(((err, _req, res, next) => {
  if (err instanceof OidcError) {
    const code: OidcErrorCode = err.code;
    if (code === 'ERR_OIDC_PROVIDER_MIXUP') res.status(400);
    const status: number = err.status;
    res.status(status).send(code);
    return;
  }
  next(err);
}) as express.ErrorRequestHandler);

// The session data is typed too.
app.get('/s', (req, res) => {
  const pending = req.session.oidc?.tx;
  res.json(Object.keys(pending ?? {}));
});

// DPoP: true or { alg } from a closed set; the login's key is typed in the session.
oidcLogin({ ...options, dpop: true });
oidcLogin({ ...options, dpop: { alg: 'EdDSA' } });
const dpopOptions: DPoPOptions = { alg: 'ES256' };
void dpopOptions;
// @ts-expect-error DPoP proofs are signed with an asymmetric key
oidcLogin({ ...options, dpop: { alg: 'HS256' } });
// @ts-expect-error no RSA keys: one per login would cost ~170 ms of CPU at each callback
oidcLogin({ ...options, dpop: { alg: 'RS256' } });
// @ts-expect-error the option is dpop: { alg }, not a string
oidcLogin({ ...options, dpop: 'ES256' });
app.get('/dpop', (req, res) => {
  const key: StoredDPoPKey | undefined = req.session.oidc?.login?.dpop;
  const alg: DPoPAlg | undefined = key?.alg;
  res.json({ jkt: key?.jkt, alg });
});

// req.oidc.fetch(): fetch's own signature, resolving with a Response.
app.get('/orders', async (req, res, next) => {
  if (!isAuthenticated(req)) return next();
  const r: Response = await req.oidc.fetch('https://api.example.com/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  const r2: Response = await req.oidc.fetch(new URL('https://api.example.com/orders'));
  // @ts-expect-error a URL string or URL object only
  await req.oidc.fetch(42);
  res.status(r.status).json({ ok: r2.ok });
});

// Tokens for several APIs: getAccessToken({ resource, scope }), fetch(url, { resource }), the options.
app.get('/stock', async (req, res, next) => {
  if (!isAuthenticated(req)) return next();
  const token: string = await req.oidc.getAccessToken({ resource: 'https://stock.example.com/', scope: 'stock:read' });
  const r: Response = await req.oidc.fetch('https://stock.example.com/v1', { resource: 'https://stock.example.com/' });
  // @ts-expect-error a resource is a string
  await req.oidc.getAccessToken({ resource: new URL('https://stock.example.com/') });
  const kept: StoredResourceToken | undefined = req.session.oidc?.login?.resources?.['https://stock.example.com/'];
  res.json({ token, ok: r.ok, kept: kept?.expiresAt });
});
const severalApis: OidcLoginOptions = {
  issuer: 'https://op.example.com',
  clientId: 'c',
  clientSecret: 's',
  baseUrl: 'https://app.example.com',
  resources: ['https://orders.example.com/'],
  resourceParameter: 'audience',
  discoveryMaxAge: false,
  routes: { frontchannelLogout: '/fcl' },
};
void severalApis;

// Several providers: each entry takes the provider-level options, and a label.
const multi: OidcLoginOptions = {
  baseUrl: 'https://app.example.com',
  scope: 'openid profile',
  defaultProvider: 'staff',
  providers: {
    staff: {
      issuer: 'https://idp.example.com',
      clientId: 'id',
      clientSecret: 'secret',
      label: 'Staff',
      logout: { idpLogout: false },
    },
    partners: {
      issuer: 'https://partners.example.com',
      clientId: 'id',
      clientAuthMethod: 'client_secret_post',
      clientSecret: 's',
    },
  },
};
app.use(oidcLogin(multi));
// The presets are entries as they are.
oidcLogin({
  baseUrl: 'https://app.example.com',
  providers: {
    github: { ...github({ clientId: 'id', clientSecret: 's' }), label: 'GitHub' },
    google: google({ clientId: 'g', clientSecret: 's' }),
  },
});
const entry: ProviderOptions = {
  issuer: 'https://idp.example.com',
  clientId: 'id',
  clientSecret: 'secret',
  scope: 'openid',
};
void entry;
// prettier-ignore
// @ts-expect-error baseUrl is app-level: not inside a provider
oidcLogin({ baseUrl: 'https://app.example.com', providers: { a: { issuer: 'https://a', clientId: 'id', baseUrl: 'https://x' } } });
// prettier-ignore
// @ts-expect-error routes are app-level: each provider's are derived from them
oidcLogin({ baseUrl: 'https://app.example.com', providers: { a: { issuer: 'https://a', clientId: 'id', routes: { login: '/x' } } } });
// prettier-ignore
// @ts-expect-error logout.allowGet is app-level (the /logout route is shared)
oidcLogin({ baseUrl: 'https://app.example.com', providers: { a: { issuer: 'https://a', clientId: 'id', logout: { allowGet: false } } } });
// @ts-expect-error a provider's label is a string
oidcLogin({ baseUrl: 'https://app.example.com', providers: { a: { issuer: 'https://a', clientId: 'id', label: 1 } } });

app.get('/who', (req, res) => {
  // The provider that logged the user in: a name of `providers`, or 'default'; undefined when not logged in.
  const maybe: string | undefined = req.oidc?.provider;
  void maybe;
  if (isAuthenticated(req)) {
    const provider: string = req.oidc.provider;
    res.json({ provider });
  }
});

// Audit events say which provider.
oidcLogin({ ...multi, on: { login: (e: OidcEvent) => void (e.provider satisfies string | undefined) } });
// The stored login and transaction name their provider.
app.get('/stored', (req, res) => {
  const stored: string | undefined = req.session.oidc?.login?.provider;
  const pending: (string | undefined)[] = Object.values(req.session.oidc?.tx ?? {}).map((t) => t.provider);
  res.json({ stored, pending });
});

// Login parameters per request, req.oidc.login() and its appState, keepSessionData, fetchUserInfo 'auto'.
oidcLogin({
  ...options,
  authorizationParamsFromQuery: ['login_hint', 'ui_locales'],
  keepSessionData: ['cart'],
  fetchUserInfo: 'auto',
  afterCallback: (_req, _res, login, { appState }) => {
    const state: JsonValue | undefined = appState;
    void state;
    return login;
  },
});
oidcLogin({ ...options, keepSessionData: 'all', fetchUserInfo: false });
// @ts-expect-error keepSessionData is 'all', a list or false
oidcLogin({ ...options, keepSessionData: true });
app.get('/signup', (req, _res, next) => {
  const login: LoginOptions = {
    returnTo: '/welcome',
    authorizationParams: { prompt: 'create' },
    appState: { plan: 'pro' },
  };
  req.oidc?.login(login).catch(next);
});
