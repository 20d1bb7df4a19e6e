import type { ClientAuthMethod } from '../credential-types.js';
import { DEFAULTS } from '../defaults.js';
import { fail } from '../fail.js';
import { resolveClientKey, type ClientSigningKey } from '../client-keys.js';
import { resolveClientCertificate, type ClientTlsIdentity } from '../client-certificate.js';

/** The methods `clientAuthMethod` accepts. */
export const CLIENT_AUTH_METHODS: readonly ClientAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'client_secret_jwt',
  'private_key_jwt',
  'tls_client_auth',
];

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
  const method = (o.clientAuthMethod ?? DEFAULTS.clientAuthMethod) as ClientAuthMethod;
  if (!CLIENT_AUTH_METHODS.includes(method)) {
    fail(
      `"clientAuthMethod" must be one of ${CLIENT_AUTH_METHODS.join(', ')}; got ${JSON.stringify(o.clientAuthMethod)}.`,
    );
  }
  if (hasConfiguration && (o.clientPrivateKey !== undefined || o.clientCertificate !== undefined)) {
    fail(
      'with "configuration", client authentication is the Configuration\'s own (openid-client ' +
        'PrivateKeyJwt(), TlsClientAuth()...): ' +
        'leave out "clientPrivateKey" and "clientCertificate".',
    );
  }
  if (o.clientPrivateKey !== undefined && method !== 'private_key_jwt') {
    fail(
      `"clientPrivateKey" is used by clientAuthMethod "private_key_jwt" only, not "${method}": ` +
        `set "clientAuthMethod: 'private_key_jwt'" or remove the key.`,
    );
  }
  if (o.clientCertificate !== undefined && method !== 'tls_client_auth') {
    fail(
      `"clientCertificate" is used by clientAuthMethod "tls_client_auth" only, not "${method}": ` +
        `set "clientAuthMethod: 'tls_client_auth'" or remove it.`,
    );
  }
  let clientKey: ClientSigningKey | undefined;
  let clientCertificate: ClientTlsIdentity | undefined;
  if (method === 'private_key_jwt' && !hasConfiguration) {
    if (o.clientPrivateKey === undefined || o.clientPrivateKey === null) {
      fail(
        'clientAuthMethod "private_key_jwt" needs "clientPrivateKey": the private key (PEM PKCS#8, ' +
          'a private JWK, a KeyObject or a CryptoKey) ' +
          'whose public key is registered at the provider (or served at routes.jwks for its jwks_uri).',
      );
    }
    clientKey = resolveClientKey(o.clientPrivateKey);
  }
  if (method === 'tls_client_auth' && !hasConfiguration) {
    if (o.clientCertificate === undefined || o.clientCertificate === null) {
      fail(
        'clientAuthMethod "tls_client_auth" needs "clientCertificate: { cert, key, ca? }": the TLS ' +
          'client certificate and its private key, PEM.',
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
