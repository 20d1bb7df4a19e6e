import type { Configuration, ServerMetadata } from 'openid-client';
import { deriveSealKey, Sealer } from '../util/seal.js';
import type { DPoPAlg } from '../types.js';
import { isEntraMultiTenantIssuer, isTenantId, TENANT_PLACEHOLDER } from '../vendors/entra.js';
import type { ClientSigningKey } from './client-keys.js';
import type { ClientTlsIdentity } from './client-certificate.js';
import { DEFAULTS, DPOP_ALGS, MIN_SECRET_LENGTH, REFUSED_DPOP_ALGS } from './defaults.js';
import { fail } from './fail.js';
import type { AfterCallback, IdpLogoutUrl, MappedProfile, OidcEventHandlers, ProfileMapper } from './hook-types.js';
import { ALIASES, EVENT_KEYS, KNOWN_OPTIONS, LOGOUT_KEYS, RESERVED_PARAMS, ROUTE_KEYS, SERVER_KEYS } from './keys.js';
import type { ResolvedConfig } from './resolved-config.js';
import type { ClientAuthMethod, OidcLogger, SessionMiddleware } from './types.js';
import { resolveClientAuth } from './validate/client-auth.js';

const ASYMMETRIC_ALGS = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);

function didYouMean(key: string): string {
  const lower = key.toLowerCase();
  const alias = ALIASES[lower];
  if (alias) return ` Did you mean "${alias}"?`;
  let best: string | undefined;
  let bestDistance = 3;
  for (const known of KNOWN_OPTIONS) {
    const d = editDistance(lower, known.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = known;
    }
  }
  return best ? ` Did you mean "${best}"?` : ` Known options: ${KNOWN_OPTIONS.join(', ')}.`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/**
 * True for `localhost`, `*.localhost`, 127.0.0.0/8 and `[::1]`: hosts a browser keeps on this
 * machine (browsers pin `*.localhost` to loopback), for the browser-facing `baseUrl`.
 */
export function isLoopbackHost(hostname: string): boolean {
  return hostname.endsWith('.localhost') || isLoopbackTarget(hostname);
}

/**
 * True for `localhost`, 127.0.0.0/8 and `[::1]` only: hosts the server itself may send a token to
 * over plain http. Not `*.localhost`: Node resolves those names through DNS like any other.
 */
export function isLoopbackTarget(hostname: string): boolean {
  return hostname === 'localhost' || /^127(?:\.\d{1,3}){3}$/.test(hostname) || hostname === '[::1]';
}

function parseUrl(name: string, value: unknown): URL {
  if (typeof value !== 'string' || value === '') fail(`"${name}" must be an absolute URL string.`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(`"${name}" must be an absolute URL, such as https://example.com; got ${JSON.stringify(value)}.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(`"${name}" must be an http(s) URL.`);
  if (url.search || url.hash) fail(`"${name}" must not have a query string or fragment.`);
  if (url.username || url.password) fail(`"${name}" must not contain credentials.`);
  return url;
}

function positiveNumber(name: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max) {
    fail(`"${name}" must be a number greater than 0 and at most ${max}; got ${String(value)}.`);
  }
  return value;
}

export function routePath(name: string, value: unknown, fallback: string): string | false {
  if (value === undefined) return fallback;
  if (value === false) return false;
  if (typeof value !== 'string' || !/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/.test(value) || value.startsWith('//')) {
    fail(`"routes.${name}" must be a path starting with a single "/" (or false to turn the route off).`);
  }
  return value.length > 1 && value.endsWith('/') ? value.slice(0, -1) : value;
}

/** An endpoint of `server`: absolute, https (http only with the loud switch), no fragment or credentials. */
function endpointUrl(name: string, value: unknown, allowInsecureHttp: boolean): URL {
  if (typeof value !== 'string' || value === '') fail(`"${name}" must be an absolute URL string.`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(`"${name}" must be an absolute URL, such as https://example.com/oauth/token; got ${JSON.stringify(value)}.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(`"${name}" must be an https URL.`);
  if (url.protocol === 'http:' && !allowInsecureHttp) {
    fail(
      `"${name}" must use https. For a provider on your own machine during development only, set "dangerouslyAllowInsecureHttp: true".`,
    );
  }
  if (url.hash) fail(`"${name}" must not have a fragment.`);
  if (url.username || url.password) fail(`"${name}" must not contain credentials.`);
  return url;
}

/** `server` as openid-client metadata (RFC 8414 names). */
function resolveServer(value: unknown, openid: boolean, allowInsecureHttp: boolean): ServerMetadata {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(
      '"server" must be an object: { authorizationEndpoint, tokenEndpoint, userinfoEndpoint, revocationEndpoint?, issuer?, jwksUri? }.',
    );
  }
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (!(SERVER_KEYS as readonly string[]).includes(key))
      fail(`unknown option "server.${key}". Known: ${SERVER_KEYS.join(', ')}.`);
  }
  const optional = (name: (typeof SERVER_KEYS)[number]): string | undefined =>
    v[name] === undefined ? undefined : endpointUrl(`server.${name}`, v[name], allowInsecureHttp).href;
  if (v.authorizationEndpoint === undefined)
    fail('"server.authorizationEndpoint" is required: where the browser is sent to log in.');
  if (v.tokenEndpoint === undefined)
    fail('"server.tokenEndpoint" is required: where the code is exchanged for tokens.');
  const authorization = endpointUrl('server.authorizationEndpoint', v.authorizationEndpoint, allowInsecureHttp);
  const token = optional('tokenEndpoint')!;
  const userinfo = optional('userinfoEndpoint');
  const revocation = optional('revocationEndpoint');
  const jwks = optional('jwksUri');
  if (!openid && userinfo === undefined) {
    fail(
      '"server.userinfoEndpoint" is required for a plain OAuth 2.0 login (no "openid" in "scope"): the URL the user\'s profile ' +
        'is read from with the access token, e.g. https://api.github.com/user.',
    );
  }
  if (openid && v.issuer === undefined)
    fail('"server.issuer" is required with "openid" in "scope": ID tokens must name it in "iss".');
  if (openid && jwks === undefined)
    fail(
      '"server.jwksUri" is required with "openid" in "scope": ID token signatures are verified with the provider\'s keys.',
    );
  let issuer = authorization.origin;
  if (v.issuer !== undefined) {
    const url = parseUrl('server.issuer', v.issuer);
    if (url.protocol === 'http:' && !allowInsecureHttp) {
      fail(
        '"server.issuer" must use https. For a provider on your own machine during development only, set "dangerouslyAllowInsecureHttp: true".',
      );
    }
    // Kept as written: ID tokens' "iss" is compared with it exactly (a trailing slash matters).
    issuer = v.issuer as string;
  }
  return Object.freeze({
    issuer,
    authorization_endpoint: authorization.href,
    token_endpoint: token,
    ...(userinfo !== undefined && { userinfo_endpoint: userinfo }),
    ...(revocation !== undefined && { revocation_endpoint: revocation }),
    ...(jwks !== undefined && { jwks_uri: jwks }),
  });
}

/** `profileApiOrigins`: plain OAuth 2.0 only; https origins (http with the loud switch), normalized. */
function resolveProfileApiOrigins(value: unknown, openid: boolean, allowInsecureHttp: boolean): readonly string[] {
  if (value === undefined) return Object.freeze([]);
  if (openid) {
    fail(
      '"profileApiOrigins" is for "profile"\'s api.get() in a plain OAuth 2.0 login (no "openid" in "scope"): remove it.',
    );
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    fail('"profileApiOrigins" must be an array of origins, such as ["https://api.example.com"].');
  }
  const origins = (value as string[]).map((v) => {
    let url: URL | undefined;
    try {
      url = new URL(v);
    } catch {
      url = undefined;
    }
    if (!url || url.origin === 'null' || url.href !== `${url.origin}/`) {
      fail(
        `"profileApiOrigins" must list origins (scheme, host and port, such as "https://api.example.com"), not ${JSON.stringify(v)}.`,
      );
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowInsecureHttp)) {
      fail(`"profileApiOrigins" must use https (the access token is sent there): ${JSON.stringify(v)}.`);
    }
    return url.origin;
  });
  return Object.freeze([...new Set(origins)]);
}

