/* global process, URL */
/**
 * express-openid-connect 3.x (auth0), configured like the others: confidential client, code flow
 * (`response_type: 'code'`: PKCE, state and nonce), client_secret_post (its default with a secret).
 * Two variants, chosen by BENCH_EOC_STORE:
 * - unset: its default session, an encrypted cookie (JWE), rolling: re-encrypted and re-sent on
 *   every response;
 * - `1`: a server-side session store, express-session's MemoryStore (the same store class as the
 *   express-session stacks); the cookie then holds only the session id.
 *
 * Signature: with `response_type: 'code'`, express-openid-connect 3.x calls openid-client v6's
 * authorizationCodeGrant without `enableNonRepudiationChecks`, which does NOT verify the ID
 * token's signature (openid-client trusts the TLS channel to the token endpoint). To compare equal
 * work, `afterCallback` verifies it with jose against the provider's JWKS (cached remote set), as
 * an app would have to. BENCH_EOC_NO_VERIFY=1 leaves that out (its default behaviour).
 */
import express from 'express';
import eoc from 'express-openid-connect';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { CLIENT_ID, CLIENT_SECRET, ISSUER, SCOPE, countRequests, counters, newStore, serve } from './common.mjs';

const { auth, requiresAuth } = eoc;
const useStore = process.env.BENCH_EOC_STORE === '1';
const verify = process.env.BENCH_EOC_NO_VERIFY !== '1';

await serve(async (baseUrl) => {
  const store = useStore ? await newStore() : undefined;
  let jwks;
  const app = express();
  app.disable('x-powered-by');
  app.use(countRequests);
  app.use(
    auth({
      authRequired: false,
      idpLogout: false,
      issuerBaseURL: ISSUER,
      baseURL: baseUrl,
      clientID: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      secret: 'bench-session-secret-0123456789abcdef0123456789',
      authorizationParams: { response_type: 'code', scope: SCOPE },
      ...(store && { session: { store } }),
      ...(verify && {
        afterCallback: async (_req, _res, session) => {
          jwks ??= createRemoteJWKSet(new URL(`${ISSUER}/jwks`));
          await jwtVerify(session.id_token, jwks, { algorithms: ['RS256'], issuer: ISSUER, audience: CLIENT_ID });
          return session;
        },
      }),
    }),
  );
  app.get('/', (_req, res) => {
    res.send('home');
  });
  app.get('/api/me', requiresAuth(), (req, res) => {
    counters.ok++;
    res.json({ sub: req.oidc.user.sub });
  });
  return { handler: app, store };
});
