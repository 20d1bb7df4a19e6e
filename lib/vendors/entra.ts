import * as client from 'openid-client';
import createDebug from 'debug';
import { OidcError } from '../util/errors.js';

const debug = createDebug('express-oidc-login:entra');

/**
 * Microsoft Entra ID's multi-tenant endpoints (`common`, `organizations`, `consumers`) discover a
 * document whose `issuer` is a template, `https://login.microsoftonline.com/{tenantid}/v2.0`, and
 * each ID token names its own tenant: `tid` is the tenant ID and `iss` the template with it. A
 * login is accepted only when `tid` is a tenant ID, `iss` is the template with that `tid`, and the
 * tenant is in `allowedTenants` (or that is `'any'`).
 * @see https://learn.microsoft.com/entra/identity-platform/howto-convert-app-to-be-multi-tenant
 */

/** The placeholder in the issuer of Entra's multi-tenant discovery documents. */
export const TENANT_PLACEHOLDER = '{tenantid}';

/** Any host: login.microsoftonline.com and the national clouds (login.microsoftonline.us, ...). */
const MULTI_TENANT_PATH = /^\/(?:common|organizations|consumers)\/v2\.0\/?$/i;
const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A tenant ID: a GUID, as in `tid`. */
export function isTenantId(value: unknown): value is string {
  return typeof value === 'string' && TENANT_ID.test(value);
}

/** `https://<host>/common/v2.0`, `/organizations/v2.0` or `/consumers/v2.0` (one trailing slash allowed). */
export function isEntraMultiTenantIssuer(issuer: URL): boolean {
  return MULTI_TENANT_PATH.test(issuer.pathname);
}

/** Where the multi-tenant endpoint's discovery document is (fetched as is: its issuer is checked here). */
export function discoveryUrl(issuer: URL): URL {
  return new URL(`${issuer.href.replace(/\/$/, '')}/.well-known/openid-configuration`);
}

function mismatch(message: string): OidcError {
  return new OidcError('ERR_OIDC_PROVIDER_MISMATCH', 502, message);
}

/**
 * The discovered issuer of a multi-tenant endpoint must be `<same origin>/{tenantid}/v2.0`, or one
 * fixed tenant's `<same origin>/<tenant id>/v2.0` (`consumers`: the personal accounts' tenant),
 * which `allowedTenants` must then allow.
 */
export function checkDiscoveredIssuer(configured: URL, announced: string, allowed: readonly string[] | 'any'): void {
  const template = issuerTemplate(announced);
  if (template !== `${configured.origin}/${TENANT_PLACEHOLDER}/v2.0`) {
    throw mismatch(
      `The identity provider's discovery document names the issuer ${JSON.stringify(announced)}, not ` +
        `"${configured.origin}/{tenantid}/v2.0" as a Microsoft Entra ID multi-tenant endpoint ` +
        `does. Check the "issuer" option.`,
    );
  }
  if (announced !== template && allowed !== 'any') {
    const tenant = announced.split('/')[3]!.toLowerCase();
    if (!allowed.includes(tenant)) {
      throw mismatch(
        `The identity provider's discovery document names the one tenant ${tenant} ` +
          `(${JSON.stringify(announced)}), which "allowedTenants" ` +
          'does not list: nobody could log in. Add it to "allowedTenants", or change "issuer".',
      );
    }
  }
}

/**
 * The template of a multi-tenant endpoint's discovered issuer: `…/{tenantid}/v2.0` as it is, and
 * a fixed tenant's `…/<tenant id>/v2.0` with the placeholder for its tenant.
 */
export function issuerTemplate(discovered: string): string {
  const m = /^(https?:\/\/[^/]+)\/([^/]+)\/v2\.0$/.exec(discovered);
  if (!m || !(m[2] === TENANT_PLACEHOLDER || isTenantId(m[2]))) return discovered;
  return `${m[1]}/${TENANT_PLACEHOLDER}/v2.0`;
}

