/**
 * `npm start`: reads the environment, starts the demo identity provider unless OIDC_ISSUER_URL
 * names a real one, starts the app and prints how to log in.
 *
 *   PORT                 the app's port (default 3000)
 *   BASE_URL             the app's public URL (default http://localhost:PORT)
 *   SESSION_SECRET       signs the session cookie (default: random at each start, with a warning)
 *   OIDC_ISSUER_URL      your OpenID Provider; then also OIDC_CLIENT_ID and OIDC_CLIENT_SECRET
 *   IDP_PORT             the demo identity provider's port (default 3001), without OIDC_ISSUER_URL
 *   REDIS_URL            keep sessions in Redis (e.g. redis://127.0.0.1:6379): what several
 *                        instances behind a load balancer need
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Store } from 'express-session';
import { checkBaseUrl, checkHttpUrl, createApp } from './app.js';
import type { IdentityProvider } from './identity-provider.js';

/** A mistake in the environment: printed as one line, without a stack trace. */
class StartupError extends Error {}

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535)
    throw new StartupError(`${name} must be a port number from 0 to 65535; got ${JSON.stringify(raw)}.`);
  return port;
}

function listen(server: Server, port: number, envName: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new StartupError(`port ${port} is already in use: stop what runs there or set ${envName} to another port.`)
          : err,
      );
    });
    server.listen(port, () => resolve());
  });
}

/** createApp(), its complaints about the settings turned into start-up errors. */
function buildApp(settings: Parameters<typeof createApp>[0]): ReturnType<typeof createApp> {
  try {
    return createApp(settings);
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
}

async function main(): Promise<void> {
  const port = portFromEnv('PORT', 3000);
  const idpPort = portFromEnv('IDP_PORT', 3001);
  const baseUrl = (process.env.BASE_URL || `http://localhost:${port}`).replace(/\/+$/, '');
  const issuer = process.env.OIDC_ISSUER_URL;
  const clientId = process.env.OIDC_CLIENT_ID;
  const clientSecret = process.env.OIDC_CLIENT_SECRET;
  try {
    checkBaseUrl(baseUrl);
    if (issuer) checkHttpUrl('OIDC_ISSUER_URL', issuer);
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
  if (issuer && (!clientId || !clientSecret)) {
    throw new StartupError('OIDC_ISSUER_URL is set, so OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be set too.');
  }

  let sessionSecret = process.env.SESSION_SECRET;
  if (!sessionSecret) {
    console.warn('Warning: SESSION_SECRET is not set; using a random secret, so every restart logs everyone out.');
    sessionSecret = randomBytes(32).toString('base64url');
  }
  const redisUrl = process.env.REDIS_URL;
  let sessionStore: Store | undefined;
  let redis: { destroy(): void } | undefined;
  if (redisUrl) {
    const { createClient } = await import('redis');
    const { RedisStore } = await import('connect-redis');
    const client = createClient({ url: redisUrl });
    client.on('error', (err: Error) => console.error(`Redis: ${err.message}`));
    try {
      await client.connect();
    } catch (err) {
      throw new StartupError(`cannot connect to REDIS_URL ${redisUrl}: ${(err as Error).message}`);
    }
    redis = client;
    sessionStore = new RedisStore({ client, prefix: 'example-app:sess:' });
  }

  let idp: IdentityProvider | undefined;
  let demoUsers: string[] = [];
  let oidc: { issuer: string; clientId: string; clientSecret: string; ordersApi?: { jwksUri: string } };
  if (issuer && clientId && clientSecret) {
    oidc = { issuer, clientId, clientSecret };
  } else {
    // Loaded only when needed: oidc-provider is for the demo, not for apps with a real provider.
    const { startIdentityProvider, DEMO_USERS } = await import('./identity-provider.js');
    try {
      idp = await startIdentityProvider({ port: idpPort, appBaseUrl: baseUrl });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new StartupError(
          `port ${idpPort} is already in use: stop what runs there or set IDP_PORT to another port.`,
        );
      }
      throw err;
    }
    oidc = {
      issuer: idp.issuer,
      clientId: idp.client.clientId,
      clientSecret: idp.client.clientSecret,
      // The demo provider issues tokens for the app's orders API: the page /orders shows them.
      ordersApi: { jwksUri: idp.jwksUri },
    };
    demoUsers = Object.entries(DEMO_USERS).map(([login, user]) => {
      const groups = Array.isArray(user.claims.groups) ? user.claims.groups.join(', ') : '';
      const admin = groups.split(', ').includes('admin') ? '  (may open /admin)' : '';
      return `    ${login.padEnd(6)} password ${user.password.padEnd(6)} groups: ${groups}${admin}`;
    });
  }

  const server = createServer();
  try {
    server.on('request', buildApp({ baseUrl, sessionSecret, ...oidc, ...(sessionStore && { sessionStore }) }));
    await listen(server, port, 'PORT');
  } catch (err) {
    await idp?.close();
    throw err;
  }

  const lines = [
    '',
    'express-oidc-login example app is running.',
    '',
    `  App:       ${baseUrl}${baseUrl === `http://localhost:${port}` ? '' : ` (listening on port ${port})`}`,
    idp
      ? `  Provider:  ${idp.issuer} (the built-in demo identity provider)`
      : `  Provider:  ${oidc.issuer} (OIDC_ISSUER_URL), client id ${oidc.clientId}`,
    `  Sessions:  ${redisUrl ? `Redis at ${redisUrl}` : 'in this process (set REDIS_URL to share them between instances)'}`,
    '',
  ];
  if (idp) {
    lines.push(`Open ${baseUrl} and log in as one of the demo users:`, ...demoUsers, '');
    lines.push(
      'To use your own provider, set OIDC_ISSUER_URL, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET (see example-app/README.md).',
    );
  } else {
    lines.push(
      `The provider must accept ${baseUrl}/callback as a redirect URI of this client.`,
      `Open ${baseUrl} and log in.`,
    );
  }
  lines.push('Press Ctrl+C to stop.', '');
  console.log(lines.join('\n'));

  const stop = (): void => {
    server.close();
    server.closeAllConnections();
    void idp?.close();
    redis?.destroy();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  if (err instanceof StartupError) console.error(`Cannot start the example app: ${err.message}`);
  else console.error('Cannot start the example app:', err);
  process.exitCode = 1;
});
