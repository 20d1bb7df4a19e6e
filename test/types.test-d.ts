// Compilation is the assertion: `npm run typecheck` compiles this file and fails if the public
// types change shape. Nothing here runs.
import express from 'express';
import session from 'express-session';
import {
  claimCheck,
  claimEquals,
  claimIncludes,
  isAuthenticated,
  oidcLogin,
  OidcError,
  requireAuth,
  type IDToken,
  type OidcErrorCode,
  type OidcLoginOptions,
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

app.get('/p', requireAuth(claimIncludes('groups', 'admin'), claimEquals('email_verified', true), claimCheck((c) => c.sub !== '')), (req, res) => {
  // req.oidc is optional on Express.Request (routes may be mounted before the middleware)...
  const maybe: IDToken | undefined = req.oidc?.claims;
  void maybe;
  // ...and narrowed by isAuthenticated().
  if (isAuthenticated(req)) {
    const sub: string = req.oidc.claims.sub;
    const token: string = req.oidc.accessToken;
    res.json({ sub, token });
  }
});

app.use(((err, _req, res, next) => {
  if (err instanceof OidcError) {
    const code: OidcErrorCode = err.code;
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
