import type { ServerResponse } from 'node:http';
import type { ResolvedConfig } from './options/resolved-config.js';
import { RESPONSE } from './flow/after-callback.js';
import type { ProviderEntry, ProviderSet } from './flow/provider-set.js';
import { getAccessToken } from './flow/refresh.js';
import { getResourceToken } from './flow/resource-tokens.js';
import { protectedFetch } from './flow/resource-fetch.js';
import { fetchUserInfo } from './flow/userinfo.js';
import type { OidcRequest } from './session/express-session.js';
import type {
  AccessTokenOptions,
  LoginClaims,
  LoginOptions,
  OidcContext,
  ResourceOptions,
  StoredLogin,
} from './types.js';
import { loginOf } from './session/stored-login.js';
import { LOGIN_MEMORY, type LoginMemory } from './session/login-memory.js';

/** `req.oidc.login()`, one function per `oidcLogin()` (routes/login.ts). */
export type AppLogin = (req: OidcRequest, res: ServerResponse, options?: LoginOptions) => Promise<void>;

/** What one `oidcLogin()` shares with every request context it makes: made once, per instance. */
export interface ContextInstance {
  readonly providers: ProviderSet;
  readonly memory: LoginMemory;
  readonly startLogin: AppLogin;
}

/**
 * `req.oidc`. It holds only the request and its instance and reads the session on access, so an
 * authenticated request costs one small allocation and no I/O or crypto. The provider is the
 * login's, looked up by name on each use (one `Map` lookup): the login may change during the request.
 */
class RequestContext implements OidcContext {
  readonly #req: OidcRequest;
  readonly #res: ServerResponse;
  readonly #instance: ContextInstance;
  /** When the middleware found this request's login active (its start), if it kept one. */
  #activeAt: number | undefined;

  constructor(req: OidcRequest, res: ServerResponse, instance: ContextInstance) {
    this.#req = req;
    this.#res = res;
    this.#instance = instance;
    this.#activeAt = undefined;
  }

  static noteActivity(context: OidcContext, at: number | undefined): void {
    if (context instanceof RequestContext) context.#activeAt = at;
  }

  static activeAtOf(context: OidcContext | undefined): number | undefined {
    return context instanceof RequestContext ? context.#activeAt : undefined;
  }

  static configOf(context: OidcContext): ResolvedConfig | undefined {
    return context instanceof RequestContext ? context.#entry.config : undefined;
  }

  /** Its `oidcLogin()`'s memory of logins, found here by what reads the request's login (session/login-memory.ts). */
  get [LOGIN_MEMORY](): LoginMemory {
    return this.#instance.memory;
  }

  /** The request's response, for `afterCallback` when a refresh or `fetchUserInfo()` runs it again. */
  get [RESPONSE](): ServerResponse {
    return this.#res;
  }

  get #login(): StoredLogin | undefined {
    return loginOf(this.#req);
  }

  /** The login's provider; without a login, the app-level entry. */
  get #entry(): ProviderEntry {
    const login = this.#login;
    return (login && this.#instance.providers.of(login)) ?? this.#instance.providers.app;
  }

  get provider(): string | undefined {
    const login = this.#login;
    return login && this.#instance.providers.of(login)?.name;
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

  getAccessToken(options?: AccessTokenOptions): Promise<string> {
    const { config, provider } = this.#entry;
    if (options?.resource !== undefined || options?.scope !== undefined)
      return getResourceToken(this.#req, config, provider, options);
    return getAccessToken(this.#req, config, provider, options);
  }

  fetchUserInfo(): Promise<Record<string, unknown>> {
    const { config, provider } = this.#entry;
    return fetchUserInfo(this.#req, config, provider);
  }

  fetch(url: string | URL, init?: RequestInit & ResourceOptions): Promise<Response> {
    const { config, provider } = this.#entry;
    return protectedFetch(this.#req, config, provider, url, init);
  }

  login(options?: LoginOptions): Promise<void> {
    return this.#instance.startLogin(this.#req, this.#res, options);
  }

  toJSON(): object {
    return {
      isAuthenticated: this.isAuthenticated(),
      provider: this.provider,
      claims: this.claims,
      expiresAt: this.expiresAt,
      scope: this.scope,
    };
  }
}

export function createContext(req: OidcRequest, res: ServerResponse, instance: ContextInstance): OidcContext {
  return new RequestContext(req, res, instance);
}

/** The configuration of the login's provider, else the app-level one, of the `oidcLogin()` that made this context (for `requireAuth`). */
export function contextConfig(context: OidcContext): ResolvedConfig | undefined {
  return RequestContext.configOf(context);
}

/** Notes when the middleware found the request's login active (`undefined`: it kept none). */
export function noteActivity(context: OidcContext, at: number | undefined): void {
  RequestContext.noteActivity(context, at);
}

/** When the middleware found this request's login active, if it kept one. */
export function contextActiveAt(context: OidcContext | undefined): number | undefined {
  return RequestContext.activeAtOf(context);
}
