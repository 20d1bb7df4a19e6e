/* global URL */
/**
 * passport 0.7 + openid-client v6's own strategy (`openid-client/passport`), on express-session
 * with the same store and settings. `enableNonRepudiationChecks` makes openid-client verify the
 * ID token signature against the JWKS (it does not by default for the code flow). The strategy
 * uses PKCE and, since the provider supports PKCE, sends neither `state` nor `nonce`. passport
 * regenerates the session at login. The user object is the login in express-oidc-login's shape,
 * serialized whole into the session (equal session sizes).
 */
import express from 'express';
import passport from 'passport';
import * as client from 'openid-client';
import { Strategy } from 'openid-client/passport';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  ISSUER,
  SCOPE,
  countRequests,
  counters,
  newStore,
  serve,
  sessionMiddleware,
  storedLogin,
} from './common.mjs';

await serve(async (baseUrl) => {
  const config = await client.discovery(
    new URL(ISSUER),
    CLIENT_ID,
    { id_token_signed_response_alg: 'RS256' },
    client.ClientSecretBasic(CLIENT_SECRET),
    {
      execute: [client.allowInsecureRequests],
    },
  );
  client.enableNonRepudiationChecks(config);

  passport.use(
    'oidc',
    new Strategy({ config, scope: SCOPE, callbackURL: `${baseUrl}/callback` }, (tokens, verified) => {
      verified(null, storedLogin(tokens, tokens.claims()));
    }),
  );
  passport.serializeUser((user, done) => done(null, user));
  passport.deserializeUser((user, done) => done(null, user));

  const store = await newStore();
  const app = express();
  app.disable('x-powered-by');
  app.use(countRequests);
  app.use(sessionMiddleware(store));
  app.use(passport.session());

  app.get('/login', passport.authenticate('oidc'));
  app.get('/callback', passport.authenticate('oidc', { successRedirect: '/', failureRedirect: '/login-failed' }));
  app.get('/', (_req, res) => {
    res.send('home');
  });
  app.get('/api/me', (req, res) => {
    if (!req.isAuthenticated()) {
      res.status(401).json({ error: 'unauthenticated' });
      return;
    }
    counters.ok++;
    res.json({ sub: req.user.claims.sub });
  });
  return { handler: app, store };
});