/** The default `profile`: the userinfo response as it is (it must have a `sub`). */
const identityProfile: ProfileMapper = (userinfo) => userinfo as MappedProfile;

/** `dpop: true | false | { alg }`. */
function resolveDPoP(value: unknown): Readonly<{ alg: DPoPAlg }> | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return Object.freeze({ alg: DEFAULTS.dpopAlg });
  if (typeof value === 'string')
    fail(`"dpop" must be true or an object: write dpop: { alg: ${JSON.stringify(value)} }.`);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail('"dpop" must be true, false or { alg }.');
  for (const key of Object.keys(value)) {
    if (key !== 'alg') fail(`unknown option "dpop.${key}". Known: alg.`);
  }
  const alg = (value as { alg?: unknown }).alg ?? DEFAULTS.dpopAlg;
  if (typeof alg === 'string' && REFUSED_DPOP_ALGS.includes(alg)) {
    fail(
      `"dpop.alg" ${alg} is not offered: each login gets its own key pair, made at the callback, and an RSA key pair costs ` +
        `about 170 ms of CPU, which anyone could make the server spend by looping /login and /callback. ` +
        `Use ${DPOP_ALGS[0]} (the default), ${DPOP_ALGS.slice(1, -1).join(', ')} or ${DPOP_ALGS.at(-1)} (0.5 to 2.5 ms); providers that support DPoP accept ES256.`,
    );
  }
  if (typeof alg !== 'string' || !(DPOP_ALGS as readonly string[]).includes(alg)) {
    fail(
      `"dpop.alg" must be one of ${DPOP_ALGS.join(', ')}; got ${JSON.stringify(alg)}. DPoP proofs are signed with an asymmetric key.`,
    );
  }
  return Object.freeze({ alg: alg as DPoPAlg });
}

