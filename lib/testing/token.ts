import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { nowSeconds } from './checks.js';
import { DPoPProofError } from './dpop.js';
import { oauthError, parseBasic, readBody, send, uniqueParams, type Answer } from './http.js';
import {
  issueAccessToken,
  issueRefreshToken,
  revokeGrant,
  signIdToken,
  type Grant,
  type ProviderState,
} from './state.js';

/* The back-end endpoints the app calls with client credentials: token (code, refresh) and revocation. */

/** Client authentication at the token and revocation endpoints: client_secret_basic or client_secret_post. */
function authenticateClient(s: ProviderState, req: IncomingMessage, body: URLSearchParams): Answer | undefined {
  const header = req.headers.authorization;
  const bodySecret = body.get('client_secret');
  const bodyId = body.get('client_id');
  if (header !== undefined) {
    const basic = parseBasic(header);
    const challenge = { 'www-authenticate': 'Basic realm="test-provider"' };
    if (!basic) return oauthError(401, 'invalid_client', 'Malformed client credentials.', challenge);
    if (bodySecret !== null)
      return oauthError(400, 'invalid_request', 'More than one client authentication method was used.');
    if (bodyId !== null && bodyId !== basic.id)
      return oauthError(400, 'invalid_request', 'client_id differs from the authenticated client.');
    if (basic.id !== s.clientId || basic.secret !== s.clientSecret)
      return oauthError(401, 'invalid_client', 'Client authentication failed.', challenge);
    return undefined;
  }
  if (bodySecret === null) return oauthError(401, 'invalid_client', 'Client authentication is required.');
  if (bodyId !== s.clientId || bodySecret !== s.clientSecret)
    return oauthError(401, 'invalid_client', 'Client authentication failed.');
  return undefined;
}

export async function token(s: ProviderState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  s.counts.token++;
  const raw = await readBody(req);
  const form = new URLSearchParams(raw);
  if (form.get('grant_type') === 'refresh_token') s.counts.refresh++;
  if (s.nextTokenFailure) {
    const { status, error } = s.nextTokenFailure;
    s.nextTokenFailure = undefined;
    if (status === 'disconnect') {
      req.socket.destroy();
      return;
    }
    const defaultError =
      status === 503
        ? 'temporarily_unavailable'
        : status >= 500
          ? 'server_error'
          : status === 401
            ? 'invalid_client'
            : 'invalid_request';
    send(res, oauthError(status, error ?? defaultError, 'A failure simulated by failNextTokenRequest().'));
    return;
  }
  if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) {
    send(res, oauthError(400, 'invalid_request', 'The body must be application/x-www-form-urlencoded.'));
    return;
  }
  const body = uniqueParams(form);
  if (typeof body === 'string') {
    send(res, oauthError(400, 'invalid_request', `"${body}" is repeated.`));
    return;
  }
  const refused = authenticateClient(s, req, body);
  if (refused) {
    send(res, refused);
    return;
  }
  let jkt: string | undefined;
  try {
    jkt = await s.dpop.verify(req, { htm: 'POST', htu: s.tokenEndpoint });
  } catch (err) {
    if (!(err instanceof DPoPProofError)) throw err;
    send(
      res,
      oauthError(
        400,
        err.error,
        err.message,
        err.error === 'use_dpop_nonce' ? { 'dpop-nonce': s.dpop.nonce! } : undefined,
      ),
    );
    return;
  }
  const grantType = body.get('grant_type');
  if (grantType === 'authorization_code') send(res, await redeemCode(s, body, jkt));
  else if (grantType === 'refresh_token') send(res, await refresh(s, body, jkt));
  else send(res, oauthError(400, 'unsupported_grant_type', 'Supported: authorization_code, refresh_token.'));
}

