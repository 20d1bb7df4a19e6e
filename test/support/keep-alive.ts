import { Server } from 'node:http';

// Every HTTP server in a test (the app, oidc-provider, the hostile providers) shares its event loop
// with the client calling it (fetch, supertest). A server closes an idle keep-alive connection when
// its idle timer fires (keepAliveTimeout, 5 s); the client stops reusing one when its own timer does.
// On a loaded machine the loop stalls for seconds, so both timers come due in the same turn: the
// client may already have written its next request on the socket when the server's timer destroys
// it, unread, and that request fails with ECONNRESET ("fetch failed"). A test server therefore
// never times idle connections out: only the client closes them, or server.close() does (Node 19+
// closes idle connections on close).
const patched = Symbol.for('express-oidc-login.test.keepAlive');
const proto = Server.prototype as Server & { [patched]?: true };
if (!proto[patched]) {
  const listen = proto.listen;
  proto.listen = function (this: Server, ...args: unknown[]) {
    this.keepAliveTimeout = 0;
    return listen.apply(this, args as Parameters<typeof listen>);
  } as typeof listen;
  proto[patched] = true;
}
