import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPair as nodeGenerateKeyPair,
  generateKeyPairSync,
  verify,
  webcrypto,
} from 'node:crypto';
import { promisify } from 'node:util';
import test from 'ava';
import {
  KEY_SPECS,
  generateKeyPair,
  importSigningKey,
  isCertFleetError,
  keySpecOf,
  keySpecSchema,
  type KeySpec,
} from '@certfleet/shared';

const generateKeyPairAsync = promisify(nodeGenerateKeyPair);

const expected: Record<KeySpec, { type: 'rsa' | 'ec'; bits?: number; curve?: string }> = {
  'RSA-2048': { type: 'rsa', bits: 2048 },
  'RSA-3072': { type: 'rsa', bits: 3072 },
  'RSA-4096': { type: 'rsa', bits: 4096 },
  'EC-P256': { type: 'ec', curve: 'prime256v1' },
  'EC-P384': { type: 'ec', curve: 'secp384r1' },
};

for (const spec of KEY_SPECS) {
  test(`A1 generateKeyPair(${spec}) gives PKCS#8 + SPKI PEM and keySpecOf round-trips`, async (t) => {
    const t0 = performance.now();
    const { privateKeyPem, publicKeyPem } = await generateKeyPair(spec);
    t.log(`${spec}: generated in ${(performance.now() - t0).toFixed(1)} ms`);

    t.true(privateKeyPem.startsWith('-----BEGIN PRIVATE KEY-----\n'), 'PKCS#8, not PKCS#1/SEC1');
    t.true(publicKeyPem.startsWith('-----BEGIN PUBLIC KEY-----\n'), 'SPKI');
    const priv = createPrivateKey(privateKeyPem);
    const pub = createPublicKey(publicKeyPem);
    const want = expected[spec];
    t.is(priv.asymmetricKeyType, want.type);
    if (want.bits) {
      t.is(priv.asymmetricKeyDetails?.modulusLength, want.bits);
      t.is(priv.asymmetricKeyDetails?.publicExponent, 65537n);
    }
    if (want.curve) t.is(priv.asymmetricKeyDetails?.namedCurve, want.curve);
    t.true(createPublicKey(priv).equals(pub), 'public key belongs to the private key');

    t.is(keySpecOf(priv), spec);
    t.is(keySpecOf(pub), spec);
  });
}

test('A1 generateKeyPair gives a fresh key on every call', async (t) => {
  const [a, b] = await Promise.all([generateKeyPair('EC-P256'), generateKeyPair('EC-P256')]);
  t.not(a.privateKeyPem, b.privateKeyPem);
});

test('A1 RSA-4096 generation runs off the event loop (Node async generateKeyPair)', async (t) => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const t0 = performance.now();
  await generateKeyPair('RSA-4096');
  const elapsed = performance.now() - t0;
  clearInterval(timer);
  t.log(`RSA-4096 took ${elapsed.toFixed(0)} ms, event loop ticked ${ticks} times meanwhile`);
  // A very fast machine may finish before two timer ticks; otherwise the loop must have kept running.
  t.true(elapsed <= 50 || ticks >= 2, 'the event loop kept running during generation');
});

test('A1 keySpecOf returns null for keys outside the supported set', async (t) => {
  // async generation, so these keys do not stall the event loop (and the timings logged by the other tests)
  const other = await Promise.all([
    generateKeyPairAsync('rsa', { modulusLength: 1024 }),
    generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 3 }),
    generateKeyPairAsync('rsa-pss', { modulusLength: 2048 }),
    generateKeyPairAsync('ec', { namedCurve: 'secp521r1' }),
    generateKeyPairAsync('ec', { namedCurve: 'secp256k1' }),
    generateKeyPairAsync('ed25519'),
  ]);
  for (const { publicKey, privateKey } of other) {
    t.is(keySpecOf(publicKey), null);
    t.is(keySpecOf(privateKey), null);
  }
  t.is(keySpecOf(createSecretKey(Buffer.alloc(32))), null);
});

test('A1 keySpecSchema accepts exactly the five key specs; generateKeyPair refuses others with CF_VALIDATION', async (t) => {
  for (const spec of KEY_SPECS) t.is(keySpecSchema.parse(spec), spec);
  for (const bad of ['RSA-1024', 'EC-P521', 'rsa-2048', '', 'Ed25519']) t.false(keySpecSchema.safeParse(bad).success);
  const err = await t.throwsAsync(generateKeyPair('RSA-1024' as KeySpec));
  t.true(isCertFleetError(err));
  t.is((err as { code?: string }).code, 'CF_VALIDATION');
});

test('A1 importSigningKey bridges PKCS#8, PKCS#1 and SEC1 keys to WebCrypto signing keys', async (t) => {
  const data = Buffer.from('certfleet');
  for (const spec of ['EC-P256', 'EC-P384', 'RSA-2048'] as const) {
    const { privateKeyPem, publicKeyPem } = await generateKeyPair(spec);
    const legacy = createPrivateKey(privateKeyPem).export({
      type: spec.startsWith('EC') ? 'sec1' : 'pkcs1',
      format: 'pem',
    });
    for (const pem of [privateKeyPem, legacy.toString()]) {
      const signer = await importSigningKey(pem);
      t.is(signer.keySpec, spec);
      t.is(signer.signingAlgorithm.hash, spec === 'EC-P384' ? 'SHA-384' : 'SHA-256');
      t.false(signer.cryptoKey.extractable);
      const sig = Buffer.from(await webcrypto.subtle.sign(signer.signingAlgorithm, signer.cryptoKey, data));
      const nodeHash = signer.signingAlgorithm.hash.replace('-', '').toLowerCase();
      const ok = spec.startsWith('EC')
        ? verify(nodeHash, data, { key: publicKeyPem, dsaEncoding: 'ieee-p1363' }, sig)
        : verify(nodeHash, data, publicKeyPem, sig);
      t.true(ok, `${spec} signature verifies with Node`);
    }
  }
});

test('A1 importSigningKey rejects public keys, garbage and unsupported keys with typed errors', async (t) => {
  const { publicKeyPem } = await generateKeyPair('EC-P256');
  const codeOf = async (input: string): Promise<string | undefined> => {
    const err = await t.throwsAsync(importSigningKey(input));
    t.true(isCertFleetError(err));
    return (err as { code?: string }).code;
  };
  t.is(await codeOf(publicKeyPem), 'CF_VALIDATION');
  t.is(await codeOf('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), 'CF_VALIDATION');
  const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  t.is(await codeOf(ed), 'CF_IMPORT_UNSUPPORTED_ALGORITHM');
});
