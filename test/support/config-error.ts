import { expect } from '@jest/globals';
import { oidcLogin, OidcConfigError, type OidcLoginOptions } from '../../lib/index.js';

/**
 * Calls `oidcLogin(options)` (`options()` first when it is a function: a preset such as `github()`,
 * a logout adapter or `resolveConfig()` may throw while building them) and asserts that it throws
 * the start-up error: an {@link OidcConfigError} (a `TypeError`) with
 * `code: 'ERR_OIDC_INVALID_OPTION'` whose message matches `message` (a RegExp, or a string it
 * contains). Returns the error for further checks.
 */
export function expectConfigError(options: unknown, message?: RegExp | string): OidcConfigError {
  let thrown: unknown;
  try {
    oidcLogin((typeof options === 'function' ? (options as () => unknown)() : options) as OidcLoginOptions);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(OidcConfigError);
  expect(thrown).toBeInstanceOf(TypeError);
  expect((thrown as OidcConfigError).code).toBe('ERR_OIDC_INVALID_OPTION');
  if (typeof message === 'string') expect((thrown as Error).message).toContain(message);
  else if (message) expect((thrown as Error).message).toMatch(message);
  return thrown as OidcConfigError;
}
