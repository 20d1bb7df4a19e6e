import * as client from 'openid-client';
import createDebug from 'debug';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { clientAuthentication } from './client-auth.js';
import { checkProviderMetadata, report } from '../options/config-check.js';
import {
  checkDiscoveredIssuer,
  checkTenant,
  discoveryUrl,
  issuerTemplate,
  templateCodeGrant,
  tenantIssuer,
  TENANT_PLACEHOLDER,
} from '../vendors/entra.js';
import { OidcError } from '../util/errors.js';
import { deepFreeze } from '../util/deep-freeze.js';
import { LogLimit } from '../util/log-limit.js';
import { SETUP_LOG_INTERVAL_MS } from '../options/defaults.js';
import { NoMatchingKeyError, VerificationKeys } from './jws-verify.js';
import {
  causes,
  discoveryError,
  idTokenSignatureError,
  issuerMismatch,
  slashOnly,
  tenantTemplateRefused,
} from './provider-errors.js';
import { timeRequests } from './timed-fetch.js';
import { fetchJwks } from './provider-jwks.js';
import { DPoPKeys } from './dpop.js';
import { DiscoveryCache } from './discovery-cache.js';

const debug = createDebug('express-oidc-login:provider');

/** How long a fetched JWKS is trusted before it is fetched again (removed keys stop working). */
const JWKS_MAX_AGE_MS = 5 * 60 * 1000;
/** The shortest time between two JWKS requests. */
const JWKS_MIN_INTERVAL_MS = 1000;

/** A Configuration's metadata as openid-client gives it (a deep copy per call), copied once and frozen. */
interface MetadataCopies {
  readonly server: Readonly<client.ServerMetadata>;
  readonly client: Readonly<client.ClientMetadata>;
}

/**
 * One OpenID Provider as the app sees it: discovery (lazy, one request in flight, failures not
 * cached) and the provider's signing keys (cached, refetched once on an unknown `kid`).
 * An instance per provider: nothing here is module-level state.
 */
export class Provider {
  readonly #config: ResolvedConfig;
  readonly #discovery: DiscoveryCache;
  #jwks: { keys: VerificationKeys; fetchedAt: number } | undefined;
  #jwksInFlight: Promise<VerificationKeys> | undefined;
  /** The start-up findings logged already (each once). */
  readonly #reported = new Set<string>();
  /** Discovery failures, logged once and then at most once a minute while they go on. */
  readonly #discoveryFailures = new LogLimit(SETUP_LOG_INTERVAL_MS);
  /** The login DPoP keys this instance has imported. */
  readonly dpopKeys = new DPoPKeys();
  /** Refreshes in flight (flow/refresh.ts, which types them), by session and refresh token. */
  readonly refreshes = new Map<string, Promise<unknown>>();
  /** Tokens for other APIs being fetched (flow/resource-tokens.ts), by session and resource. */
  readonly resourceTokens = new Map<string, Promise<unknown>>();
  /** The last use of each session's refresh token in flight (flow/refresh-token-uses.ts), by session. */
  readonly refreshTokenUses = new Map<string, Promise<unknown>>();
  /** Each Configuration's server and client metadata, copied once (see {@link metadata}). */
  readonly #metadata = new WeakMap<client.Configuration, MetadataCopies>();
  /** What discovery was given, to build more Configurations like it (one per Entra tenant). */
  #built:
    | { auth: client.ClientAuth; metadata: Partial<client.ClientMetadata>; customFetch: client.CustomFetch | undefined }
    | undefined;

