import type { DPoPAlg } from '../../types.js';
import { DEFAULTS, DPOP_ALGS, REFUSED_DPOP_ALGS } from '../defaults.js';
import { fail } from '../fail.js';

/** `dpop: true | false | { alg }`. */
export function resolveDPoP(value: unknown): Readonly<{ alg: DPoPAlg }> | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return Object.freeze({ alg: DEFAULTS.dpopAlg });
  if (typeof value === 'string')
    fail(`"dpop" must be true or an object: write dpop: { alg: ${JSON.stringify(value)} }.`);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail('"dpop" must be true, false or { alg }.');
  for (const key of Object.keys(value)) {
    if (key !== 'alg') fail(`unknown option "dpop.${key}". Known: alg.`);
  }
  const alg = (value as { alg?: unknown }).alg ?? DEFAULTS.dpopAlg;
  if (typeof alg === 'string' && REFUSED_DPOP_ALGS.includes(alg)) {
    fail(
      `"dpop.alg" ${alg} is not offered: each login gets its own key pair, made at the callback, ` +
        `and an RSA key pair costs ` +
        `about 170 ms of CPU, which anyone could make the server spend by looping /login and /callback. ` +
        `Use ${DPOP_ALGS[0]} (the default), ${DPOP_ALGS.slice(1, -1).join(', ')} or ` +
        `${DPOP_ALGS.at(-1)} (0.5 to 2.5 ms); providers that support DPoP accept ES256.`,
    );
  }
  if (typeof alg !== 'string' || !(DPOP_ALGS as readonly string[]).includes(alg)) {
    fail(
      `"dpop.alg" must be one of ${DPOP_ALGS.join(', ')}; got ${JSON.stringify(alg)}. DPoP ` +
        `proofs are signed with an asymmetric key.`,
    );
  }
  return Object.freeze({ alg: alg as DPoPAlg });
}
