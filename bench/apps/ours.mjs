/* global process */
/**
 * express-oidc-login (this package, from dist/: `npm run build` first), with its defaults:
 * code flow + PKCE + state + nonce, ID token signature verified with jose against the JWKS,
 * a new session id at login, the back-channel logout index (one store record per user) on.
 *
 * BENCH_DIST (a dist/ folder) loads the package from there instead, so that bench/ab.mjs can run
 * two builds side by side with the same app.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import express from 'express';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  ISSUER,
  LOGIN_SCOPE,
  REFRESH_ROUTE,
  countRequests,
  counters,
  newStore,
  serve,
  sessionMiddleware,
} from './common.mjs';

const { oidcLogin, requireAuth } = await import(
  process.env.BENCH_DIST ? pathToFileURL(path.join(process.env.BENCH_DIST, 'index.js')).href : '../../dist/index.js'
);

await serve(async (baseUrl) => {
  const store = await newStore();
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
      scope: LOGIN_SCOPE,
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
  if (REFRESH_ROUTE) {
    // The login's tokens refreshed now (under the coordinator's lock with Redis), saved to the store.
    app.get('/bench/refresh', requireAuth(), async (req, res, next) => {
      try {
        const before = req.oidc.accessToken;
        const token = await req.oidc.getAccessToken({ forceRefresh: true });
        res.json({ renewed: token !== before });
      } catch (err) {
        next(err);
      }
    });
  }
  return { handler: app, store };
});
