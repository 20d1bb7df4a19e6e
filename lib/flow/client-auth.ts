import {
  createHash,
  createPrivateKey,
  createPublicKey,
  KeyObject,
  X509Certificate,
  type JsonWebKey,
} from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { inspect } from 'node:util';
import * as client from 'openid-client';
import { importJWK, type CryptoKey, type JWK } from 'jose';
import type { ClientAuthMethod, ResolvedConfig } from '../options/config.js';
import { OidcConfigError } from '../util/errors.js';
import { deriveSealKey, type SealKey } from '../util/seal.js';
import { TENANT_PLACEHOLDER } from '../vendors/entra.js';

/**
 * Client authentication at the provider's token (and PAR, revocation...) endpoints:
 * `client_secret_basic`, `client_secret_post`, `client_secret_jwt` (RFC 7523, HS256 with the
 * secret), `private_key_jwt` (RFC 7523, signed with the client's private key, whose public key
 * the app serves at `routes.jwks`) and `tls_client_auth` (RFC 8705, a TLS client certificate).
 *
 * Key material never appears in an error message, a log line, `util.inspect` or `JSON.stringify`.
 */

/** The methods `clientAuthMethod` accepts. */
export const CLIENT_AUTH_METHODS: readonly ClientAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'client_secret_jwt',
  'private_key_jwt',
  'tls_client_auth',
];

/** The JWS algorithms a `private_key_jwt` assertion may be signed with. */
export type ClientAssertionAlg =
  'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'Ed25519';

/** A private key: PEM (PKCS#8, or PKCS#1 / SEC1), a private JWK (or its JSON), a `KeyObject` or a `CryptoKey`. */
export type ClientPrivateKeyMaterial = string | Buffer | JWK | KeyObject | CryptoKey;

/**
 * `clientPrivateKey`: the key alone, or with its `kid`, `alg` and X.509 `certificate`. Without
 * them, a JWK's own `kid` and `alg` are used, else the RFC 7638 thumbprint and the key type's usual
 * algorithm (RSA: RS256, P-256: ES256, P-384: ES384, P-521: ES512, Ed25519: EdDSA). With
 * `certificate` (PEM, of this key), each client assertion names it by its thumbprints, `x5t`
 * (SHA-1) and `x5t#S256` (SHA-256), as Microsoft Entra ID requires of certificate credentials.
 */
export type ClientPrivateKey =
  | ClientPrivateKeyMaterial
  | { key: ClientPrivateKeyMaterial; kid?: string; alg?: ClientAssertionAlg; certificate?: string | Buffer };

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

/** `clientCertificate`: the TLS client certificate for `tls_client_auth` (RFC 8705), PEM. */
export interface ClientCertificate {
  /** The client certificate (PEM), optionally followed by its intermediate CAs. */
  cert: string | Buffer;
  /** Its private key (PEM, unencrypted). */
  key: string | Buffer;
  /** CAs trusted for the provider's server certificate, in place of Node's defaults (a private PKI). */
  ca?: string | Buffer | readonly (string | Buffer)[];
}

const ASSERTION_ALGS: readonly ClientAssertionAlg[] = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

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

function fail(message: string): never {
  throw new OidcConfigError(`express-oidc-login: ${message}`);
}

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

/**
 * The TLS client certificate for `tls_client_auth`. Requests to the provider go through
 * `node:https` with it (Node's global `fetch` cannot carry a client certificate without the
 * `undici` package); the key is held in a private field.
 */
export class ClientTlsIdentity {
  /** The certificate's subject DN, e.g. `CN=my-app` (what `tls_client_auth_subject_dn` registers). */
  readonly subject: string;
  /** When the certificate expires. */
  readonly validTo: Date;
  readonly #agent: Agent;
  readonly #key: KeyObject;

