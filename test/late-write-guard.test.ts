import { describe, expect, it } from '@jest/globals';
import { MemoryStore, type SessionData, type Store } from 'express-session';
import type { StoredLogin } from '../lib/index.js';
import { guardStore } from '../lib/session/late-write-guard.js';
import { storeGet } from './support/store.js';
import { loginIn } from './support/stored-login.js';

/**
 * The store's `set` as the late-write guard wraps it (lib/session/late-write-guard.ts), on its own:
 * the orders of writes that requests in flight produce, without the requests.
 */

const LOGIN: StoredLogin = {
  claims: { iss: 'https://op.example', sub: 'alice' } as StoredLogin['claims'],
  accessToken: 'access-0',
  refreshToken: 'refresh-0',
  tokenType: 'Bearer',
  loggedInAt: 1_000,
  activeAt: 1_000,
};

function withLogin(login: StoredLogin): SessionData {
  return {
    cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000), httpOnly: true, path: '/' },
    oidc: { login },
  } as unknown as SessionData;
}

function set(store: Store, sid: string, data: SessionData): Promise<void> {
  return new Promise((resolve, reject) => store.set(sid, data, (err) => (err ? reject(err) : resolve())));
}

describe('the late-write guard', () => {
  it('two writes of one session sent at once: the older copy does not overwrite the later refresh', async () => {
    const store = new MemoryStore();
    await set(store, 'sid-1', withLogin(LOGIN));
    guardStore(store);
    // A refresh's save and, right behind it, the save of a request that loaded the session before
    // the refresh (it noted activity). Both go out before either has landed.
    const refreshed = withLogin({ ...LOGIN, accessToken: 'access-1', refreshToken: 'refresh-1', refreshes: 1 });
    const stale = withLogin({ ...LOGIN, activeAt: 2_000 });
    await Promise.all([set(store, 'sid-1', refreshed), set(store, 'sid-1', stale)]);
    expect(loginIn(await storeGet(store, 'sid-1'))).toMatchObject({
      accessToken: 'access-1',
      refreshToken: 'refresh-1',
      refreshes: 1,
      activeAt: 2_000,
    });
  });

  it('keeps the copy being written when it is the later one, or another login', async () => {
    const store = new MemoryStore();
    await set(store, 'sid-2', withLogin({ ...LOGIN, refreshes: 1 }));
    guardStore(store);
    await set(store, 'sid-2', withLogin({ ...LOGIN, refreshToken: 'refresh-2', refreshes: 2 }));
    expect(loginIn(await storeGet(store, 'sid-2'))).toMatchObject({ refreshToken: 'refresh-2', refreshes: 2 });
    // The same user logged in again (another login time): not a copy of the stored login.
    await set(store, 'sid-2', withLogin({ ...LOGIN, loggedInAt: 5_000, refreshToken: 'refresh-new' }));
    expect(loginIn(await storeGet(store, 'sid-2'))).toMatchObject({ refreshToken: 'refresh-new', loggedInAt: 5_000 });
  });

  it('writes through a store whose reads throw, and goes on with that session afterwards', async () => {
    const store = new MemoryStore();
    guardStore(store);
    const get = store.get.bind(store);
    let throws = true;
    store.get = ((sid: string, cb: (err: unknown, data?: unknown) => void) => {
      if (throws) throw new Error('store down');
      return get(sid, cb);
    }) as Store['get'];
    // The guard's reads throw: the write still goes to the store (its own answer is what counts).
    await set(store, 'sid-3', withLogin(LOGIN));
    throws = false;
    expect(loginIn(await storeGet(store, 'sid-3'))).toMatchObject({ refreshToken: 'refresh-0' });
    // The session's next write is not held up behind the first.
    await set(store, 'sid-3', withLogin({ ...LOGIN, refreshToken: 'refresh-1', refreshes: 1 }));
    expect(loginIn(await storeGet(store, 'sid-3'))).toMatchObject({ refreshToken: 'refresh-1' });
  });

  it('answers each write once and counts each read once, however often the store calls back', async () => {
    const store = new MemoryStore();
    await set(store, 'sid-4', withLogin({ ...LOGIN, refreshToken: 'refresh-1', refreshes: 1 }));
    const get = store.get.bind(store);
    const setOnce = store.set.bind(store);
    // A store that calls every callback twice.
    store.get = ((sid: string, cb: (err: unknown, data?: unknown) => void) =>
      get(sid, (err, data) => {
        cb(err, data);
        cb(err, data);
      })) as Store['get'];
    store.set = ((sid: string, data: SessionData, cb?: (err?: unknown) => void) =>
      setOnce(sid, data, (err) => {
        cb?.(err);
        cb?.(err);
      })) as Store['set'];
    guardStore(store);
    let calls = 0;
    // An older copy: written only after both reads (the tombstone's answered twice must not count
    // for the session's), so the stored later refresh is kept.
    await new Promise<void>((resolve) =>
      store.set('sid-4', withLogin(LOGIN), () => {
        calls++;
        resolve();
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toBe(1);
    store.get = get;
    expect(loginIn(await storeGet(store, 'sid-4'))).toMatchObject({ refreshToken: 'refresh-1', refreshes: 1 });
  });

  it("does not hold up a session's writes behind one the store never answers", async () => {
    const store = new MemoryStore();
    const originalSet = store.set.bind(store);
    let dropped = false;
    // The store loses the first write's callback (a connection gone quiet).
    store.set = ((sid: string, data: SessionData, cb?: (err?: unknown) => void) => {
      if (!dropped) {
        dropped = true;
        originalSet(sid, data, () => {});
        return;
      }
      originalSet(sid, data, cb);
    }) as Store['set'];
    guardStore(store);
    void set(store, 'sid-5', withLogin(LOGIN));
    // The second write of the session gets through (after the bounded wait).
    await set(store, 'sid-5', withLogin({ ...LOGIN, refreshToken: 'refresh-1', refreshes: 1 }));
    expect(loginIn(await storeGet(store, 'sid-5'))).toMatchObject({ refreshToken: 'refresh-1' });
  });
});
