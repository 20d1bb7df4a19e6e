import type { TestUser } from './types.js';

/** What `loginAs` needs from a provider it did not start itself; not public API. */
export interface ProviderInternals {
  readonly issuer: string;
  /** The identity (and access token lifetime) the authorization request with this `state` logs in. */
  expectLogin(state: string, user: TestUser, options: { expiresIn?: number }): void;
  /** Forgets an expected login that never reached the provider. */
  forgetLogin(state: string): void;
  /** True once the code issued for this `state` was redeemed at the token endpoint. */
  redeemed(state: string): boolean;
}

/**
 * The providers started in this realm and not yet closed, by origin. On `globalThis` (under a
 * registered symbol) so that two copies of this module (ESM and CommonJS, or a test runner's
 * module registry) still find each other's providers.
 */
const KEY = Symbol.for('express-oidc-login/testing/providers');

function registry(): Map<string, ProviderInternals> {
  const g = globalThis as { [KEY]?: Map<string, ProviderInternals> };
  return (g[KEY] ??= new Map());
}

export function register(internals: ProviderInternals): void {
  registry().set(new URL(internals.issuer).origin, internals);
}

export function unregister(issuer: string): void {
  registry().delete(new URL(issuer).origin);
}

/** The running test provider at this origin, if any. */
export function providerAt(origin: string): ProviderInternals | undefined {
  return registry().get(origin);
}

/** Origins of the running test providers, for error messages. */
export function runningProviders(): string[] {
  return [...registry().keys()];
}
