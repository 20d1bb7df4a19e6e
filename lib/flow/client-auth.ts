import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type Agent } from 'node:https';
import * as client from 'openid-client';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { TENANT_PLACEHOLDER } from '../vendors/entra.js';

/**
 * Client authentication at the provider's token (and PAR, revocation...) endpoints, at run time:
 * `client_secret_basic`, `client_secret_post`, `client_secret_jwt` (RFC 7523, HS256 with the
 * secret), `private_key_jwt` (RFC 7523, signed with the client's private key, whose public key
 * the app serves at `routes.jwks`) and `tls_client_auth` (RFC 8705, a TLS client certificate).
 *
 * The keys and certificates are read and checked at start-up by the options layer
 * (options/client-keys.ts, options/client-certificate.ts).
 */

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

/** What openid-client needs for the configured method: the ClientAuth, client metadata, a fetch. */
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
        customFetch: config.clientCertificate!.fetchWith(nodeFetch),
      };
    default:
      return { auth: clientSecretBasic(config.clientSecret!), metadata: {}, customFetch: undefined };
  }
}

/**
 * `client_secret_basic`: the client id and secret in the Authorization header, each form-encoded as
 * RFC 6749 2.3.1 asks, with the application/x-www-form-urlencoded rules: A-Z a-z 0-9 - . _ * stay
 * as they are, a space is "+", the rest is %-encoded. openid-client also encodes - . _ ! ~ * ' ( ),
 * which decodes to the same bytes but which providers that do not decode the credentials
 * (Glewlwyd, LemonLDAP::NG) then read as another client: "my-app" became "my%2Dapp".
 */
export function clientSecretBasic(clientSecret: string): client.ClientAuth {
  return (_as, metadata, _body, headers) => {
    const credentials = `${formEncode(metadata.client_id)}:${formEncode(clientSecret)}`;
    headers.set('authorization', `Basic ${Buffer.from(credentials).toString('base64')}`);
  };
}

/** application/x-www-form-urlencoded, as the WHATWG URL standard serializes a value. */
export function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()~]|%20/g, (c) =>
    c === '%20' ? '+' : `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
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
