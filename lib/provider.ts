import * as client from 'openid-client';
import { compactVerify, createLocalJWKSet, errors as joseErrors, type JSONWebKeySet } from 'jose';
import createDebug from 'debug';
import type { ResolvedConfig } from './config.js';
import { clientAuthentication } from './client-auth.js';
import { checkProviderMetadata, report } from './config-check.js';
import { OidcError } from './errors.js';

const debug = createDebug('express-oidc-login:provider');

/** How long a fetched JWKS is trusted before it is fetched again (removed keys stop working). */
const JWKS_MAX_AGE_MS = 5 * 60 * 1000;
/** The shortest time between two JWKS requests. */
const JWKS_MIN_INTERVAL_MS = 1000;
/** Seconds an app should wait before retrying while the provider is unreachable. */
const RETRY_AFTER = '5';

type LocalJwks = ReturnType<typeof createLocalJWKSet>;

/**
 * One OpenID Provider as the app sees it: discovery (lazy, one request in flight, failures not
 * cached) and the provider's signing keys (cached, refetched once on an unknown `kid`).
 * An instance per provider: nothing here is module-level state.
 */
export class Provider {
  readonly #config: ResolvedConfig;
  #configuration: Promise<client.Configuration> | undefined;
  #jwks: { keys: LocalJwks; fetchedAt: number } | undefined;
  #jwksInFlight: Promise<LocalJwks> | undefined;

  constructor(config: ResolvedConfig) {
    this.#config = config;
    if (config.configuration) this.#configuration = Promise.resolve(config.configuration);
  }

  /** The openid-client `Configuration`, discovering the provider on first use. */
  getConfiguration(): Promise<client.Configuration> {
    this.#configuration ??= this.#discover().catch((err: unknown) => {
      // Forget the failure so that the next request tries again: an app started while the
      // provider is down works once it is up, without a restart.
      this.#configuration = undefined;
      throw err;
    });
    return this.#configuration;
  }

  async #discover(): Promise<client.Configuration> {
    const c = this.#config;
    const issuer = c.issuer!;
    debug('discovering %s', issuer.href);
    // client_secret_basic / _post / _jwt, private_key_jwt or tls_client_auth (lib/client-auth.ts).
    const { auth, metadata: authMetadata, customFetch } = await clientAuthentication(c);
    try {
      const configuration = await client.discovery(
        issuer,
        c.clientId!,
        {
          id_token_signed_response_alg: c.idTokenSigningAlg,
          [client.clockTolerance]: c.clockTolerance,
          ...authMetadata,
        },
        auth,
        {
          timeout: c.httpTimeout / 1000,
          ...(c.allowInsecureHttp ? { execute: [client.allowInsecureRequests] } : {}),
          ...(customFetch && { [client.customFetch]: customFetch }),
        },
      );
      configuration.timeout = c.httpTimeout / 1000;
      debug('discovered %s', configuration.serverMetadata().issuer);
      this.#check(configuration);
      return configuration;
    } catch (err) {
      debug('discovery of %s failed: %s', issuer.href, (err as Error)?.message);
      throw issuerMismatch(err, issuer) ?? providerError(err, 'discovery');
    }
  }

  /** The start-up check against the provider's metadata: warnings logged, errors also thrown. */
  #check(configuration: client.Configuration): void {
    const findings = checkProviderMetadata(this.#config, configuration.serverMetadata(), this.#config.clientAuthMethod);
    report(this.#config, findings);
    const errors = findings.filter((f) => f.level === 'error');
    if (errors.length > 0) {
      throw new OidcError('ERR_OIDC_PROVIDER_MISMATCH', 502, errors.map((f) => f.message).join(' '));
    }
  }

  /**
   * Verifies a JWS (an ID token) against the provider's JWKS with the one allowed algorithm.
   * A `kid` not in the cached set refetches the JWKS once (key rotation), then fails.
   */
  async verifySignature(jws: string, algorithm: string): Promise<void> {
    const configuration = await this.getConfiguration();
    const cachedAt = this.#jwks?.fetchedAt;
    let keys = await this.#getJwks(configuration);
    try {
      await compactVerify(jws, keys, { algorithms: [algorithm] });
      return;
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw idTokenSignatureError(err);
      // The set was fetched for this very check: fetching it again would tell nothing new.
      if (this.#jwks?.fetchedAt !== cachedAt) throw idTokenSignatureError(err);
    }
    debug('no key in the cached JWKS matches; fetching it again');
    keys = await this.#refetchJwks(configuration);
    try {
      await compactVerify(jws, keys, { algorithms: [algorithm] });
    } catch (err) {
      throw idTokenSignatureError(err);
    }
  }

  #getJwks(configuration: client.Configuration): Promise<LocalJwks> {
    const cached = this.#jwks;
    if (cached && Date.now() - cached.fetchedAt < JWKS_MAX_AGE_MS) return Promise.resolve(cached.keys);
    return this.#refetchJwks(configuration);
  }

  /**
   * One JWKS request in flight at a time, shared by every verification waiting for it, and at
   * most one a second: tokens with made-up `kid`s wait rather than make the app hammer the provider.
   */
  #refetchJwks(configuration: client.Configuration): Promise<LocalJwks> {
    this.#jwksInFlight ??= (async () => {
      const wait = (this.#jwks?.fetchedAt ?? 0) + JWKS_MIN_INTERVAL_MS - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      return this.#fetchJwks(configuration);
    })().finally(() => {
      this.#jwksInFlight = undefined;
    });
    return this.#jwksInFlight;
  }

  async #fetchJwks(configuration: client.Configuration): Promise<LocalJwks> {
    const uri = configuration.serverMetadata().jwks_uri;
    if (!uri) throw new OidcError('ERR_OIDC_PROVIDER_RESPONSE', 502, 'The identity provider publishes no jwks_uri, so its ID tokens cannot be verified.');
    const url = new URL(uri);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.#config.allowInsecureHttp)) {
      throw new OidcError('ERR_OIDC_PROVIDER_RESPONSE', 502, 'The identity provider\'s jwks_uri is not https.');
    }
    const doFetch = configuration[client.customFetch] ?? fetch;
    let jwks: unknown;
    try {
      const response = await doFetch(url.href, {
        method: 'GET',
        headers: { accept: 'application/json, application/jwk-set+json' },
        body: undefined,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#config.httpTimeout),
      });
      if (response.status !== 200) {
        throw new OidcError('ERR_OIDC_PROVIDER_RESPONSE', 502, `The identity provider's JWKS endpoint answered HTTP ${response.status}.`);
      }
      jwks = await response.json();
    } catch (err) {
      throw providerError(err, 'jwks');
    }
    if (!isJwks(jwks)) throw new OidcError('ERR_OIDC_PROVIDER_RESPONSE', 502, 'The identity provider\'s JWKS is not a valid JSON Web Key Set.');
    const keys = createLocalJWKSet(jwks);
    this.#jwks = { keys, fetchedAt: Date.now() };
    debug('fetched JWKS with %d keys', jwks.keys.length);
    return keys;
  }
}