function invalidIdToken(reason: string): OidcError {
  return new OidcError('ERR_OIDC_ID_TOKEN_INVALID', 400, `The ID token failed validation: ${reason}`);
}

/**
 * The issuer an ID token (or logout token) of a multi-tenant endpoint must name: the template
 * with the token's own `tid`. Throws when `tid` is not a tenant ID or `iss` is not that issuer.
 */
export function tenantIssuer(claims: { iss?: unknown; tid?: unknown }, template: string): string {
  if (!isTenantId(claims.tid))
    throw invalidIdToken('"tid" must be the tenant ID (a GUID) of a Microsoft Entra ID tenant.');
  const issuer = template.replace(TENANT_PLACEHOLDER, claims.tid);
  if (claims.iss !== issuer) throw invalidIdToken('"iss" does not name the tenant in "tid".');
  return issuer;
}

/** The tenant of a verified login must be allowed: 403 otherwise. */
export function checkTenantAllowed(tid: string, allowed: readonly string[] | 'any'): void {
  if (allowed === 'any' || allowed.includes(tid.toLowerCase())) return;
  debug('tenant %s is not in allowedTenants', tid);
  throw new OidcError(
    'ERR_OIDC_TENANT_NOT_ALLOWED',
    403,
    'Accounts of your organisation cannot log in to this application. Ask its administrator to ' +
      'allow your Microsoft Entra tenant.',
  );
}

/** A verified multi-tenant login: `tid` a tenant ID, `iss` its issuer, the tenant allowed. */
export function checkTenant(
  claims: { iss?: unknown; tid?: unknown },
  discoveredIssuer: string,
  allowed: readonly string[] | 'any',
): void {
  tenantIssuer(claims, issuerTemplate(discoveredIssuer));
  checkTenantAllowed(claims.tid as string, allowed);
}

/**
 * The `iss` a token of this provider must have: the discovered issuer, or for a `{tenantid}` one
 * the template with the token's own `tid`. With a multi-tenant issuer (`allowed` given) the token's
 * tenant is checked as by {@link checkTenant}, and its errors thrown.
 */
export function expectedIssuer(
  claims: { iss?: unknown; tid?: unknown },
  discoveredIssuer: string,
  allowed: readonly string[] | 'any' | undefined,
): string {
  if (allowed === undefined) return discoveredIssuer;
  checkTenant(claims, discoveredIssuer, allowed);
  return discoveredIssuer.includes(TENANT_PLACEHOLDER)
    ? discoveredIssuer.replace(TENANT_PLACEHOLDER, claims.tid as string)
    : discoveredIssuer;
}

/**
 * Whether `iss`, from a request that is not signed (front-channel logout), names this provider:
 * the discovered issuer, or with a multi-tenant endpoint (`allowed` given) an allowed tenant's.
 */
export function isProviderIssuer(
  iss: string,
  discoveredIssuer: string,
  allowed: readonly string[] | 'any' | undefined,
): boolean {
  if (iss === discoveredIssuer) return true;
  if (allowed === undefined) return false;
  const [before, after] = issuerTemplate(discoveredIssuer).split(TENANT_PLACEHOLDER);
  if (after === undefined || !iss.startsWith(before!) || !iss.endsWith(after)) return false;
  const tid = iss.slice(before!.length, iss.length - after.length);
  return isTenantId(tid) && (allowed === 'any' || allowed.includes(tid.toLowerCase()));
}

/**
 * The issuers this provider's logins can have, as far as they can be listed: the discovered one;
 * with a multi-tenant endpoint, each tenant of `allowed` (none for `'any'`).
 */
export function providerIssuers(discoveredIssuer: string, allowed: readonly string[] | 'any' | undefined): string[] {
  if (allowed === undefined) return [discoveredIssuer];
  if (allowed === 'any') return [];
  const template = issuerTemplate(discoveredIssuer);
  if (!template.includes(TENANT_PLACEHOLDER)) return [discoveredIssuer];
  return allowed.map((tid) => template.replace(TENANT_PLACEHOLDER, tid));
}

