import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/resolved-config.js';
import type { Provider } from './provider.js';
import { tokenEndpointError } from './provider-errors.js';
import { loginScope } from './login-params.js';
import { stepUpFailed, stepUpParams } from './step-up.js';

const debug = createDebug('express-oidc-login:login');

/** A login's authorization request: what the callback will check it against, and where the browser goes. */
export interface AuthorizationRequest {
  state: string;
  /** None without an ID token to carry it back (plain OAuth 2.0). */
  nonce?: string;
  /** The PKCE code_verifier. */
  verifier: string;
  /** The scope asked for: the login's own `scope` parameter, else the configured one. */
  scope: string;
  url: URL;
}

/** What one login asks for beyond the configuration. */
export interface LoginAsks {
  /** A silent login (prompt=none). */
  silent: boolean;
  /** A step-up's max_age / acr_values (step-up.ts). */
  stepUp: { maxAge?: number; acrValues?: string[] };
  /** This login's own parameters (login-params.ts); a `scope` among them replaces the configured one. */
  params: Readonly<Record<string, string>>;
}

/** A new authorization request (state, nonce, PKCE) for what `asks` says. Nothing is stored here. */
export async function authorizationRequest(
  config: ResolvedConfig,
  provider: Provider,
  configuration: client.Configuration,
  { silent, stepUp, params }: LoginAsks,
): Promise<AuthorizationRequest> {
  // 32 random bytes each, base64url, as openid-client's randomState(), randomNonce() and
  // randomPKCECodeVerifier() make them, from the instance's pool (util/random-pool.ts).
  const state = config.random.base64url(32);
  // No nonce without an ID token to carry it back (plain OAuth 2.0).
  const nonce = config.openid ? config.random.base64url(32) : undefined;
  const verifier = config.random.base64url(32);
  // S256 (RFC 7636 4.2) with node:crypto: the same value as openid-client's WebCrypto version
  // at a tenth of the CPU (measured in bench/micro).
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const scope = loginScope(params, config);
  const parameters: Record<string, string> = {
    ...config.authorizationParams,
    ...params,
    response_type: 'code',
    redirect_uri: config.redirectUri,
    scope,
    state,
    ...(nonce !== undefined && { nonce }),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...(config.responseMode === 'form_post' && { response_mode: 'form_post' }),
    ...(silent && { prompt: 'none' }),
  };
  if (!config.openid && (stepUp.maxAge !== undefined || stepUp.acrValues)) {
    // No ID token, so no auth_time or acr: a round trip to the provider could prove nothing.
    throw stepUpFailed(
      'This page needs a recent or stronger login, which this identity provider (OAuth 2.0 without OpenID Connect) cannot confirm.',
    );
  }
  Object.assign(parameters, stepUpParams(stepUp));
  const url = await authorizationUrl(config, provider, configuration, withResources(parameters, config));
  return { state, ...(nonce !== undefined && { nonce }), verifier, scope, url };
}

/**
 * RFC 8707 §2.1: the APIs of `resources` as `resource` parameters (one each), so that the refresh
 * token covers them and `getAccessToken({ resource })` can get their tokens later.
 */
function withResources(
  parameters: Record<string, string>,
  config: ResolvedConfig,
): Record<string, string> | URLSearchParams {
  if (config.resources === undefined || config.resourceParameter !== 'resource') return parameters;
  const search = new URLSearchParams(parameters);
  for (const resource of config.resources) search.append('resource', resource);
  return search;
}

/**
 * The authorization URL. With PAR (RFC 9126: the option, or the provider's
 * `require_pushed_authorization_requests`) the parameters are POSTed to the provider's PAR endpoint
 * with client authentication, and the URL carries only `client_id` and `request_uri`.
 */
async function authorizationUrl(
  config: ResolvedConfig,
  provider: Provider,
  configuration: client.Configuration,
  parameters: Record<string, string> | URLSearchParams,
): Promise<URL> {
  const usePar =
    config.pushedAuthorizationRequests ||
    provider.metadata(configuration).require_pushed_authorization_requests === true;
  if (!usePar) return client.buildAuthorizationUrl(configuration, parameters);
  try {
    return await client.buildAuthorizationUrlWithPAR(configuration, parameters);
  } catch (err) {
    debug('pushed authorization request failed: %s', (err as Error)?.message);
    // A failed PAR request: 502 (refused, or an invalid answer), 503 (unreachable) or 504 (timeout).
    throw tokenEndpointError(err, 'par', config.clientAuthMethod);
  }
}
