import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { createApp, testOptions } from './support/app.js';
import { login, newBrowser } from './support/flow.js';
import { loginIn } from './support/stored-login.js';
import { storeAll } from './support/store.js';
import { useHostileProvider } from './support/use-hostile-provider.js';
import { useProvider } from './support/use-provider.js';

function listen(app: ReturnType<typeof createApp>['app']): Promise<{ server: Server; url: string }> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    });
  });
}

describe('load', () => {
  const op = useProvider();

  it('200 concurrent complete logins: no state errors, no lost sessions, everyone sees their own sub', async () => {
    // A generous timeout: the provider shares this process and its CPU with 200 logins at once.
    const { app, store } = createApp(testOptions(op, { httpTimeout: 20_000 }));
    const { server, url } = await listen(app);
    try {
      const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);
      const results = await Promise.all(
        users.map(async (sub) => {
          const browser = newBrowser(url, op.issuer);
          const res = await login(browser, { account: sub, query: `?returnTo=/protected` });
          const me = await browser.app.get('/protected');
          return {
            sub,
            status: res.status,
            location: res.headers.location,
            me: me.body.sub as string,
            code: res.body?.code,
          };
        }),
      );
      const failures = results.filter((r) => r.status !== 302 || r.location !== '/protected' || r.me !== r.sub);
      expect(failures).toEqual([]);
      const all = await storeAll(store);
      const subs = Object.values(all).flatMap((s) => (s.oidc?.login ? [loginIn(s)!.claims.sub] : []));
      expect(subs.sort()).toEqual([...users].sort());
    } finally {
      server.close();
    }
  }, 120_000);
});

describe('a slow provider', () => {
  const slow = useHostileProvider();

  it('does not hold up logged-in users while many logins wait on its token endpoint', async () => {
    // The token endpoint holds its answers until the test lets them go: what is asserted is order,
    // not speed, so httpTimeout is at its longest and never races the machine's load.
    const { app } = createApp(testOptions(slow, { httpTimeout: 120_000 }));
    const { server, url } = await listen(app);
    try {
      // A user logs in while the provider still answers...
      const user = request.agent(url);
      const start = await user.get('/login');
      const back = new URL((await fetch(start.headers.location!, { redirect: 'manual' })).headers.get('location')!);
      await user.get(back.pathname + back.search).expect(302);
      // ...then its token endpoint holds every answer, and 50 logins wait on it.
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let held = 0;
      slow.onToken = async (ctx) => {
        held++;
        await released;
        return ctx.valid();
      };
      let answered = 0;
      const stuck = Array.from({ length: 50 }, async () => {
        const agent = request.agent(url);
        const start = await agent.get('/login');
        const atProvider = await fetch(start.headers.location!, { redirect: 'manual' });
        const callback = new URL(atProvider.headers.get('location')!);
        return agent.get(callback.pathname + callback.search).then((res) => {
          answered++;
          return res;
        });
      });
      // Every one of the 50 is at the provider's token endpoint, waiting.
      while (held < 50) await new Promise((r) => setTimeout(r, 20));
      // Meanwhile the logged-in user and public pages are served as usual (a blocked event loop or
      // a shared lock would make these wait for the held logins).
      for (let i = 0; i < 20; i++) {
        await user.get('/protected').expect(200);
        await request(url).get('/').expect(200);
      }
      expect(answered).toBe(0);
      release();
      const answers = await Promise.all(stuck);
      for (const res of answers) expect(res.status).toBe(302);
    } finally {
      server.close();
    }
  }, 60_000);
});