/** A token response kept by {@link templateCodeGrant}'s first pass. */
interface CapturedResponse {
  status: number;
  headers: Headers;
  body: ArrayBuffer;
}

/** Thrown by the capturing fetch: the token response is kept, not processed. */
class TokenResponseKept extends Error {}

/** The `iss` and `tid` of an ID token in a token response, unverified; undefined when there is none to read. */
function unverifiedTenant(body: ArrayBuffer): { iss?: unknown; tid?: unknown } | undefined {
  try {
    const json = JSON.parse(Buffer.from(body).toString('utf8')) as { id_token?: unknown };
    if (typeof json.id_token !== 'string') return undefined;
    const parts = json.id_token.split('.');
    if (parts.length !== 3) return undefined;
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    if (typeof payload !== 'object' || payload === null) return undefined;
    const { iss, tid } = payload as Record<string, unknown>;
    return { iss, tid };
  } catch {
    return undefined;
  }
}

/** What {@link templateCodeGrant} needs of the provider: Configurations like the discovered one, for another issuer. */
export type ConfigurationFor = (issuer: string, fetch: client.CustomFetch) => client.Configuration;

/**
 * The code exchange with a `{tenantid}` issuer. openid-client compares the ID token's `iss` with
 * the Configuration's issuer, which no token's can equal here, and the tenant is known only from
 * the token response. So the token request is made once and its response kept (first pass); then
 * openid-client processes that same response with a Configuration for the token's own tenant
 * (second pass): every check it makes, the `iss` one included, runs as usual.
 * `issParam`: the authorization response's `iss` (RFC 9207), already checked against the template.
 * `options`: the DPoP handle, for both passes (a `use_dpop_nonce` answer is replayed, not retried).
 */
export async function templateCodeGrant(
  configurationFor: ConfigurationFor,
  template: string,
  baseFetch: client.CustomFetch,
  currentUrl: URL,
  checks: Parameters<typeof client.authorizationCodeGrant>[2],
  issParam: string | undefined,
  options?: client.DPoPOptions,
): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers> {
  let captured: CapturedResponse | undefined;
  const capture: client.CustomFetch = async (url, init) => {
    const response = await baseFetch(url, init);
    captured = { status: response.status, headers: response.headers, body: await response.arrayBuffer() };
    throw new TokenResponseKept();
  };
  try {
    await client.authorizationCodeGrant(
      configurationFor(issParam ?? template, capture),
      currentUrl,
      checks,
      undefined,
      options,
    );
  } catch (err) {
    // Failed before the response came (a bad callback, the network): as without a template.
    if (!captured) throw err;
  }
  const kept = captured!;
  const claims = unverifiedTenant(kept.body);
  // No readable ID token (an error response such as invalid_grant, no id_token): there is no
  // tenant to compare, and openid-client says what is wrong, with the issuer of the first pass.
  const issuer = claims ? tenantIssuer(claims, template) : (issParam ?? template);
  if (claims && issParam !== undefined && issParam !== issuer) {
    throw invalidIdToken('its "iss" is not the "iss" of the authorization response (another tenant).');
  }
  debug('token response for tenant issuer %s', issuer);
  const nullBody = kept.status === 204 || kept.status === 205 || kept.status === 304;
  const replay: client.CustomFetch = () =>
    Promise.resolve(new Response(nullBody ? null : kept.body, { status: kept.status, headers: kept.headers }));
  return client.authorizationCodeGrant(configurationFor(issuer, replay), currentUrl, checks, undefined, options);
}

/**
 * An authorization response `iss` (RFC 9207) naming this provider: its issuer, or with a
 * `{tenantid}` issuer, the template with a tenant ID (the ID token must then name the same).
 */
export function issuerMatches(iss: string, template: string): boolean {
  if (!template.includes(TENANT_PLACEHOLDER)) return iss === template;
  const [prefix, suffix] = template.split(TENANT_PLACEHOLDER) as [string, string];
  return (
    iss.startsWith(prefix) && iss.endsWith(suffix) && isTenantId(iss.slice(prefix.length, iss.length - suffix.length))
  );
}
