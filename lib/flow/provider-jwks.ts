import * as client from 'openid-client';
import type { JSONWebKeySet } from 'jose';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { OidcError } from '../util/errors.js';
import { providerError } from './provider-errors.js';
import { deadline } from './timed-fetch.js';

/**
 * The provider's JWKS from its `jwks_uri` (https, or http with dangerouslyAllowInsecureHttp),
 * bounded by `httpTimeout`, through the Configuration's fetch; a 502 when it is missing or not a
 * JSON Web Key Set. Caching and rate limiting are the Provider's.
 */
export async function fetchJwks(
  configuration: client.Configuration,
  uri: string | undefined,
  config: Pick<ResolvedConfig, 'allowInsecureHttp' | 'httpTimeout'>,
): Promise<JSONWebKeySet> {
  if (!uri)
    throw new OidcError(
      'ERR_OIDC_PROVIDER_RESPONSE',
      502,
      'The identity provider publishes no jwks_uri, so its ID tokens cannot be verified.',
    );
  const url = new URL(uri);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && config.allowInsecureHttp)) {
    throw new OidcError('ERR_OIDC_PROVIDER_RESPONSE', 502, "The identity provider's jwks_uri is not https.");
  }
  const doFetch = configuration[client.customFetch] ?? fetch;
  let jwks: unknown;
  const limit = deadline(config.httpTimeout, 'The identity provider did not answer in time.');
  try {
    const response = await doFetch(url.href, {
      method: 'GET',
      headers: { accept: 'application/json, application/jwk-set+json' },
      body: undefined,
      redirect: 'manual',
      signal: limit.signal,
    });
    if (response.status !== 200) {
      throw new OidcError(
        'ERR_OIDC_PROVIDER_RESPONSE',
        502,
        `The identity provider's JWKS endpoint answered HTTP ${response.status}.`,
      );
    }
    jwks = await response.json();
  } catch (err) {
    throw providerError(err, 'jwks');
  } finally {
    limit.clear();
  }
  if (!isJwks(jwks))
    throw new OidcError(
      'ERR_OIDC_PROVIDER_RESPONSE',
      502,
      "The identity provider's JWKS is not a valid JSON Web Key Set.",
    );
  return jwks;
}

function isJwks(value: unknown): value is JSONWebKeySet {
  return (
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as { keys?: unknown }).keys) &&
    (value as { keys: unknown[] }).keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k))
  );
}
