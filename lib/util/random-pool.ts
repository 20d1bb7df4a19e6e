import { randomBytes, randomFillSync } from 'node:crypto';

/** Bytes drawn from the CSPRNG at once: 4 KiB, the random values of some 30 logins. */
const POOL_BYTES = 4096;

/**
 * Random values for one `oidcLogin()` (a login's state, nonce, PKCE verifier, browser binding, its
 * sealed cookie's IV), drawn from the CSPRNG 4 KiB at a time rather than one call per value: with the
 * OpenSSL 3.0 of Node 20 and 22 a call costs about 7 µs whatever its size, and a login needs five
 * (bench/micro/crypto.mjs). Node's own `randomUUID()` keeps such a cache for the same reason.
 * Each byte is handed out once, copied out, and zeroed in the pool. It starts empty and draws only
 * when a request needs a value, so a V8 startup snapshot taken before any login holds nothing of it.
 */
export class RandomPool {
  readonly #pool = Buffer.alloc(POOL_BYTES);
  /** The first byte not handed out yet. */
  #next = POOL_BYTES;

  /** `size` random bytes, base64url: 32 make a 43-character value, as openid-client's `randomState()`. */
  base64url(size: number): string {
    return this.bytes(size).toString('base64url');
  }

  /** `size` random bytes in a Buffer of their own. */
  bytes(size: number): Buffer {
    checkSize(size);
    if (size > POOL_BYTES) return randomBytes(size);
    const start = this.#take(size);
    // A memory of its own (Buffer.alloc), not a slice of Node's shared 8 KiB slab.
    const value = Buffer.alloc(size);
    this.#pool.copy(value, 0, start, start + size);
    this.#pool.fill(0, start, start + size);
    return value;
  }

  /** Where `size` unused bytes start, the pool refilled first when fewer are left. */
  #take(size: number): number {
    if (this.#next + size > POOL_BYTES) {
      randomFillSync(this.#pool);
      this.#next = 0;
    }
    const start = this.#next;
    this.#next += size;
    return start;
  }
}

/** Before any state changes: a negative or fractional size would hand out bytes again, NaN stop the refills. */
function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0)
    throw new RangeError(`a RandomPool draw needs a whole number of bytes, not ${size}`);
}
