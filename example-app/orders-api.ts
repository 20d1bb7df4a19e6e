/**
 * The orders API: a second API, served by the example app's process for the demo, that takes only
 * access tokens made for it. It verifies a JWT access token (RFC 9068) with the provider's keys and
 * checks its audience, so the login's own access token (made for userinfo) is refused.
 */
import express, { type Request, type Response } from 'express';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

/** Where the app serves the API: `baseUrl + ORDERS_API_PATH` is its resource indicator (its audience). */
export const ORDERS_API_PATH = '/orders-api';

export interface OrdersApiSettings {
  /** The provider's issuer URL: the tokens' `iss`. */
  issuer: string;
  /** The provider's signing keys. */
  jwksUri: string;
  /** The API's own identifier: the `aud` its tokens must have. */
  audience: string;
}

/** The demo's orders, the same for every user. */
const ORDERS = [
  { id: 'A-1001', item: 'Teapot', quantity: 1 },
  { id: 'A-1002', item: 'Tea cups', quantity: 6 },
];

/** GET /orders: the caller's orders, for a Bearer token with this API's audience; 401 otherwise. */
export function ordersApi(settings: OrdersApiSettings): express.Router {
  // Fetched at the first request and kept (jose refetches for an unknown key id).
  const keys = createRemoteJWKSet(new URL(settings.jwksUri));
  const router = express.Router();
  router.get('/orders', async (req: Request, res: Response) => {
    const token = /^Bearer ([\w.~+/-]+=*)$/.exec(req.get('authorization') ?? '')?.[1];
    let claims: JWTPayload;
    try {
      if (!token) throw new Error('no Bearer token');
      ({ payload: claims } = await jwtVerify(token, keys, {
        issuer: settings.issuer,
        audience: settings.audience,
        typ: 'at+jwt',
      }));
    } catch {
      // RFC 6750 §3: say why, without details that would help a forger.
      res
        .status(401)
        .set('WWW-Authenticate', `Bearer error="invalid_token", error_description="not an access token for this API"`)
        .json({ error: 'invalid_token', message: 'This API takes only access tokens made for it.' });
      return;
    }
    res.json({ sub: claims.sub, audience: claims.aud, orders: ORDERS });
  });
  return router;
}
