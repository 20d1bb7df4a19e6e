import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolveConfig, type OidcLoginOptions } from './config.js';
import { createContext } from './context.js';
import { OidcError } from './errors.js';
import { Provider } from './provider.js';
import { callbackHandler } from './routes/callback.js';
import { loginHandler } from './routes/login.js';
import type { Next, OidcRequest } from './session.js';

type Handler = (req: OidcRequest, res: ServerResponse) => Promise<void>;

/**
 * The login middleware. Mount it once, after express-session:
 * it answers `GET /login` and `GET /callback` and sets `req.oidc` on every other request.
 * Options are validated here, once; a mistake throws at start-up with the fix in the message.
 *
 * It is a plain `(req, res, next)` function using Node's own request and response, so it mounts
 * the same way in Express 4, Express 5 and Connect.
 *
 * @example
 * app.use(session({ secret, resave: false, saveUninitialized: false }));
 * app.use(oidcLogin({ issuer, clientId, clientSecret, baseUrl: 'https://app.example.com' }));
 * @see https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth
 */
export function oidcLogin(options: OidcLoginOptions) {
  const config = resolveConfig(options);
  const provider = new Provider(config);
  const routes = new Map<string, Handler>();
  if (config.loginPath !== false) routes.set(config.loginPath, loginHandler(config, provider));
  if (config.callbackPath !== false) routes.set(config.callbackPath, callbackHandler(config, provider));

  return function oidcLoginMiddleware(req: IncomingMessage, res: ServerResponse, next: Next): void {
    const r = req as OidcRequest;
    r.oidc = createContext(r, config);
    const handler = routes.size === 0 ? undefined : routes.get(routePath(req.url));
    if (!handler) {
      next();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      next(new OidcError('ERR_OIDC_METHOD_NOT_ALLOWED', 405, 'This login route answers GET only.'));
      return;
    }
    handler(r, res).catch(next);
  };
}

/** The request path without query and without one trailing slash ("/login/" is "/login"). */
function routePath(url: string | undefined): string {
  if (!url) return '';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}
