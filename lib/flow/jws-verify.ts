import { constants, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';

/**
 * Compact JWS verification (the ID token's signature) with node:crypto against a JWKS, with a
 * `KeyObject` made once per key: about a third of the CPU of WebCrypto's `subtle.verify` through
 * jose (bench/micro/crypto.mjs), with jose's rules for choosing the key (`kid`, `kty`, `crv`, `alg`,
 * `use`, `key_ops`), one allowed algorithm, no `crit` header, RSA keys of 2048 bits or more.
 */

interface AlgSpec {
  kty: 'RSA' | 'EC' | 'OKP';
  crv?: string;
  /** node:crypto's digest; null for EdDSA. */
  hash: string | null;
  pss?: boolean;
  /** ECDSA: the raw (r || s) signature's length. */
  signatureBytes?: number;
}

const ALGS: Readonly<Record<string, AlgSpec>> = {
  RS256: { kty: 'RSA', hash: 'sha256' },
  RS384: { kty: 'RSA', hash: 'sha384' },
  RS512: { kty: 'RSA', hash: 'sha512' },
  PS256: { kty: 'RSA', hash: 'sha256', pss: true },
  PS384: { kty: 'RSA', hash: 'sha384', pss: true },
  PS512: { kty: 'RSA', hash: 'sha512', pss: true },
  ES256: { kty: 'EC', crv: 'P-256', hash: 'sha256', signatureBytes: 64 },
  ES384: { kty: 'EC', crv: 'P-384', hash: 'sha384', signatureBytes: 96 },
  ES512: { kty: 'EC', crv: 'P-521', hash: 'sha512', signatureBytes: 132 },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', hash: null },
  Ed25519: { kty: 'OKP', crv: 'Ed25519', hash: null },
};

/** No key of the set can verify this token (an unknown `kid`: the set may be out of date). */
export class NoMatchingKeyError extends Error {
  override readonly name = 'NoMatchingKeyError';
}

/** The token is malformed, uses another algorithm, or its signature does not verify. */
export class JwsInvalidError extends Error {
  override readonly name = 'JwsInvalidError';
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

type Jwk = JsonWebKey & { kid?: unknown; alg?: unknown; use?: unknown; key_ops?: unknown; ext?: unknown };

function usable(jwk: Jwk, spec: AlgSpec, alg: string, kid: unknown): boolean {
  const ops = jwk.key_ops;
  return (
    (jwk.ext === undefined || typeof jwk.ext === 'boolean') &&
    (ops === undefined ||
      (Array.isArray(ops) &&
        ops.every((op, i) => typeof op === 'string' && ops.indexOf(op) === i) &&
        ops.includes('verify'))) &&
    jwk.kty === spec.kty &&
    (kid === undefined || (typeof kid === 'string' && kid === jwk.kid)) &&
    (jwk.alg === undefined || jwk.alg === alg) &&
    (jwk.use === undefined || jwk.use === 'sig') &&
    (spec.crv === undefined || jwk.crv === spec.crv)
  );
}

/** A provider's JWKS, ready to verify: each key is imported once, when first used. */
export class VerificationKeys {
  readonly #jwks: readonly Jwk[];
  readonly #imported = new Map<number, KeyObject>();

  constructor(keys: readonly object[]) {
    this.#jwks = keys.map((k) => ({ ...(k as Jwk) }));
  }

  get size(): number {
    return this.#jwks.length;
  }

  /**
   * Verifies the compact JWS `jws` signed with `algorithm`. Throws {@link NoMatchingKeyError} when
   * no key fits (refetch the set), {@link JwsInvalidError} for anything else.
   */
  verify(jws: unknown, algorithm: string): void {
    if (typeof jws !== 'string') throw new JwsInvalidError('the JWS is not a string');
    const parts = jws.split('.');
    if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p)) || parts[0] === '')
      throw new JwsInvalidError('not a compact JWS');
    const [protectedHeader, payload, signature] = parts as [string, string, string];
    let header: unknown;
    try {
      header = JSON.parse(Buffer.from(protectedHeader, 'base64url').toString('utf8'));
    } catch {
      throw new JwsInvalidError('the JWS header is not JSON');
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header))
      throw new JwsInvalidError('the JWS header is not an object');
    const { alg, kid, crit } = header as { alg?: unknown; kid?: unknown; crit?: unknown };
    if (alg !== algorithm) throw new JwsInvalidError('the JWS "alg" is not the one allowed');
    const spec = ALGS[algorithm];
    if (!spec) throw new JwsInvalidError('unsupported "alg"');
    // No extension is understood, so a token that makes one critical is refused (RFC 7515 4.1.11).
    if (crit !== undefined) throw new JwsInvalidError('the JWS has a "crit" header');

    const candidates: number[] = [];
    this.#jwks.forEach((jwk, i) => {
      if (usable(jwk, spec, algorithm, kid)) candidates.push(i);
    });
    if (candidates.length === 0) throw new NoMatchingKeyError('no key in the JWKS matches the JWS header');
    // OpenID Connect Core 10.1: with several keys, the token must say which (kid).
    if (candidates.length > 1) throw new JwsInvalidError('several keys in the JWKS match the JWS header');
    const key = this.#key(candidates[0]!, spec);

    const sig = Buffer.from(signature, 'base64url');
    if (spec.signatureBytes !== undefined && sig.length !== spec.signatureBytes)
      throw new JwsInvalidError('the JWS signature has the wrong length');
    const data = Buffer.from(`${protectedHeader}.${payload}`, 'ascii');
    let ok: boolean;
    try {
      ok =
        spec.kty === 'RSA'
          ? verify(
              spec.hash,
              data,
              spec.pss
                ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
                : { key, padding: constants.RSA_PKCS1_PADDING },
              sig,
            )
          : spec.kty === 'EC'
            ? verify(spec.hash, data, { key, dsaEncoding: 'ieee-p1363' }, sig)
            : verify(null, data, key, sig);
    } catch (cause) {
      throw new JwsInvalidError('the JWS signature could not be checked', { cause });
    }
    if (!ok) throw new JwsInvalidError('the JWS signature is invalid');
  }

  #key(index: number, spec: AlgSpec): KeyObject {
    let key = this.#imported.get(index);
    if (!key) {
      const jwk = this.#jwks[index]!;
      if ((jwk as { d?: unknown }).d !== undefined) throw new JwsInvalidError('a JWKS member is a private key');
      try {
        key = createPublicKey({ key: jwk, format: 'jwk' });
      } catch (cause) {
        throw new JwsInvalidError('a JWKS member is not a valid public key', { cause });
      }
      if (spec.kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
        throw new JwsInvalidError('RSA keys must be 2048 bits or larger');
      }
      this.#imported.set(index, key);
    }
    return key;
  }
}
