import { compactVerify } from 'jose';
import { nowSeconds, random } from './checks.js';
import { uniqueParams, type Answer } from './http.js';
import type { ProviderState } from './state.js';

/* The endpoints the browser visits: authorization (logs in at once) and RP-Initiated Logout. */

/** How long an authorization code can be redeemed, in seconds. */
const CODE_TTL = 60;

/** The authorization endpoint: no login page, the user is known already. */
export function authorize(s: ProviderState, query: URLSearchParams): Answer {
  s.counts.authorize++;
  const state = query.getAll('state').length === 1 ? query.get('state') : null;
  // The user this request logs in, taken first so that a refused request does not leave it behind.
  let login = s.loginsByState.get(state ?? '');
  s.loginsByState.delete(state ?? '');

  const params = uniqueParams(query);
  if (typeof params === 'string')
    return { status: 400, body: `Invalid authorization request: "${params}" is repeated.` };
  if (params.get('client_id') !== s.clientId) {
    return {
      status: 400,
      body: `Invalid authorization request: unknown client_id (the test provider's client is "${s.clientId}").`,
    };
  }
  const redirectUri = params.get('redirect_uri') ?? '';
  if (!s.redirectUris.includes(redirectUri)) {
    // A provider never redirects to an unregistered redirect URI: it shows an error page.
    return {
      status: 400,
      body:
        `Invalid authorization request: redirect_uri ${JSON.stringify(redirectUri)} is not registered. ` +
        `Registered: ${s.redirectUris.join(', ') || 'none'}. Give the app's baseUrl to ` +
        `startTestProvider({ baseUrl }) or ` +
        'provider.options(baseUrl), or add the URI to provider.redirectUris.',
    };
  }
  const back = (result: Record<string, string>): Answer => {
    const location = new URL(redirectUri);
    for (const [key, value] of Object.entries(result)) location.searchParams.set(key, value);
    if (state !== null) location.searchParams.set('state', state);
    location.searchParams.set('iss', s.issuer);
    return { status: 302, headers: { location: location.href } };
  };
  const fail = (error: string, description: string) => back({ error, error_description: description });

  if (params.has('request')) return fail('request_not_supported', 'Request objects are not supported.');
  if (params.has('request_uri')) return fail('request_uri_not_supported', 'request_uri is not supported.');
  if (params.get('response_type') !== 'code')
    return fail('unsupported_response_type', 'Only response_type=code is supported.');
  if (params.has('response_mode') && params.get('response_mode') !== 'query')
    return fail('invalid_request', 'Only response_mode=query is supported.');
  const scope = params.get('scope') ?? '';
  if (!scope.split(' ').includes('openid')) return fail('invalid_scope', 'The scope must include "openid".');
  const challenge = params.get('code_challenge') ?? '';
  if (params.get('code_challenge_method') !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(challenge)) {
    return fail('invalid_request', 'PKCE is required, with code_challenge_method=S256.');
  }
  if (s.nextAuthorizationFailure) {
    const { error, description } = s.nextAuthorizationFailure;
    s.nextAuthorizationFailure = undefined;
    return back({ error, ...(description !== undefined && { error_description: description }) });
  }
  login ??= s.queued.shift() ?? (s.defaultUser ? { user: s.defaultUser, expiresIn: undefined } : undefined);
  if (!login) {
    return params.get('prompt') === 'none'
      ? fail('login_required', 'Nobody is logged in at the test provider.')
      : fail('access_denied', 'Nobody logs in: the test provider has no defaultUser and no queued login.');
  }

  const code = random();
  const now = nowSeconds();
  s.codes.set(code, {
    state,
    redirectUri,
    codeChallenge: challenge,
    nonce: params.get('nonce'),
    scope,
    login,
    sid: typeof login.user.sid === 'string' ? login.user.sid : random(12),
    authTime: typeof login.user.auth_time === 'number' ? login.user.auth_time : now,
    expiresAt: now + CODE_TTL,
  });
  return back({ code });
}

/** RP-Initiated Logout 1.0. */
export async function endSession(s: ProviderState, query: URLSearchParams): Promise<Answer> {
  s.counts.endSession++;
  const params = uniqueParams(query);
  if (typeof params === 'string') return { status: 400, body: `Invalid logout request: "${params}" is repeated.` };
  const hint = params.get('id_token_hint');
  const requestedClient = params.get('client_id');
  let sub: string | undefined;
  let sid: string | undefined;
  if (hint !== null) {
    // An expired ID token is a valid hint; a forged one is not.
    try {
      const { payload } = await compactVerify(hint, s.publicKey, { algorithms: [s.alg] });
      const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
      const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (claims.iss !== s.issuer || !aud.includes(s.clientId)) throw new Error('not ours');
      if (typeof claims.sub === 'string') sub = claims.sub;
      if (typeof claims.sid === 'string') sid = claims.sid;
    } catch {
      return { status: 400, body: 'Invalid logout request: id_token_hint is not an ID token of this provider.' };
    }
  }
  if (requestedClient !== null && requestedClient !== s.clientId)
    return { status: 400, body: 'Invalid logout request: unknown client_id.' };
  const redirect = params.get('post_logout_redirect_uri');
  if (redirect !== null) {
    if (hint === null && requestedClient === null) {
      return {
        status: 400,
        body: 'Invalid logout request: post_logout_redirect_uri needs id_token_hint or client_id.',
      };
    }
    if (!s.postLogoutRedirectUris.includes(redirect)) {
      return {
        status: 400,
        body:
          `Invalid logout request: post_logout_redirect_uri ${JSON.stringify(redirect)} is not ` +
          `registered. Registered: ${s.postLogoutRedirectUris.join(', ') || 'none'}.`,
      };
    }
  }
  s.logouts.push(
    Object.freeze({
      ...(sub !== undefined && { sub }),
      ...(sid !== undefined && { sid }),
      ...(redirect !== null && { postLogoutRedirectUri: redirect }),
    }),
  );
  let location: URL | undefined;
  if (redirect !== null) {
    location = new URL(redirect);
    const state = params.get('state');
    if (state !== null) location.searchParams.set('state', state);
  }
  if (s.frontchannelLogoutUri !== undefined) return frontchannelLogoutPage(s, s.frontchannelLogoutUri, sid, location);
  if (location === undefined) return { status: 200, body: 'You are logged out of the test provider.' };
  return { status: 302, headers: { location: location.href } };
}

/**
 * Front-Channel Logout 1.0 §2: a page that frames the app's front-channel logout URL, then (with a
 * post-logout redirect) goes there once the frame has loaded.
 */
function frontchannelLogoutPage(s: ProviderState, uri: string, sid: string | undefined, then: URL | undefined): Answer {
  const framed = new URL(uri);
  if (sid !== undefined && s.frontchannelLogoutParams !== 'none') {
    if (s.frontchannelLogoutParams === 'iss-and-sid') framed.searchParams.set('iss', s.issuer);
    framed.searchParams.set('sid', sid);
  }
  const attr = (value: string) => value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const onload = then === undefined ? '' : ` onload="location.href = this.dataset.then"`;
  const body =
    '<!doctype html><html><head><meta charset="utf-8"><title>Logged out</title></head><body>' +
    '<p>You are logged out of the test provider.</p>' +
    `<iframe id="frontchannel-logout" src="${attr(framed.href)}"${then === undefined ? '' : ` data-then="${attr(then.href)}"`}${onload}></iframe>` +
    '</body></html>';
  return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body };
}
