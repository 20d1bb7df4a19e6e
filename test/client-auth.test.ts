import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  webcrypto,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import type { ServerMetadata } from 'openid-client';
import type { ClientMetadata } from 'oidc-provider';
import { resolveConfig } from '../lib/options/config.js';
import { checkProviderMetadata } from '../lib/options/config-check.js';
import { oidcLogin, type OidcLoginOptions } from '../lib/index.js';
import { createApp, testOptions } from './support/app.js';
import { login, newBrowser } from './support/flow.js';
import { freePort } from './support/net.js';
import { CLIENT_SECRET, REDIRECT_URI, startProvider, type TestProvider } from './support/provider.js';
import { expectConfigError } from './support/config-error.js';
import { useHostileProvider } from './support/use-hostile-provider.js';
import { clientSecretBasic, formEncode } from '../lib/flow/client-auth.js';

/**
 * Client authentication at the token endpoint beyond the client secret: client_secret_jwt,
 * private_key_jwt (with the app serving its public JWKS) and tls_client_auth (RFC 8705), each
 * through a full login against a real oidc-provider; the provider refusing a wrong key, secret or
 * certificate; the JWKS route serving public members only; start-up validation of the options.
 */

/**
 * Test-only PKI (EC P-256, valid 2020-2120), made with openssl: a CA, a server certificate for
 * 127.0.0.1 and a client certificate `CN=test-app-mtls` it signed, and a self-signed
 * `CN=test-app-mtls` the CA never saw. These keys protect nothing.
 */
