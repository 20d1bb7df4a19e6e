import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { Agent } from 'node:https';
import { inspect } from 'node:util';
import type * as client from 'openid-client';
import type { SealKey } from '../util/seal.js';
import { fail } from './fail.js';
import { pem, sealKeyFrom } from './client-keys.js';

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

  /**
   * A fetch for openid-client (`customFetch`) that presents the certificate on https requests:
   * `send` (the run-time request, flow/client-auth.ts) given this certificate's agent, which holds
   * the private key and so stays in here.
   */
  fetchWith(
    send: (url: string, options: client.CustomFetchOptions, agent: Agent) => Promise<Response>,
  ): client.CustomFetch {
    return (url, options) => send(url, options, this.#agent);
  }

  toJSON(): unknown {
    return { subject: this.subject, validTo: this.validTo };
  }

  [inspect.custom](): string {
    return `ClientTlsIdentity { subject: ${JSON.stringify(this.subject)} }`;
  }
}

/** `clientCertificate` for `tls_client_auth` (RFC 8705): `{ cert, key, ca? }`, read and checked to be a pair. */
export function resolveClientCertificate(option: unknown): ClientTlsIdentity {
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
