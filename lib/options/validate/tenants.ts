import type { Configuration } from 'openid-client';
import { isEntraMultiTenantIssuer, isTenantId, TENANT_PLACEHOLDER } from '../../vendors/entra.js';
import { fail } from '../fail.js';

/**
 * `allowedTenants`: required with a Microsoft Entra multi-tenant issuer (any Entra organisation's
 * users could log in otherwise), refused with any other issuer.
 */
export function resolveAllowedTenants(
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
        'Set "allowedTenants" to the tenant IDs (GUIDs) whose users may log in, e.g. ' +
        "allowedTenants: ['<your tenant id>'], " +
        "or to 'any' to let every tenant in (and check claims.tid in afterCallback). " +
        `For your own tenant only, use its issuer ` +
        `${issuer ? issuer.origin : 'https://login.microsoftonline.com'}/<tenant id>/v2.0 instead.`,
    );
  }
  if (!multiTenant) {
    fail(
      '"allowedTenants" is for a Microsoft Entra ID multi-tenant issuer ' +
        '(https://login.microsoftonline.com/common/v2.0, ' +
        '/organizations/v2.0 or /consumers/v2.0). A single-tenant issuer (…/<tenant id>/v2.0) ' +
        'names its tenant itself: remove "allowedTenants".',
    );
  }
  if (value === 'any') return 'any';
  if (!Array.isArray(value) || value.length === 0 || !value.every((t) => typeof t === 'string')) {
    fail('"allowedTenants" must be a non-empty array of tenant IDs (GUIDs), or \'any\'.');
  }
  for (const tenant of value as string[]) {
    if (!isTenantId(tenant)) {
      fail(
        `"allowedTenants" must list tenant IDs (GUIDs, such as ` +
          `72f988bf-86f1-41af-91ab-2d7cd011db47), not ${JSON.stringify(tenant)}. ` +
          "An Entra tenant's ID is on its Overview page in the Entra admin center; a domain name " +
          '(contoso.onmicrosoft.com) is not accepted.',
      );
    }
  }
  return Object.freeze([...new Set((value as string[]).map((t) => t.toLowerCase()))]);
}
