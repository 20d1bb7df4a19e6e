import { createHash, createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import * as client from 'openid-client';
import { calculateJwkThumbprint } from 'jose';
import createDebug from 'debug';
import { OidcError } from '../util/errors.js';
import { DPOP_ALGS } from '../options/defaults.js';
import type { DPoPAlg, StoredDPoPKey } from '../types.js';

const debug = createDebug('express-oidc-login:dpop');

/** Imported keys of this many logins are kept per middleware instance (least recently used go). */
const KEY_CACHE_SIZE = 1000;
/** Server-provided nonces remembered per login key, one per origin. */
const NONCES_PER_KEY = 16;

/** The public members of each key type (RFC 7638), the only ones a proof's `jwk` header carries. */
const PUBLIC_MEMBERS: Record<string, readonly string[]> = { EC: ['kty', 'crv', 'x', 'y'], OKP: ['kty', 'crv', 'x'] };
/** What is stored of a private JWK: its key material, none of WebCrypto's `ext` / `key_ops` / `alg`. */
const PRIVATE_MEMBERS = ['kty', 'crv', 'x', 'y', 'd'] as const;

type Jwk = Record<string, string>;

/** WebCrypto import parameters for each alg (to hand openid-client a CryptoKeyPair). */
function importAlgorithm(alg: DPoPAlg): EcKeyImportParams | Algorithm {
  switch (alg) {
    case 'ES256':
      return { name: 'ECDSA', namedCurve: 'P-256' };
    case 'ES384':
      return { name: 'ECDSA', namedCurve: 'P-384' };
    default:
      return { name: 'Ed25519' };
  }
}

/** A JWS signature over `input` with node:crypto (synchronous: a third of WebCrypto's CPU per proof). */
function signature(alg: DPoPAlg, key: KeyObject, input: Buffer): Buffer {
  switch (alg) {
    case 'ES256':
      return sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' });
    case 'ES384':
      return sign('sha384', input, { key, dsaEncoding: 'ieee-p1363' });
    default:
      return sign(null, input, key);
  }
}

function unusableKey(cause?: unknown): OidcError {
  return new OidcError(
    'ERR_OIDC_UNAUTHENTICATED',
    401,
    "This login's DPoP key in the session cannot be used (the session data is damaged). Log in again.",
    cause === undefined ? undefined : { cause },
  );
}

/**
 * The provider issued a token that is not bound to the DPoP key (`token_type` not `DPoP`) though
 * the request carried a proof: it does not support DPoP, or not for this client.
 */
export function dpopNotBound(during: 'login' | 'refresh', tokenType: unknown): OidcError {
  // openid-client lowercases token_type; the message uses the RFC 6750 spelling.
  const got =
    tokenType === 'bearer'
      ? 'Bearer'
      : typeof tokenType === 'string' && /^[A-Za-z_-]{1,32}$/.test(tokenType)
        ? tokenType
        : 'another type of';
  return new OidcError(
    'ERR_OIDC_DPOP_NOT_BOUND',
    502,
    `The identity provider answered the ${during === 'login' ? 'login' : 'token refresh'} with a ${got} token, not a DPoP-bound one, ` +
      'though the app asked for DPoP ("dpop" option). Enable DPoP for this client at the provider, or remove the "dpop" option.' +
      (during === 'refresh' ? ' The login has ended. Log in again.' : ''),
  );
}

/** True for a token response's `token_type` of a DPoP-bound token (openid-client lowercases it). */
export function isDPoPTokenType(tokenType: unknown): boolean {
  return typeof tokenType === 'string' && tokenType.toLowerCase() === 'dpop';
}

/**
 * One login's key pair, imported lazily and only as far as needed: a node:crypto `KeyObject` for
 * the proofs of `req.oidc.fetch()`, a WebCrypto pair and an openid-client handle per
 * Configuration for the token and userinfo requests. Also the nonces resource servers gave it.
 */
export class DPoPKey {
  readonly alg: DPoPAlg;
  readonly jkt: string;
  /** The private scalar, to tell a cached entry from a session that names the same `jkt` with other key material. */
  readonly #d: string;
  readonly #jwk: Jwk;
  #signer: KeyObject | undefined;
  #header: string | undefined;
  #pair: Promise<CryptoKeyPair> | undefined;
  readonly #handles = new WeakMap<client.Configuration, client.DPoPHandle>();
  readonly #nonces = new Map<string, string>();

  constructor(stored: StoredDPoPKey, pair?: CryptoKeyPair) {
    this.alg = stored.alg;
    this.jkt = stored.jkt;
    this.#jwk = stored.jwk;
    this.#d = stored.jwk.d!;
    if (pair) this.#pair = Promise.resolve(pair);
  }

  matches(stored: StoredDPoPKey): boolean {
    return stored.alg === this.alg && stored.jwk.d === this.#d;
  }

  /** The openid-client handle for token and userinfo requests (it retries once on `use_dpop_nonce`). */
  async handle(configuration: client.Configuration): Promise<client.DPoPHandle> {
    let handle = this.#handles.get(configuration);
    if (handle) return handle;
    const pair = await this.#cryptoKeyPair();
    handle = client.getDPoPHandle(
      configuration,
      pair,
      // WebCrypto names an Ed25519 key "Ed25519"; a provider that lists only "EdDSA" needs that name.
      this.alg === 'EdDSA'
        ? {
            [client.modifyAssertion]: (header) => {
              header.alg = 'EdDSA';
            },
          }
        : undefined,
    );
    this.#handles.set(configuration, handle);
    return handle;
  }

  #cryptoKeyPair(): Promise<CryptoKeyPair> {
    this.#pair ??= (async () => {
      const algorithm = importAlgorithm(this.alg);
      const [privateKey, publicKey] = await Promise.all([
        crypto.subtle.importKey('jwk', this.#jwk, algorithm, false, ['sign']),
        crypto.subtle.importKey('jwk', publicJwk(this.#jwk), algorithm, true, ['verify']),
      ]);
      return { privateKey, publicKey };
    })().catch((err: unknown) => {
      this.#pair = undefined;
      throw unusableKey(err);
    });
    return this.#pair;
  }

  /**
   * A DPoP proof JWT (RFC 9449 §4.2) for a request to a resource server: `htm`, `htu` (without
   * query and fragment), `iat`, a random `jti`, `ath` (the access token's hash) and the nonce that
   * origin last gave, if any.
   */
  proof(method: string, url: URL, accessToken: string): string {
    if (!this.#signer) {
      try {
        this.#signer = createPrivateKey({ key: this.#jwk, format: 'jwk' });
      } catch (err) {
        throw unusableKey(err);
      }
      this.#header = base64url({ typ: 'dpop+jwt', alg: this.alg, jwk: publicJwk(this.#jwk) });
    }
    const nonce = this.#nonces.get(url.origin);
    const payload = base64url({
      jti: randomBytes(16).toString('base64url'),
      htm: method,
      htu: `${url.origin}${url.pathname}`,
      iat: Math.floor(Date.now() / 1000),
      ath: createHash('sha256').update(accessToken).digest('base64url'),
      ...(nonce !== undefined && { nonce }),
    });
    const input = `${this.#header!}.${payload}`;
    return `${input}.${signature(this.alg, this.#signer, Buffer.from(input)).toString('base64url')}`;
  }

  /** Keeps the `DPoP-Nonce` a resource server sent (RFC 9449 §9); true when it is a new one. */
  rememberNonce(url: URL, response: Response): boolean {
    const nonce = response.headers.get('dpop-nonce');
    if (!nonce || !/^[\x21\x23-\x5B\x5D-\x7E]{1,512}$/.test(nonce)) return false;
    const known = this.#nonces.get(url.origin);
    this.#nonces.delete(url.origin);
    if (this.#nonces.size >= NONCES_PER_KEY) this.#nonces.delete(this.#nonces.keys().next().value!);
    this.#nonces.set(url.origin, nonce);
    return nonce !== known;
  }
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function publicJwk(jwk: Jwk): Jwk {
  const members = PUBLIC_MEMBERS[jwk.kty ?? ''] ?? [];
  return Object.fromEntries(members.map((m) => [m, jwk[m]!]));
}

/** A stored key with the shape this module writes; anything else is a damaged session. */
function isStoredKey(value: unknown): value is StoredDPoPKey {
  const v = value as Partial<StoredDPoPKey> | undefined;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.alg === 'string' &&
    (DPOP_ALGS as readonly string[]).includes(v.alg) &&
    typeof v.jkt === 'string' &&
    typeof v.jwk === 'object' &&
    v.jwk !== null &&
    typeof v.jwk.kty === 'string' &&
    PUBLIC_MEMBERS[v.jwk.kty] !== undefined &&
    typeof v.jwk.d === 'string'
  );
}

/**
 * The login keys one `oidcLogin()` instance has imported (a field of its `Provider`), by
 * thumbprint, least recently used dropped first.
 */
export class DPoPKeys {
  readonly #keys = new Map<string, DPoPKey>();

  /**
   * The key of a stored login. No crypto here: the key is imported by its first use, once per
   * login and process (another instance sharing the session store imports it for itself).
   */
  of(stored: StoredDPoPKey): DPoPKey {
    if (!isStoredKey(stored)) throw unusableKey();
    let key = this.#keys.get(stored.jkt);
    if (!key || !key.matches(stored)) key = new DPoPKey(stored);
    this.#remember(key);
    return key;
  }

  /**
   * A new key pair for a login (made at the callback, just before the token request): the private
   * JWK (with its public members) to store with the login, and the key, ready for openid-client.
   */
  async create(alg: DPoPAlg): Promise<{ stored: StoredDPoPKey; key: DPoPKey }> {
    const pair = await client.randomDPoPKeyPair(alg, { extractable: true });
    const exported = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as Record<string, unknown>;
    const jwk: Jwk = {};
    for (const member of PRIVATE_MEMBERS)
      if (typeof exported[member] === 'string') jwk[member] = exported[member] as string;
    const jkt = await calculateJwkThumbprint(publicJwk(jwk) as Parameters<typeof calculateJwkThumbprint>[0], 'sha256');
    const stored: StoredDPoPKey = { alg, jkt, jwk };
    const key = new DPoPKey(stored, pair);
    this.#remember(key);
    debug('new %s DPoP key for a login, jkt %s', alg, jkt);
    return { stored, key };
  }

  #remember(key: DPoPKey): void {
    this.#keys.delete(key.jkt);
    if (this.#keys.size >= KEY_CACHE_SIZE) this.#keys.delete(this.#keys.keys().next().value!);
    this.#keys.set(key.jkt, key);
  }
}
