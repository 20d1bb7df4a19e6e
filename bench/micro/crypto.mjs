/* global process, console, Buffer, performance */
/**
 * Micro-benchmark behind a finding of bench/README.md: the login path's WebCrypto calls (PKCE
 * challenge, RS256 verification) against node:crypto's synchronous equivalents, and openid-client's
 * random values against the instance's pool of random bytes; CPU per op at 8 concurrent.
 * `npm run build && node bench/micro/crypto.mjs`
 */
import { createHash, generateKeyPairSync, sign, verify, createPublicKey } from 'node:crypto';
import * as client from 'openid-client';
import { compactVerify, importJWK, exportJWK } from 'jose';
import { RandomPool } from '../../dist/util/random-pool.js';

const N = 3000;
async function measure(name, fn) {
  for (let i = 0; i < 200; i++) await fn();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i += 8) await Promise.all(Array.from({ length: 8 }, fn));
  const c = process.cpuUsage(c0);
  const t = performance.now() - t0;
  console.log(
    name.padEnd(40),
    ((c.user + c.system) / N).toFixed(1),
    'µs CPU/op',
    ((t * 1000) / N).toFixed(1),
    'µs wall/op',
  );
}
const v = client.randomPKCECodeVerifier();
await measure('PKCE challenge, openid-client (WebCrypto)', () => client.calculatePKCECodeChallenge(v));
await measure('PKCE challenge, node:crypto createHash', async () => createHash('sha256').update(v).digest('base64url'));
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const input =
  'eyJhbGciOiJSUzI1NiJ9.' +
  Buffer.from(JSON.stringify({ sub: 'x', iss: 'y', aud: 'z', nonce: 'n'.repeat(43) })).toString('base64url');
const jws = input + '.' + sign('sha256', Buffer.from(input), privateKey).toString('base64url');
const jwk = { ...(await exportJWK(publicKey)), alg: 'RS256' };
const key = await importJWK(jwk, 'RS256');
await measure('RS256 verify, jose compactVerify (WebCrypto)', () => compactVerify(jws, key, { algorithms: ['RS256'] }));
const pub = createPublicKey({ key: jwk, format: 'jwk' });
await measure('RS256 verify, node:crypto verify', async () => {
  const [h, p, s] = jws.split('.');
  if (!verify('sha256', Buffer.from(`${h}.${p}`), pub, Buffer.from(s, 'base64url'))) throw new Error('bad');
});
await measure('randomState+Nonce+Verifier (openid-client)', async () => {
  client.randomState();
  client.randomNonce();
  client.randomPKCECodeVerifier();
});
// The same three values as a login draws them (lib/util/random-pool.ts): one CSPRNG call per 4 KiB.
const pool = new RandomPool();
await measure('state+nonce+verifier, RandomPool', async () => {
  pool.base64url(32);
  pool.base64url(32);
  pool.base64url(32);
});
