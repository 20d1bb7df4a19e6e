import {
  createHash,
  createPrivateKey,
  createPublicKey,
  KeyObject,
  X509Certificate,
  type JsonWebKey,
} from 'node:crypto';
import { inspect } from 'node:util';
import { importJWK, type CryptoKey, type JWK } from 'jose';
import { deriveSealKey, type SealKey } from '../util/seal.js';
import { fail } from './fail.js';
import { ASYMMETRIC_ALGS } from './defaults.js';
import type { ClientAssertionAlg } from './credential-types.js';

// `clientPrivateKey`, read once at start-up for `private_key_jwt` (RFC 7523): the key (public and
// symmetric keys refused), its algorithm, its `kid` and its certificate. Key material never appears
// in an error message, a log line, `util.inspect` or `JSON.stringify`.

/** A certificate's thumbprints for a JWS header (RFC 7515 4.1.7, 4.1.8): base64url of the DER's SHA-1 and SHA-256. */
export interface CertificateThumbprints {
  readonly x5t: string;
  readonly 'x5t#S256': string;
}

/** `clientPrivateKey.certificate`, read: its thumbprints, its DER (for `x5c`) and its validity. */
export interface ClientKeyCertificate {
  readonly thumbprints: CertificateThumbprints;
  /** The DER, standard base64: the JWK `x5c` member (RFC 7517 4.7). */
  readonly der: string;
  readonly validFrom: Date;
  readonly validTo: Date;
}

/** Members of a public JWK; anything else (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`...) is never served. */
const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['kty', 'n', 'e'],
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
};

const CURVE_ALGS: Record<string, ClientAssertionAlg> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
};

/**
 * The client's signing key for `private_key_jwt`. The private key is held in a private field:
 * `util.inspect`, `JSON.stringify` and loggers see the `kid`, the `alg` and the public JWK only.
 */
export class ClientSigningKey {
  readonly kid: string;
  readonly alg: ClientAssertionAlg;
  /** The public JWK (with `kid`, `alg`, `use: 'sig'`): what `routes.jwks` serves. */
  readonly publicJwk: Readonly<JWK>;
  /** With `clientPrivateKey.certificate`: its thumbprints (each assertion's header carries them) and validity. */
  readonly certificate: ClientKeyCertificate | undefined;
  readonly #privateKey: KeyObject;
  #cryptoKey: Promise<CryptoKey> | undefined;

  constructor(
    privateKey: KeyObject,
    kid: string,
    alg: ClientAssertionAlg,
    publicJwk: JWK,
    certificate?: ClientKeyCertificate,
  ) {
    this.#privateKey = privateKey;
    this.kid = kid;
    this.alg = alg;
    // With a certificate, the served key names it too, as the assertions do.
    const x5 = certificate && { x5c: [certificate.der], ...certificate.thumbprints };
    this.publicJwk = Object.freeze({ ...publicJwk, kid, alg, use: 'sig', ...x5 });
    this.certificate =
      certificate && Object.freeze({ ...certificate, thumbprints: Object.freeze({ ...certificate.thumbprints }) });
  }

  /** A non-extractable WebCrypto key for `alg` (RSA-PSS or PKCS#1 v1.5 for the same RSA key). */
  cryptoKey(): Promise<CryptoKey> {
    this.#cryptoKey ??= importJWK(this.#privateKey.export({ format: 'jwk' }) as JWK, this.alg, {
      extractable: false,
    }).then(
      (key) => key as CryptoKey,
      (err: unknown) => {
        this.#cryptoKey = undefined;
        throw err;
      },
    );
    return this.#cryptoKey;
  }

  /** The public JWK Set with this one key. */
  jwks(): { keys: Readonly<JWK>[] } {
    return { keys: [this.publicJwk] };
  }

  /** A key for sealed cookies derived from the private key (HKDF, `label`), or undefined when it cannot be read. */
  sealKey(label: string): SealKey | undefined {
    return sealKeyFrom(this.#privateKey, label);
  }

  toJSON(): unknown {
    return { kid: this.kid, alg: this.alg, publicJwk: this.publicJwk };
  }

  [inspect.custom](): string {
    return `ClientSigningKey { kid: ${JSON.stringify(this.kid)}, alg: '${this.alg}' }`;
  }
}

/** A key for sealed cookies derived from a private key (HKDF, `label`), or undefined when it cannot be exported. */
export function sealKeyFrom(key: KeyObject, label: string): SealKey | undefined {
  try {
    return deriveSealKey(key.export({ format: 'der', type: 'pkcs8' }), label);
  } catch {
    return undefined;
  }
}