async function redeemCode(s: ProviderState, body: URLSearchParams, jkt: string | undefined): Promise<Answer> {
  const code = body.get('code');
  if (!code) return oauthError(400, 'invalid_request', 'code is missing.');
  const record = s.codes.get(code);
  if (!record) {
    const grant = s.usedCodes.get(code);
    if (grant) revokeGrant(s, grant);
    return oauthError(400, 'invalid_grant', 'The code is unknown, expired or used already.');
  }
  s.codes.delete(code);
  if (record.expiresAt < nowSeconds()) return oauthError(400, 'invalid_grant', 'The code has expired.');
  if (body.get('redirect_uri') !== record.redirectUri)
    return oauthError(400, 'invalid_grant', "redirect_uri differs from the authorization request's.");
  const verifier = body.get('code_verifier') ?? '';
  if (
    !/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier) ||
    createHash('sha256').update(verifier).digest('base64url') !== record.codeChallenge
  ) {
    return oauthError(400, 'invalid_grant', 'PKCE verification failed.');
  }
  const grant: Grant = {
    user: record.login.user,
    sid: record.sid,
    authTime: record.authTime,
    scope: record.scope,
    revoked: false,
    accessTokens: new Set(),
    jkt,
  };
  s.grants.add(grant);
  s.usedCodes.set(code, grant);
  const expiresIn = record.login.expiresIn ?? s.accessTokenTtl;
  const idToken = await signIdToken(s, grant, record.nonce);
  const refreshToken = issueRefreshToken(s, grant);
  s.redeemedStates.add(record.state ?? '');
  const { sub, ...claims } = grant.user;
  s.logins.push(
    Object.freeze({
      sub,
      sid: grant.sid,
      claims: Object.freeze({ sub, ...claims, sid: grant.sid, auth_time: grant.authTime }),
      ...(jkt !== undefined && { jkt }),
    }),
  );
  return {
    status: 200,
    body: {
      access_token: issueAccessToken(s, grant, expiresIn, jkt),
      token_type: jkt === undefined ? 'Bearer' : 'DPoP',
      expires_in: expiresIn,
      scope: grant.scope,
      id_token: idToken,
      ...(refreshToken !== undefined && { refresh_token: refreshToken }),
    },
  };
}

async function refresh(s: ProviderState, body: URLSearchParams, jkt: string | undefined): Promise<Answer> {
  const presented = body.get('refresh_token');
  if (!presented) return oauthError(400, 'invalid_request', 'refresh_token is missing.');
  const entry = s.refreshTokens.get(presented);
  if (!entry) return oauthError(400, 'invalid_grant', 'The refresh token is unknown.');
  const { grant } = entry;
  if (grant.revoked) return oauthError(400, 'invalid_grant', 'The refresh token has been revoked.');
  if (entry.rotated) {
    // A rotated refresh token used again: stolen, or a client race. The whole grant is revoked.
    revokeGrant(s, grant);
    return oauthError(400, 'invalid_grant', 'The refresh token was used already; the grant is revoked.');
  }
  if (grant.jkt !== undefined && jkt !== grant.jkt) {
    return oauthError(
      400,
      'invalid_grant',
      jkt === undefined
        ? 'The login is DPoP-bound: a refresh needs a DPoP proof.'
        : "The DPoP proof is made with another key than the login's.",
    );
  }
  const scope = body.get('scope');
  if (scope !== null && !scope.split(' ').every((s) => grant.scope.split(' ').includes(s))) {
    return oauthError(400, 'invalid_scope', 'A refresh cannot widen the scope.');
  }
  // RFC 8707 §2.2; checked before the rotation, so that a refused resource spends nothing.
  const resources = body.getAll('resource');
  if (resources.length > 1) return oauthError(400, 'invalid_target', 'One resource per token request.');
  const resource = resources[0];
  if (resource !== undefined && !s.resources.includes(resource)) {
    return oauthError(400, 'invalid_target', `This provider issues no tokens for ${JSON.stringify(resource)}.`);
  }
  entry.rotated = true;
  const next = issueRefreshToken(s, grant);
  return {
    status: 200,
    body: {
      access_token: issueAccessToken(s, grant, s.accessTokenTtl, jkt, resource),
      token_type: jkt === undefined ? 'Bearer' : 'DPoP',
      expires_in: s.accessTokenTtl,
      scope: grant.scope,
      ...(s.idTokenOnRefresh && { id_token: await signIdToken(s, grant, null) }),
      ...(next !== undefined && { refresh_token: next }),
    },
  };
}

/** RFC 7009. */
export async function revoke(s: ProviderState, req: IncomingMessage): Promise<Answer> {
  s.counts.revocation++;
  const body = uniqueParams(new URLSearchParams(await readBody(req)));
  if (typeof body === 'string') return oauthError(400, 'invalid_request', `"${body}" is repeated.`);
  const refused = authenticateClient(s, req, body);
  if (refused) return refused;
  const presented = body.get('token');
  if (!presented) return oauthError(400, 'invalid_request', 'token is missing.');
  const refreshEntry = s.refreshTokens.get(presented);
  if (refreshEntry) revokeGrant(s, refreshEntry.grant);
  const accessEntry = s.accessTokens.get(presented);
  if (accessEntry) accessEntry.revoked = true;
  return { status: 200 };
}
