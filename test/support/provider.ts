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
  /**
   * Registered as the default client's back-channel logout URI (the app must listen there). A
   * loopback URI is reachable: the provider's outgoing requests then skip oidc-provider's SSRF
   * guard (which refuses special-use addresses such as 127.0.0.1).
   */
  backchannelLogoutUri?: string;
  /**
   * The provider's signing key, a private JWK with `kid` and `alg` (default: a fresh RS256 key), so
   * that a test can sign tokens the provider never would with a key the app trusts. `rotateKeys()`
   * replaces it with a generated one.
   */
  signingKey?: Record<string, unknown>;
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

/**
 * oidc-provider's default fetch with its SSRF-guarding dispatcher left out, so that it can POST
 * logout tokens to an app listening on 127.0.0.1 (tests only).
 */
const withoutSsrfGuard = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const { dispatcher: _dispatcher, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
  return globalThis.fetch(input, rest);
};

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

  let givenKey = options.signingKey;
  const build = async (): Promise<Provider> => {
    const keys = givenKey ? { keys: [{ use: 'sig', ...givenKey }] } : await signingKeys();
    givenKey = undefined;
    const configuration: Configuration = {
      clients: options.clients ?? [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: [REDIRECT_URI],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_basic',
          post_logout_redirect_uris: [`${APP_BASE_URL}/`, `${APP_BASE_URL}/bye`],
          ...(options.backchannelLogoutUri && {
            backchannel_logout_uri: options.backchannelLogoutUri,
            backchannel_logout_session_required: true,
          }),
        },
      ],
      jwks: keys as Configuration['jwks'],
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
      features: {
        devInteractions: { enabled: true },
        rpInitiatedLogout: { enabled: true },
        backchannelLogout: { enabled: true },
        revocation: { enabled: true },
      },
      // Refresh tokens for offline_access, rotated on every use (as most providers do now).
      issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
      rotateRefreshToken: true,
      pkce: { required: () => true },
      ...(options.backchannelLogoutUri && { fetch: withoutSsrfGuard }),
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
