import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type Configuration, type ClientMetadata } from 'oidc-provider';

/** Claims of the test users, by account id (the login name typed in the dev login form). */
export const ACCOUNTS: Record<string, Record<string, unknown>> = {
  alice: { name: 'Alice Liddell', email: 'alice@example.com', email_verified: true, groups: ['users'] },
  bob: { name: 'Bob <b>Builder</b>', email: 'bob@example.com', email_verified: true, groups: ['users', 'admin'] },
};

export const CLIENT_ID = 'test-app';
export const CLIENT_SECRET = 'a-test-secret-that-is-long-enough-for-hs256-0123456789';
export const APP_BASE_URL = 'http://app.localhost';
export const REDIRECT_URI = `${APP_BASE_URL}/callback`;

export interface TestProvider {
  /** The issuer URL, `http://127.0.0.1:<port>`. */
  readonly issuer: string;
  readonly port: number;
  readonly provider: Provider;
  /** Replaces the signing key (a new `kid`); the old one is gone from the JWKS. */
  rotateKeys(): Promise<void>;
  /** Stops answering (connections refused) until `start()`. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface ProviderOptions {
  clients?: ClientMetadata[];
  /** Extra oidc-provider configuration, merged over the defaults below. */
  configuration?: Partial<Configuration>;
  /** Listen on this port (to restart on the same issuer). */
  port?: number;
}

async function signingKeys(): Promise<{ keys: Record<string, unknown>[] }> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { keys: [{ ...jwk, use: 'sig', alg: 'RS256', kid: `k-${Math.random().toString(36).slice(2, 10)}` }] };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/**
 * A real OpenID Provider (npm oidc-provider) on a random loopback port, with a confidential
 * client, the dev login and consent forms (any login name; the ACCOUNTS above have claims),
 * RFC 9207 `iss` in authorization responses, refresh tokens for `offline_access`.
 */
export async function startProvider(options: ProviderOptions = {}): Promise<TestProvider> {
  let handler: ReturnType<Provider['callback']> | undefined;
  let server = createServer((req, res) => handler!(req, res));
  const port = await listen(server, options.port ?? 0);
  const issuer = `http://127.0.0.1:${port}`;

  const build = async (): Promise<Provider> => {
    const configuration: Configuration = {
      clients: options.clients ?? [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: [REDIRECT_URI],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      jwks: (await signingKeys()) as Configuration['jwks'],
      cookies: { keys: ['test-cookie-key-0123456789abcdef'] },
      claims: {
        openid: ['sub'],
        profile: ['name'],
        email: ['email', 'email_verified'],
        groups: ['groups'],
      },
      scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
      findAccount: (_ctx, sub) => ({
        accountId: sub,
        claims: () => ({ sub, ...(ACCOUNTS[sub] ?? { name: sub }) }),
      }),
      conformIdTokenClaims: false,
      features: { devInteractions: { enabled: true } },
      pkce: { required: () => true },
      ...options.configuration,
    };
    const provider = new Provider(issuer, configuration);
    // Tests look at their own assertions, not at oidc-provider's console warnings.
    provider.on('server_error', () => {});
    return provider;
  };

  let provider = await build();
  handler = provider.callback();

  return {
    issuer,
    port,
    get provider() {
      return provider;
    },
    async rotateKeys() {
      provider = await build();
      handler = provider.callback();
    },
    async stop() {
      await closeServer(server);
    },
    async start() {
      server = createServer((req, res) => handler!(req, res));
      await listen(server, port);
    },
    async close() {
      if (server.listening) await closeServer(server);
    },
  };
}
