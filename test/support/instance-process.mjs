/**
 * One app instance as a Node process of its own: what a second server behind a load balancer is.
 * test/redis-processes.test.ts starts two of these on one Redis (see instance-processes.ts). It
 * loads the package as an app would, from the built dist/ (`npm test` builds it first).
 *
 * The app: express-session on connect-redis, so Redis is also the coordinator, found by itself;
 * oidcLogin with the options the test passes as JSON in OIDC_OPTIONS; `/probe/oidc` and `/token`.
 * Over IPC it tells the test its port, and each session it ends by back-channel logout.
 */
import { createServer } from 'node:http';
import process from 'node:process';
import { RedisStore } from 'connect-redis';
import express from 'express';
import session from 'express-session';
import { createClient } from 'redis';
import { oidcLogin } from '../../dist/index.js';

// The test is gone (it ended, or crashed): so is this instance.
process.on('disconnect', () => process.exit(0));

const client = createClient({ url: process.env.REDIS_URL });
await client.connect();
const store = new RedisStore({ client, prefix: 'sess:' });

const app = express();
app.use(session({ store, secret: 'test-session-secret', name: 'sid', resave: false, saveUninitialized: false }));
app.use(
  oidcLogin({
    ...JSON.parse(process.env.OIDC_OPTIONS),
    on: { backchannelLogout: ({ sub }) => process.send({ type: 'backchannelLogout', sub }) },
  }),
);
app.get('/probe/oidc', (req, res) => {
  res.json({ isAuthenticated: req.oidc.isAuthenticated(), sessionId: req.sessionID });
});
app.get('/token', async (req, res) => {
  res.json({ accessToken: await req.oidc.getAccessToken() });
});
// Errors as JSON `{ status, code }`, so that the test asserts on data.
app.use((err, _req, res, _next) => {
  const status = typeof err.status === 'number' ? err.status : 500;
  res.status(status).json({ status, code: err.code });
});

const server = createServer(app);
// As in every test server (test/support/keep-alive.ts): only the client closes idle connections.
server.keepAliveTimeout = 0;
server.listen(0, '127.0.0.1', () => process.send({ type: 'listening', port: server.address().port }));

// Test hooks, inactive until the test sends their command over IPC (each answered `{ type: 'ok' }`):
// - `reportLockWaits`: a `{ type: 'lockWait' }` message whenever this instance finds a lock held by
//   another (its `SET ... NX` on a lock key answers nil), i.e. the moment it starts waiting;
// - `holdReads` `prefix`: session store reads of keys starting with `prefix` are answered (and
//   reported as `{ type: 'read' }`) only at `releaseReads`: the test releases them once both
//   instances have read, so that neither writes before the other has read;
// - `sync`: nothing; its `ok` arrives after every message this instance sent before it.
let held;
const hooks = {
  reportLockWaits() {
    const sendCommand = client.sendCommand.bind(client);
    client.sendCommand = async (args, ...rest) => {
      const reply = await sendCommand(args, ...rest);
      if (args[0] === 'SET' && args.includes('NX') && args[1].includes(':lock:') && reply === null)
        process.send({ type: 'lockWait', key: args[1] });
      return reply;
    };
  },
  holdReads({ prefix }) {
    let release;
    held = { prefix, release: () => release(), released: new Promise((r) => (release = r)) };
  },
  releaseReads() {
    held?.release();
    held = undefined;
  },
  sync() {},
};
const get = store.get.bind(store);
store.get = (key, cb) => {
  const hold = held;
  if (!hold || !key.startsWith(hold.prefix)) return get(key, cb);
  get(key, (err, value) => {
    process.send({ type: 'read', key });
    void hold.released.then(() => cb(err, value));
  });
};
process.on('message', (command) => {
  hooks[command.type](command);
  process.send({ type: 'ok' });
});
