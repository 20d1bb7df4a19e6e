import { DEFAULTS, MAX_RESOURCE_LENGTH } from '../defaults.js';
import { fail } from '../fail.js';
import type { ResolvedConfig } from '../resolved-config.js';

/**
 * Access tokens for several APIs: `resources` (the APIs, asked for at login) and
 * `resourceParameter` (how a token request names one).
 */
export function resolveResources(o: Record<string, unknown>): Pick<ResolvedConfig, 'resources' | 'resourceParameter'> {
  const resourceParameter = o.resourceParameter ?? DEFAULTS.resourceParameter;
  if (resourceParameter !== 'resource' && resourceParameter !== 'audience') {
    fail(
      `"resourceParameter" must be 'resource' (RFC 8707) or 'audience' (Auth0); got ${JSON.stringify(resourceParameter)}.`,
    );
  }
  if (o.resources === undefined) return { resources: undefined, resourceParameter };
  if (!Array.isArray(o.resources) || o.resources.length === 0)
    fail('"resources" must be a non-empty array of the APIs\' resource indicators (or audiences).');
  for (const r of o.resources) {
    const problem = resourceProblem(r, resourceParameter);
    if (problem) fail(`"resources": ${problem}`);
  }
  return { resources: Object.freeze([...new Set(o.resources as string[])]), resourceParameter };
}

/**
 * What is wrong with a resource an app names (undefined: nothing). RFC 8707 §2: an absolute URI
 * without a fragment; an Auth0 audience: any identifier.
 */
export function resourceProblem(value: unknown, parameter: 'resource' | 'audience'): string | undefined {
  if (typeof value !== 'string' || value === '' || value.length > MAX_RESOURCE_LENGTH)
    return `a resource must be a non-empty string of at most ${MAX_RESOURCE_LENGTH} characters.`;
  if (parameter === 'audience') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${JSON.stringify(value)} is not an absolute URI (RFC 8707 §2), such as https://api.example.com.`;
  }
  if (url.hash !== '' || value.includes('#')) return `${JSON.stringify(value)} must not have a fragment (RFC 8707 §2).`;
  return undefined;
}