/** A non-empty PEM string or Buffer. */
export function pem(value: unknown): value is string | Buffer {
  return (typeof value === 'string' && value !== '') || (Buffer.isBuffer(value) && value.length > 0);
}

function isCryptoKeyLike(value: object): boolean {
  const v = value as { type?: unknown; algorithm?: unknown; usages?: unknown };
  return (
    typeof v.type === 'string' && typeof v.algorithm === 'object' && v.algorithm !== null && Array.isArray(v.usages)
  );
}

/** Reads the key material, refusing public and symmetric keys. Messages never quote the value. */
function readPrivateKey(value: unknown): { key: KeyObject; jwk?: JWK } {
  const name = '"clientPrivateKey"';
  if (typeof value === 'string' || Buffer.isBuffer(value)) {
    const text = value.toString();
    if (text.trimStart().startsWith('{')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        fail(`${name} looks like JSON but is not valid JSON; give a private JWK or a PEM private key.`);
      }
      return readPrivateKey(parsed);
    }
    if (/-----BEGIN (?:PUBLIC KEY|RSA PUBLIC KEY|CERTIFICATE)-----/.test(text)) {
      fail(
        `${name} is a public key or a certificate: give the private key (PEM "BEGIN PRIVATE KEY"); ` +
          `its public key is what the provider registers.`,
      );
    }
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text) || /Proc-Type: 4,ENCRYPTED/.test(text)) {
      fail(`${name} is an encrypted PEM: give crypto.createPrivateKey({ key, passphrase }) (a KeyObject) instead.`);
    }
    if (!text.includes('-----BEGIN'))
      fail(
        `${name} must be a PEM private key ("-----BEGIN PRIVATE KEY-----"), a private JWK, a KeyObject or a CryptoKey.`,
      );
    try {
      return { key: createPrivateKey(text) };
    } catch {
      fail(`${name} could not be read as a PEM private key (PKCS#8 "BEGIN PRIVATE KEY" is expected).`);
    }
  }
  if (value instanceof KeyObject) {
    if (value.type === 'secret')
      fail(
        `${name} is a symmetric (secret) key: private_key_jwt needs an asymmetric private key (RSA, EC or Ed25519).`,
      );
    if (value.type === 'public')
      fail(`${name} is a public key: give the private key; its public key is what the provider registers.`);
    return { key: value };
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    if ('kty' in value) {
      const jwk = value as JWK;
      if (jwk.kty === 'oct')
        fail(
          `${name} is a symmetric JWK (kty "oct"): private_key_jwt needs an asymmetric private key (RSA, EC or OKP).`,
        );
      if (typeof jwk.d !== 'string')
        fail(`${name} is a public JWK (no "d"): give the private JWK; its public part is what the provider registers.`);
      try {
        return { key: createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' }), jwk };
      } catch {
        fail(`${name} is not a valid private JWK (kty ${JSON.stringify(jwk.kty)}).`);
      }
    }
    if (isCryptoKeyLike(value)) {
      const type = (value as { type: string }).type;
      if (type === 'secret')
        fail(`${name} is a symmetric (secret) CryptoKey: private_key_jwt needs an asymmetric private key.`);
      if (type === 'public') fail(`${name} is a public CryptoKey: give the private key of the pair.`);
      try {
        return { key: KeyObject.from(value as Parameters<typeof KeyObject.from>[0]) };
      } catch {
        fail(`${name} is not a usable CryptoKey.`);
      }
    }
  }
  fail(
    `${name} must be a PEM private key string, a private JWK, a KeyObject or a CryptoKey (or { ` +
      `key, kid, alg } around one).`,
  );
}

/** The algorithms `key` can sign, and the one used by default. */
function algsFor(key: KeyObject): {
  allowed: readonly ClientAssertionAlg[];
  fallback: ClientAssertionAlg;
  what: string;
} {
  const name = '"clientPrivateKey"';
  switch (key.asymmetricKeyType) {
    case 'rsa': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048) fail(`${name} is a ${bits}-bit RSA key: RSA keys must be at least 2048 bits.`);
      return { allowed: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'], fallback: 'RS256', what: 'an RSA' };
    }
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
      const alg = CURVE_ALGS[curve];
      if (!alg) fail(`${name} is an EC key on an unsupported curve: use P-256 (ES256), P-384 or P-521.`);
      return { allowed: [alg], fallback: alg, what: `an EC ${curve}` };
    }
    case 'ed25519':
      return { allowed: ['EdDSA', 'Ed25519'], fallback: 'EdDSA', what: 'an Ed25519' };
    case 'rsa-pss':
      return fail(
        `${name} is an RSA-PSS-only key (id-RSASSA-PSS), which WebCrypto cannot use: give an ` +
          `ordinary RSA key (rsaEncryption) with alg "PS256".`,
      );
    default:
      return fail(
        `${name} is a ${key.asymmetricKeyType ?? 'unknown'} key: private_key_jwt needs an RSA ` +
          `(2048 bits or more), EC (P-256, P-384, P-521) or Ed25519 key.`,
      );
  }
}

