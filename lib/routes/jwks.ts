import type { ServerResponse } from 'node:http';
import type { OidcRequest } from '../session/express-session.js';

/**
 * `GET /jwks.json` (`routes.jwks`, private_key_jwt only): the client's PUBLIC key (with `providers`,
 * every provider's) as a JWK Set, for the provider to fetch (register it as the client's
 * `jwks_uri`). Built once from the public JWKs (`ClientSigningKey.publicJwk`),
 * which holds the public members only (`kty`, `n`, `e` / `crv`, `x`, `y`, `kid`, `alg`, `use`).
 * It needs no session; served as `application/json`, which is what providers
 * ask for (`Accept: application/json`), and cacheable for five minutes.
 */
export function jwksHandler(jwks: { readonly keys: readonly object[] }) {
  const body = JSON.stringify({ keys: jwks.keys });
  return async function jwks(_req: OidcRequest, res: ServerResponse): Promise<void> {
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  };
}
