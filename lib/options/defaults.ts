import type { DPoPAlg } from '../types.js';
import type { ClientAuthMethod } from './types.js';

/** All defaults, in one place. */
export const DEFAULTS = Object.freeze({
  scope: 'openid profile email',
  loginPath: '/login',
  callbackPath: '/callback',
  logoutPath: '/logout',
  backchannelLogoutPath: '/backchannel-logout',
  jwksPath: '/jwks.json',
  refreshLeeway: 60,
  absoluteDuration: 7 * 24 * 60 * 60,
  idleDuration: 24 * 60 * 60,
  clientAuthMethod: 'client_secret_basic' as ClientAuthMethod,
  dpopAlg: 'ES256' as DPoPAlg,
  idTokenSigningAlg: 'RS256',
  httpTimeout: 5000,
  clockTolerance: 60,
  transactionMaxAge: 10 * 60 * 1000,
  maxPendingLogins: 5,
  defaultReturnTo: '/',
  responseMode: 'query' as 'query' | 'form_post',
});

/** The shortest `secret` accepted, and the shortest client secret a cookie key is derived from. */
export const MIN_SECRET_LENGTH = 32;

/**
 * The DPoP proof algorithms a login key can be made for (RFC 9449 §4.2: asymmetric only). No RSA:
 * a key pair is made at every callback that reaches the token request, and a 2048-bit RSA one
 * costs ~170 ms of CPU (P-256 and Ed25519 ≈ 0.5 ms, P-384 ≈ 2.4 ms), so looping /login + /callback would
 * burn the server's CPU. Providers that support DPoP accept ES256.
 */
export const DPOP_ALGS: readonly DPoPAlg[] = Object.freeze(['ES256', 'ES384', 'EdDSA', 'Ed25519']);

/** Algorithms refused for DPoP keys, with the reason (see {@link DPOP_ALGS}). */
export const REFUSED_DPOP_ALGS: readonly string[] = Object.freeze([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
]);
