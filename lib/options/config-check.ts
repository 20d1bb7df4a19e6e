import type { IncomingMessage } from 'node:http';
import type { ServerMetadata } from 'openid-client';
import type { ResolvedConfig } from './resolved-config.js';

/** One thing the start-up check found: an `error` means logins cannot work as configured. */
export interface ConfigFinding {
  level: 'error' | 'warning';
  /** Stable identifier, e.g. `client-auth-unsupported`. */
  id: string;
  message: string;
}

function finding(level: ConfigFinding['level'], id: string, message: string): ConfigFinding {
  return { level, id, message: `express-oidc-login: ${message}` };
}

/**
 * Compares the options with the provider's discovery metadata (once, after discovery). Only what
 * the provider states is judged: an absent list is not a refusal.
 */
export function checkProviderMetadata(
  config: ResolvedConfig,
  metadata: ServerMetadata,
  clientAuthMethod: string,
): ConfigFinding[] {
  const found: ConfigFinding[] = [];
  const auth = metadata.token_endpoint_auth_methods_supported;
  if (Array.isArray(auth) && !auth.includes(clientAuthMethod)) {
    found.push(
      finding(
        'error',
        'client-auth-unsupported',
        `the provider does not support clientAuthMethod "${clientAuthMethod}" (it supports ` +
          `${auth.join(', ')}). Set "clientAuthMethod" to one of those.` +
          (clientAuthMethod === 'private_key_jwt' ||
          clientAuthMethod === 'client_secret_jwt' ||
          clientAuthMethod === 'tls_client_auth'
            ? ' The client must be registered with the same token_endpoint_auth_method.'
            : ''),
      ),
    );
  }
  found.push(...checkClientAuth(config, metadata, clientAuthMethod));
  found.push(...checkDPoP(config, metadata));
  const pkce = metadata.code_challenge_methods_supported;
  // The "server" option's metadata advertises nothing, so its silence says nothing about PKCE.
  if (!Array.isArray(pkce) && !config.server) {
    found.push(
      finding(
        'warning',
        'pkce-not-advertised',
        'the provider does not advertise PKCE (code_challenge_methods_supported). PKCE S256 is ' +
          'sent anyway; check that the provider enforces it.',
      ),
    );
  } else if (Array.isArray(pkce) && !pkce.includes('S256')) {
    found.push(
      finding(
        'warning',
        'pkce-s256-not-advertised',
        `the provider does not list PKCE S256 (it lists ${pkce.join(', ') || 'nothing'}). PKCE S256 is sent anyway.`,
      ),
    );
  }
  const algs = metadata.id_token_signing_alg_values_supported;
  if (config.openid && Array.isArray(algs) && !algs.includes(config.idTokenSigningAlg)) {
    found.push(
      finding(
        'error',
        'id-token-alg-unsupported',
        `the provider signs ID tokens with ${algs.join(', ')}, not with ` +
          `"${config.idTokenSigningAlg}". Set "idTokenSigningAlg" to the one your client is ` +
          `registered with.`,
      ),
    );
  }
  const responseModes = metadata.response_modes_supported;
  if (config.responseMode === 'form_post' && Array.isArray(responseModes) && !responseModes.includes('form_post')) {
    found.push(
      finding(
        'error',
        'form-post-unsupported',
        `the provider does not support responseMode "form_post" (response_modes_supported: ` +
          `${responseModes.join(', ') || 'none'}). Remove "responseMode".`,
      ),
    );
  }
  const responseTypes = metadata.response_types_supported;
  if (Array.isArray(responseTypes) && !responseTypes.includes('code')) {
    found.push(
      finding(
        'error',
        'code-flow-unsupported',
        'the provider does not support the authorization code flow (response_types_supported lacks "code").',
      ),
    );
  }
  if (!metadata.authorization_endpoint || !metadata.token_endpoint) {
    found.push(
      finding('error', 'endpoints-missing', "the provider's metadata has no authorization_endpoint or token_endpoint."),
    );
  }
  if (config.openid && !metadata.jwks_uri) {
    found.push(
      finding(
        'error',
        'jwks-missing',
        "the provider's metadata has no jwks_uri, so ID token signatures cannot be verified.",
      ),
    );
  }
  if (!config.openid && !metadata.userinfo_endpoint) {
    found.push(
      finding(
        'error',
        'userinfo-missing',
        "the provider's metadata has no userinfo_endpoint, and a plain OAuth 2.0 login (no " +
          '"openid" in "scope") reads the user from it. ' +
          'Give the endpoints with "server" (server.userinfoEndpoint) instead of discovery.',
      ),
    );
  }
  if (process.env.NODE_ENV === 'production' && !config.secureCookies) {
    found.push(
      finding(
        'warning',
        'http-in-production',
        `"baseUrl" is ${config.baseUrl.origin}: http in production sends session cookies in the clear. Use https.`,
      ),
    );
  }
  return found;
}