const MTLS = {
  caCert: `-----BEGIN CERTIFICATE-----
MIIBfTCCASSgAwIBAgICEAAwCgYIKoZIzj0EAwIwJTEjMCEGA1UEAwwaZXhwcmVz
cy1vaWRjLWxvZ2luIHRlc3QgQ0EwIBcNMjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEw
MDAwMDBaMCUxIzAhBgNVBAMMGmV4cHJlc3Mtb2lkYy1sb2dpbiB0ZXN0IENBMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENM/SFjmkDuZPbWr5eH2RL0sHEYeMn1GP
HrvLSV5e01fTd5g0Xa40X4DeFvGueVWW2FxtSj2+1wEzkR6Ade71raNCMEAwDwYD
VR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAgQwHQYDVR0OBBYEFMtZShJS8j7J
ecfUsRaPqjmraAwUMAoGCCqGSM49BAMCA0cAMEQCIEVUu4RiHa8izdgAqedM9uot
iMSBZjLA+iM3EIP/TfRzAiBLo5uYSeTV8F0JIQ8i7e/EhARp88pi1xDEZdNHzPhD
rw==
-----END CERTIFICATE-----
`,
  serverKey: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgv5v2P5VZryhV6/FX
a0+IYKP0tHmfKiiqopXZx07dLC6hRANCAARM+Qxka4n08nfm8TmR59owohVG1Y/R
X4OLOM/KrIdACyMNQ00aFdF7qgqR1OI8VOyHSRaZlubtAtssix+XR3WS
-----END PRIVATE KEY-----
`,
  serverCert: `-----BEGIN CERTIFICATE-----
MIIBkzCCATmgAwIBAgICEAEwCgYIKoZIzj0EAwIwJTEjMCEGA1UEAwwaZXhwcmVz
cy1vaWRjLWxvZ2luIHRlc3QgQ0EwIBcNMjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEw
MDAwMDBaMBQxEjAQBgNVBAMMCTEyNy4wLjAuMTBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABEz5DGRrifTyd+bxOZHn2jCiFUbVj9Ffg4s4z8qsh0ALIw1DTRoV0Xuq
CpHU4jxU7IdJFpmW5u0C2yyLH5dHdZKjaDBmMA8GA1UdEQQIMAaHBH8AAAEwEwYD
VR0lBAwwCgYIKwYBBQUHAwEwHQYDVR0OBBYEFGx6Yw+5cdlebi28beZBKEPFmtW4
MB8GA1UdIwQYMBaAFMtZShJS8j7JecfUsRaPqjmraAwUMAoGCCqGSM49BAMCA0gA
MEUCIQCaWY+IX0hX9VtVR5rkOhXZQIU+dATOAzH5EJdrOHY2VwIgIUfIiaA1aC6C
gfe4ZPGuNkMJbU5zk2RSOhxNRpHwDB0=
-----END CERTIFICATE-----
`,
  clientKey: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgyxSLJ4u0CL6FVUx7
MSVyr4ho9ViC2Kxy08js2PtIt0OhRANCAARLz1EXxlQJEcElS8dhC3rZYChkipsO
w4AB+AgggR2yJviEWNcOtApnYtSRFO7xGyQQSz8yvtivMLNtYfzjL1P9
-----END PRIVATE KEY-----
`,
  clientCert: `-----BEGIN CERTIFICATE-----
MIIBhzCCASygAwIBAgICEAIwCgYIKoZIzj0EAwIwJTEjMCEGA1UEAwwaZXhwcmVz
cy1vaWRjLWxvZ2luIHRlc3QgQ0EwIBcNMjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEw
MDAwMDBaMBgxFjAUBgNVBAMMDXRlc3QtYXBwLW10bHMwWTATBgcqhkjOPQIBBggq
hkjOPQMBBwNCAARLz1EXxlQJEcElS8dhC3rZYChkipsOw4AB+AgggR2yJviEWNcO
tApnYtSRFO7xGyQQSz8yvtivMLNtYfzjL1P9o1cwVTATBgNVHSUEDDAKBggrBgEF
BQcDAjAdBgNVHQ4EFgQUyLAPsYZpfT/H7nVSaIxdu+iks2YwHwYDVR0jBBgwFoAU
y1lKElLyPsl5x9SxFo+qOatoDBQwCgYIKoZIzj0EAwIDSQAwRgIhALkTOQKfuL6p
UqulYv/UBkhKlZaF11If7Et7Y5eMp8phAiEAxzjoXEGAvEd70TdDpwuxCWjfqarP
0bw4c8lvYT2dUoM=
-----END CERTIFICATE-----
`,
  otherKey: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgihROMv84QzlxLKr/
AJBPscLbLvxksAchgxV7faWzNAehRANCAASNutNDlUVOUnPkKj+CWtoRNnOvZm5o
M9YLdvm2RSn5T73gWwx4MUH9wWN2GhsqdlIjPzjt1lTyAu5Pk4RP7Q09
-----END PRIVATE KEY-----
`,
  otherCert: `-----BEGIN CERTIFICATE-----
MIIBVzCB/qADAgECAgIQAzAKBggqhkjOPQQDAjAYMRYwFAYDVQQDDA10ZXN0LWFw
cC1tdGxzMCAXDTIwMDEwMTAwMDAwMFoYDzIxMjAwMTAxMDAwMDAwWjAYMRYwFAYD
VQQDDA10ZXN0LWFwcC1tdGxzMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEjbrT
Q5VFTlJz5Co/glraETZzr2ZuaDPWC3b5tkUp+U+94FsMeDFB/cFjdhobKnZSIz84
7dZU8gLuT5OET+0NPaM2MDQwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHQYDVR0OBBYE
FKT55LmTJ8z7Rv318xTqo/mJx1hNMAoGCCqGSM49BAMCA0gAMEUCIGdL3C+ON23B
TuycSwE1afzhKTQ6+BG3ZKlT17MLLrq0AiEAwHJs3ioYmwDfC/bs5UOovMeEo5A2
Jgn5qha/ByfVBg8=
-----END CERTIFICATE-----
`,
};

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const ed = generateKeyPairSync('ed25519');

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

function pem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }) as string;
}
function privateJwk(key: KeyObject, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...(key.export({ format: 'jwk' }) as Record<string, unknown>), ...extra };
}
function publicJwk(key: KeyObject, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...(createPublicKey(key).export({ format: 'jwk' }) as Record<string, unknown>), ...extra };
}
/** The base64 body of a PEM, and a JWK's `d`: neither may appear in any message or log line. */
function secretsOf(key: KeyObject): string[] {
  const body = pem(key).split('\n').slice(1, -2).join('');
  return [body.slice(0, 40), body.slice(-40), String(privateJwk(key).d)];
}

/** oidc-provider's fetch without its SSRF guard, so that it can fetch a jwks_uri on 127.0.0.1. */
const withoutSsrfGuard = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const { dispatcher: _dispatcher, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
  return globalThis.fetch(input, rest);
};

/** A client id and secret with every character class client_secret_basic must get right. */
const ODD_CLIENT_ID = 'my-app.v2_~x';
const ODD_SECRET = 'a secret+/=~-._*, at least 32 characters long';

const client = (client_id: string, extra: Record<string, unknown>): ClientMetadata => ({
  client_id,
  redirect_uris: [REDIRECT_URI],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  ...extra,
});

function logged(): { logger: NonNullable<OidcLoginOptions['logger']>; lines: string[] } {
  const lines: string[] = [];
  return { lines, logger: { warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) } };
}

let op: TestProvider;
/** Where the jwks_uri client's app listens (the provider fetches its JWKS from there). */
let appPort: number;
/**
 * The other clients' public keys, served as their jwks_uri. (Inline `jwks` in static clients do not
 * survive oidc-provider's structuredClone under Jest's VM realms: `constructor === Object` fails.)
 */
let keyServer: Server;
const CLIENT_JWKS: Record<string, Record<string, unknown>[]> = {
  'pkjwt-rs256': [publicJwk(rsa.privateKey, { kid: 'rs-1' })],
  'pkjwt-es256': [publicJwk(ec.privateKey, { kid: 'ec-1' })],
  'pkjwt-eddsa': [publicJwk(ed.privateKey, { kid: 'ed-1' })],
  'pkjwt-ps256': [publicJwk(rsa.privateKey, { kid: 'rs-1' })],
  'pkjwt-es384': [publicJwk(ec384.privateKey, { kid: 'ec-384' })],
  'pkjwt-cert': [publicJwk(createPrivateKey(MTLS.clientKey), { kid: 'cert-1' })],
};
beforeAll(async () => {
  appPort = await freePort();
  keyServer = createHttpServer((req, res) => {
    const keys = CLIENT_JWKS[(req.url ?? '').slice(1)];
    res.writeHead(keys ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: keys ?? [] }));
  });
  await new Promise<void>((resolve) => keyServer.listen(0, '127.0.0.1', resolve));
  const keysAt = (id: string) => `http://127.0.0.1:${(keyServer.address() as AddressInfo).port}/${id}`;
  op = await startProvider({
    clients: [
      client('pkjwt-rs256', { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: keysAt('pkjwt-rs256') }),
      client('pkjwt-es256', { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: keysAt('pkjwt-es256') }),
      client('pkjwt-eddsa', {
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'EdDSA',
        jwks_uri: keysAt('pkjwt-eddsa'),
      }),
      client('pkjwt-ps256', {
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'PS256',
        jwks_uri: keysAt('pkjwt-ps256'),
      }),
      client('pkjwt-es384', { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: keysAt('pkjwt-es384') }),
      client('pkjwt-cert', { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: keysAt('pkjwt-cert') }),
      client('pkjwt-uri', {
        token_endpoint_auth_method: 'private_key_jwt',
        jwks_uri: `http://127.0.0.1:${appPort}/.well-known/jwks.json`,
      }),
      client('pkjwt-uri-cert', {
        token_endpoint_auth_method: 'private_key_jwt',
        jwks_uri: `http://127.0.0.1:${appPort}/cert/jwks.json`,
      }),
      client('jwt-secret', { token_endpoint_auth_method: 'client_secret_jwt', client_secret: CLIENT_SECRET }),
      client(ODD_CLIENT_ID, { token_endpoint_auth_method: 'client_secret_basic', client_secret: ODD_SECRET }),
    ],
    configuration: { fetch: withoutSsrfGuard as never },
  });
});
afterAll(async () => {
  await op.close();
  keyServer.closeAllConnections();
  await new Promise((resolve) => keyServer.close(resolve));
});

