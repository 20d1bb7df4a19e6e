import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import { readBody } from './net.js';

/**
 * A small resource server (an API) on a loopback port that checks access tokens as RFC 9449 §7
 * says: the token is introspected at the real provider (RFC 7662, as the resource server's own
 * client), and a DPoP-bound one (`cnf.jkt`) must come as `Authorization: DPoP` with a proof whose
 * signature, `typ`, `htm`, `htu`, `ath`, `iat`, `jti` (once) and key thumbprint (= `cnf.jkt`) are
 * verified with jose. Optionally it requires its own nonces (RFC 9449 §9).
 */

export interface ResourceRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The proof's header and payload, when there was one. */
  proof?: { header: Record<string, unknown>; payload: Record<string, unknown> };
}

/** What the server answers: 200 `{ sub, scheme, jkt, body }`, or 401 with a challenge and `{ error, reason }`. */
export interface ResourceServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly requests: ResourceRequest[];
  /** Require the current `nonce` in proofs (answer `use_dpop_nonce` otherwise). */
  requireNonce: boolean;
  /** The nonce it hands out now. */
  nonce: string;
  /** Replaces the answer for one path: a status with headers (e.g. a redirect), or 'hang'. */
  override:
    ((req: ResourceRequest) => { status: number; headers?: Record<string, string> } | 'hang' | undefined) | undefined;
  reset(): void;
  close(): Promise<void>;
}

export interface ResourceServerOptions {
  issuer: string;
  /** The resource server's client at the provider, for introspection. */
  clientId: string;
  clientSecret: string;
}

const ALGORITHMS = ['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA', 'Ed25519'];

class Refused extends Error {
  constructor(
    readonly error: string,
    readonly reason: string,
  ) {
    super(reason);
  }
}

export async function startResourceServer(options: ResourceServerOptions): Promise<ResourceServer> {
  const seenJti = new Set<string>();
  const hanging = new Set<ServerResponse>();
  let url = '';

  async function introspect(token: string): Promise<{ active: boolean; sub?: string; cnf?: { jkt?: string } }> {
    const res = await fetch(`${options.issuer}/token/introspection`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${options.clientId}:${options.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }).toString(),
    });
    if (res.status !== 200) throw new Error(`introspection answered ${res.status}`);
    return (await res.json()) as { active: boolean; sub?: string; cnf?: { jkt?: string } };
  }

  async function verifyProof(record: ResourceRequest, token: string, jkt: string): Promise<void> {
    const proof = record.headers.dpop;
    if (typeof proof !== 'string') throw new Refused('invalid_dpop_proof', 'no DPoP header');
    const header = decodeProtectedHeader(proof) as Record<string, unknown>;
    if (typeof header.jwk !== 'object' || header.jwk === null || 'd' in header.jwk)
      throw new Refused('invalid_dpop_proof', 'jwk missing or private');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ALGORITHMS }));
    } catch (err) {
      throw new Refused('invalid_dpop_proof', `signature: ${(err as Error).message}`);
    }
    record.proof = { header, payload };
    if (payload.htm !== record.method) throw new Refused('invalid_dpop_proof', 'htm');
    if (payload.htu !== `${url}${record.path.split('?')[0]}`) throw new Refused('invalid_dpop_proof', 'htu');
    if (payload.ath !== createHash('sha256').update(token).digest('base64url'))
      throw new Refused('invalid_dpop_proof', 'ath');
    if (typeof payload.iat !== 'number' || Math.abs(payload.iat - Date.now() / 1000) > 60)
      throw new Refused('invalid_dpop_proof', 'iat');
    if (typeof payload.jti !== 'string' || seenJti.has(payload.jti))
      throw new Refused('invalid_dpop_proof', 'jti replayed');
    seenJti.add(payload.jti);
    if ((await calculateJwkThumbprint(header.jwk as JWK)) !== jkt)
      throw new Refused('invalid_token', "the proof key is not the token's (cnf.jkt)");
    if (rs.requireNonce && payload.nonce !== rs.nonce) throw new Refused('use_dpop_nonce', 'nonce required');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const record: ResourceRequest = {
      method: req.method ?? '',
      path: req.url ?? '/',
      headers: req.headers,
      body: await readBody(req),
    };
    rs.requests.push(record);
    const special = rs.override?.(record);
    if (special === 'hang') {
      hanging.add(res);
      return;
    }
    if (special) {
      res.writeHead(special.status, special.headers);
      res.end();
      return;
    }
    const m = /^(DPoP|Bearer) (\S+)$/.exec(req.headers.authorization ?? '');
    try {
      if (!m) throw new Refused('invalid_token', 'no access token');
      const [, scheme, token] = m as unknown as [string, string, string];
      const info = await introspect(token);
      if (!info.active) throw new Refused('invalid_token', 'inactive token');
      const jkt = info.cnf?.jkt;
      if (jkt !== undefined) {
        if (scheme !== 'DPoP') throw new Refused('invalid_token', 'a DPoP-bound token sent as a Bearer token');
        await verifyProof(record, token, jkt);
      } else if (scheme !== 'Bearer') {
        throw new Refused('invalid_token', 'not a DPoP-bound token');
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ sub: info.sub, scheme, jkt: jkt ?? null, body: record.body }));
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      const challengeScheme = m?.[1] === 'DPoP' || err.error === 'use_dpop_nonce' ? 'DPoP' : 'Bearer';
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': `${challengeScheme} error="${err.error}", algs="${ALGORITHMS.join(' ')}"`,
        ...(err.error === 'use_dpop_nonce' && { 'dpop-nonce': rs.nonce }),
      });
      res.end(JSON.stringify({ error: err.error, reason: err.reason }));
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(500);
      res.end(`resource server bug: ${String(err)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const rs: ResourceServer = {
    url,
    requests: [],
    requireNonce: false,
    nonce: randomBytes(12).toString('base64url'),
    override: undefined,
    reset() {
      rs.requests.length = 0;
      rs.requireNonce = false;
      rs.override = undefined;
      rs.nonce = randomBytes(12).toString('base64url');
    },
    close() {
      for (const res of hanging) res.destroy();
      return new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
  return rs;
}
