import { SignJWT } from 'jose';
import { nowSeconds, random } from './checks.js';
import { excerpt } from './http.js';
import type { ProviderState } from './state.js';
import { loadSupertest } from './supertest.js';
import type { BackchannelLogoutOptions, LogoutTokenClaims, TestApp, TestResponse } from './types.js';

/* Back-channel logout: the logout tokens the provider signs, and their delivery to the app. */

const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

export function logoutToken(s: ProviderState, claims: LogoutTokenClaims): Promise<string> {
  const { sub, sid } = claims ?? {};
  if (sub === undefined && sid === undefined) throw new TypeError('logoutToken: give "sub", "sid" or both.');
  if (
    (sub !== undefined && (typeof sub !== 'string' || sub === '')) ||
    (sid !== undefined && (typeof sid !== 'string' || sid === ''))
  ) {
    throw new TypeError('logoutToken: "sub" and "sid" must be non-empty strings.');
  }
  const iat = nowSeconds();
  return new SignJWT({
    iss: s.issuer,
    aud: s.clientId,
    iat,
    exp: iat + 120,
    jti: random(16),
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    ...(sub !== undefined && { sub }),
    ...(sid !== undefined && { sid }),
  })
    .setProtectedHeader({ alg: s.alg, kid: s.kid, typ: 'logout+jwt' })
    .sign(s.privateKey);
}

export async function backchannelLogout(
  s: ProviderState,
  app: TestApp,
  logoutOptions: BackchannelLogoutOptions,
): Promise<TestResponse> {
  const { path = '/backchannel-logout', ...claims } = logoutOptions ?? {};
  const token = await logoutToken(s, claims);
  const request = await loadSupertest();
  const res = await request(app).post(path).type('form').send({ logout_token: token });
  if (res.status !== 200 && res.status !== 204) {
    throw new Error(
      `backchannelLogout: the app answered POST ${path} with ${res.status}, not 200. ` +
        `Is routes.backchannelLogout "${path}"? Response: ${excerpt(res.text)}`,
    );
  }
  return res;
}