/** The client authentication method's own needs: its JWS alg, PAR, an unused secret. */
function checkClientAuth(config: ResolvedConfig, metadata: ServerMetadata, clientAuthMethod: string): ConfigFinding[] {
  const found: ConfigFinding[] = [];
  const signingAlgs = metadata.token_endpoint_auth_signing_alg_values_supported;
  const assertionAlg =
    clientAuthMethod === 'private_key_jwt'
      ? config.clientKey?.alg
      : clientAuthMethod === 'client_secret_jwt'
        ? 'HS256'
        : undefined;
  if (assertionAlg && Array.isArray(signingAlgs) && !signingAlgs.includes(assertionAlg)) {
    found.push(
      finding(
        'error',
        'client-auth-alg-unsupported',
        clientAuthMethod === 'private_key_jwt'
          ? `the provider does not accept ${assertionAlg} client assertions ` +
              `(token_endpoint_auth_signing_alg_values_supported: ${signingAlgs.join(', ')}). ` +
              'Give "clientPrivateKey" an "alg" (and a key) it accepts.'
          : `the provider does not accept HS256 client assertions ` +
              `(token_endpoint_auth_signing_alg_values_supported: ${signingAlgs.join(', ')}), ` +
              'which client_secret_jwt signs with. Use another "clientAuthMethod".',
      ),
    );
  }
  const parRequired = metadata.require_pushed_authorization_requests === true;
  if ((config.pushedAuthorizationRequests || parRequired) && !metadata.pushed_authorization_request_endpoint) {
    found.push(
      finding(
        'error',
        'par-unsupported',
        config.pushedAuthorizationRequests
          ? '"pushedAuthorizationRequests" is true but the provider has no ' +
              'pushed_authorization_request_endpoint. Remove the option.'
          : 'the provider requires pushed authorization requests but publishes no ' +
              'pushed_authorization_request_endpoint.',
      ),
    );
  }
  const key = clientAuthMethod === 'private_key_jwt' ? config.clientKey : undefined;
  if (key && isEntraEndpoint(metadata.token_endpoint)) {
    if (!key.certificate) {
      found.push(
        finding(
          'warning',
          'entra-certificate-missing',
          'Microsoft Entra ID finds a certificate credential by its thumbprint (x5t#S256 in the ' +
            'client assertion), not by "kid": ' +
            'give clientPrivateKey: { key, certificate } with the certificate uploaded to the app ' +
            'registration, or the token request is refused.',
        ),
      );
    }
    if (!/^(?:RS|PS)/.test(key.alg)) {
      found.push(
        finding(
          'warning',
          'entra-key-not-rsa',
          `Microsoft Entra ID certificate credentials are RSA (PS256 or RS256); "clientPrivateKey" signs ${key.alg}.`,
        ),
      );
    }
  }
  const cert = key?.certificate;
  const now = Date.now();
  if (cert && (cert.validTo.getTime() < now || cert.validFrom.getTime() > now)) {
    found.push(
      finding(
        'warning',
        'client-certificate-not-valid',
        `"clientPrivateKey.certificate" is valid from ${cert.validFrom.toISOString()} to ` +
          `${cert.validTo.toISOString()}, not now: a provider that checks it refuses the token ` +
          `request.`,
      ),
    );
  }
  if (
    config.clientSecret !== undefined &&
    (clientAuthMethod === 'private_key_jwt' || clientAuthMethod === 'tls_client_auth') &&
    !config.configuration
  ) {
    found.push(
      finding(
        'warning',
        'client-secret-unused',
        `"clientSecret" is set but clientAuthMethod "${clientAuthMethod}" does not use it: remove it from the options.`,
      ),
    );
  }
  return found;
}

/**
 * Microsoft Entra ID's token endpoint: the public and national clouds (login.microsoftonline.com,
 * .us, login.partner.microsoftonline.cn, login.chinacloudapi.cn) and External ID (*.ciamlogin.com).
 */
function isEntraEndpoint(endpoint: unknown): boolean {
  if (typeof endpoint !== 'string') return false;
  try {
    const host = new URL(endpoint).hostname;
    return (
      /^login\.(?:partner\.)?microsoftonline\.[a-z]+$/i.test(host) ||
      /^login\.chinacloudapi\.cn$/i.test(host) ||
      /\.ciamlogin\.com$/i.test(host)
    );
  } catch {
    return false;
  }
}