/** RFC 7638 JWK thumbprint (SHA-256) of a public JWK. */
function thumbprint(jwk: Record<string, unknown>): string {
  const members = PUBLIC_MEMBERS[jwk.kty as string]!;
  const canonical = JSON.stringify(Object.fromEntries([...members].sort().map((m) => [m, jwk[m]])));
  return createHash('sha256').update(canonical).digest('base64url');
}

/** `clientPrivateKey`: the key alone or `{ key, kid?, alg?, certificate? }`. */
export function resolveClientKey(option: unknown): ClientSigningKey {
  let material: unknown = option;
  let kid: unknown;
  let alg: unknown;
  let certificate: unknown;
  if (
    typeof option === 'object' &&
    option !== null &&
    !Array.isArray(option) &&
    'key' in option &&
    !('kty' in option) &&
    !isCryptoKeyLike(option)
  ) {
    const wrapper = option as Record<string, unknown>;
    for (const k of Object.keys(wrapper)) {
      if (k !== 'key' && k !== 'kid' && k !== 'alg' && k !== 'certificate')
        fail(`unknown member "clientPrivateKey.${k}": give { key, kid?, alg?, certificate? }.`);
    }
    ({ key: material, kid, alg, certificate } = wrapper);
  }
  const { key, jwk } = readPrivateKey(material);
  const cert = certificate === undefined ? undefined : certificateOf(certificate, key);
  const { allowed, fallback, what } = algsFor(key);
  alg ??= jwk?.alg ?? fallback;
  if (typeof alg !== 'string' || !(ASYMMETRIC_ALGS as readonly string[]).includes(alg)) {
    fail(`the "alg" of "clientPrivateKey" must be one of ${ASYMMETRIC_ALGS.join(', ')}; got ${JSON.stringify(alg)}.`);
  }
  if (!(allowed as readonly string[]).includes(alg)) {
    fail(`"clientPrivateKey" is ${what} key, which cannot sign ${alg}: use ${allowed.join(' or ')}.`);
  }
  const publicFull = createPublicKey(key).export({ format: 'jwk' }) as Record<string, unknown>;
  const members = PUBLIC_MEMBERS[publicFull.kty as string];
  if (!members) fail('"clientPrivateKey" has an unsupported key type.');
  const publicJwk = Object.fromEntries(members.map((m) => [m, publicFull[m]])) as JWK;
  kid ??= jwk?.kid ?? thumbprint(publicJwk as Record<string, unknown>);
  if (typeof kid !== 'string' || kid === '') fail('the "kid" of "clientPrivateKey" must be a non-empty string.');
  return new ClientSigningKey(key, kid, alg as ClientAssertionAlg, publicJwk, cert);
}

/** `clientPrivateKey.certificate`: a PEM certificate of the private key; its thumbprints, DER and validity. */
function certificateOf(value: unknown, key: KeyObject): ClientKeyCertificate {
  if (!pem(value))
    fail('"clientPrivateKey.certificate" must be the key\'s X.509 certificate, PEM ("-----BEGIN CERTIFICATE-----").');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(value);
  } catch {
    fail('"clientPrivateKey.certificate" could not be read as a PEM certificate.');
  }
  if (!x509.checkPrivateKey(key))
    fail(
      '"clientPrivateKey.certificate" is not the certificate of "clientPrivateKey.key": its public key is another one.',
    );
  return {
    thumbprints: {
      x5t: createHash('sha1').update(x509.raw).digest('base64url'),
      'x5t#S256': createHash('sha256').update(x509.raw).digest('base64url'),
    },
    der: x509.raw.toString('base64'),
    validFrom: certificateDate(x509.validFrom),
    validTo: certificateDate(x509.validTo),
  };
}

/** An X509Certificate date ("Jan  1 00:00:00 2020 GMT"); one that does not parse is refused rather than never checked. */
function certificateDate(text: string): Date {
  const date = new Date(text);
  if (Number.isNaN(date.getTime()))
    fail(`"clientPrivateKey.certificate" has a validity date that cannot be read: ${JSON.stringify(text)}.`);
  return date;
}
