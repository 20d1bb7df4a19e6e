// #region app
import express from 'express';
import session from 'express-session';
import { claimIncludes, oidcErrorHandler, oidcLogin, requireAuth, type OidcLoginOptions } from 'express-oidc-login';

// Build the app from options, so tests can point it at the test provider.
export function createApp(oidc: OidcLoginOptions) {
  const app = express();
  app.use(session({ secret: 'dev-only', resave: false, saveUninitialized: false }));
  app.use(oidcLogin({ scope: 'openid profile email offline_access', ...oidc }));
  app.get('/profile', requireAuth(), (req, res) => {
    res.json(req.oidc!.claims);
  });
  app.get('/admin', requireAuth(claimIncludes('groups', 'admin')), (_req, res) => {
    res.send('admin');
  });
  app.get('/api/me', requireAuth(), async (req, res) => {
    await req.oidc!.getAccessToken();
    res.json({ sub: req.oidc!.claims!.sub });
  });
  app.use(oidcErrorHandler());
  return app;
}
// #endregion
