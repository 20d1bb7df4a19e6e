import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';

interface Entry {
  payload: AdapterPayload;
  /** Milliseconds since the epoch; Infinity when the model gave no lifetime. */
  expiresAt: number;
}

const SWEEP_EVERY_MS = 60_000;

/** The models whose entries revokeByGrantId removes. */
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

/**
 * oidc-provider's storage for the demo identity provider: everything in this process's memory,
 * gone at restart (fine for a demo; a real provider needs a database). One store per provider
 * instance, so that several can run side by side in tests. Expired entries are dropped on read
 * and swept at most once a minute on write, without a timer.
 */
export function createMemoryAdapter(): AdapterFactory {
  const entries = new Map<string, Entry>();
  /** grantId -> keys of the tokens issued under it (for revokeByGrantId). */
  const grants = new Map<string, Set<string>>();
  /** "uid:<session uid>" / "userCode:<code>" -> key. */
  const indexes = new Map<string, string>();
  let lastSweep = Date.now();

  const live = (key: string, now = Date.now()): Entry | undefined => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= now) {
      remove(key);
      return undefined;
    }
    return entry;
  };

  const remove = (key: string): void => {
    const entry = entries.get(key);
    if (!entry) return;
    entries.delete(key);
    const { grantId, uid, userCode } = entry.payload;
    if (grantId) grants.get(grantId)?.delete(key);
    if (uid && indexes.get(`uid:${uid}`) === key) indexes.delete(`uid:${uid}`);
    if (userCode && indexes.get(`userCode:${userCode}`) === key) indexes.delete(`userCode:${userCode}`);
  };

  const sweep = (now: number): void => {
    if (now - lastSweep < SWEEP_EVERY_MS) return;
    lastSweep = now;
    for (const key of [...entries.keys()]) live(key, now);
    for (const [grantId, keys] of grants) if (keys.size === 0) grants.delete(grantId);
  };

  return (model: string): Adapter => {
    const keyOf = (id: string) => `${model}:${id}`;
    const byIndex = (index: string): AdapterPayload | undefined => {
      const key = indexes.get(index);
      return key === undefined ? undefined : live(key)?.payload;
    };
    return {
      async upsert(id, payload, expiresIn) {
        const now = Date.now();
        sweep(now);
        const key = keyOf(id);
        remove(key);
        const expiresAt = typeof expiresIn === 'number' && expiresIn > 0 ? now + expiresIn * 1000 : Infinity;
        entries.set(key, { payload, expiresAt });
        if (GRANTABLE.has(model) && payload.grantId) {
          let keys = grants.get(payload.grantId);
          if (!keys) grants.set(payload.grantId, (keys = new Set()));
          keys.add(key);
        }
        if (model === 'Session' && payload.uid) indexes.set(`uid:${payload.uid}`, key);
        if (payload.userCode) indexes.set(`userCode:${payload.userCode}`, key);
      },
      async find(id) {
        return live(keyOf(id))?.payload;
      },
      async findByUid(uid) {
        return byIndex(`uid:${uid}`);
      },
      async findByUserCode(userCode) {
        return byIndex(`userCode:${userCode}`);
      },
      async consume(id) {
        const entry = live(keyOf(id));
        if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id) {
        remove(keyOf(id));
      },
      async revokeByGrantId(grantId) {
        for (const key of grants.get(grantId) ?? []) remove(key);
        grants.delete(grantId);
      },
    };
  };
}