/** The `dpop` option against `dpop_signing_alg_values_supported` (RFC 9449 §5.1). */
function checkDPoP(config: ResolvedConfig, metadata: ServerMetadata): ConfigFinding[] {
  if (!config.dpop) return [];
  const algs = metadata.dpop_signing_alg_values_supported;
  if (!Array.isArray(algs)) {
    return [
      finding(
        'warning',
        'dpop-not-advertised',
        'the provider does not advertise DPoP (no dpop_signing_alg_values_supported). If it ' +
          'answers with Bearer tokens, every login fails with ERR_OIDC_DPOP_NOT_BOUND: check that it ' +
          'supports DPoP, or remove the "dpop" option.',
      ),
    ];
  }
  if (!algs.includes(config.dpop.alg)) {
    return [
      finding(
        'error',
        'dpop-alg-unsupported',
        `the provider does not accept ${config.dpop.alg} DPoP proofs ` +
          `(dpop_signing_alg_values_supported: ${algs.join(', ') || 'none'}). Set "dpop: { alg }" to ` +
          `one of those.`,
      ),
    ];
  }
  return [];
}

/** Logs each finding once: `reported` holds the ids its caller (a middleware instance) logged already. */
export function report(config: ResolvedConfig, findings: readonly ConfigFinding[], reported: Set<string>): void {
  const logger = config.logger;
  if (!logger || findings.length === 0) return;
  for (const f of findings) {
    if (reported.has(f.id)) continue;
    reported.add(f.id);
    if (f.level === 'error') logger.error(f.message);
    else logger.warn(f.message);
  }
}

type AppLike = { get?: (name: string) => unknown };

/** What the first request shows of express-session (and of Express): read only, and maybe absent. */
type SessionRequest = IncomingMessage & {
  session?: { cookie?: unknown };
  sessionStore?: unknown;
  app?: AppLike;
};

/** The `session` option was given, and a session middleware had already run: express-session is mounted twice. */
export function sessionMountedTwice(): ConfigFinding {
  return finding(
    'warning',
    'session-mounted-twice',
    'req.session already exists when oidcLogin() runs its "session" option: express-session is ' +
      'also mounted with app.use(). ' +
      'The first one mounted is the one in use; remove the other.',
  );
}

/** Checks what only a request shows: the session middleware, its cookie, its store, the proxy. */
export function checkFirstRequest(req: IncomingMessage, config: ResolvedConfig): ConfigFinding[] {
  const r = req as SessionRequest;
  const found: ConfigFinding[] = [];
  if (!r.session) {
    found.push(
      finding(
        'error',
        'session-missing',
        'req.session is missing: mount express-session before oidcLogin() (app.use(session({ ... ' +
          '})) first), or give it to oidcLogin({ session: session({ ... }) }). Until then every ' +
          'login answers 503.',
      ),
    );
    return found;
  }
  const cookie = r.session.cookie as { secure?: unknown; sameSite?: unknown } | undefined;
  if (cookie?.secure === true && !config.secureCookies) {
    found.push(
      finding(
        'error',
        'secure-cookie-on-http',
        `the session cookie is Secure but "baseUrl" is ${config.baseUrl.origin}: browsers will not ` +
          `send it back over http, so every callback fails. Use https, or secure: 'auto' with trust ` +
          `proxy.`,
      ),
    );
  }
  if (cookie?.sameSite === 'strict' || cookie?.sameSite === true) {
    found.push(
      finding(
        'error',
        'samesite-strict',
        'the session cookie is SameSite=Strict: browsers do not send it on the redirect back from ' +
          "the provider, so every callback fails. Use sameSite: 'lax'.",
      ),
    );
  }
  if (config.secureCookies && cookie && cookie.secure !== true && cookie.secure !== 'auto') {
    found.push(
      finding(
        'warning',
        'cookie-not-secure',
        'the session cookie is not Secure though "baseUrl" is https: set cookie.secure to true (or ' +
          "'auto' behind a proxy).",
      ),
    );
  }
  if (config.pendingLogins === 'session' && !config.pendingLoginsExplicit) {
    found.push(
      finding(
        'warning',
        'pending-logins-in-session',
        'started logins are kept in the session store, because there is no key to seal them into ' +
          'cookies (no "secret", and ' +
          'no client secret of 32 characters or more, private_key_jwt key or TLS client key to ' +
          'derive one from). Set "secret" ' +
          '(a random string of 32 characters or more, the same on every instance), or pendingLogins: ' +
          "'session' to keep this.",
      ),
    );
  }
  const store = r.sessionStore as { constructor?: { name?: string } } | undefined;
  if (process.env.NODE_ENV === 'production' && store?.constructor?.name === 'MemoryStore') {
    found.push(
      finding(
        'warning',
        'memory-store-in-production',
        "express-session's MemoryStore is in use in production: it leaks and is not shared between " +
          'instances. Use a real store (Redis...).',
      ),
    );
  }
  const forwardedProto = req.headers['x-forwarded-proto'];
  if (forwardedProto !== undefined && typeof r.app?.get === 'function' && !r.app.get('trust proxy')) {
    found.push(
      finding(
        'warning',
        'trust-proxy-unset',
        'requests arrive with X-Forwarded-Proto but Express\'s "trust proxy" is not set: secure ' +
          "cookies will not be sent. Set app.set('trust proxy', 1) (or the hops of your proxies).",
      ),
    );
  }
  return found;
}