  constructor(cert: string | Buffer, key: KeyObject, ca: (string | Buffer)[] | undefined, x509: X509Certificate) {
    this.subject = x509.subject.split('\n').join(', ');
    this.validTo = new Date(x509.validTo);
    this.#key = key;
    this.#agent = new Agent({
      cert,
      key: key.export({ format: 'pem', type: 'pkcs8' }),
      ...(ca && { ca }),
      keepAlive: true,
    });
  }

  /** A key for sealed cookies derived from the certificate's private key (HKDF, `label`). */
  sealKey(label: string): SealKey | undefined {
    return sealKeyFrom(this.#key, label);
  }

  /** A fetch for openid-client (`customFetch`) that presents the certificate on https requests. */
  fetch(): client.CustomFetch {
    return (url, options) => nodeFetch(url, options, this.#agent);
  }

  toJSON(): unknown {
    return { subject: this.subject, validTo: this.validTo };
  }

  [inspect.custom](): string {
    return `ClientTlsIdentity { subject: ${JSON.stringify(this.subject)} }`;
  }
}

function sealKeyFrom(key: KeyObject, label: string): SealKey | undefined {
  try {
    return deriveSealKey(key.export({ format: 'der', type: 'pkcs8' }), label);
  } catch {
    return undefined;
  }
}

export interface ResolvedClientAuth {
  clientAuthMethod: ClientAuthMethod;
  /** Whether `clientSecret` is required (the `client_secret_*` methods). */
  needsSecret: boolean;
  clientKey: ClientSigningKey | undefined;
  clientCertificate: ClientTlsIdentity | undefined;
}

/**
 * Validates `clientAuthMethod`, `clientPrivateKey` and `clientCertificate` together, at start-up.
 * With a ready-made `configuration`, the method is only a statement for the start-up check: the
 * Configuration carries its own client authentication.
 */
export function resolveClientAuth(o: Record<string, unknown>, hasConfiguration: boolean): ResolvedClientAuth {
  const method = (o.clientAuthMethod ?? 'client_secret_basic') as ClientAuthMethod;
  if (!CLIENT_AUTH_METHODS.includes(method)) {
    fail(
      `"clientAuthMethod" must be one of ${CLIENT_AUTH_METHODS.join(', ')}; got ${JSON.stringify(o.clientAuthMethod)}.`,
    );
  }
  if (hasConfiguration && (o.clientPrivateKey !== undefined || o.clientCertificate !== undefined)) {
    fail(
      'with "configuration", client authentication is the Configuration\'s own (openid-client PrivateKeyJwt(), TlsClientAuth()...): ' +
        'leave out "clientPrivateKey" and "clientCertificate".',
    );
  }
  if (o.clientPrivateKey !== undefined && method !== 'private_key_jwt') {
    fail(
      `"clientPrivateKey" is used by clientAuthMethod "private_key_jwt" only, not "${method}": set "clientAuthMethod: 'private_key_jwt'" or remove the key.`,
    );
  }
  if (o.clientCertificate !== undefined && method !== 'tls_client_auth') {
    fail(
      `"clientCertificate" is used by clientAuthMethod "tls_client_auth" only, not "${method}": set "clientAuthMethod: 'tls_client_auth'" or remove it.`,
    );
  }
  let clientKey: ClientSigningKey | undefined;
  let clientCertificate: ClientTlsIdentity | undefined;
  if (method === 'private_key_jwt' && !hasConfiguration) {
    if (o.clientPrivateKey === undefined || o.clientPrivateKey === null) {
      fail(
        'clientAuthMethod "private_key_jwt" needs "clientPrivateKey": the private key (PEM PKCS#8, a private JWK, a KeyObject or a CryptoKey) ' +
          'whose public key is registered at the provider (or served at routes.jwks for its jwks_uri).',
      );
    }
    clientKey = resolveClientKey(o.clientPrivateKey);
  }
  if (method === 'tls_client_auth' && !hasConfiguration) {
    if (o.clientCertificate === undefined || o.clientCertificate === null) {
      fail(
        'clientAuthMethod "tls_client_auth" needs "clientCertificate: { cert, key, ca? }": the TLS client certificate and its private key, PEM.',
      );
    }
    clientCertificate = resolveClientCertificate(o.clientCertificate);
  }
  return {
    clientAuthMethod: method,
    needsSecret: method === 'client_secret_basic' || method === 'client_secret_post' || method === 'client_secret_jwt',
    clientKey,
    clientCertificate,
  };
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
        `${name} is a public key or a certificate: give the private key (PEM "BEGIN PRIVATE KEY"); its public key is what the provider registers.`,
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
    `${name} must be a PEM private key string, a private JWK, a KeyObject or a CryptoKey (or { key, kid, alg } around one).`,
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
        `${name} is an RSA-PSS-only key (id-RSASSA-PSS), which WebCrypto cannot use: give an ordinary RSA key (rsaEncryption) with alg "PS256".`,
      );
    default:
      return fail(
        `${name} is a ${key.asymmetricKeyType ?? 'unknown'} key: private_key_jwt needs an RSA (2048 bits or more), EC (P-256, P-384, P-521) or Ed25519 key.`,
      );
  }
}

