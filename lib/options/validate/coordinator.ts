import { STORE_TIMEOUT_MS } from '../defaults.js';
import { fail } from '../fail.js';
import { COORDINATOR_KEYS } from '../keys.js';
import type { ResolvedConfig } from '../resolved-config.js';
import type { RedisCommandClient } from '../dependency-types.js';
import { isObject } from '../values.js';

/** `coordinator`: the Redis client (or false), its key prefix and command timeout. */
export function resolveCoordinator(o: Record<string, unknown>): Pick<ResolvedConfig, 'coordinator'> {
  const value = o.coordinator ?? {};
  if (!isObject(value)) fail('"coordinator" must be an object, e.g. { redis: client }.');
  for (const key of Object.keys(value)) {
    if (!(COORDINATOR_KEYS as readonly string[]).includes(key))
      fail(`unknown option "coordinator.${key}". Known: ${COORDINATOR_KEYS.join(', ')}.`);
  }
  const { redis, prefix, timeout } = value as Record<string, unknown>;
  if (redis !== undefined && redis !== false && !isCommandClient(redis)) {
    fail(
      '"coordinator.redis" must be a connected Redis client with sendCommand(args), such as node-redis\'s ' +
        'createClient() (v4 or later), or false. For ioredis: { sendCommand: (args) => ioredis.call(...args) }.',
    );
  }
  if (prefix !== undefined && (typeof prefix !== 'string' || prefix.length > 100))
    fail('"coordinator.prefix" must be a string of at most 100 characters.');
  if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0))
    fail('"coordinator.timeout" must be a number of milliseconds greater than 0.');
  return {
    coordinator: Object.freeze({
      redis: redis as RedisCommandClient | false | undefined,
      prefix: prefix as string | undefined,
      timeout: (timeout as number | undefined) ?? STORE_TIMEOUT_MS,
    }),
  };
}

function isCommandClient(value: unknown): value is RedisCommandClient {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { sendCommand?: unknown }).sendCommand === 'function'
  );
}
