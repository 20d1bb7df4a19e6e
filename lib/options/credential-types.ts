import type { KeyObject } from 'node:crypto';
import type { CryptoKey, JWK } from 'jose';

// The client's credentials at the token endpoint, as the app writes them (options.md, "Client
// authentication"); their validation and loading are in client-keys.ts.

/** How the client authenticates at the token endpoint. */
export type ClientAuthMethod =
  'client_secret_basic' | 'client_secret_post' | 'client_secret_jwt' | 'private_key_jwt' | 'tls_client_auth';

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

/** `clientCertificate`: the TLS client certificate for `tls_client_auth` (RFC 8705), PEM. */
export interface ClientCertificate {
  /** The client certificate (PEM), optionally followed by its intermediate CAs. */
  cert: string | Buffer;
  /** Its private key (PEM, unencrypted). */
  key: string | Buffer;
  /** CAs trusted for the provider's server certificate, in place of Node's defaults (a private PKI). */
  ca?: string | Buffer | readonly (string | Buffer)[];
}
