import { APP_LEVEL_OPTIONS } from '../options/keys.js';
import { DEFAULTS, MAX_LABEL_LENGTH } from '../options/defaults.js';
import { resolveConfig } from '../options/config.js';
import { isObject, routePath } from '../options/values.js';
import type { OidcLogger } from '../options/dependency-types.js';
import type { ResolvedConfig } from '../options/resolved-config.js';
import { OidcConfigError } from '../util/errors.js';
import { fail } from '../options/fail.js';
import { Provider } from './provider.js';
import type { StoredLogin } from '../types.js';

/**
 * Several named providers in one `oidcLogin()`. Each one is resolved by the single-provider
 * `resolveConfig()`, given the top-level options (app-level ones, and provider-level defaults)
 * with its own entry on top and its own routes: so any provider-level option, including ones added
 * later, works in `providers: { ... }` unchanged. The single-provider form is the provider named
 * {@link DEFAULT_PROVIDER}: logins and transactions without a `provider` field belong to it.
 */

/** The name of the single-provider form's provider (and of logins stored without a name). */
export const DEFAULT_PROVIDER = 'default';

const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/**
 * Who the provider is: never a default for every provider. A `clientSecret` shared by several
 * providers would be sent to each of them.
 */
const IDENTITY_OPTIONS = ['issuer', 'server', 'clientId', 'clientSecret', 'configuration'] as const;

/** One provider as the middleware uses it. */
export interface ProviderEntry {
  readonly name: string;
  /** What the chooser page calls it. */
  readonly label: string;
  readonly config: ResolvedConfig;
  readonly provider: Provider;
}

/** Every provider of one `oidcLogin()`, found by name with one `Map` lookup. */
export interface ProviderSet {
  /** `providers` was given (even with one provider). */
  readonly multi: boolean;
  /**
   * For what has no provider yet (a request without a login, the shared routes): the app-level
   * options with the base routes (`loginUrlPath` is `/login`), and the default (or first) provider.
   */
  readonly app: ProviderEntry;
  readonly entries: readonly ProviderEntry[];
  /** `defaultProvider`, or the only provider; undefined when `GET /login` shows the chooser. */
  readonly defaultEntry: ProviderEntry | undefined;
  /** The route of the client's public JWKS and the keys it serves (private_key_jwt), if any. */
  readonly jwks: { readonly path: string; readonly keys: readonly object[] } | undefined;
  /** The provider of a login, or undefined when it names one that is not configured (any more). */
  of(login: StoredLogin): ProviderEntry | undefined;
}

function makeSet(
  entries: ProviderEntry[],
  app: ProviderEntry,
  defaultEntry: ProviderEntry | undefined,
  multi: boolean,
  jwks: ProviderSet['jwks'],
): ProviderSet {
  const byName = new Map(entries.map((e) => [e.name, e]));
  return Object.freeze({
    multi,
    app,
    entries: Object.freeze(entries),
    defaultEntry,
    jwks,
    of: (login: StoredLogin) => byName.get(login.provider ?? DEFAULT_PROVIDER),
  });
}

/**
 * Validates the options once, at start-up: the single-provider form through `resolveConfig()`,
 * `providers` through it once per provider. Throws an {@link OidcConfigError} naming the option
 * (and the provider) and the fix.
 */
