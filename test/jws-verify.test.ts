import { generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { describe, expect, it, jest } from '@jest/globals';
import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import { JwsInvalidError, NoMatchingKeyError, VerificationKeys } from '../lib/flow/jws-verify.js';

/**
 * The ID token signature check with node:crypto (lib/flow/jws-verify.ts), for every algorithm
 * idTokenSigningAlg accepts, against tokens signed by jose: what verifies, and each way a token
 * or a key set is refused. test/id-token.test.ts runs the same checks through the login.
 */

const ALGS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

async function keyFor(alg: string, kid = `k-${alg}`): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey: privateKey as CryptoKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** RSA PKCS#1 v1.5 with node:crypto, for what jose will not sign (another hash than the key's, a short key). */
function rawRsaSign(
  privateKey: KeyObject,
  header: Record<string, unknown>,
  hash: string,
  payload = '{"sub":"alice"}',
): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`;
  return `${input}.${nodeSign(hash, Buffer.from(input), privateKey).toString('base64url')}`;
}

async function sign(
  privateKey: CryptoKey,
  header: Record<string, unknown>,
  payload = '{"sub":"alice"}',
): Promise<string> {
  return new CompactSign(new TextEncoder().encode(payload))
    .setProtectedHeader(header as { alg: string })
    .sign(privateKey);
}

describe('VerificationKeys', () => {
  it.each(ALGS)('verifies %s, and refuses the same token with one byte of the payload changed', async (alg) => {
    const { privateKey, jwk } = await keyFor(alg);
    const keys = new VerificationKeys([jwk]);
    const token = await sign(privateKey, { alg, kid: jwk.kid });
    expect(() => keys.verify(token, alg)).not.toThrow();
    const [h, p, s] = token.split('.');
    const changed = `${h}.${Buffer.from('{"sub":"mallory"}').toString('base64url')}.${s}`;
    expect(p).not.toBe(changed.split('.')[1]);
    expect(() => keys.verify(changed, alg)).toThrow(JwsInvalidError);
  });

  it('verifies many tokens with the one KeyObject it made for a key', async () => {
    const { privateKey, jwk } = await keyFor('RS256');
    // A fresh copy of the module whose node:crypto counts the keys it imports.
    const crypto = await import('node:crypto');
    const createPublicKey = jest.fn(crypto.createPublicKey);
    let Counted: typeof VerificationKeys | undefined;
    await jest.isolateModulesAsync(async () => {
      jest.unstable_mockModule('node:crypto', () => ({ ...crypto, default: crypto, createPublicKey }));
      ({ VerificationKeys: Counted } = await import('../lib/flow/jws-verify.js'));
    });
    const keys = new Counted!([jwk]);
    for (let i = 0; i < 5; i++)
      keys.verify(await sign(privateKey, { alg: 'RS256', kid: jwk.kid }, `{"n":${i}}`), 'RS256');
    expect(createPublicKey).toHaveBeenCalledTimes(1);
  });

  it('refuses an alg other than the one allowed, and none', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keys = new VerificationKeys([{ ...(publicKey.export({ format: 'jwk' }) as JWK), kid: 'k' }]);
    expect(() => keys.verify(rawRsaSign(privateKey, { alg: 'RS256', kid: 'k' }, 'sha256'), 'RS256')).not.toThrow();
    // A valid RS384 signature by the very key the set serves: still not the algorithm allowed.
    const rs384 = rawRsaSign(privateKey, { alg: 'RS384', kid: 'k' }, 'sha384');
    expect(() => keys.verify(rs384, 'RS384')).not.toThrow();
    expect(() => keys.verify(rs384, 'RS256')).toThrow(JwsInvalidError);
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`;
    expect(() => keys.verify(none, 'RS256')).toThrow(JwsInvalidError);
  });

  it('asks for a refetch (NoMatchingKeyError) on an unknown kid, a kid that is not a string, or no usable key', async () => {
    const { privateKey, jwk } = await keyFor('ES256');
    const token = await sign(privateKey, { alg: 'ES256', kid: 'someone-else' });
    expect(() => new VerificationKeys([jwk]).verify(token, 'ES256')).toThrow(NoMatchingKeyError);
    const numericKid = await sign(privateKey, { alg: 'ES256', kid: 42 });
    expect(() => new VerificationKeys([jwk]).verify(numericKid, 'ES256')).toThrow(NoMatchingKeyError);
    const own = await sign(privateKey, { alg: 'ES256', kid: jwk.kid });
    for (const unusable of [
      { ...jwk, use: 'enc' },
      { ...jwk, key_ops: ['encrypt'] },
      { ...jwk, key_ops: ['verify', 'verify'] },
      { ...jwk, alg: 'ES384' },
      { ...jwk, crv: 'P-384' },
      { ...jwk, kty: 'RSA' },
      { ...jwk, ext: 'yes' },
    ]) {
      expect(() => new VerificationKeys([unusable]).verify(own, 'ES256')).toThrow(NoMatchingKeyError);
    }
    expect(() => new VerificationKeys([{ ...jwk, key_ops: ['verify'] }]).verify(own, 'ES256')).not.toThrow();
  });

  it('refuses a token without kid when two keys could verify it, and takes the one key there is', async () => {
    const a = await keyFor('RS256', 'a');
    const b = await keyFor('RS256', 'b');
    const token = await sign(a.privateKey, { alg: 'RS256' });
    expect(() => new VerificationKeys([a.jwk, b.jwk]).verify(token, 'RS256')).toThrow(JwsInvalidError);
    expect(() => new VerificationKeys([a.jwk]).verify(token, 'RS256')).not.toThrow();
  });

  it('refuses a crit header, a private key in the set, a short RSA key, and an ECDSA signature of the wrong length', async () => {
    const { privateKey, jwk } = await keyFor('ES256');
    const crit = await sign(privateKey, { alg: 'ES256', kid: jwk.kid, crit: ['b64'], b64: true });
    expect(() => new VerificationKeys([jwk]).verify(crit, 'ES256')).toThrow(/crit/);

    const own = await sign(privateKey, { alg: 'ES256', kid: jwk.kid });
    const privateJwk = { ...(await exportJWK(privateKey)), kid: jwk.kid };
    expect(() => new VerificationKeys([privateJwk]).verify(own, 'ES256')).toThrow(/private/);

    const [h, p, s] = own.split('.');
    const der = `${h}.${p}.${Buffer.concat([Buffer.from(s!, 'base64url'), Buffer.from([0])]).toString('base64url')}`;
    expect(() => new VerificationKeys([jwk]).verify(der, 'ES256')).toThrow(/length/);

    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const smallJwk = { ...(small.publicKey.export({ format: 'jwk' }) as JWK), kid: 'small' };
    const smallToken = rawRsaSign(small.privateKey, { alg: 'RS256', kid: 'small' }, 'sha256');
    expect(() => new VerificationKeys([smallJwk]).verify(smallToken, 'RS256')).toThrow(/2048/);
  });

  it.each([
    ['not a string', 42],
    ['two parts', 'a.b'],
    ['five parts (a JWE)', 'a.b.c.d.e'],
    ['an empty header', '.e30.c2ln'],
    ['a header that is not base64url', 'e30%.e30.c2ln'],
    ['a header that is not JSON', `${Buffer.from('nope').toString('base64url')}.e30.c2ln`],
    ['a header that is an array', `${Buffer.from('[]').toString('base64url')}.e30.c2ln`],
  ])('refuses a JWS that is %s', async (_name, jws) => {
    const { jwk } = await keyFor('RS256');
    expect(() => new VerificationKeys([jwk]).verify(jws, 'RS256')).toThrow(JwsInvalidError);
  });
});
