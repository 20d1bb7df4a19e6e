import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { Configuration as ProviderConfiguration } from 'oidc-provider';
import { Provider } from '../lib/flow/provider.js';
import type { OidcLoginOptions } from '../lib/index.js';
import { resolveConfig } from '../lib/options/config.js';
import { testOptions } from './support/app.js';
import { fakeClock } from './support/clock.js';
import { expectConfigError } from './support/config-error.js';
import { startProvider, type TestProvider } from './support/provider.js';

/**
 * Provider metadata that does not go stale (`discoveryMaxAge`): a real oidc-provider is restarted
 * on the same port with other features, so its discovery document changes (the revocation
 * endpoint goes away, then comes back); the clock is faked (Date only), so "an hour later" is a
 * call, not a wait. The refresh is started by a use and awaited through `revalidation`.
 */

const FEATURES = {
  devInteractions: { enabled: true },
  rpInitiatedLogout: { enabled: true },
  backchannelLogout: { enabled: true },
};

let op: TestProvider | undefined;

async function start(revocation: boolean, port?: number): Promise<TestProvider> {
  const configuration: Partial<ProviderConfiguration> = {
    features: { ...FEATURES, revocation: { enabled: revocation } },
  };
  return startProvider({ configuration, ...(port !== undefined && { port }) });
}

/** The provider changes its metadata: restarted on the same port (same issuer) with revocation on or off. */
async function restart(revocation: boolean): Promise<void> {
  const port = op!.port;
  await op!.close();
  op = await start(revocation, port);
}

function providerFor(options: Partial<OidcLoginOptions> = {}): Provider {
  return new Provider(resolveConfig(testOptions(op!, options)));
}

async function revocationEndpoint(provider: Provider): Promise<string | undefined> {
  return provider.metadata(await provider.getConfiguration()).revocation_endpoint;
}

afterEach(async () => {
  jest.useRealTimers();
  await op?.close();
  op = undefined;
});

describe('discoveryMaxAge', () => {
  it('fetches the metadata again after it, in the background: the use that notices gets the old one, the next the new', async () => {
    op = await start(true);
    const clock = fakeClock();
    const provider = providerFor({ discoveryMaxAge: 600 });
    expect(await revocationEndpoint(provider)).toBe(`${op.issuer}/token/revocation`);

    await restart(false);
    clock.advance(599);
    expect(await revocationEndpoint(provider)).toBeDefined();
    expect(provider.revalidation).toBeUndefined();

    clock.advance(1);
    // Stale: answered at once with what is at hand, while one request fetches the new metadata.
    const first = revocationEndpoint(provider);
    const pending = provider.revalidation;
    expect(pending).toBeDefined();
    const second = revocationEndpoint(provider);
    // One request in flight for both uses.
    expect(provider.revalidation).toBe(pending);
    expect(await Promise.all([first, second])).toEqual([
      `${op.issuer}/token/revocation`,
      `${op.issuer}/token/revocation`,
    ]);
    await pending;
    expect(await revocationEndpoint(provider)).toBeUndefined();
    expect(provider.revalidation).toBeUndefined();
  });

  it('keeps the last good metadata when the refresh fails, and tries again a minute later', async () => {
    op = await start(true);
    const clock = fakeClock();
    const warnings: string[] = [];
    const errors: string[] = [];
    const provider = providerFor({
      discoveryMaxAge: 600,
      logger: { warn: (m: string) => warnings.push(m), error: (m: string) => errors.push(m) },
    });
    expect(await revocationEndpoint(provider)).toBeDefined();

    await op.stop();
    clock.advance(600);
    expect(await revocationEndpoint(provider)).toBeDefined();
    await provider.revalidation;
    expect(await revocationEndpoint(provider)).toBeDefined();
    // Reported once, as what it is: a warning that the last good metadata stays in use.
    expect(warnings).toEqual([expect.stringContaining('the last good metadata stays in use')]);
    expect(errors).toEqual([]);

    // Back, and changed: not asked again before the retry time, then seen.
    await restart(false);
    clock.advance(59);
    await revocationEndpoint(provider);
    expect(provider.revalidation).toBeUndefined();
    clock.advance(1);
    await revocationEndpoint(provider);
    await provider.revalidation;
    expect(await revocationEndpoint(provider)).toBeUndefined();
  });

  it('with false, discovers once for the life of the process', async () => {
    op = await start(true);
    const clock = fakeClock();
    const provider = providerFor({ discoveryMaxAge: false });
    await revocationEndpoint(provider);
    clock.advance(365 * 24 * 3600);
    await revocationEndpoint(provider);
    expect(provider.revalidation).toBeUndefined();
  });

  it('is refused out of bounds, and with "server" (nothing is discovered)', () => {
    const base = { issuer: 'https://op.example', clientId: 'c', clientSecret: 's', baseUrl: 'https://app.example' };
    for (const discoveryMaxAge of [0, 59, 8 * 24 * 3600, '3600', true]) {
      expectConfigError({ ...base, discoveryMaxAge }, /"discoveryMaxAge" must be/);
    }
    const server = {
      issuer: 'https://op.example',
      authorizationEndpoint: 'https://op.example/a',
      tokenEndpoint: 'https://op.example/t',
      jwksUri: 'https://op.example/jwks',
    };
    expectConfigError(
      { ...base, issuer: undefined, server, scope: 'openid', discoveryMaxAge: 600 },
      /nothing is discovered/,
    );
  });
});
