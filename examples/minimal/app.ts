/**
 * The minimal app of the README's front page, as a file that the tests type-check: the README shows
 * the region below verbatim (test/docs.test.ts keeps the two equal). Run it with the environment
 * variables it reads (OIDC_ISSUER_URL, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, SESSION_SECRET; PORT and BASE_URL
 * optional). test/minimal-app.test.ts runs it, as it is, against the test kit's provider.
 */
// #region minimal-app
import express from 'express';
import session from 'express-session';
import { authenticated, claimIncludes, oidcErrorHandler, oidcLogin, requireAuth } from 'express-oidc-login';

const port = Number(process.env.PORT ?? 3000);
const baseUrl = process.env.BASE_URL ?? `http://localhost:${port}`; // register baseUrl + '/callback' at the provider

const app = express();
// Behind a proxy that terminates TLS: app.set('trust proxy', 1), or the Secure cookie is never set.
app.use(
  session({
    secret: process.env.SESSION_SECRET!, // a long random string
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure: baseUrl.startsWith('https:') },
    // store: in production a shared store (Redis...), not the default MemoryStore
  }),
);
app.use(
  oidcLogin({
    issuer: process.env.OIDC_ISSUER_URL!, // e.g. https://sso.example.com/realms/myrealm
    clientId: process.env.OIDC_CLIENT_ID!,
    clientSecret: process.env.OIDC_CLIENT_SECRET!,
    baseUrl,
  }),
);

const logoutButton = '<form method="post" action="/logout"><button>Log out</button></form>';
app.get('/', (req, res) => {
  res.send(
    req.oidc?.isAuthenticated() ? `<a href="/profile">Profile</a> ${logoutButton}` : '<a href="/login">Log in</a>',
  );
});
app.get('/profile', requireAuth(), (req, res) => {
  res.json(authenticated(req).claims);
});
app.get('/admin', requireAuth(claimIncludes('groups', 'admin')), (_req, res) => {
  res.send('Only for admins.');
});

// Errors (403 on /admin, the provider down...): a short page, or JSON for API clients; no stack trace.
// #region error-handler
app.use(oidcErrorHandler());
// #endregion error-handler

app.listen(port, () => console.log(`Listening on ${baseUrl}`));
// #endregion
