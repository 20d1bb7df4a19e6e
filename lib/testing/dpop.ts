import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWK } from 'jose';

/** How far a proof's `iat` may be from the provider's clock, in seconds (either way). */
const IAT_WINDOW = 60;

/** Why a proof is refused: RFC 9449 §7.1 / §8 error codes. */
export type DPoPProofErrorCode = 'invalid_dpop_proof' | 'use_dpop_nonce';

export class DPoPProofError extends Error {
  override readonly name = 'DPoPProofError';
  constructor(
    readonly error: DPoPProofErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** What is checked of one request's proof. */
export interface ProofExpectations {
  /** The request's method. */
  htm: string;
  /** The endpoint's URL, without query and fragment. */
  htu: string;
  /** The access token the request presents (at a resource), for `ath`. */
  accessToken?: string;
}

export interface DPoPVerifier {
  /** The nonce proofs must carry, when nonces are required. */
  readonly nonce: string | undefined;
  /**
   * The RFC 7638 thumbprint of the key of the request's `DPoP` proof, or undefined without one.
   * Rejects with a {@link DPoPProofError} for a proof that fails a check of RFC 9449 §4.3.
   */
  verify(req: IncomingMessage, expected: ProofExpectations): Promise<string | undefined>;
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** An `htu` without query and fragment (RFC 9449 §4.3 check 9), or undefined for anything but a URL. */
function htuOf(htu: unknown): string | undefined {
  if (typeof htu !== 'string') return undefined;
  try {
    const url = new URL(htu);
    url.search = url.hash = '';
    return url.href;
  } catch {
    return undefined;
  }
}

/**
 * The test provider's DPoP proof checks (RFC 9449 §4.3): one `DPoP` header, a JWT of `typ`
 * `dpop+jwt` signed with one of `algs` by the public key in its `jwk` header, `htm`, `htu`, an
 * `iat` within a minute, a `jti` not seen before, `ath` at a resource, and the nonce if required.
 */
export function dpopVerifier(algs: readonly string[], nonce: string | undefined): DPoPVerifier {
  /** The `jti`s of accepted proofs and when they can be forgotten (once their `iat` is out of the window). */
  const seen = new Map<string, number>();

  function forgetOld(now: number): void {
    for (const [jti, until] of seen) {
      if (until > now) break;
      seen.delete(jti);
    }
  }

  return {
    nonce,
    async verify(req, expected) {
      const headers = req.headersDistinct.dpop;
      if (headers === undefined) return undefined;
      if (headers.length !== 1 || headers[0]!.includes(','))
        throw new DPoPProofError('invalid_dpop_proof', 'More than one DPoP header.');
      let payload: Record<string, unknown>;
      let jwk: JWK;
      try {
        const verified = await jwtVerify(headers[0]!, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [...algs] });
        payload = verified.payload;
        jwk = verified.protectedHeader.jwk!;
      } catch (err) {
        throw new DPoPProofError(
          'invalid_dpop_proof',
          `The DPoP proof is not a valid dpop+jwt: ${(err as Error).message}`,
        );
      }
      const now = Math.floor(Date.now() / 1000);
      const { jti, htm, htu, iat, ath } = payload;
      if (typeof jti !== 'string' || jti === '')
        throw new DPoPProofError('invalid_dpop_proof', 'The DPoP proof has no jti.');
      if (htm !== expected.htm)
        throw new DPoPProofError('invalid_dpop_proof', `The DPoP proof's htm is not ${expected.htm}.`);
      if (htuOf(htu) !== expected.htu)
        throw new DPoPProofError('invalid_dpop_proof', `The DPoP proof's htu is not ${expected.htu}.`);
      if (typeof iat !== 'number' || Math.abs(now - iat) > IAT_WINDOW) {
        throw new DPoPProofError(
          'invalid_dpop_proof',
          `The DPoP proof's iat is not within ${IAT_WINDOW} seconds of the provider's clock.`,
        );
      }
      if (expected.accessToken !== undefined && ath !== sha256(expected.accessToken)) {
        throw new DPoPProofError('invalid_dpop_proof', "The DPoP proof's ath is not the hash of the access token.");
      }
      if (nonce === undefined ? payload.nonce !== undefined : payload.nonce !== nonce) {
        if (nonce !== undefined)
          throw new DPoPProofError('use_dpop_nonce', 'The DPoP proof must carry the nonce of the DPoP-Nonce header.');
        throw new DPoPProofError('invalid_dpop_proof', 'The DPoP proof carries a nonce, and this provider gives none.');
      }
      forgetOld(now);
      if (seen.has(jti))
        throw new DPoPProofError('invalid_dpop_proof', 'The DPoP proof was used already (its jti is not new).');
      // Remembered until its iat leaves the window; proofs arrive in about iat order, so the map stays sorted enough.
      seen.set(jti, iat + IAT_WINDOW + 1);
      return calculateJwkThumbprint(jwk, 'sha256');
    },
  };
}