/**
 * `allowedTenants`: required with a Microsoft Entra multi-tenant issuer (any Entra organisation's
 * users could log in otherwise), refused with any other issuer.
 */
function resolveAllowedTenants(
  value: unknown,
  issuer: URL | undefined,
  configuration: Configuration | undefined,
): readonly string[] | 'any' | undefined {
  const multiTenant = issuer
    ? isEntraMultiTenantIssuer(issuer)
    : configuration!.serverMetadata().issuer.includes(TENANT_PLACEHOLDER);
  const shown = issuer ? `"issuer" ${issuer.href}` : 'The "configuration" issuer';
  if (value === undefined) {
    if (!multiTenant) return undefined;
    const endpoint = issuer ? (/^\/([a-z]+)\//i.exec(issuer.pathname)?.[1] ?? '').toLowerCase() : 'common';
    const who =
      endpoint === 'organizations'
        ? 'the users of any Microsoft Entra organisation'
        : endpoint === 'consumers'
          ? 'any personal Microsoft account'
          : 'the users of any Microsoft Entra organisation and any personal Microsoft account';
    fail(
      `${shown} is Microsoft Entra ID's multi-tenant endpoint: ${who} can log in through it. ` +
        'Set "allowedTenants" to the tenant IDs (GUIDs) whose users may log in, e.g. allowedTenants: [\'<your tenant id>\'], ' +
        "or to 'any' to let every tenant in (and check claims.tid in afterCallback). " +
        `For your own tenant only, use its issuer ${issuer ? issuer.origin : 'https://login.microsoftonline.com'}/<tenant id>/v2.0 instead.`,
    );
  }
  if (!multiTenant) {
    fail(
      '"allowedTenants" is for a Microsoft Entra ID multi-tenant issuer (https://login.microsoftonline.com/common/v2.0, ' +
        '/organizations/v2.0 or /consumers/v2.0). A single-tenant issuer (…/<tenant id>/v2.0) names its tenant itself: remove "allowedTenants".',
    );
  }
  if (value === 'any') return 'any';
  if (!Array.isArray(value) || value.length === 0 || !value.every((t) => typeof t === 'string')) {
    fail('"allowedTenants" must be a non-empty array of tenant IDs (GUIDs), or \'any\'.');
  }
  for (const tenant of value as string[]) {
    if (!isTenantId(tenant)) {
      fail(
        `"allowedTenants" must list tenant IDs (GUIDs, such as 72f988bf-86f1-41af-91ab-2d7cd011db47), not ${JSON.stringify(tenant)}. ` +
          "An Entra tenant's ID is on its Overview page in the Entra admin center; a domain name (contoso.onmicrosoft.com) is not accepted.",
      );
    }
  }
  return Object.freeze([...new Set((value as string[]).map((t) => t.toLowerCase()))]);
}

/**
 * Validates the options once, at start-up, and returns them fully defaulted and frozen.
 * Throws an {@link OidcConfigError} naming the option and the fix.
 */
export function resolveConfig(options: unknown): ResolvedConfig {
  if (options === undefined || options === null || typeof options !== 'object' || Array.isArray(options)) {
    fail('oidcLogin() needs an options object: oidcLogin({ issuer, clientId, clientSecret, baseUrl }).');
  }
  if ('socket' in options && 'headers' in options && 'method' in options) {
    fail('oidcLogin was given a request: write app.use(oidcLogin({ ... })), not app.use(oidcLogin).');
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(KNOWN_OPTIONS as readonly string[]).includes(key)) fail(`unknown option "${key}".${didYouMean(key)}`);
  }
  // Several providers are resolved one by one by resolveProviders() (lib/flow/provider-set.ts).
  if (o.providers !== undefined) fail('"providers" cannot be nested: give it once, at the top level of the options.');
  if (o.defaultProvider !== undefined) {
    fail('"defaultProvider" picks one of "providers", and there are none: remove it, or give "providers".');
  }

  const allowInsecureHttp = o.dangerouslyAllowInsecureHttp === true;
  if (o.dangerouslyAllowInsecureHttp !== undefined && typeof o.dangerouslyAllowInsecureHttp !== 'boolean') {
    fail('"dangerouslyAllowInsecureHttp" must be a boolean.');
  }

  const configuration = o.configuration as Configuration | undefined;
  let issuer: URL | undefined;
  let clientId: string | undefined;
  let clientSecret: string | undefined;
  const { clientAuthMethod, needsSecret, clientKey, clientCertificate } = resolveClientAuth(
    o,
    configuration !== undefined,
  );
  const discovery = o.discovery ?? 'oidc';
  if (discovery !== 'oidc' && discovery !== 'oauth2') {
    fail(
      `"discovery" must be "oidc" (OpenID Connect Discovery) or "oauth2" (RFC 8414 authorization server metadata); got ${JSON.stringify(o.discovery)}.`,
    );
  }
  if (discovery === 'oauth2' && o.allowedTenants !== undefined) {
    fail(
      '"allowedTenants" works with OpenID discovery (Microsoft Entra ID serves no RFC 8414 document): remove "discovery: \'oauth2\'".',
    );
  }
  if (o.server !== undefined && o.scope === undefined) {
    fail(
      '"scope" is required with "server": the scopes the provider knows, e.g. "read:user user:email" for GitHub (with "openid" only for an OpenID provider).',
    );
  }
  const scope = o.scope ?? DEFAULTS.scope;
  if (typeof scope !== 'string' || scope.trim() === '')
    fail(`"scope" must be a non-empty space-separated string; got ${JSON.stringify(o.scope)}.`);
  const openid = scope.split(' ').includes('openid');
  // Only a provider that is not found by OpenID discovery may log in without an ID token: for an
  // OpenID provider a scope without "openid" is a mistake, not a choice.
  if (!openid && o.server === undefined && discovery !== 'oauth2') {
    fail(
      `"scope" must be a space-separated string that includes "openid"; got ${JSON.stringify(o.scope)}. ` +
        'For a plain OAuth 2.0 provider (no ID token), give "server" with its endpoints, or "discovery: \'oauth2\'".',
    );
  }

  let server: ServerMetadata | undefined;
  if (configuration !== undefined) {
    if (typeof configuration !== 'object' || typeof configuration.serverMetadata !== 'function') {
      fail('"configuration" must be an openid-client Configuration (from discovery() or new Configuration()).');
    }
    if (o.issuer !== undefined || o.clientId !== undefined || o.clientSecret !== undefined) {
      fail('give either "configuration" or "issuer" / "clientId" / "clientSecret", not both.');
    }
    if (o.server !== undefined || o.discovery !== undefined)
      fail('give either "configuration" or "server" / "discovery", not both.');
  } else {
    if (o.server !== undefined) {
      if (o.issuer !== undefined) {
        fail(
          'give either "issuer" (found by discovery) or "server" (the endpoints), not both. With "server", the issuer identifier is "server.issuer".',
        );
      }
      if (o.discovery !== undefined)
        fail(
          '"discovery" finds the endpoints from "issuer"; with "server" there is nothing to discover: remove "discovery".',
        );
      if (o.allowedTenants !== undefined)
        fail(
          '"allowedTenants" is for a Microsoft Entra ID multi-tenant issuer found by discovery, not for "server": remove it.',
        );
      server = resolveServer(o.server, openid, allowInsecureHttp);
    } else {
      if (o.issuer === undefined) {
        fail(
          '"issuer" is required: the URL of your OpenID Provider, e.g. https://idp.example.com (or "server" with the endpoints of a plain OAuth 2.0 provider).',
        );
      }
      issuer = parseUrl('issuer', o.issuer);
      if (issuer.protocol === 'http:' && !allowInsecureHttp) {
        fail(
          `"issuer" must use https. For a provider on your own machine during development only, ` +
            `set "dangerouslyAllowInsecureHttp: true".`,
        );
      }
    }
    if (typeof o.clientId !== 'string' || o.clientId === '') fail('"clientId" is required: a non-empty string.');
    clientId = o.clientId;
    if (needsSecret && (typeof o.clientSecret !== 'string' || o.clientSecret === '')) {
      fail('"clientSecret" is required for a confidential client: a non-empty string.');
    }
    // With private_key_jwt and tls_client_auth a clientSecret is allowed but unused (the
    // start-up check says so): an app can switch methods without removing it first.
    if (o.clientSecret !== undefined && (typeof o.clientSecret !== 'string' || o.clientSecret === '')) {
      fail('"clientSecret" must be a non-empty string.');
    }
    clientSecret = o.clientSecret as string | undefined;
  }

  if (o.baseUrl === undefined) fail('"baseUrl" is required: the public URL of your app, e.g. https://app.example.com.');
  const baseUrl = parseUrl('baseUrl', o.baseUrl);
  if (baseUrl.protocol === 'http:' && !isLoopbackHost(baseUrl.hostname) && !allowInsecureHttp) {
    fail(
      '"baseUrl" must use https (http is allowed for localhost only). Behind a TLS proxy, give the public https URL.',
    );
  }
  if (baseUrl.pathname.endsWith('/')) baseUrl.pathname = baseUrl.pathname.slice(0, -1);
  const prefix = baseUrl.pathname === '/' ? '' : baseUrl.pathname;

  const routes = o.routes ?? {};
  if (typeof routes !== 'object' || routes === null || Array.isArray(routes)) fail('"routes" must be an object.');
  for (const key of Object.keys(routes)) {
    if (!(ROUTE_KEYS as readonly string[]).includes(key))
      fail(`unknown route "routes.${key}". Known routes: ${ROUTE_KEYS.join(', ')}.`);
  }
  const r = routes as Record<string, unknown>;
  const loginPath = routePath('login', r.login, DEFAULTS.loginPath);
  const callbackPath = routePath('callback', r.callback, DEFAULTS.callbackPath);
  const logoutPath = routePath('logout', r.logout, DEFAULTS.logoutPath);
  if (!openid && r.backchannelLogout !== undefined && r.backchannelLogout !== false) {
    fail(
      '"routes.backchannelLogout": back-channel logout ends OpenID Connect sessions; a plain OAuth 2.0 login (no "openid" in "scope") has none. Remove it.',
    );
  }
  // Off for plain OAuth 2.0: no provider sends logout tokens about a login without an ID token.
  const backchannelLogoutPath = openid
    ? routePath('backchannelLogout', r.backchannelLogout, DEFAULTS.backchannelLogoutPath)
    : false;
  if (r.jwks !== undefined && r.jwks !== false && !clientKey) {
    fail(
      '"routes.jwks" serves the public key of "clientPrivateKey" (clientAuthMethod "private_key_jwt"): set those, or remove "routes.jwks".',
    );
  }
  const jwksPath = clientKey ? routePath('jwks', r.jwks, DEFAULTS.jwksPath) : false;
  const paths = [loginPath, callbackPath, logoutPath, backchannelLogoutPath, jwksPath].filter((p) => p !== false);
  if (new Set(paths).size !== paths.length) fail('the paths in "routes" must all differ.');

  const rawLogout = o.logout ?? {};
  if (typeof rawLogout !== 'object' || rawLogout === null || Array.isArray(rawLogout))
    fail('"logout" must be an object.');
  for (const key of Object.keys(rawLogout)) {
    if (!(LOGOUT_KEYS as readonly string[]).includes(key))
      fail(`unknown option "logout.${key}". Known: ${LOGOUT_KEYS.join(', ')}.`);
  }
  const lo = rawLogout as Record<string, unknown>;
  for (const key of ['idpLogout', 'allowGet', 'revokeTokens'] as const) {
    if (lo[key] !== undefined && typeof lo[key] !== 'boolean') fail(`"logout.${key}" must be a boolean.`);
  }
  let postLogoutRedirectUri = `${baseUrl.origin}${prefix}/`;
  if (lo.postLogoutRedirectUri !== undefined) {
    const u = parseUrl('logout.postLogoutRedirectUri', lo.postLogoutRedirectUri);
    if (u.origin !== baseUrl.origin) fail('"logout.postLogoutRedirectUri" must be on the same origin as "baseUrl".');
    postLogoutRedirectUri = u.href;
  }
  if (lo.idpLogoutUrl !== undefined && typeof lo.idpLogoutUrl !== 'function') {
    fail(
      '"logout.idpLogoutUrl" must be a function ({ idToken, clientId, postLogoutRedirectUri, state, metadata }) => URL, such as auth0Logout().',
    );
  }

  const rawOn = o.on ?? {};
  if (typeof rawOn !== 'object' || rawOn === null || Array.isArray(rawOn))
    fail('"on" must be an object of event handlers.');
  for (const [key, fn] of Object.entries(rawOn)) {
    if (!(EVENT_KEYS as readonly string[]).includes(key))
      fail(`unknown event "on.${key}". Known: ${EVENT_KEYS.join(', ')}.`);
    if (typeof fn !== 'function') fail(`"on.${key}" must be a function.`);
  }
  if (o.session !== undefined && typeof o.session !== 'function') {
    fail(
      '"session" must be a session middleware (req, res, next), e.g. session({ secret, resave: false, saveUninitialized: false }) from express-session.',
    );
  }
  // express-session's own factory is session(options): given uncalled, every request would hang.
  if (typeof o.session === 'function' && o.session.length === 1) {
    fail(
      '"session" takes the middleware (req, res, next) that session({ ... }) returns, not a function of 1 parameter: did you mean session({ secret, ... })?',
    );
  }
  if (o.afterCallback !== undefined && typeof o.afterCallback !== 'function')
    fail('"afterCallback" must be a function (req, res, login) => login.');
  for (const key of ['autoRefresh', 'fetchUserInfo', 'silentLogin'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean') fail(`"${key}" must be a boolean.`);
  }
  if (!openid && o.silentLogin === true) {
    fail(
      '"silentLogin" needs OpenID Connect ("prompt=none", "openid" in "scope"): a plain OAuth 2.0 provider has no silent login.',
    );
  }
  if (o.profile !== undefined) {
    if (typeof o.profile !== 'function')
      fail('"profile" must be a function (userinfo, tokens, api) => ({ sub, ...claims }).');
    if (openid) {
      fail(
        '"profile" maps the userinfo of a plain OAuth 2.0 login (no "openid" in "scope"); an OpenID Connect login takes its ' +
          'claims from the ID token: change them in "afterCallback".',
      );
    }
  }
  const profileApiOrigins = resolveProfileApiOrigins(o.profileApiOrigins, openid, allowInsecureHttp);
  if (o.pushedAuthorizationRequests !== undefined && typeof o.pushedAuthorizationRequests !== 'boolean') {
    fail('"pushedAuthorizationRequests" must be a boolean.');
  }
  const duration = (name: 'absoluteDuration' | 'idleDuration'): number | false => {
    const v = o[name];
    if (v === undefined) return DEFAULTS[name];
    if (v === false) return false;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      fail(`"${name}" must be a number of seconds greater than 0, or false.`);
    return v;
  };

  const authorizationParams: Record<string, string> = {};
  const rawParams = o.authorizationParams ?? {};
  if (typeof rawParams !== 'object' || rawParams === null || Array.isArray(rawParams)) {
    fail('"authorizationParams" must be an object of parameter names to string values.');
  }
  for (const [key, value] of Object.entries(rawParams)) {
    if (RESERVED_PARAMS.has(key)) {
      fail(
        key === 'scope'
          ? 'set the scope with the "scope" option, not "authorizationParams.scope".'
          : `"authorizationParams.${key}" is set by the middleware itself and cannot be overridden.`,
      );
    }
    if (typeof value === 'number' && Number.isFinite(value)) authorizationParams[key] = String(value);
    else if (typeof value === 'string') authorizationParams[key] = value;
    else fail(`"authorizationParams.${key}" must be a string or a number.`);
  }
  let maxAge: number | undefined;
  if (authorizationParams.max_age !== undefined) {
    maxAge = Number(authorizationParams.max_age);
    if (!Number.isInteger(maxAge) || maxAge < 0)
      fail('"authorizationParams.max_age" must be a whole number of seconds.');
    if (!openid) {
      fail(
        '"authorizationParams.max_age" needs an ID token ("auth_time"): a plain OAuth 2.0 provider (no "openid" in "scope") cannot confirm when the user logged in.',
      );
    }
  }

  const dpop = resolveDPoP(o.dpop);

  const idTokenSigningAlg = o.idTokenSigningAlg ?? DEFAULTS.idTokenSigningAlg;
  if (typeof idTokenSigningAlg !== 'string' || !ASYMMETRIC_ALGS.has(idTokenSigningAlg)) {
    fail(
      `"idTokenSigningAlg" must be one of ${[...ASYMMETRIC_ALGS].join(', ')}; got ${JSON.stringify(idTokenSigningAlg)}. ` +
        'Symmetric (HS*) and unsigned (none) ID tokens are not accepted.',
    );
  }

  const additionalAudiences = o.additionalAudiences ?? [];
  if (!Array.isArray(additionalAudiences) || !additionalAudiences.every((a) => typeof a === 'string' && a !== '')) {
    fail('"additionalAudiences" must be an array of non-empty strings.');
  }

  const defaultReturnTo = o.defaultReturnTo ?? DEFAULTS.defaultReturnTo;
  if (typeof defaultReturnTo !== 'string' || !defaultReturnTo.startsWith('/') || /^\/[/\\]/.test(defaultReturnTo)) {
    fail('"defaultReturnTo" must be a path on this app, starting with a single "/".');
  }

  const maxPendingLogins = positiveNumber('maxPendingLogins', o.maxPendingLogins, DEFAULTS.maxPendingLogins, 50);
  if (!Number.isInteger(maxPendingLogins)) fail('"maxPendingLogins" must be a whole number.');

  const responseMode = o.responseMode ?? DEFAULTS.responseMode;
  if (responseMode !== 'query' && responseMode !== 'form_post')
    fail(`"responseMode" must be 'query' or 'form_post'; got ${JSON.stringify(o.responseMode)}.`);
  const sealer = resolveSealer(o.secret, { clientAuthMethod, clientId, clientSecret, clientKey, clientCertificate });
  if (o.pendingLogins !== undefined && o.pendingLogins !== 'cookie' && o.pendingLogins !== 'session') {
    fail(`"pendingLogins" must be 'cookie' or 'session'; got ${JSON.stringify(o.pendingLogins)}.`);
  }
  const pendingLogins = (o.pendingLogins as 'cookie' | 'session' | undefined) ?? (sealer ? 'cookie' : 'session');
  if (pendingLogins === 'cookie' && !sealer) {
    fail(
      `"pendingLogins: 'cookie'" needs a key to seal the cookies: set "secret" to a random string of at least ${MIN_SECRET_LENGTH} characters ` +
        "(the same on every instance), or use pendingLogins: 'session'.",
    );
  }

  return Object.freeze({
    issuer,
    discovery,
    server,
    openid,
    profile: (o.profile as ProfileMapper | undefined) ?? identityProfile,
    profileApiOrigins,
    clientId,
    clientSecret,
    configuration,
    baseUrl,
    redirectUri:
      callbackPath === false
        ? `${baseUrl.origin}${prefix}${DEFAULTS.callbackPath}`
        : `${baseUrl.origin}${prefix}${callbackPath}`,
    scope,
    loginPath,
    callbackPath,
    logoutPath,
    backchannelLogoutPath,
    logout: Object.freeze({
      idpLogout: lo.idpLogout !== false,
      postLogoutRedirectUri,
      allowGet: lo.allowGet !== false,
      revokeTokens: lo.revokeTokens !== false,
      idpLogoutUrl: lo.idpLogoutUrl as IdpLogoutUrl | undefined,
    }),
    refreshLeeway: (() => {
      const v = o.refreshLeeway ?? DEFAULTS.refreshLeeway;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 3600)
        fail('"refreshLeeway" must be a number of seconds from 0 to 3600.');
      return v;
    })(),
    autoRefresh: o.autoRefresh === true,
    fetchUserInfo: o.fetchUserInfo === true,
    absoluteDuration: duration('absoluteDuration'),
    idleDuration: duration('idleDuration'),
    silentLogin: o.silentLogin === true,
    afterCallback: o.afterCallback as AfterCallback | undefined,
    session: o.session as SessionMiddleware | undefined,
    on: Object.freeze({ ...(rawOn as OidcEventHandlers) }),
    logger: (() => {
      if (o.logger === false) return undefined;
      if (o.logger === undefined) return console;
      const l = o.logger as Partial<OidcLogger>;
      if (typeof l !== 'object' || l === null || typeof l.warn !== 'function' || typeof l.error !== 'function') {
        fail('"logger" must have warn(message) and error(message) methods (console, pino, winston...), or be false.');
      }
      return l as OidcLogger;
    })(),
    loginUrlPath: `${prefix}${loginPath === false ? DEFAULTS.loginPath : loginPath}`,
    authorizationParams: Object.freeze(authorizationParams),
    maxAge,
    clientAuthMethod,
    clientKey,
    clientCertificate,
    jwksPath,
    pushedAuthorizationRequests: o.pushedAuthorizationRequests === true,
    dpop,
    idTokenSigningAlg,
    additionalAudiences: Object.freeze([...(additionalAudiences as string[])]),
    allowedTenants: server ? undefined : resolveAllowedTenants(o.allowedTenants, issuer, configuration),
    httpTimeout: positiveNumber('httpTimeout', o.httpTimeout, DEFAULTS.httpTimeout, 120_000),
    clockTolerance: (() => {
      const v = o.clockTolerance ?? DEFAULTS.clockTolerance;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 300)
        fail('"clockTolerance" must be a number of seconds from 0 to 300.');
      return v;
    })(),
    transactionMaxAge: positiveNumber(
      'transactionMaxAge',
      o.transactionMaxAge,
      DEFAULTS.transactionMaxAge,
      60 * 60 * 1000,
    ),
    maxPendingLogins,
    defaultReturnTo,
    allowInsecureHttp,
    pendingLogins,
    pendingLoginsExplicit: o.pendingLogins !== undefined,
    sealer: pendingLogins === 'cookie' ? sealer : undefined,
    responseMode,
    backchannelLogoutExplicit: r.backchannelLogout !== undefined && r.backchannelLogout !== false,
  });
}

