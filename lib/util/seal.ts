import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { inspect } from 'node:util';
import { RandomPool } from './random-pool.js';

/**
 * Sealed values (the pending-login cookies): AES-256-GCM with keys from HKDF-SHA256, node:crypto
 * only. A sealed value reads `v1.<kid>.<base64url(iv || ciphertext || tag)>`: the version, the id
 * of the key that sealed it (so that, with several keys, the right one is tried and rotation needs
 * no guessing), then the AEAD output. The associated data binds the version, the key id and a
 * caller-given context (the cookie's name and the app's redirect URI), so a value cannot be moved
 * to another cookie name or another app. The first key of a ring seals; every key opens.
 */

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KID_CHARS = 6;
/** The HKDF salt: fixed, so that every instance derives the same keys from the same secret. */
const SALT = Buffer.from('express-oidc-login sealed values');

/** One key of a ring: the AES key and its public id. */
export interface SealKey {
  readonly kid: string;
  readonly key: Buffer;
}

/**
 * Derives an AES-256 key and its id from secret material with HKDF-SHA256. `label` separates uses
 * (and sources: a configured secret and a client credential give unrelated keys even when equal).
 */
export function deriveSealKey(material: Buffer | string, label: string): SealKey {
  const ikm = typeof material === 'string' ? Buffer.from(material, 'utf8') : material;
  const key = Buffer.from(hkdfSync('sha256', ikm, SALT, `${label} aes-256-gcm`, 32));
  // The id is a separate HKDF output: it names the key without telling anything about it.
  const kid = Buffer.from(hkdfSync('sha256', ikm, SALT, `${label} key id`, 6))
    .toString('base64url')
    .slice(0, KID_CHARS);
  return Object.freeze({ kid, key });
}

function aad(kid: string, context: string): Buffer {
  return Buffer.from(`${VERSION}.${kid}.${context}`, 'utf8');
}

/** Why a sealed value did not open. */
export type OpenFailure = 'malformed' | 'unknown-key' | 'forged';

const SEALED = /^v1\.([A-Za-z0-9_-]{6})\.([A-Za-z0-9_-]+)$/;

/**
 * A key ring: the first key seals, every key opens. The keys are held in a private field, so
 * `util.inspect`, `JSON.stringify` and loggers see only their ids.
 */
export class Sealer {
  readonly #keys: readonly SealKey[];
  readonly #random: RandomPool;

  /** `random`: where the IVs come from (the instance's pool; a pool of its own by default). */
  constructor(keys: readonly SealKey[], random: RandomPool = new RandomPool()) {
    if (keys.length === 0) throw new TypeError('a Sealer needs at least one key');
    this.#keys = [...keys];
    this.#random = random;
  }

  /** The key ids, the sealing one first. */
  get kids(): string[] {
    return this.#keys.map((k) => k.kid);
  }

  /** Seals `plaintext` with the first key, bound to `context`. */
  seal(context: string, plaintext: string): string {
    const { kid, key } = this.#keys[0]!;
    const iv = this.#random.bytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aad(kid, context));
    const body = Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}.${kid}.${body.toString('base64url')}`;
  }

  /**
   * Opens a value sealed under `context`: the plaintext, or why it could not be opened
   * (`malformed`; `unknown-key`: sealed with a key not in the ring, e.g. rotated out, or another
   * instance's; `forged`: changed, or sealed for another context).
   */
  open(context: string, value: string): { plaintext: string } | { failure: OpenFailure } {
    const match = SEALED.exec(value);
    if (!match) return { failure: 'malformed' };
    const kid = match[1]!;
    const body = Buffer.from(match[2]!, 'base64url');
    if (body.length < IV_BYTES + TAG_BYTES + 1) return { failure: 'malformed' };
    // Ids are short: two keys of a ring may share one (1 in 2^36), so each of them is tried.
    const keys = this.#keys.filter((k) => k.kid === kid);
    if (keys.length === 0) return { failure: 'unknown-key' };
    for (const { key } of keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
        decipher.setAAD(aad(kid, context));
        decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
        const plaintext = Buffer.concat([
          decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)),
          decipher.final(),
        ]);
        return { plaintext: plaintext.toString('utf8') };
      } catch {
        // Not this key: the value was changed, or sealed for another context.
      }
    }
    return { failure: 'forged' };
  }

  toJSON(): unknown {
    return { kids: this.kids };
  }

  [inspect.custom](): string {
    return `Sealer { kids: ${JSON.stringify(this.kids)} }`;
  }
}
