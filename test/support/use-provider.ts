import { afterAll, beforeAll } from '@jest/globals';
import { startProvider, type ProviderOptions, type TestProvider } from './provider.js';

/**
 * One real OpenID Provider (oidc-provider) for the enclosing test file or `describe`: started
 * before its tests, closed after all. Returns the provider (usable once the tests run, not while
 * they are being declared), as useHostileProvider() does for the hostile one.
 */
export function useProvider(options?: ProviderOptions): TestProvider {
  let current: TestProvider | undefined;
  beforeAll(async () => {
    current = await startProvider(options);
  });
  afterAll(async () => {
    await current?.close();
  });
  const started = (): TestProvider => {
    if (!current) throw new Error('useProvider(): the provider starts in beforeAll; use it inside tests.');
    return current;
  };
  // The provider's methods are closures (no `this`), so a forwarding proxy is safe.
  return new Proxy({} as TestProvider, {
    get: (_target, key) => Reflect.get(started(), key),
  });
}
