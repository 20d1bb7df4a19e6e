import { describe, expect, it } from '@jest/globals';
import { RandomPool } from '../lib/util/random-pool.js';

/**
 * The pool a login's random values come from (lib/util/random-pool.ts): each byte handed out once,
 * across refills, and what it hands out is the caller's own.
 */
describe('RandomPool', () => {
  it('hands out values of the asked size, none twice, across many refills of its 4 KiB', () => {
    const pool = new RandomPool();
    const seen = new Set<string>();
    // 2,000 values of 32 bytes, with IVs of 12 between them: 88 KB, some 21 refills.
    for (let i = 0; i < 2000; i++) {
      const value = pool.base64url(32);
      expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
      seen.add(value);
      const iv = pool.bytes(12);
      expect(iv).toHaveLength(12);
      seen.add(iv.toString('hex'));
    }
    expect(seen.size).toBe(4000);
  });

  it('gives bytes that later draws and refills do not change', () => {
    const pool = new RandomPool();
    const first = pool.bytes(32);
    const copy = Buffer.from(first);
    for (let i = 0; i < 300; i++) pool.bytes(32);
    expect(first.equals(copy)).toBe(true);
  });

  it('spreads its bytes evenly, and never hands out one twice (a byte handed out is zeroed: a second time it reads 0)', () => {
    const pool = new RandomPool();
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 1000; i++) for (const byte of pool.bytes(64)) counts[byte]!++;
    // 64,000 bytes: about 250 of each value (±16); under 150 or over 400 would be six or more of those off.
    expect(Math.min(...counts)).toBeGreaterThan(150);
    expect(Math.max(...counts)).toBeLessThan(400);
  });

  it('serves a size larger than the pool straight from the CSPRNG', () => {
    const pool = new RandomPool();
    expect(pool.bytes(5000)).toHaveLength(5000);
    expect(pool.base64url(5000)).toHaveLength(Math.ceil((5000 * 4) / 3));
  });

  it('fills exactly to its last byte, then refills: 128 values of 32 bytes, then one more, all distinct and none zeroed', () => {
    const pool = new RandomPool();
    const values = Array.from({ length: 129 }, () => pool.bytes(32).toString('hex'));
    expect(new Set(values).size).toBe(129);
    // A byte handed out is zeroed in the pool: one handed out again would bring a run of zeros.
    for (const value of values) expect(value).not.toMatch(/(00){4}/);
    expect(pool.bytes(0)).toHaveLength(0);
    expect(pool.base64url(0)).toBe('');
    const whole = pool.bytes(4096);
    expect(whole.toString('hex')).not.toMatch(/(00){4}/);
    expect(whole.equals(pool.bytes(4096))).toBe(false);
  });

  it.each([-1, Number.NaN, 1.5, undefined])('refuses a draw of %p bytes and keeps working', (size) => {
    const pool = new RandomPool();
    expect(() => pool.bytes(size as number)).toThrow(RangeError);
    expect(() => pool.base64url(size as number)).toThrow(RangeError);
    const after = pool.bytes(32);
    expect(after).toHaveLength(32);
    expect(after.toString('hex')).not.toMatch(/(00){4}/);
  });

  it('keeps one pool per instance: two pools do not hand out the same values', () => {
    const a = new RandomPool();
    const b = new RandomPool();
    expect(a.base64url(32)).not.toBe(b.base64url(32));
  });
});
