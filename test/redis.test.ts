import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { createApp, testOptions } from './support/app.js';
import { authorizeAt, pathOf } from './support/flow.js';
import { startProvider, type TestProvider } from './support/provider.js';
import { redisAvailable, startRedis, type TestRedis } from './support/redis.js';

const describeRedis = redisAvailable ? describe : describe.skip;

describeRedis('two app instances sharing one Redis session store, no sticky sessions', () => {
  let op: TestProvider;
  let redis: TestRedis;
  beforeAll(async () => {
    [op, redis] = await Promise.all([startProvider(), startRedis()]);
  });
  afterAll(async () => {
    await Promise.all([op?.close(), redis?.close()]);
  });

  async function twoInstances() {
    const a = createApp(testOptions(op), express, await redis.store());
    const b = createApp(testOptions(op), express, await redis.store());
    return { a: a.app, b: b.app };
  }

  /** One browser whose requests go to either instance: the cookie jar is shared by hand. */
  function balancedBrowser(apps: express.Express[]) {
    let cookie = '';
    let next = 0;
    const send = async (path: string, to?: number) => {
      const app = apps[to ?? next++ % apps.length]!;
      const res = await request(app).get(path).set('Cookie', cookie).set('Accept', 'application/json');
      const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('sid='));
      if (set) cookie = set.split(';')[0]!;
      return res;
    };
    return { send, op: request.agent(op.issuer) };
  }

  it('starts the login on instance A and finishes it on instance B', async () => {
    const { a, b } = await twoInstances();
    const browser = balancedBrowser([a, b]);
    const login = await browser.send('/login?returnTo=/protected', 0);
    expect(login.status).toBe(302);
    const callback = await authorizeAt({ app: request.agent(a), op: browser.op }, new URL(login.headers.location!));
    const done = await browser.send(pathOf(callback.href), 1);
    expect(done.status).toBe(302);
    expect(done.headers.location).toBe('/protected');
    // Requests alternate between the instances; each sees the same login.
    for (let i = 0; i < 6; i++) {
      const res = await browser.send('/protected');
      expect(res.status).toBe(200);
      expect(res.body.sub).toBe('alice');
    }
  });
});