/**
 * The discovery document names another issuer: say which, and whether only a trailing slash
 * differs (Auth0 issuers end with "/", Keycloak realms do not), so the fix is obvious.
 */
function issuerMismatch(err: unknown, configured: URL): OidcError | undefined {
  const detail = (err as { cause?: { attribute?: unknown; body?: { issuer?: unknown } } })?.cause;
  if (detail?.attribute !== 'issuer') return undefined;
  const announced = typeof detail.body?.issuer === 'string' ? detail.body.issuer : undefined;
  if (announced === undefined) return undefined;
  const onlySlash = announced.replace(/\/+$/, '') === configured.href.replace(/\/+$/, '');
  return new OidcError(
    'ERR_OIDC_PROVIDER_MISMATCH',
    502,
    `The identity provider's discovery document names the issuer ${JSON.stringify(announced)}, not the configured ` +
      `"issuer" ${JSON.stringify(configured.href)}.` +
      (onlySlash ? ' Only a trailing slash differs: set "issuer" exactly as the provider writes it.' : ' Check the "issuer" option.'),
    { cause: err },
  );
}

function isJwks(value: unknown): value is JSONWebKeySet {
  return (
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as { keys?: unknown }).keys) &&
    (value as { keys: unknown[] }).keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k))
  );
}

function idTokenSignatureError(cause: unknown): OidcError {
  return new OidcError('ERR_OIDC_ID_TOKEN_INVALID', 400, 'The ID token\'s signature could not be verified with the identity provider\'s keys.', { cause });
}

/** The provider could not be reached or answered something unusable: 502, 503 or 504. */
export function providerError(err: unknown, during: 'discovery' | 'jwks' | 'token' | 'par'): OidcError {
  if (err instanceof OidcError) return err;
  const what =
    during === 'discovery'
      ? 'its discovery document'
      : during === 'jwks'
        ? 'its signing keys (JWKS)'
        : during === 'par'
          ? 'the pushed authorization request'
          : 'the token request';
  const code = (err as { code?: unknown })?.code;
  const name = (err as { name?: unknown })?.name;
  const cause = (err as { cause?: { name?: unknown; code?: unknown } })?.cause;
  if (code === 'OAUTH_TIMEOUT' || name === 'TimeoutError' || cause?.name === 'TimeoutError') {
    return new OidcError('ERR_OIDC_PROVIDER_TIMEOUT', 504, `The identity provider did not answer in time (${what}). Try again in a moment.`, {
      cause: err,
      headers: { 'Retry-After': RETRY_AFTER },
    });
  }
  if ((name === 'TypeError' && code === undefined) || (code === undefined && cause?.name === 'TypeError')) {
    // fetch() rejects with a plain TypeError when the connection fails. Checked by name: the error
    // may come from another realm, and then openid-client wraps it in a ClientError.
    return new OidcError('ERR_OIDC_PROVIDER_UNREACHABLE', 503, `The identity provider cannot be reached (${what}). Try again in a moment.`, {
      cause: err,
      headers: { 'Retry-After': RETRY_AFTER },
    });
  }
  return new OidcError('ERR_OIDC_PROVIDER_RESPONSE', 502, `The identity provider sent an invalid answer (${what}).`, { cause: err });
}