/** RFC 7638 JWK thumbprint (SHA-256) of a public JWK. */
function thumbprint(jwk: Record<string, unknown>): string {
  const members = PUBLIC_MEMBERS[jwk.kty as string]!;
  const canonical = JSON.stringify(Object.fromEntries([...members].sort().map((m) => [m, jwk[m]])));
  return createHash('sha256').update(canonical).digest('base64url');
}

function resolveClientKey(option: unknown): ClientSigningKey {
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
  if (typeof alg !== 'string' || !(ASSERTION_ALGS as readonly string[]).includes(alg)) {
    fail(`the "alg" of "clientPrivateKey" must be one of ${ASSERTION_ALGS.join(', ')}; got ${JSON.stringify(alg)}.`);
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

function pem(value: unknown): value is string | Buffer {
  return (typeof value === 'string' && value !== '') || (Buffer.isBuffer(value) && value.length > 0);
}

function resolveClientCertificate(option: unknown): ClientTlsIdentity {
  if (typeof option !== 'object' || option === null || Array.isArray(option))
    fail('"clientCertificate" must be { cert, key, ca? } (PEM strings or Buffers).');
  const c = option as Record<string, unknown>;
  for (const k of Object.keys(c)) {
    if (k !== 'cert' && k !== 'key' && k !== 'ca')
      fail(`unknown member "clientCertificate.${k}": give { cert, key, ca? }.`);
  }
  if (!pem(c.cert))
    fail('"clientCertificate.cert" must be the client certificate, PEM ("-----BEGIN CERTIFICATE-----").');
  if (!pem(c.key)) fail('"clientCertificate.key" must be the certificate\'s private key, PEM.');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(c.cert);
  } catch {
    fail('"clientCertificate.cert" could not be read as a PEM certificate.');
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(c.key);
  } catch {
    fail('"clientCertificate.key" could not be read as an unencrypted PEM private key.');
  }
  if (!x509.checkPrivateKey(key)) fail('"clientCertificate.key" is not the private key of "clientCertificate.cert".');
  let ca: (string | Buffer)[] | undefined;
  if (c.ca !== undefined) {
    const list = Array.isArray(c.ca) ? (c.ca as unknown[]) : [c.ca];
    if (list.length === 0 || !list.every(pem))
      fail('"clientCertificate.ca" must be a PEM certificate (string or Buffer) or an array of them.');
    ca = list;
  }
  return new ClientTlsIdentity(c.cert, key, ca, x509);
}

/** What openid-client needs for the configured method: the ClientAuth, client metadata, a fetch. */
/**
 * A client assertion's `aud` is the issuer (openid-client), which for an Entra multi-tenant
 * endpoint is the template `.../{tenantid}/v2.0`: no audience Entra accepts. Entra documents the
 * token endpoint as the assertion's audience, so that is sent there.
 */
function entraAudience(auth: client.ClientAuth): client.ClientAuth {
  return (as, c, body, headers) =>
    auth(
      as.issuer.includes(TENANT_PLACEHOLDER) && as.token_endpoint ? { ...as, issuer: as.token_endpoint } : as,
      c,
      body,
      headers,
    );
}

export async function clientAuthentication(config: ResolvedConfig): Promise<{
  auth: client.ClientAuth;
  metadata: Partial<client.ClientMetadata>;
  customFetch: client.CustomFetch | undefined;
}> {
  switch (config.clientAuthMethod) {
    case 'client_secret_post':
      return { auth: client.ClientSecretPost(config.clientSecret), metadata: {}, customFetch: undefined };
    case 'client_secret_jwt':
      return { auth: entraAudience(client.ClientSecretJwt(config.clientSecret)), metadata: {}, customFetch: undefined };
    case 'private_key_jwt': {
      const key = config.clientKey!;
      const alg = key.alg;
      return {
        // The header's alg is the configured one: WebCrypto names an Ed25519 key "Ed25519", and a
        // client registered with token_endpoint_auth_signing_alg "EdDSA" must say "EdDSA".
        auth: entraAudience(
          client.PrivateKeyJwt(
            { key: await key.cryptoKey(), kid: key.kid },
            {
              [client.modifyAssertion]: (header) => {
                header.alg = alg;
                // Certificate credentials (Entra ID): the certificate by its thumbprints.
                if (key.certificate) Object.assign(header, { typ: 'JWT' }, key.certificate.thumbprints);
              },
            },
          ),
        ),
        metadata: { token_endpoint_auth_signing_alg: alg },
        customFetch: undefined,
      };
    }
    case 'tls_client_auth':
      return {
        auth: client.TlsClientAuth(),
        // RFC 8705 5: the provider's mtls_endpoint_aliases, when it has them, are used.
        metadata: { use_mtls_endpoint_aliases: true },
        customFetch: config.clientCertificate!.fetch(),
      };
    default:
      return { auth: client.ClientSecretBasic(config.clientSecret), metadata: {}, customFetch: undefined };
  }
}

/** The request body as bytes; a stream body is not used by openid-client for these requests. */
function bodyBytes(body: client.CustomFetchOptions['body']): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof URLSearchParams) return Buffer.from(body.toString());
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('express-oidc-login: a streamed request body is not supported with tls_client_auth.');
}

