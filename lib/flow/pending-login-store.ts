import type { ResolvedConfig } from '../options/resolved-config.js';
import { CookiePendingLogins } from './cookie-pending-logins.js';
import type { PendingLogins } from './pending-logins.js';
import { SessionPendingLogins } from './session-pending-logins.js';

/** The store `config.pendingLogins` names. */
export function createPendingLogins(config: ResolvedConfig): PendingLogins {
  return config.pendingLogins === 'cookie' && config.sealer
    ? new CookiePendingLogins(config, config.sealer)
    : new SessionPendingLogins(config);
}
