const express = require('express');
const session = require('express-session');
// ESM-only package, loaded by require() on Node >= 20.19 (require(esm)).
const { claimIncludes, oidcErrorHandler, oidcLogin, requireAuth } = require('express-oidc-login');

/** The app, built from options so that tests can point it at the test provider. */
function createApp(oidc) {
  const app = express();
  app.use(session({ secret: 'dev-only', resave: false, saveUninitialized: false }));
  app.use(oidcLogin({ scope: 'openid profile email offline_access', ...oidc }));
  app.get('/profile', requireAuth(), (req, res) => {
    res.json(req.oidc.claims);
  });
  app.get('/admin', requireAuth(claimIncludes('groups', 'admin')), (_req, res) => {
    res.send('admin');
  });
  app.use(oidcErrorHandler());
  return app;
}

module.exports = { createApp };