/**
 * A minimal fetch over `node:http(s)` for the provider requests openid-client makes (no redirects
 * followed, `redirect: 'manual'`), failing like `fetch` does: a TypeError when the connection
 * fails, the signal's reason (a TimeoutError) on timeout.
 */
function nodeFetch(url: string, options: client.CustomFetchOptions, agent: Agent): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const signal = options.signal;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const target = new URL(url);
    const body = bodyBytes(options.body);
    const headers: Record<string, string> = { ...options.headers };
    if (body) headers['content-length'] = String(body.length);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      target,
      { method: options.method, headers, ...(target.protocol === 'https:' && { agent }) },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (err) => reject(new TypeError('fetch failed', { cause: err })));
        res.on('end', () => {
          signal?.removeEventListener('abort', onAbort);
          const status = res.statusCode ?? 502;
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (Array.isArray(value)) for (const v of value) responseHeaders.append(name, v);
            else if (value !== undefined) responseHeaders.set(name, value);
          }
          const noBody = status === 204 || status === 205 || status === 304;
          try {
            resolve(
              new Response(noBody ? null : Buffer.concat(chunks), {
                status,
                statusText: res.statusMessage ?? '',
                headers: responseHeaders,
              }),
            );
          } catch (err) {
            reject(new TypeError('fetch failed', { cause: err }));
          }
        });
      },
    );
    const onAbort = (): void => {
      req.destroy();
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(new TypeError('fetch failed', { cause: err }));
    });
    req.end(body);
  });
}
