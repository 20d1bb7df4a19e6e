import type { ResolvedConfig } from './resolved-config.js';
import { resolveAuthorizationRequest } from './validate/authorization.js';
import { resolveBehaviour } from './validate/behaviour.js';
import { resolveClientAuth } from './validate/client-auth.js';
import { resolveCoordinator } from './validate/coordinator.js';
import { resolveDPoP } from './validate/dpop.js';
import { resolveIdTokenChecks } from './validate/id-token.js';
import { resolveLogout } from './validate/logout.js';
import { checkOptionNames } from './validate/names.js';
import { resolvePendingLogins } from './validate/pending-logins.js';
import { resolveProfile } from './validate/profile.js';
import { resolveKeepSessionData } from './validate/session-data.js';
import { resolveResources } from './validate/resources.js';
import { resolveInsecureHttp, resolveProvider } from './validate/provider.js';
import { resolveAllowedTenants } from './validate/tenants.js';
import { resolveTimes } from './validate/times.js';
import { resolveUrls } from './validate/urls.js';
import { RandomPool } from '../util/random-pool.js';

/**
 * Validates the options once, at start-up, and returns them fully defaulted and frozen.
 * Throws an {@link OidcConfigError} naming the option and the fix. One group of options after
 * the other; a group may read what an earlier one resolved (is the login OpenID Connect? which
 * client key?), never the raw options of another.
 */
export function resolveConfig(options: unknown): ResolvedConfig {
  const o = checkOptionNames(options);
  const allowInsecureHttp = resolveInsecureHttp(o);
  const { needsSecret, ...client } = resolveClientAuth(o, o.configuration !== undefined);
  const provider = resolveProvider(o, allowInsecureHttp, needsSecret);
  const urls = resolveUrls(o, provider.openid, client.clientKey, allowInsecureHttp);
  const logout = resolveLogout(o, urls.baseUrl);
  const behaviour = resolveBehaviour(o, provider.openid);
  const sessionData = resolveKeepSessionData(o);
  const coordinator = resolveCoordinator(o);
  const profile = resolveProfile(o, provider.openid, allowInsecureHttp);
  const authorizationRequest = resolveAuthorizationRequest(o, provider.openid);
  const dpop = resolveDPoP(o.dpop);
  const resources = resolveResources(o);
  const idTokenChecks = resolveIdTokenChecks(o);
  const times = resolveTimes(o);
  // One pool of random bytes for this configuration's logins (util/random-pool.ts).
  const random = new RandomPool();
  const pendingLogins = resolvePendingLogins(o, { ...client, ...provider }, random);
  const allowedTenants = provider.server
    ? undefined
    : resolveAllowedTenants(o.allowedTenants, provider.issuer, provider.configuration);
  return Object.freeze({
    ...provider,
    ...client,
    ...urls,
    allowInsecureHttp,
    logout,
    ...behaviour,
    ...sessionData,
    ...coordinator,
    ...profile,
    ...authorizationRequest,
    ...resources,
    dpop,
    ...idTokenChecks,
    ...times,
    ...pendingLogins,
    random,
    allowedTenants,
  });
}
