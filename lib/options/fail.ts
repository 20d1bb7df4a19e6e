import { OidcConfigError } from '../util/errors.js';

/** Refuses an option at start-up: every message of the options layer starts with the package's name. */
export function fail(message: string): never {
  throw new OidcConfigError(`express-oidc-login: ${message}`);
}