export function resolveProviders(options: unknown): ProviderSet {
  if (!isObject(options) || options.providers === undefined) {
    const config = resolveConfig(options);
    const entry: ProviderEntry = Object.freeze({
      name: DEFAULT_PROVIDER,
      label: DEFAULT_PROVIDER,
      config,
      provider: new Provider(config),
    });
    const key = config.clientKey;
    const jwks = config.jwksPath !== false && key ? { path: config.jwksPath, keys: key.jwks().keys } : undefined;
    return makeSet([entry], entry, entry, false, jwks);
  }
  const { providers, defaultProvider, ...top } = options;
  if (!isObject(providers))
    fail('"providers" must be an object of named providers: { keycloak: { issuer, clientId, clientSecret }, ... }.');
  const names = Object.keys(providers);
  if (names.length === 0)
    fail('"providers" names no provider: give at least one, { name: { issuer, clientId, clientSecret } }.');
  for (const key of IDENTITY_OPTIONS) {
    if (top[key] !== undefined) {
      fail(`"${key}" belongs to each provider when "providers" is given: move it into providers.<name>.${key}.`);
    }
  }
  for (const name of names) {
    if (!NAME.test(name)) {
      fail(
        `the provider name ${JSON.stringify(name)} is not allowed: use 1 to 32 of a-z, 0-9, "-" ` +
          `and "_", starting with a letter or digit (it is part of the routes, e.g. ` +
          `/login/${'<name>'}).`,
      );
    }
  }
  if (
    defaultProvider !== undefined &&
    (typeof defaultProvider !== 'string' || !Object.hasOwn(providers, defaultProvider))
  ) {
    fail(
      `"defaultProvider" must be the name of one of "providers" (${names.join(', ')}); got ` +
        `${JSON.stringify(defaultProvider)}.`,
    );
  }
  const routes = top.routes ?? {};
  if (!isObject(routes)) fail('"routes" must be an object.');
  const logger = top.logger === undefined ? console : top.logger;

  const entries = names.map((name) => {
    const entry = providers[name];
    const at = `providers.${name}`;
    if (!isObject(entry))
      fail(`"${at}" must be an object of that provider's options: { issuer, clientId, clientSecret, ... }.`);
    for (const key of Object.keys(entry)) {
      if ((APP_LEVEL_OPTIONS as readonly string[]).includes(key)) {
        fail(
          `"${at}.${key}" is an app-level option, the same for every provider: set "${key}" next to ` +
            `"providers", not inside it.`,
        );
      }
      if (key === 'providers' || key === 'defaultProvider')
        fail(`"${at}.${key}" cannot be nested: give "${key}" once, at the top level.`);
    }
    if (isObject(entry.logout) && entry.logout.allowGet !== undefined) {
      fail(
        `"${at}.logout.allowGet" is app-level (the /logout route is shared): set "logout.allowGet" ` +
          `next to "providers".`,
      );
    }
    if (
      entry.label !== undefined &&
      (typeof entry.label !== 'string' || entry.label.trim() === '' || entry.label.length > MAX_LABEL_LENGTH)
    ) {
      fail(
        `"${at}.label" must be a non-empty string of at most ${MAX_LABEL_LENGTH} characters (the chooser page shows it).`,
      );
    }
    const { label, ...own } = entry;
    const merged: Record<string, unknown> = { ...top, ...own };
    if (isObject(top.logout) && isObject(own.logout)) merged.logout = { ...top.logout, ...own.logout };
    // The start-up check's findings name the provider they are about.
    if (isLogger(logger)) merged.logger = namedLogger(logger, name);
    const resolve = (withLogoutRoutes: boolean) =>
      resolveNamed(
        { ...merged, routes: providerRoutes(routes, name, withLogoutRoutes) },
        name,
        Object.keys(own),
        Object.keys(top),
      );
    // resolveConfig() decides whether this provider has logout routes at all (a plain OAuth 2.0
    // provider has none); only then do they get its own paths.
    const first = resolve(false);
    const config =
      first.backchannelLogoutPath === false && first.frontchannelLogoutPath === false ? first : resolve(true);
    return { name, label: typeof label === 'string' ? label.trim() : name, config, own };
  });

  const jwks = clientJwks(
    routes,
    entries.map((e) => e.config),
  );
  const resolved: ProviderEntry[] = entries.map(({ name, label, config }) => {
    const named: ResolvedConfig = Object.freeze({
      ...config,
      providerName: name,
      // Each provider's path is always given to resolveConfig() (joined with its name): whether the
      // app set it is the app's own routes option.
      frontchannelLogoutExplicit: routes.frontchannelLogout !== undefined && routes.frontchannelLogout !== false,
    });
    return Object.freeze({ name, label, config: named, provider: new Provider(named) });
  });
  const defaultEntry =
    defaultProvider !== undefined
      ? resolved.find((e) => e.name === defaultProvider)
      : resolved.length === 1
        ? resolved[0]
        : undefined;
  const base = defaultEntry ?? resolved[0]!;
  const baseOwn = entries.find((e) => e.name === base.name)!.own;
  // The app-level configuration: the base routes, the top-level logout options and logger, and a
  // provider's identity only because resolveConfig() wants one (it is never used for I/O).
  const appConfig = resolveConfig({
    ...top,
    ...baseOwn,
    logout: top.logout,
    logger: top.logger,
    // Served per provider, not here (and a plain OAuth 2.0 provider refuses a back-channel route).
    routes: { ...routes, backchannelLogout: false, frontchannelLogout: false, jwks: false },
  });
  const app: ProviderEntry = Object.freeze({
    name: base.name,
    label: base.label,
    config: appConfig,
    provider: base.provider,
  });
  checkRoutesDiffer(appConfig, resolved, jwks);
  return makeSet(resolved, app, defaultEntry, true, jwks);
}

/**
 * `/login/<name>`, `/callback/<name>`, `/backchannel-logout/<name>`, `/frontchannel-logout/<name>` (`withLogoutRoutes`; else
 * resolveConfig()'s default, or off); `/logout` is shared (served once).
 */
function providerRoutes(
  routes: Record<string, unknown>,
  name: string,
  withLogoutRoutes: boolean,
): Record<string, unknown> {
  const join = (value: unknown, fallback: string): unknown => {
    if (value === false) return false;
    const base = value === undefined ? fallback : value;
    if (typeof base !== 'string') return base; // resolveConfig() names the mistake
    return base === '/' ? `/${name}` : `${base.endsWith('/') ? base.slice(0, -1) : base}/${name}`;
  };
  return {
    login: join(routes.login, DEFAULTS.loginPath),
    callback: join(routes.callback, DEFAULTS.callbackPath),
    backchannelLogout:
      withLogoutRoutes || routes.backchannelLogout === false
        ? join(routes.backchannelLogout, DEFAULTS.backchannelLogoutPath)
        : undefined,
    frontchannelLogout:
      withLogoutRoutes || routes.frontchannelLogout === false
        ? join(routes.frontchannelLogout, DEFAULTS.frontchannelLogoutPath)
        : undefined,
    logout: false,
    jwks: false,
  };
}

