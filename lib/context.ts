import type { ResolvedConfig } from './config.js';
import type { Provider } from './provider.js';
import { getAccessToken } from './refresh.js';
import { protectedFetch } from './resource-fetch.js';
import { fetchUserInfo } from './userinfo.js';
import type { OidcRequest } from './session.js';
import type { LoginClaims, OidcContext, StoredLogin } from './types.js';

/**
 * `req.oidc`. It holds only the request and reads the session on access, so an authenticated
 * request costs one small allocation and no I/O or crypto.
 */
class RequestContext implements OidcContext {
  readonly #req: OidcRequest;
  readonly #config: ResolvedConfig;
  readonly #provider: Provider;

  constructor(req: OidcRequest, config: ResolvedConfig, provider: Provider) {
    this.#req = req;
    this.#config = config;
    this.#provider = provider;
  }

  static configOf(context: OidcContext): ResolvedConfig | undefined {
    return context instanceof RequestContext ? context.#config : undefined;
  }

  get #login(): StoredLogin | undefined {
    return this.#req.session?.oidc?.login;
  }

  isAuthenticated(): boolean {
    return this.#login !== undefined;
  }

  get claims(): LoginClaims | undefined {
    return this.#login?.claims;
  }

  get idToken(): string | undefined {
    return this.#login?.idToken;
  }

  get accessToken(): string | undefined {
    return this.#login?.accessToken;
  }

  get refreshToken(): string | undefined {
    return this.#login?.refreshToken;
  }

  get expiresAt(): number | undefined {
    return this.#login?.expiresAt;
  }

  get scope(): string | undefined {
    return this.#login?.scope;
  }

  get tokenType(): string | undefined {
    return this.#login?.tokenType;
  }

  get user(): Record<string, unknown> | undefined {
    return this.#login?.user;
  }

  getAccessToken(options?: { forceRefresh?: boolean }): Promise<string> {
    return getAccessToken(this.#req, this.#config, this.#provider, options);
  }

  fetchUserInfo(): Promise<Record<string, unknown>> {
    return fetchUserInfo(this.#req, this.#config, this.#provider);
  }

  fetch(url: string | URL, init?: RequestInit): Promise<Response> {
    return protectedFetch(this.#req, this.#config, this.#provider, url, init);
  }

  toJSON(): object {
    return { isAuthenticated: this.isAuthenticated(), claims: this.claims, expiresAt: this.expiresAt, scope: this.scope };
  }
}

export function createContext(req: OidcRequest, config: ResolvedConfig, provider: Provider): OidcContext {
  return new RequestContext(req, config, provider);
}

/** The configuration of the `oidcLogin()` that made this context (for `requireAuth`). */
export function contextConfig(context: OidcContext): ResolvedConfig | undefined {
  return RequestContext.configOf(context);
}