  constructor(config: ResolvedConfig) {
    this.#config = config;
    this.#discovery = new DiscoveryCache({
      discover: (again) => this.#discover(again),
      // The `server` endpoints: nothing to fetch again.
      maxAge: config.server === undefined ? config.discoveryMaxAge : false,
      logger: config.logger,
      given: config.configuration,
      replaced: (old, fresh) => {
        // Keys found elsewhere now: the cached ones are not the provider's any more.
        if (this.metadata(old).jwks_uri !== this.metadata(fresh).jwks_uri) this.#jwks = undefined;
        debug('metadata of %s fetched again', this.metadata(fresh).issuer);
      },
    });
  }

  /**
   * The openid-client `Configuration`, discovering the provider on first use, and again in the
   * background after `discoveryMaxAge` (see discovery-cache.ts).
   */
  getConfiguration(): Promise<client.Configuration> {
    return this.#discovery.get();
  }

  /** The metadata being fetched again after `discoveryMaxAge`, if it is (for tests and diagnostics). */
  get revalidation(): Promise<void> | undefined {
    return this.#discovery.revalidation;
  }

  /**
   * `configuration`'s server metadata, copied once: openid-client's serverMetadata() deep-copies it
   * on every call. Frozen, as it is shared: read it, never change it.
   */
  metadata(configuration: client.Configuration): Readonly<client.ServerMetadata> {
    return this.#copiesOf(configuration).server;
  }

  /** `configuration`'s client metadata (`client_id`, the ID token's alg...), copied once as {@link metadata}. */
  clientMetadata(configuration: client.Configuration): Readonly<client.ClientMetadata> {
    return this.#copiesOf(configuration).client;
  }

  #copiesOf(configuration: client.Configuration): MetadataCopies {
    let copies = this.#metadata.get(configuration);
    if (copies === undefined) {
      copies = {
        server: deepFreeze(configuration.serverMetadata()),
        client: deepFreeze(configuration.clientMetadata()),
      };
      this.#metadata.set(configuration, copies);
    }
    return copies;
  }

  async #discover(again: boolean): Promise<client.Configuration> {
    const c = this.#config;
    // client_secret_basic / _post / _jwt, private_key_jwt or tls_client_auth (lib/flow/client-auth.ts).
    const { auth, metadata: authMetadata, customFetch } = await clientAuthentication(c);
    const metadata: Partial<client.ClientMetadata> = {
      id_token_signed_response_alg: c.idTokenSigningAlg,
      [client.clockTolerance]: c.clockTolerance,
      ...authMetadata,
    };
    if (c.server) return this.#fromEndpoints(c.server, metadata, auth, customFetch);
    const issuer = c.issuer!;
    debug('discovering %s (%s)', issuer.href, c.discovery === 'oauth2' ? 'RFC 8414' : 'OpenID Connect Discovery');
    const discover = (url: URL) =>
      client.discovery(url, c.clientId!, metadata, auth, {
        timeout: c.httpTimeout / 1000,
        // RFC 8414: /.well-known/oauth-authorization-server (inserted before the issuer's path).
        ...(c.discovery === 'oauth2' && { algorithm: 'oauth2' as const }),
        ...(c.allowInsecureHttp ? { execute: [client.allowInsecureRequests] } : {}),
        ...(customFetch && { [client.customFetch]: customFetch }),
      });
    let configuration: client.Configuration;
    try {
      if (c.allowedTenants !== undefined) {
        // Entra multi-tenant: the document is fetched as is and its "{tenantid}" issuer checked here.
        configuration = await discover(discoveryUrl(issuer));
        checkDiscoveredIssuer(issuer, this.metadata(configuration).issuer, c.allowedTenants);
      } else {
        try {
          configuration = await discover(issuer);
        } catch (err) {
          // "https://idp/realms/a/" and "https://idp/realms/a" fetch the same document (OpenID Connect
          // Discovery 4.1): take the issuer as the provider writes it. Tokens must then name it exactly.
          const announced = slashOnly(err, issuer);
          if (announced === undefined) throw err;
          debug('the issuer is %s (only a trailing slash differs from the configured one)', announced);
          configuration = await discover(new URL(announced));
        }
        if (this.metadata(configuration).issuer.includes(TENANT_PLACEHOLDER))
          throw tenantTemplateRefused(this.metadata(configuration).issuer);
      }
    } catch (err) {
      debug('discovery of %s failed: %s', issuer.href, (err as Error)?.message);
      const mapped = issuerMismatch(err, issuer) ?? discoveryError(err, wellKnownUrl(issuer, c.discovery), 'issuer');
      // Logged here, as it goes on while the provider is misconfigured or down: else an operator
      // sees only what the app's error handler shows, if anything.
      // A refresh in the background is reported by the discovery cache, with what it does next.
      const logger = c.logger;
      if (logger && !again)
        this.#discoveryFailures.log(
          (m) => logger.error(m),
          `express-oidc-login: ${mapped.message}${mapped === err ? '' : causes(err)}`,
        );
      throw mapped;
    }
    timeRequests(configuration, customFetch, c.httpTimeout);
    this.#built = { auth, metadata, customFetch };
    debug('discovered %s', this.metadata(configuration).issuer);
    this.#discoveryFailures.reset();
    // Its findings are logged by report(), each once.
    this.#check(configuration);
    return configuration;
  }

  /**
   * The `server` option: the provider's endpoints as given, no request made. The start-up check
   * still runs (PAR without an endpoint...).
   */
  #fromEndpoints(
    metadata: Readonly<client.ServerMetadata>,
    clientMetadata: Partial<client.ClientMetadata>,
    auth: client.ClientAuth,
    customFetch: client.CustomFetch | undefined,
  ): client.Configuration {
    const configuration = new client.Configuration({ ...metadata }, this.#config.clientId!, clientMetadata, auth);
    if (this.#config.allowInsecureHttp) client.allowInsecureRequests(configuration);
    timeRequests(configuration, customFetch, this.#config.httpTimeout);
    debug('using the configured endpoints of %s', metadata.issuer);
    this.#check(configuration);
    return configuration;
  }

  /**
   * A Configuration like the discovered one, naming `issuer` (one tenant's, for a `{tenantid}`
   * issuer) and fetching with `ownFetch` when given.
   */
  #configurationFor(
    discovered: client.Configuration,
    issuer: string,
    ownFetch?: client.CustomFetch,
  ): client.Configuration {
    const c = this.#config;
    const built = this.#built!;
    const configuration = new client.Configuration(
      { ...this.metadata(discovered), issuer },
      c.clientId!,
      built.metadata,
      built.auth,
    );
    timeRequests(configuration, ownFetch ?? built.customFetch, c.httpTimeout);
    if (c.allowInsecureHttp) client.allowInsecureRequests(configuration);
    return configuration;
  }

  /**
   * The code exchange (and the ID token's validation by openid-client). For an Entra `{tenantid}`
   * issuer, with a Configuration for the token's own tenant (see {@link templateCodeGrant}).
   */
  async authorizationCodeGrant(
    currentUrl: URL,
    checks: Parameters<typeof client.authorizationCodeGrant>[2],
    issParam: string | undefined,
    options?: client.DPoPOptions,
  ): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers> {
    const configuration = await this.getConfiguration();
    const issuer = this.metadata(configuration).issuer;
    if (!issuer.includes(TENANT_PLACEHOLDER) || !this.#built)
      return client.authorizationCodeGrant(configuration, currentUrl, checks, undefined, options);
    return templateCodeGrant(
      (tenant, tenantFetch) => this.#configurationFor(configuration, tenant, tenantFetch),
      issuer,
      configuration[client.customFetch] ?? ((url, init) => fetch(url, init as RequestInit)),
      currentUrl,
      checks,
      issParam,
      options,
    );
  }

  /**
   * The Configuration for requests whose answer has an ID token about `claims`' login (a refresh):
   * the discovered one, or for an Entra `{tenantid}` issuer the login's own tenant's. With a
   * multi-tenant issuer, the login's tenant must still be allowed (an OidcError otherwise).
   */
  async configurationForLogin(claims: { iss?: unknown; tid?: unknown }): Promise<client.Configuration> {
    const configuration = await this.getConfiguration();
    const issuer = this.metadata(configuration).issuer;
    const allowed = this.#config.allowedTenants;
    if (allowed !== undefined) checkTenant(claims, issuer, allowed);
    if (!issuer.includes(TENANT_PLACEHOLDER) || !this.#built) return configuration;
    return this.#configurationFor(configuration, tenantIssuer(claims, issuerTemplate(issuer)));
  }

  /** The start-up check against the provider's metadata: warnings logged, errors also thrown. */
  #check(configuration: client.Configuration): void {
    const findings = checkProviderMetadata(this.#config, this.metadata(configuration), this.#config.clientAuthMethod);
    report(this.#config, findings, this.#reported);
    const errors = findings.filter((f) => f.level === 'error');
    if (errors.length > 0) {
      throw new OidcError('ERR_OIDC_PROVIDER_MISMATCH', 502, errors.map((f) => f.message).join(' '));
    }
  }

  /**
   * Verifies a JWS (an ID token) against the provider's JWKS with the one allowed algorithm
   * (node:crypto, a KeyObject cached per key: lib/flow/jws-verify.ts).
   * A `kid` not in the cached set refetches the JWKS once (key rotation), then fails.
   */
  async verifySignature(jws: string, algorithm: string): Promise<void> {
    const configuration = await this.getConfiguration();
    const cachedAt = this.#jwks?.fetchedAt;
    let keys = await this.#getJwks(configuration);
    try {
      keys.verify(jws, algorithm);
      return;
    } catch (err) {
      if (!(err instanceof NoMatchingKeyError)) throw idTokenSignatureError(err);
      // The set was fetched for this very check: fetching it again would tell nothing new.
      if (this.#jwks?.fetchedAt !== cachedAt) throw idTokenSignatureError(err);
    }
    debug('no key in the cached JWKS matches; fetching it again');
    keys = await this.#refetchJwks(configuration);
    try {
      keys.verify(jws, algorithm);
    } catch (err) {
      throw idTokenSignatureError(err);
    }
  }

  #getJwks(configuration: client.Configuration): Promise<VerificationKeys> {
    const cached = this.#jwks;
    if (cached && Date.now() - cached.fetchedAt < JWKS_MAX_AGE_MS) return Promise.resolve(cached.keys);
    return this.#refetchJwks(configuration);
  }

  /**
   * One JWKS request in flight at a time, shared by every verification waiting for it, and at
   * most one a second: tokens with made-up `kid`s wait rather than make the app hammer the provider.
   */
  #refetchJwks(configuration: client.Configuration): Promise<VerificationKeys> {
    this.#jwksInFlight ??= (async () => {
      const wait = (this.#jwks?.fetchedAt ?? 0) + JWKS_MIN_INTERVAL_MS - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      return this.#fetchJwks(configuration);
    })().finally(() => {
      this.#jwksInFlight = undefined;
    });
    return this.#jwksInFlight;
  }

  async #fetchJwks(configuration: client.Configuration): Promise<VerificationKeys> {
    const jwks = await fetchJwks(configuration, this.metadata(configuration).jwks_uri, this.#config);
    const keys = new VerificationKeys(jwks.keys);
    this.#jwks = { keys, fetchedAt: Date.now() };
    debug('fetched JWKS with %d keys', jwks.keys.length);
    return keys;
  }
}

/** Where discovery fetches the document: OpenID Connect Discovery 4, or RFC 8414 3 (inserted before the path). */
function wellKnownUrl(issuer: URL, discovery: 'oidc' | 'oauth2'): URL {
  if (discovery === 'oidc') return discoveryUrl(issuer);
  const path = issuer.pathname === '/' ? '' : issuer.pathname.replace(/\/$/, '');
  return new URL(`/.well-known/oauth-authorization-server${path}`, issuer.origin);
}