/**
 * resolveConfig() for one provider. A mistake in that provider's own options is reported as
 * `providers.<name>: ...`; a top-level provider-level default that does not fit this provider says
 * so; a mistake in an app-level option is reported as it is.
 */
function resolveNamed(
  options: Record<string, unknown>,
  name: string,
  ownKeys: string[],
  topKeys: string[],
): ResolvedConfig {
  try {
    return resolveConfig(options);
  } catch (err) {
    if (!(err instanceof OidcConfigError)) throw err;
    const named = /"([A-Za-z_]+)/.exec(err.message)?.[1];
    if (named === undefined || ownKeys.includes(named) || (IDENTITY_OPTIONS as readonly string[]).includes(named)) {
      throw new OidcConfigError(
        err.message.replace(/^express-oidc-login: /, `express-oidc-login: providers.${name}: `),
      );
    }
    if (
      topKeys.includes(named) &&
      !(APP_LEVEL_OPTIONS as readonly string[]).includes(named) &&
      !/^express-oidc-login: unknown option/.test(err.message)
    ) {
      throw new OidcConfigError(
        `${err.message} "${named}" is set at the top level, as a default for every provider, and ` +
          `does not fit providers.${name}: ` +
          `move it into the providers it is for.`,
      );
    }
    throw err;
  }
}

function isLogger(value: unknown): value is OidcLogger {
  return isObject(value) && typeof value.warn === 'function' && typeof value.error === 'function';
}

function namedLogger(logger: OidcLogger, name: string): OidcLogger {
  const named = (message: string) =>
    message.replace(/^express-oidc-login: /, `express-oidc-login: provider "${name}": `);
  return {
    warn: (message) => logger.warn(named(message)),
    error: (message) => logger.error(named(message)),
  };
}

/**
 * One public JWKS for the app (`routes.jwks`, default `/jwks.json`) with the key of every provider
 * that uses private_key_jwt, so that each provider can be registered with the same `jwks_uri`.
 */
function clientJwks(routes: Record<string, unknown>, configs: readonly ResolvedConfig[]): ProviderSet['jwks'] {
  const keys = configs.flatMap((c) => (c.clientKey ? [c.clientKey] : []));
  if (keys.length === 0) {
    if (routes.jwks !== undefined && routes.jwks !== false) {
      fail(
        '"routes.jwks" serves the public keys of "clientPrivateKey" (clientAuthMethod ' +
          '"private_key_jwt"), and no provider has one: remove "routes.jwks".',
      );
    }
    return undefined;
  }
  const path = routePath('jwks', routes.jwks, DEFAULTS.jwksPath);
  if (path === false) return undefined;
  // One entry per kid. The same key given with its certificate for one provider and without it
  // for another is one key: served with the certificate.
  const byKid = new Map<string, { json: string; jwk: Readonly<Record<string, unknown>> }>();
  for (const key of keys) {
    const { x5c, x5t, 'x5t#S256': _x5tS256, ...bare } = key.publicJwk as Record<string, unknown>;
    const json = JSON.stringify(bare);
    const seen = byKid.get(key.kid);
    if (seen !== undefined && seen.json !== json) {
      fail(
        `two providers' "clientPrivateKey" have the kid ${JSON.stringify(key.kid)} but are ` +
          `different keys: give them different kids.`,
      );
    }
    if (seen?.jwk.x5c !== undefined && x5c !== undefined && seen.jwk.x5t !== x5t) {
      fail(
        `two providers' "clientPrivateKey" have the kid ${JSON.stringify(key.kid)} with different ` +
          `certificates: give them different kids.`,
      );
    }
    if (seen === undefined || (seen.jwk.x5c === undefined && x5c !== undefined))
      byKid.set(key.kid, { json, jwk: key.publicJwk as Readonly<Record<string, unknown>> });
  }
  return { path, keys: Object.freeze([...byKid.values()].map((e) => e.jwk)) };
}

/** Every route of every provider, and the shared ones, at a path of its own. */
function checkRoutesDiffer(app: ResolvedConfig, entries: readonly ProviderEntry[], jwks: ProviderSet['jwks']): void {
  const owners = new Map<string, string>();
  const add = (path: string | false, owner: string) => {
    if (path === false) return;
    const other = owners.get(path);
    if (other !== undefined)
      fail(`the route ${path} would serve both ${other} and ${owner}: rename the provider, or change "routes".`);
    owners.set(path, owner);
  };
  add(app.loginPath, 'the provider chooser (routes.login)');
  add(app.logoutPath, 'logout (routes.logout)');
  if (jwks) add(jwks.path, 'the JWKS (routes.jwks)');
  for (const e of entries) {
    add(e.config.loginPath, `provider "${e.name}"'s login`);
    add(e.config.callbackPath, `provider "${e.name}"'s callback`);
    add(e.config.backchannelLogoutPath, `provider "${e.name}"'s back-channel logout`);
    add(e.config.frontchannelLogoutPath, `provider "${e.name}"'s front-channel logout`);
  }
}
