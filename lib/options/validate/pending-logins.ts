import type { RandomPool } from '../../util/random-pool.js';
import { deriveSealKey, Sealer } from '../../util/seal.js';
import type { ClientSigningKey } from '../client-keys.js';
import type { ClientTlsIdentity } from '../client-certificate.js';
import { MIN_SECRET_LENGTH } from '../defaults.js';
import { fail } from '../fail.js';
import type { ResolvedConfig } from '../resolved-config.js';
import type { ClientAuthMethod } from '../credential-types.js';

/**
 * `pendingLogins` and `secret`: where started logins wait, and the key of their cookies. Cookies
 * when a key can be had, else the session. The cookies' IVs come from `random`.
 */
export function resolvePendingLogins(
  o: Record<string, unknown>,
  client: Parameters<typeof resolveSealer>[1],
  random: RandomPool,
): Pick<ResolvedConfig, 'pendingLogins' | 'pendingLoginsExplicit' | 'sealer'> {
  const sealer = resolveSealer(o.secret, client, random);
  if (o.pendingLogins !== undefined && o.pendingLogins !== 'cookie' && o.pendingLogins !== 'session') {
    fail(`"pendingLogins" must be 'cookie' or 'session'; got ${JSON.stringify(o.pendingLogins)}.`);
  }
  const pendingLogins = (o.pendingLogins as 'cookie' | 'session' | undefined) ?? (sealer ? 'cookie' : 'session');
  if (pendingLogins === 'cookie' && !sealer) {
    fail(
      `"pendingLogins: 'cookie'" needs a key to seal the cookies: set "secret" to a random ` +
        `string of at least ${MIN_SECRET_LENGTH} characters ` +
        "(the same on every instance), or use pendingLogins: 'session'.",
    );
  }
  return {
    pendingLogins,
    pendingLoginsExplicit: o.pendingLogins !== undefined,
    sealer: pendingLogins === 'cookie' ? sealer : undefined,
  };
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
  random: RandomPool,
): Sealer | undefined {
  if (secret !== undefined) {
    const secrets = typeof secret === 'string' ? [secret] : secret;
    if (
      !Array.isArray(secrets) ||
      secrets.length === 0 ||
      !secrets.every((s) => typeof s === 'string' && s.length >= MIN_SECRET_LENGTH)
    ) {
      fail(
        `"secret" must be a string of at least ${MIN_SECRET_LENGTH} random characters, or an array ` +
          `of them (the first seals, all open), ` +
          'e.g. the output of: openssl rand -base64 32.',
      );
    }
    return new Sealer(
      (secrets as string[]).map((s) => deriveSealKey(s, 'express-oidc-login pending logins: secret')),
      random,
    );
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
  return key ? new Sealer([key], random) : undefined;
}