/**
 * The key ring of the pending-login cookies: from `secret` (the first seals, all open), else
 * derived from the client's own credential with a label of its own, so that every instance of the
 * app derives the same key without configuration. A client secret shorter than
 * {@link MIN_SECRET_LENGTH} is not used: a sealed cookie would let anyone test guesses of it offline.
 * Undefined when there is nothing to derive from (a ready-made `configuration`).
 */
function resolveSealer(
  secret: unknown,
  client: {
    clientAuthMethod: ClientAuthMethod;
    clientId: string | undefined;
    clientSecret: string | undefined;
    clientKey: ClientSigningKey | undefined;
    clientCertificate: ClientTlsIdentity | undefined;
  },
): Sealer | undefined {
  if (secret !== undefined) {
    const secrets = typeof secret === 'string' ? [secret] : secret;
    if (
      !Array.isArray(secrets) ||
      secrets.length === 0 ||
      !secrets.every((s) => typeof s === 'string' && s.length >= MIN_SECRET_LENGTH)
    ) {
      fail(
        `"secret" must be a string of at least ${MIN_SECRET_LENGTH} random characters, or an array of them (the first seals, all open), ` +
          'e.g. the output of: openssl rand -base64 32.',
      );
    }
    return new Sealer((secrets as string[]).map((s) => deriveSealKey(s, 'express-oidc-login pending logins: secret')));
  }
  const label = `express-oidc-login pending logins: ${client.clientAuthMethod} of ${client.clientId ?? ''}`;
  const key =
    client.clientAuthMethod === 'private_key_jwt'
      ? client.clientKey?.sealKey(label)
      : client.clientAuthMethod === 'tls_client_auth'
        ? client.clientCertificate?.sealKey(label)
        : client.clientSecret !== undefined && client.clientSecret.length >= MIN_SECRET_LENGTH
          ? deriveSealKey(client.clientSecret, label)
          : undefined;
  return key ? new Sealer([key]) : undefined;
}
