/**
 * Records that look like sessions, in the session store: how the store-only coordinator keeps the
 * back-channel index, and where tombstones and used logout tokens go without Redis
 * (docs/design.md#session-index).
 */
import type { SessionData, Store } from 'express-session';

/** Sessions listed in one sid or sub record at most (the newest are kept). */
export const MAX_SESSIONS_PER_RECORD = 100;

export function storeGet(store: Store, key: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    store.get(key, (err: unknown, value?: unknown) => (err ? reject(err) : resolve(value ?? undefined)));
  });
}

export function storeSet(store: Store, key: string, record: object): Promise<void> {
  return new Promise((resolve, reject) => {
    store.set(key, record as SessionData, (err?: unknown) => (err ? reject(err) : resolve()));
  });
}

export function storeDestroy(store: Store, key: string): Promise<void> {
  return new Promise((resolve, reject) => {
    store.destroy(key, (err?: unknown) => (err ? reject(err) : resolve()));
  });
}

/** What express-session's Cookie serializes to (plus `maxAge`, which memorystore reads). */
export function recordCookie(ttlMs: number, now = Date.now()) {
  const ms = Math.max(1000, Math.ceil(ttlMs));
  return { originalMaxAge: ms, maxAge: ms, expires: new Date(now + ms), path: '/', httpOnly: true };
}

interface IndexEntry {
  id: string;
  exp: number;
}

function entriesOf(record: unknown): IndexEntry[] {
  const sessions = (record as { oidcIndex?: { sessions?: unknown } } | undefined)?.oidcIndex?.sessions;
  if (!Array.isArray(sessions)) return [];
  return sessions.filter(
    (e): e is IndexEntry =>
      typeof e === 'object' && e !== null && typeof e.id === 'string' && e.id !== '' && typeof e.exp === 'number',
  );
}

/** Adds a session to an index record: a read and a write (no compare-and-set: see the limits). */
export async function addToRecord(store: Store, key: string, sessionId: string, expiresAt: number): Promise<void> {
  const now = Date.now();
  const entries = entriesOf(await storeGet(store, key)).filter((e) => e.exp > now && e.id !== sessionId);
  entries.push({ id: sessionId, exp: expiresAt });
  entries.sort((a, b) => b.exp - a.exp);
  const kept = entries.slice(0, MAX_SESSIONS_PER_RECORD);
  const recordExpiry = kept[0]!.exp;
  await storeSet(store, key, { cookie: recordCookie(recordExpiry - now, now), oidcIndex: { v: 1, sessions: kept } });
}

/** The session ids an index record lists. */
export async function recordMembers(store: Store, key: string): Promise<string[]> {
  return [...new Set(entriesOf(await storeGet(store, key)).map((e) => e.id))];
}
