import { afterAll, afterEach, beforeAll, beforeEach, expect } from '@jest/globals';
import { startHostileProvider, type HostileProvider, type HostileProviderOptions } from './hostile-provider.js';

/**
 * One hostile provider for the enclosing test file or `describe`: started before its tests,
 * reset before each, closed after all. After each test its `errors` must be empty: a hook that
 * threw makes the provider answer 500, and a test would pass for the wrong reason.
 * Returns the provider (usable once the tests run, not while they are being declared).
 */
export function useHostileProvider(options?: HostileProviderOptions): HostileProvider {
  let current: HostileProvider | undefined;
  beforeAll(async () => {
    current = await startHostileProvider(options);
  });
  afterAll(async () => {
    await current?.close();
  });
  beforeEach(() => {
    started().reset();
  });
  afterEach(() => {
    expect(started().errors).toEqual([]);
  });
  const started = (): HostileProvider => {
    if (!current) throw new Error('useHostileProvider(): the provider starts in beforeAll; use it inside tests.');
    return current;
  };
  // The provider is a plain object (no private fields), so a forwarding proxy is safe.
  return new Proxy({} as HostileProvider, {
    get: (_target, key) => Reflect.get(started(), key),
    set: (_target, key, value) => Reflect.set(started(), key, value),
  });
}
