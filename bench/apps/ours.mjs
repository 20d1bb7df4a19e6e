/**
 * express-oidc-login (this package, from dist/: `npm run build` first), with its defaults:
 * code flow + PKCE + state + nonce, ID token signature verified with jose against the JWKS,
 * a new session id at login, the back-channel logout index (one store record per user) on.
 */
import express from 'express';
import { oidcLogin, requireAuth } from '../../dist/index.js';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  ISSUER,
  countRequests,
  counters,
  newStore,
  serve,
  sessionMiddleware,
} from './common.mjs';

await serve(async (baseUrl) => {
  const store = newStore();
  const app = express();
  app.disable('x-powered-by');
  app.use(countRequests);
  app.use(sessionMiddleware(store));
  app.use(
    oidcLogin({
      issuer: ISSUER,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      baseUrl,
      dangerouslyAllowInsecureHttp: true, // the bench provider is http on 127.0.0.1
    }),
  );
  app.get('/', (_req, res) => {
    res.send('home');
  });
  app.get('/api/me', requireAuth(), (req, res) => {
    counters.ok++;
    res.json({ sub: req.oidc.claims.sub });
  });
  return { handler: app, store };
});