function appWith(overrides: Partial<OidcLoginOptions>) {
  return createApp(testOptions(op, { clientSecret: undefined, ...overrides })).app;
}

describe('private_key_jwt against a real provider', () => {
  it.each([
    ['RS256, a PEM string', 'pkjwt-rs256', { key: pem(rsa.privateKey), kid: 'rs-1' }],
    ['ES256, a private JWK with its kid', 'pkjwt-es256', privateJwk(ec.privateKey, { kid: 'ec-1' })],
    ['EdDSA, a KeyObject', 'pkjwt-eddsa', { key: ed.privateKey, kid: 'ed-1', alg: 'EdDSA' }],
    ['PS256, a non-extractable RSASSA CryptoKey re-used for RSA-PSS', 'pkjwt-ps256', 'cryptoKey'],
  ] as const)('logs in with %s', async (_name, clientId, key) => {
    const clientPrivateKey =
      key === 'cryptoKey'
        ? {
            key: await webcrypto.subtle.importKey(
              'pkcs8',
              rsa.privateKey.export({ format: 'der', type: 'pkcs8' }),
              { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
              false,
              ['sign'],
            ),
            kid: 'rs-1',
            alg: 'PS256' as const,
          }
        : key;
    const app = appWith({
      clientId,
      clientAuthMethod: 'private_key_jwt',
      clientPrivateKey: clientPrivateKey as OidcLoginOptions['clientPrivateKey'],
    });
    const browser = newBrowser(app, op.issuer);
    const res = await login(browser);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/');
    const probe = await browser.app.get('/probe/oidc').expect(200);
    expect(probe.body.isAuthenticated).toBe(true);
    expect(probe.body.claims.sub).toBe('alice');
  });

  // Two clients: the provider keeps a client's fetched JWKS for a while.
  it.each([
    ['a key', 'pkjwt-uri', '/.well-known/jwks.json', () => pem(otherRsa.privateKey)],
    [
      'a key with its certificate (x5c in the JWKS the provider reads)',
      'pkjwt-uri-cert',
      '/cert/jwks.json',
      () => ({ key: MTLS.clientKey, certificate: MTLS.clientCert }),
    ],
  ])(
    "logs in with %s registered as a jwks_uri pointing at the app's own JWKS route",
    async (_name, clientId, jwks, key) => {
      const app = appWith({
        clientId,
        clientAuthMethod: 'private_key_jwt',
        clientPrivateKey: key() as OidcLoginOptions['clientPrivateKey'],
        routes: { jwks },
      });
      const server: Server = await new Promise((resolve) => {
        const s = app.listen(appPort, '127.0.0.1', () => resolve(s));
      });
      try {
        const res = await login(newBrowser(app, op.issuer));
        expect(res.status).toBe(302);
        expect(res.headers.location).toBe('/');
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    },
  );

  it('is refused by the provider with a wrong key: 502 naming the client credentials, the key in no message or log', async () => {
    const { logger, lines } = logged();
    const app = appWith({
      clientId: 'pkjwt-rs256',
      clientAuthMethod: 'private_key_jwt',
      clientPrivateKey: { key: pem(otherRsa.privateKey), kid: 'rs-1' },
      logger,
    });
    const res = await login(newBrowser(app, op.issuer));
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('ERR_OIDC_PROVIDER_RESPONSE');
    expect(res.body.message).toMatch(/client credentials/);
    const seen = JSON.stringify(res.body) + lines.join('\n');
    for (const secret of secretsOf(otherRsa.privateKey)) expect(seen).not.toContain(secret);
  });

  it('accepts a clientSecret alongside, unused, and says so at start-up', async () => {
    const { logger, lines } = logged();
    const app = appWith({
      clientId: 'pkjwt-es256',
      clientSecret: 'left-over',
      clientAuthMethod: 'private_key_jwt',
      clientPrivateKey: privateJwk(ec.privateKey, { kid: 'ec-1' }),
      logger,
    });
    expect((await login(newBrowser(app, op.issuer))).status).toBe(302);
    expect(lines).toEqual([
      expect.stringMatching(
        /^warn express-oidc-login: "clientSecret" is set but clientAuthMethod "private_key_jwt" does not use it/,
      ),
    ]);
  });

  it("answers 502 ERR_OIDC_PROVIDER_MISMATCH when the provider does not accept the key's algorithm (ES384)", async () => {
    const { logger, lines } = logged();
    const app = appWith({
      clientId: 'pkjwt-es384',
      clientAuthMethod: 'private_key_jwt',
      clientPrivateKey: ec384.privateKey,
      logger,
    });
    const res = await request(app).get('/login').expect(502);
    expect(res.body.code).toBe('ERR_OIDC_PROVIDER_MISMATCH');
    expect(res.body.message).toMatch(
      /does not accept ES384 client assertions \(token_endpoint_auth_signing_alg_values_supported: .*ES256/,
    );
    expect(lines).toEqual([expect.stringMatching(/^error .*ES384/)]);
  });
});

describe("private_key_jwt with the key's certificate (Entra ID certificate credentials)", () => {
  /** The client assertions the app sends to the token endpoint, caught on their way out. */
  async function assertionsDuring(run: () => Promise<unknown>): Promise<string[]> {
    const sent: string[] = [];
    const original = globalThis.fetch;
    globalThis.fetch = (input: string | URL | Request, init?: RequestInit) => {
      const body = init?.body;
      const assertion =
        body instanceof URLSearchParams
          ? body.get('client_assertion')
          : typeof body === 'string'
            ? new URLSearchParams(body).get('client_assertion')
            : null;
      if (assertion) sent.push(assertion);
      return original(input, init);
    };
    try {
      await run();
    } finally {
      globalThis.fetch = original;
    }
    return sent;
  }
  const headerOf = (jws: string) =>
    JSON.parse(Buffer.from(jws.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
  /** A thumbprint from Node's own colon-separated hex fingerprint: computed another way than lib/ does. */
  const fromFingerprint = (hex: string) => Buffer.from(hex.replaceAll(':', ''), 'hex').toString('base64url');

  it('names the certificate by x5t and x5t#S256 in every client assertion, and the provider accepts it', async () => {
    const app = appWith({
      clientId: 'pkjwt-cert',
      clientAuthMethod: 'private_key_jwt',
      clientPrivateKey: { key: MTLS.clientKey, kid: 'cert-1', certificate: MTLS.clientCert },
    });
    const browser = newBrowser(app, op.issuer);
    const assertions = await assertionsDuring(async () => {
      const res = await login(browser);
      expect(res.status).toBe(302);
    });
    expect((await browser.app.get('/probe/oidc')).body.claims.sub).toBe('alice');
    expect(assertions).toHaveLength(1);
    const x509 = new X509Certificate(MTLS.clientCert);
    expect(headerOf(assertions[0]!)).toEqual({
      alg: 'ES256',
      kid: 'cert-1',
      typ: 'JWT',
      x5t: fromFingerprint(x509.fingerprint),
      'x5t#S256': fromFingerprint(x509.fingerprint256),
    });
  });

  it('serves the certificate in the JWKS (x5c and its thumbprints), with no private member', async () => {
    const app = appWith({
      clientId: 'pkjwt-cert',
      clientAuthMethod: 'private_key_jwt',
      clientPrivateKey: { key: MTLS.clientKey, kid: 'cert-1', certificate: MTLS.clientCert },
    });
    const res = await request(app).get('/jwks.json').expect(200);
    const x509 = new X509Certificate(MTLS.clientCert);
    expect(res.body.keys).toEqual([
      {
        ...publicJwk(createPrivateKey(MTLS.clientKey)),
        kid: 'cert-1',
        alg: 'ES256',
        use: 'sig',
        x5c: [x509.raw.toString('base64')],
        x5t: fromFingerprint(x509.fingerprint),
        'x5t#S256': fromFingerprint(x509.fingerprint256),
      },
    ]);
    for (const member of PRIVATE_MEMBERS) expect(res.body.keys[0]).not.toHaveProperty(member);
  });

  it('with several providers, serves a key given with its certificate for one and without for another once, with the certificate', async () => {
    const provider = (clientPrivateKey: unknown) => ({
      issuer: op.issuer,
      clientId: 'pkjwt-cert',
      clientAuthMethod: 'private_key_jwt' as const,
      clientPrivateKey: clientPrivateKey as never,
    });
    const app = express();
    app.use(
      oidcLogin({
        baseUrl: testOptions(op).baseUrl,
        dangerouslyAllowInsecureHttp: true,
        providers: {
          a: provider(MTLS.clientKey),
          b: provider({ key: MTLS.clientKey, certificate: MTLS.clientCert }),
          c: provider(MTLS.clientKey),
        },
      }),
    );
    const res = await request(app).get('/jwks.json').expect(200);
    expect(res.body.keys).toHaveLength(1);
    expect(res.body.keys[0].x5c).toEqual([new X509Certificate(MTLS.clientCert).raw.toString('base64')]);
    // Another key under the same kid is still refused.
    expectConfigError(
      {
        baseUrl: testOptions(op).baseUrl,
        dangerouslyAllowInsecureHttp: true,
        providers: {
          a: provider({ key: MTLS.clientKey, kid: 'k' }),
          b: provider({ key: pem(rsa.privateKey), kid: 'k' }),
        },
      },
      /have the kid "k" but are different keys/,
    );
  });

  it('sends no certificate members without a certificate', async () => {
    const app = appWith({
      clientId: 'pkjwt-es256',
      clientAuthMethod: 'private_key_jwt',
      clientPrivateKey: privateJwk(ec.privateKey, { kid: 'ec-1' }),
    });
    const assertions = await assertionsDuring(() => login(newBrowser(app, op.issuer)));
    expect(assertions).toHaveLength(1);
    expect(Object.keys(headerOf(assertions[0]!)).sort()).toEqual(['alg', 'kid']);
  });

  it('refuses a certificate of another key, and one that is not a certificate', () => {
    const base = {
      ...testOptions(op),
      clientSecret: undefined,
      clientId: 'pkjwt-cert',
      clientAuthMethod: 'private_key_jwt' as const,
    };
    expectConfigError(
      () => resolveConfig({ ...base, clientPrivateKey: { key: pem(rsa.privateKey), certificate: MTLS.clientCert } }),
      /"clientPrivateKey.certificate" is not the certificate of "clientPrivateKey.key"/,
    );
    expectConfigError(
      () => resolveConfig({ ...base, clientPrivateKey: { key: MTLS.clientKey, certificate: 'not a certificate' } }),
      /could not be read as a PEM certificate/,
    );
    expectConfigError(
      () => resolveConfig({ ...base, clientPrivateKey: { key: MTLS.clientKey, certificate: 42 } }),
      /must be the key's X.509 certificate, PEM/,
    );
  });

  it('warns at start-up when an Entra ID token endpoint gets private_key_jwt without a certificate', () => {
    const entra = {
      issuer: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0',
      authorization_endpoint:
        'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/authorize',
      token_endpoint: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token',
      jwks_uri: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/discovery/v2.0/keys',
      response_types_supported: ['code'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    } as ServerMetadata;
    const options = {
      issuer: entra.issuer,
      clientId: 'c',
      baseUrl: 'https://app.example',
      clientAuthMethod: 'private_key_jwt' as const,
    };
    const ids = (clientPrivateKey: unknown, metadata: ServerMetadata = entra) =>
      checkProviderMetadata(resolveConfig({ ...options, clientPrivateKey }), metadata, 'private_key_jwt').map(
        (f) => f.id,
      );
    expect(ids(MTLS.clientKey)).toContain('entra-certificate-missing');
    expect(ids({ key: MTLS.clientKey, certificate: MTLS.clientCert })).not.toContain('entra-certificate-missing');
    expect(ids(MTLS.clientKey, { ...entra, token_endpoint: 'https://idp.example/token' })).not.toContain(
      'entra-certificate-missing',
    );
    expect(
      ids(MTLS.clientKey, { ...entra, token_endpoint: 'https://login.microsoftonline.us/t/oauth2/v2.0/token' }),
    ).toContain('entra-certificate-missing');
    expect(
      ids(MTLS.clientKey, { ...entra, token_endpoint: 'https://contoso.ciamlogin.com/t/oauth2/v2.0/token' }),
    ).toContain('entra-certificate-missing');
    // Entra certificate credentials are RSA: the test certificate's key is EC P-256.
    const entraIds = (key: unknown) => ids(key).filter((id) => id.startsWith('entra-'));
    expect(entraIds({ key: MTLS.clientKey, certificate: MTLS.clientCert })).toEqual(['entra-key-not-rsa']);
    expect(entraIds({ key: pem(rsa.privateKey), alg: 'PS256' })).toEqual(['entra-certificate-missing']);
  });

  it('warns at start-up when the certificate is not valid now', () => {
    const config = resolveConfig({
      issuer: 'https://idp.example',
      clientId: 'c',
      baseUrl: 'https://app.example',
      clientAuthMethod: 'private_key_jwt',
      clientPrivateKey: { key: MTLS.clientKey, certificate: MTLS.clientCert },
    });
    const metadata = {
      issuer: 'https://idp.example',
      authorization_endpoint: 'https://idp.example/a',
      token_endpoint: 'https://idp.example/t',
      jwks_uri: 'https://idp.example/j',
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
    } as ServerMetadata;
    expect(checkProviderMetadata(config, metadata, 'private_key_jwt')).toEqual([]);
    // The test certificate is valid 2020-2120: seen from 2019 and from 2121.
    const realNow = Date.now;
    try {
      for (const at of ['2019-06-01T00:00:00Z', '2121-06-01T00:00:00Z']) {
        Date.now = () => Date.parse(at);
        expect(checkProviderMetadata(config, metadata, 'private_key_jwt')).toEqual([
          expect.objectContaining({
            id: 'client-certificate-not-valid',
            level: 'warning',
            message: expect.stringMatching(/valid from 2020-.* to 2120-.*, not now/),
          }),
        ]);
      }
    } finally {
      Date.now = realNow;
    }
  });
});

describe('client_secret_basic (RFC 6749 2.3.1)', () => {
  it('logs in at a real provider with a client id and secret full of characters to encode', async () => {
    const app = appWith({ clientId: ODD_CLIENT_ID, clientSecret: ODD_SECRET });
    const browser = newBrowser(app, op.issuer);
    expect((await login(browser)).status).toBe(302);
    expect((await browser.app.get('/probe/oidc')).body.claims.sub).toBe('alice');
  });

  it('form-encodes the credentials as URLSearchParams does: A-Z a-z 0-9 - . _ * as they are', () => {
    const headers = new Headers();
    const clientId = "my-app.v2_*~!'() x";
    clientSecretBasic(`${ODD_SECRET} é`)({} as never, { client_id: clientId }, new URLSearchParams(), headers);
    const [id, secret] = Buffer.from(headers.get('authorization')!.slice('Basic '.length), 'base64')
      .toString()
      .split(':');
    expect(id).toBe('my-app.v2_*%7E%21%27%28%29+x');
    expect(id).toBe(new URLSearchParams({ v: clientId }).toString().slice(2));
    expect(secret).toBe(new URLSearchParams({ v: `${ODD_SECRET} é` }).toString().slice(2));
    expect(formEncode('my-app')).toBe('my-app');
  });

  it('says, when the credentials are refused, that some providers do not decode them, and names client_secret_post', async () => {
    const res = await login(
      newBrowser(appWith({ clientId: ODD_CLIENT_ID, clientSecret: `${ODD_SECRET}-wrong` }), op.issuer),
    );
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('ERR_OIDC_PROVIDER_RESPONSE');
    expect(res.body.message).toMatch(/^The identity provider refused this app's client credentials: check clientId/);
    expect(res.body.message).toMatch(/some providers do not decode .*clientAuthMethod: 'client_secret_post'/);
  });

  it('gives no such hint for other methods', async () => {
    const app = appWith({
      clientId: 'jwt-secret',
      clientSecret: `${CLIENT_SECRET}-wrong`,
      clientAuthMethod: 'client_secret_jwt',
    });
    const res = await login(newBrowser(app, op.issuer));
    expect(res.status).toBe(502);
    expect(res.body.message).not.toMatch(/client_secret_post/);
  });

  describe('at a provider that does not decode the credentials (Glewlwyd, LemonLDAP::NG)', () => {
    const lax = useHostileProvider({ clientId: 'interop-app', decodesBasicCredentials: false });
    it('logs in with a client id that has a "-"', async () => {
      const app = createApp(testOptions(lax, { clientId: 'interop-app' })).app;
      const browser = newBrowser(app, lax.issuer);
      expect((await login(browser)).status).toBe(302);
      expect((await browser.app.get('/probe/oidc')).body.isAuthenticated).toBe(true);
    });
  });
});

describe('client_secret_jwt against a real provider', () => {
  it('logs in with an HS256 assertion made with the client secret', async () => {
    const app = appWith({ clientId: 'jwt-secret', clientSecret: CLIENT_SECRET, clientAuthMethod: 'client_secret_jwt' });
    const browser = newBrowser(app, op.issuer);
    expect((await login(browser)).status).toBe(302);
    expect((await browser.app.get('/probe/oidc')).body.claims.sub).toBe('alice');
  });

  it('is refused with a wrong secret: 502 naming the client credentials', async () => {
    const app = appWith({
      clientId: 'jwt-secret',
      clientSecret: `${CLIENT_SECRET}-wrong`,
      clientAuthMethod: 'client_secret_jwt',
    });
    const res = await login(newBrowser(app, op.issuer));
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('ERR_OIDC_PROVIDER_RESPONSE');
    expect(res.body.message).toMatch(/client credentials/);
  });
});

describe('the JWKS route (private_key_jwt)', () => {
  const options = (overrides: Partial<OidcLoginOptions> = {}) =>
    testOptions(op, {
      clientSecret: undefined,
      clientAuthMethod: 'private_key_jwt',
      clientPrivateKey: { key: pem(rsa.privateKey), kid: 'rs-1' },
      ...overrides,
    });

  it('serves the public key only, with its kid and alg, cacheable, at /jwks.json by default', async () => {
    const res = await request(createApp(options()).app).get('/jwks.json').expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBe('public, max-age=300');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.body).toEqual({ keys: [{ ...publicJwk(rsa.privateKey), kid: 'rs-1', alg: 'RS256', use: 'sig' }] });
    for (const member of PRIVATE_MEMBERS) expect(res.body.keys[0]).not.toHaveProperty(member);
    for (const secret of secretsOf(rsa.privateKey)) expect(res.text).not.toContain(secret);
  });

  it.each([
    [
      'EC P-256 (JWK)',
      privateJwk(ec.privateKey, { kid: 'ec-1' }),
      ec.privateKey,
      { kty: 'EC', crv: 'P-256', kid: 'ec-1', alg: 'ES256' },
    ],
    ['Ed25519 (KeyObject)', ed.privateKey, ed.privateKey, { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' }],
  ] as const)('serves an %s public key without its private part', async (_name, key, keyObject, expected) => {
    const res = await request(createApp(options({ clientPrivateKey: key })).app)
      .get('/jwks.json')
      .expect(200);
    expect(res.body.keys).toEqual([expect.objectContaining({ ...publicJwk(keyObject), ...expected })]);
    expect(Object.keys(res.body.keys[0]).sort()).toEqual(
      [...Object.keys(publicJwk(keyObject)), 'kid', 'alg', 'use'].sort(),
    );
    for (const member of PRIVATE_MEMBERS) expect(res.body.keys[0]).not.toHaveProperty(member);
  });

  it('names a key without a kid by its RFC 7638 thumbprint', async () => {
    const res = await request(createApp(options({ clientPrivateKey: pem(ec.privateKey) })).app)
      .get('/jwks.json')
      .expect(200);
    const { calculateJwkThumbprint } = await import('jose');
    expect(res.body.keys[0].kid).toBe(await calculateJwkThumbprint(publicJwk(ec.privateKey) as never));
  });

  it('answers HEAD, refuses POST (405), moves with routes.jwks and turns off with false', async () => {
    const { app } = createApp(options({ routes: { jwks: '/keys' } }));
    await request(app).head('/keys').expect(200);
    await request(app).post('/keys').expect(405);
    await request(app).get('/jwks.json').expect(404);
    const off = createApp(options({ routes: { jwks: false } })).app;
    await request(off).get('/jwks.json').expect(404);
  });

  it('is not there without private_key_jwt', async () => {
    await request(createApp(testOptions(op)).app)
      .get('/jwks.json')
      .expect(404);
  });

  it('keeps the private key out of the resolved options (inspect, JSON)', () => {
    const config = resolveConfig(options());
    const shown = inspect(config, { depth: 10 }) + JSON.stringify(config);
    expect(shown).toContain('rs-1');
    for (const secret of secretsOf(rsa.privateKey)) expect(shown).not.toContain(secret);
  });
});

describe('start-up validation', () => {
  const BASE = { issuer: 'https://idp.example.com', clientId: 'app', baseUrl: 'https://app.example.com' };
  const PK = { ...BASE, clientAuthMethod: 'private_key_jwt' as const };
  const rsaPem = pem(rsa.privateKey);

  it.each([
    [
      'an unknown method',
      { ...BASE, clientSecret: 's', clientAuthMethod: 'private_key_jwt_v2' },
      /"clientAuthMethod" must be one of client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, tls_client_auth/,
    ],
    ['private_key_jwt without a key', PK, /"private_key_jwt" needs "clientPrivateKey"/],
    [
      'a symmetric JWK',
      { ...PK, clientPrivateKey: { kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0' } },
      /symmetric JWK/,
    ],
    [
      'a symmetric KeyObject',
      { ...PK, clientPrivateKey: createSecretKey(Buffer.alloc(32, 1)) },
      /symmetric \(secret\) key/,
    ],
    ['a public JWK', { ...PK, clientPrivateKey: publicJwk(rsa.privateKey) }, /public JWK \(no "d"\)/],
    [
      'a public PEM',
      { ...PK, clientPrivateKey: rsa.publicKey.export({ format: 'pem', type: 'spki' }) },
      /is a public key or a certificate/,
    ],
    ['a public KeyObject', { ...PK, clientPrivateKey: rsa.publicKey }, /is a public key/],
    [
      'a damaged PEM',
      { ...PK, clientPrivateKey: rsaPem.slice(0, 200) + rsaPem.slice(260) },
      /could not be read as a PEM private key/,
    ],
    [
      'an encrypted PEM',
      {
        ...PK,
        clientPrivateKey: rsa.privateKey.export({
          format: 'pem',
          type: 'pkcs8',
          cipher: 'aes-256-cbc',
          passphrase: 'pw',
        }),
      },
      /encrypted PEM/,
    ],
    ['a number', { ...PK, clientPrivateKey: 42 }, /must be a PEM private key string, a private JWK/],
    [
      'an RSA key for ES256',
      { ...PK, clientPrivateKey: { key: rsaPem, alg: 'ES256' } },
      /an RSA key, which cannot sign ES256: use RS256 or RS384/,
    ],
    [
      'an EC key for RS256',
      { ...PK, clientPrivateKey: { key: ec.privateKey, alg: 'RS256' } },
      /EC prime256v1 key, which cannot sign RS256: use ES256/,
    ],
    [
      'HS256 for a key',
      { ...PK, clientPrivateKey: { key: rsaPem, alg: 'HS256' } },
      /"alg" of "clientPrivateKey" must be one of/,
    ],
    [
      'a 1024-bit RSA key',
      { ...PK, clientPrivateKey: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey },
      /1024-bit RSA key: RSA keys must be at least 2048 bits/,
    ],
    [
      'an empty kid',
      { ...PK, clientPrivateKey: { key: rsaPem, kid: '' } },
      /"kid" of "clientPrivateKey" must be a non-empty string/,
    ],
    [
      'an unknown wrapper member',
      { ...PK, clientPrivateKey: { key: rsaPem, use: 'sig' } },
      /unknown member "clientPrivateKey.use"/,
    ],
    [
      'a key with client_secret_basic',
      { ...BASE, clientSecret: 's', clientPrivateKey: rsaPem },
      /"clientPrivateKey" is used by clientAuthMethod "private_key_jwt" only/,
    ],
    [
      'client_secret_jwt without a secret',
      { ...BASE, clientAuthMethod: 'client_secret_jwt' },
      /"clientSecret" is required/,
    ],
    [
      'routes.jwks without private_key_jwt',
      { ...BASE, clientSecret: 's', routes: { jwks: '/jwks.json' } },
      /"routes.jwks" serves the public key of "clientPrivateKey"/,
    ],
    [
      'routes.jwks on the login path',
      { ...PK, clientPrivateKey: rsaPem, routes: { jwks: '/login' } },
      /must all differ/,
    ],
    [
      'tls_client_auth without a certificate',
      { ...BASE, clientAuthMethod: 'tls_client_auth' },
      /"tls_client_auth" needs "clientCertificate/,
    ],
    [
      'a certificate with private_key_jwt',
      { ...PK, clientPrivateKey: rsaPem, clientCertificate: { cert: MTLS.clientCert, key: MTLS.clientKey } },
      /"clientCertificate" is used by clientAuthMethod "tls_client_auth" only/,
    ],
    [
      'a certificate with another key',
      {
        ...BASE,
        clientAuthMethod: 'tls_client_auth',
        clientCertificate: { cert: MTLS.clientCert, key: MTLS.otherKey },
      },
      /"clientCertificate.key" is not the private key of "clientCertificate.cert"/,
    ],
    [
      'a certificate that is not one',
      {
        ...BASE,
        clientAuthMethod: 'tls_client_auth',
        clientCertificate: { cert: MTLS.clientKey, key: MTLS.clientKey },
      },
      /"clientCertificate.cert" could not be read/,
    ],
    [
      'pushedAuthorizationRequests not a boolean',
      { ...BASE, clientSecret: 's', pushedAuthorizationRequests: 'yes' },
      /"pushedAuthorizationRequests" must be a boolean/,
    ],
  ])('refuses %s', (_name, options, message) => {
    const thrown = expectConfigError(options, message);
    expect(thrown.cause).toBeUndefined();
    // No message quotes key material.
    for (const secret of [...secretsOf(rsa.privateKey), ...secretsOf(ec.privateKey), MTLS.otherKey.split('\n')[1]!]) {
      expect((thrown as Error).message).not.toContain(secret);
    }
  });

  it('refuses a key or a certificate next to a ready-made configuration', async () => {
    const { Configuration } = await import('openid-client');
    const configuration = new Configuration({ issuer: 'https://idp.example.com' }, 'app');
    expectConfigError(
      {
        configuration,
        baseUrl: BASE.baseUrl,
        clientAuthMethod: 'private_key_jwt',
        clientPrivateKey: rsaPem,
      },
      /with "configuration", client authentication is the Configuration's own/,
    );
  });

  it('needs no clientSecret with private_key_jwt or tls_client_auth; defaults kid and alg from the key', () => {
    const rs = resolveConfig({ ...PK, clientPrivateKey: rsaPem });
    expect(rs.clientSecret).toBeUndefined();
    expect(rs.clientKey).toMatchObject({ alg: 'RS256', kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(rs.jwksPath).toBe('/jwks.json');
    expect(
      resolveConfig({ ...PK, clientPrivateKey: privateJwk(ec.privateKey, { kid: 'from-jwk' }) }).clientKey,
    ).toMatchObject({ alg: 'ES256', kid: 'from-jwk' });
    expect(
      resolveConfig({ ...PK, clientPrivateKey: privateJwk(rsa.privateKey, { alg: 'PS256' }) }).clientKey!.alg,
    ).toBe('PS256');
    expect(resolveConfig({ ...PK, clientPrivateKey: { key: ed.privateKey, kid: 'k' } }).clientKey).toMatchObject({
      alg: 'EdDSA',
      kid: 'k',
    });
    expect(
      resolveConfig({ ...PK, clientPrivateKey: JSON.stringify(privateJwk(ec384.privateKey)) }).clientKey!.alg,
    ).toBe('ES384');
    const tls = resolveConfig({
      ...BASE,
      clientAuthMethod: 'tls_client_auth',
      clientCertificate: { cert: MTLS.clientCert, key: MTLS.clientKey },
    });
    expect(tls.clientCertificate?.subject).toBe('CN=test-app-mtls');
    expect(tls.jwksPath).toBe(false);
    expect(inspect(tls) + JSON.stringify(tls)).not.toContain(MTLS.clientKey.split('\n')[1]);
  });
});

describe('the start-up check of client authentication', () => {
  const METADATA: ServerMetadata = {
    issuer: 'https://idp.example',
    authorization_endpoint: 'https://idp.example/auth',
    token_endpoint: 'https://idp.example/token',
    jwks_uri: 'https://idp.example/jwks',
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    id_token_signing_alg_values_supported: ['RS256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_jwt', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['RS256', 'HS256'],
  };
  const BASE = { issuer: 'https://idp.example', clientId: 'c', baseUrl: 'https://app.example' };

  it('accepts a private_key_jwt alg the provider lists, and any alg when it lists none', () => {
    const config = resolveConfig({ ...BASE, clientAuthMethod: 'private_key_jwt', clientPrivateKey: rsa.privateKey });
    expect(checkProviderMetadata(config, METADATA, 'private_key_jwt')).toEqual([]);
    const es = resolveConfig({ ...BASE, clientAuthMethod: 'private_key_jwt', clientPrivateKey: ec.privateKey });
    expect(
      checkProviderMetadata(
        es,
        { ...METADATA, token_endpoint_auth_signing_alg_values_supported: undefined },
        'private_key_jwt',
      ),
    ).toEqual([]);
  });

  it.each([
    [
      'private_key_jwt ES256 not listed',
      { clientAuthMethod: 'private_key_jwt', clientPrivateKey: ec.privateKey },
      {},
      'client-auth-alg-unsupported',
      /does not accept ES256 client assertions/,
    ],
    [
      'client_secret_jwt without HS256',
      { clientAuthMethod: 'client_secret_jwt', clientSecret: 's' },
      { token_endpoint_auth_signing_alg_values_supported: ['RS256'] },
      'client-auth-alg-unsupported',
      /HS256/,
    ],
    [
      'an unsupported method',
      { clientAuthMethod: 'tls_client_auth', clientCertificate: { cert: MTLS.clientCert, key: MTLS.clientKey } },
      {},
      'client-auth-unsupported',
      /"tls_client_auth".*registered with the same token_endpoint_auth_method/,
    ],
  ] as const)('says %s', (_name, options, patch, id, message) => {
    const config = resolveConfig({ ...BASE, ...options });
    const findings = checkProviderMetadata(
      config,
      { ...METADATA, ...patch } as ServerMetadata,
      config.clientAuthMethod,
    );
    expect(findings).toEqual([
      expect.objectContaining({ id, level: 'error', message: expect.stringMatching(message) }),
    ]);
  });

  it('warns that a clientSecret is unused with private_key_jwt', () => {
    const config = resolveConfig({
      ...BASE,
      clientSecret: 's',
      clientAuthMethod: 'private_key_jwt',
      clientPrivateKey: rsa.privateKey,
    });
    expect(checkProviderMetadata(config, METADATA, 'private_key_jwt')).toEqual([
      expect.objectContaining({ id: 'client-secret-unused', level: 'warning' }),
    ]);
  });
});

describe('tls_client_auth (RFC 8705) against a real provider', () => {
  let mtlsOp: TestProvider;
  let alias: HttpsServer;

  beforeAll(async () => {
    // The provider's mTLS endpoint alias: an https server that asks for a client certificate and
    // checks it against the test CA, in front of the same provider.
    const target: { handler?: (req: never, res: never) => void } = {};
    alias = createHttpsServer(
      { key: MTLS.serverKey, cert: MTLS.serverCert, ca: MTLS.caCert, requestCert: true, rejectUnauthorized: false },
      (req, res) => target.handler!(req as never, res as never),
    );
    await new Promise<void>((resolve) => alias.listen(0, '127.0.0.1', resolve));
    const aliasOrigin = `https://127.0.0.1:${(alias.address() as AddressInfo).port}`;
    const peer = (ctx: { req: { socket: TLSSocket } }): X509Certificate | undefined =>
      typeof ctx.req.socket.getPeerX509Certificate === 'function' ? ctx.req.socket.getPeerX509Certificate() : undefined;
    mtlsOp = await startProvider({
      clients: [
        client('mtls-app', {
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: 'CN=test-app-mtls',
        }),
      ],
      configuration: {
        clientAuthMethods: ['client_secret_basic', 'tls_client_auth'],
        features: {
          devInteractions: { enabled: true },
          mTLS: {
            enabled: true,
            tlsClientAuth: true,
            getCertificate: peer as never,
            certificateAuthorized: ((ctx: { req: { socket: TLSSocket } }) =>
              ctx.req.socket.authorized === true) as never,
            certificateSubjectMatches: ((ctx: { req: { socket: TLSSocket } }, property: string, expected: string) =>
              property === 'tls_client_auth_subject_dn' && peer(ctx)?.subject === expected) as never,
          },
        },
        discovery: { mtls_endpoint_aliases: { token_endpoint: `${aliasOrigin}/token` } },
      },
    });
    target.handler = mtlsOp.provider.callback() as never;
  });
  afterAll(async () => {
    await mtlsOp.close();
    alias.closeAllConnections();
    await new Promise((resolve) => alias.close(resolve));
  });

  const options = (cert: string, key: string) =>
    testOptions(mtlsOp, {
      clientId: 'mtls-app',
      clientSecret: undefined,
      clientAuthMethod: 'tls_client_auth',
      clientCertificate: { cert, key, ca: MTLS.caCert },
    });

  it('logs in presenting the client certificate at the mTLS token endpoint alias', async () => {
    const browser = newBrowser(createApp(options(MTLS.clientCert, MTLS.clientKey)).app, mtlsOp.issuer);
    const res = await login(browser);
    expect(res.status).toBe(302);
    expect((await browser.app.get('/probe/oidc')).body.claims.sub).toBe('alice');
  });

  it('is refused with a certificate the provider does not trust: 502 naming the client credentials', async () => {
    const res = await login(newBrowser(createApp(options(MTLS.otherCert, MTLS.otherKey)).app, mtlsOp.issuer));
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('ERR_OIDC_PROVIDER_RESPONSE');
    expect(res.body.message).toMatch(/client credentials/);
  });
});
