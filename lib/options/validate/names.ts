import { fail } from '../fail.js';
import { ALIASES, KNOWN_OPTIONS } from '../keys.js';

/**
 * The options as a plain object of known names: not a request (`app.use(oidcLogin)`), no unknown
 * or misspelt option, no `providers` here (resolveProviders(), flow/provider-set.ts, resolves
 * each provider with the top-level options).
 */
export function checkOptionNames(options: unknown): Record<string, unknown> {
  if (options === undefined || options === null || typeof options !== 'object' || Array.isArray(options)) {
    fail('oidcLogin() needs an options object: oidcLogin({ issuer, clientId, clientSecret, baseUrl }).');
  }
  if ('socket' in options && 'headers' in options && 'method' in options) {
    fail('oidcLogin was given a request: write app.use(oidcLogin({ ... })), not app.use(oidcLogin).');
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(KNOWN_OPTIONS as readonly string[]).includes(key)) fail(`unknown option "${key}".${didYouMean(key)}`);
  }
  // Several providers are resolved one by one by resolveProviders() (lib/flow/provider-set.ts).
  if (o.providers !== undefined) fail('"providers" cannot be nested: give it once, at the top level of the options.');
  if (o.defaultProvider !== undefined) {
    fail('"defaultProvider" picks one of "providers", and there are none: remove it, or give "providers".');
  }
  return o;
}

function didYouMean(key: string): string {
  const lower = key.toLowerCase();
  const alias = ALIASES[lower];
  if (alias) return ` Did you mean "${alias}"?`;
  let best: string | undefined;
  let bestDistance = 3;
  for (const known of KNOWN_OPTIONS) {
    const d = editDistance(lower, known.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = known;
    }
  }
  return best ? ` Did you mean "${best}"?` : ` Known options: ${KNOWN_OPTIONS.join(', ')}.`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
