import type { IncomingMessage } from 'node:http';
import { DPOP_ALGS, nowSeconds, SESSION_CLAIMS } from './checks.js';
import { DPoPProofError } from './dpop.js';
import { challenge, type Answer } from './http.js';
import type { ProviderState } from './state.js';

/* The userinfo endpoint: Bearer or DPoP-bound access tokens (RFC 6750, RFC 9449). */

export async function userinfo(s: ProviderState, req: IncomingMessage): Promise<Answer> {
  s.counts.userinfo++;
  const m = /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i.exec(req.headers.authorization ?? '');
  if (!m)
    return {
      status: 401,
      headers: { 'www-authenticate': 'Bearer realm="test-provider"' },
      body: { error: 'invalid_request' },
    };
  const scheme = m[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
  const token = m[2]!;
  const entry = s.accessTokens.get(token);
  // The DPoP scheme's challenge for a DPoP request or a DPoP-bound token (RFC 9449 §7.1).
  const refuse = (error: string, description: string, headers: Record<string, string> = {}): Answer => {
    const dpopChallenge = scheme === 'DPoP' || entry?.jkt !== undefined;
    return {
      status: 401,
      headers: {
        ...headers,
        'www-authenticate': dpopChallenge
          ? challenge('DPoP', { error, error_description: description, algs: DPOP_ALGS })
          : challenge('Bearer', { error, error_description: description }),
      },
      body: { error },
    };
  };
  if (!entry || entry.revoked || entry.expiresAt <= nowSeconds() || entry.resource !== undefined)
    return refuse('invalid_token', 'The access token is invalid or has expired.');
  if (scheme === 'Bearer') {
    if (entry.jkt !== undefined)
      return refuse(
        'invalid_token',
        'The access token is DPoP-bound: send it as Authorization: DPoP, with a DPoP proof.',
      );
  } else {
    let jkt: string | undefined;
    try {
      jkt = await s.dpop.verify(req, { htm: req.method ?? 'GET', htu: s.userinfoEndpoint, accessToken: token });
    } catch (err) {
      if (!(err instanceof DPoPProofError)) throw err;
      return refuse(err.error, err.message, err.error === 'use_dpop_nonce' ? { 'dpop-nonce': s.dpop.nonce! } : {});
    }
    if (jkt === undefined) return refuse('invalid_dpop_proof', 'Authorization: DPoP needs a DPoP proof.');
    if (entry.jkt === undefined)
      return refuse('invalid_token', 'The access token is not DPoP-bound: send it as Authorization: Bearer.');
    if (jkt !== entry.jkt)
      return refuse(
        'invalid_token',
        'The DPoP proof is made with another key than the one the access token is bound to.',
      );
  }
  const claims: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(entry.grant.user)) if (!SESSION_CLAIMS.has(key)) claims[key] = value;
  return { status: 200, body: claims };
}
