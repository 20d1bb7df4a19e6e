/* global process, URL */
/**
 * The floor: express + express-session with the same store and settings, a hand-written check on
 * the protected route, and a hand-written minimal login with openid-client v6 (code flow, PKCE,
 * state, nonce, `enableNonRepudiationChecks` so that the ID token signature is verified against
 * the JWKS, a new session id at login). The session holds the login in the same shape as
 * express-oidc-login's, so both stores hold the same bytes per session.
 * BENCH_BARE_SESSION=small keeps only `{ claims: { sub } }` instead (how much the session's size costs).
 */
import express from 'express';
import * as client from 'openid-client';
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
  storedLogin,
} from './common.mjs';

const small = process.env.BENCH_BARE_SESSION === 'small';

await serve(async (baseUrl) => {
  const redirectUri = `${baseUrl}/callback`;
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

  const store = await newStore();
  const app = express();
  app.disable('x-powered-by');
  app.use(countRequests);
  app.use(sessionMiddleware(store));

  app.get('/login', async (req, res, next) => {
    try {
      const state = client.randomState();
      const nonce = client.randomNonce();
      const verifier = client.randomPKCECodeVerifier();
      const challenge = await client.calculatePKCECodeChallenge(verifier);
      req.session.tx = { state, nonce, verifier };
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: LOGIN_SCOPE,
        state,
        nonce,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      req.session.save((err) => (err ? next(err) : res.redirect(url.href)));
    } catch (err) {
      next(err);
    }
  });

  app.get('/callback', async (req, res, next) => {
    try {
      const tx = req.session.tx;
      if (!tx) {
        res.status(400).send('no login in progress');
        return;
      }
      delete req.session.tx;
      const tokens = await client.authorizationCodeGrant(config, new URL(req.originalUrl, baseUrl), {
        pkceCodeVerifier: tx.verifier,
        expectedState: tx.state,
        expectedNonce: tx.nonce,
        idTokenExpected: true,
      });
      const claims = tokens.claims();
      const login = small ? { claims: { sub: claims.sub } } : storedLogin(tokens, claims);
      req.session.regenerate((err) => {
        if (err) return next(err);
        req.session.oidc = { login };
        req.session.save((err2) => (err2 ? next(err2) : res.redirect('/')));
      });
    } catch (err) {
      next(err);
    }
  });

  app.get('/', (_req, res) => {
    res.send('home');
  });
  app.get('/api/me', (req, res) => {
    const login = req.session.oidc?.login;
    if (!login) {
      res.status(401).json({ error: 'unauthenticated' });
      return;
    }
    counters.ok++;
    res.json({ sub: login.claims.sub });
  });
  if (REFRESH_ROUTE) {
    // A refresh as a hand-written app makes it: the refresh grant, the new tokens saved by
    // express-session at the end of the request (no lock: two requests may refresh at once).
    app.get('/bench/refresh', async (req, res, next) => {
      try {
        const login = req.session.oidc?.login;
        if (!login?.refreshToken) {
          res.status(401).json({ error: 'no refresh token' });
          return;
        }
        const tokens = await client.refreshTokenGrant(config, login.refreshToken);
        req.session.oidc.login = {
          ...storedLogin(tokens, tokens.claims() ?? login.claims),
          loggedInAt: login.loggedInAt,
          refreshToken: tokens.refresh_token ?? login.refreshToken,
        };
        res.json({ renewed: tokens.access_token !== login.accessToken });
      } catch (err) {
        next(err);
      }
    });
  }
  return { handler: app, store };
});
