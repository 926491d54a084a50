import crypto from 'node:crypto';
import test from 'ava';
import { keyFactsFromKeyObject, keyFactsFromSpki } from '../../../../shared/src/checks/key-facts';
import { certificateFacts } from '@certfleet/shared';
import { parseAsn1 } from '../../../../shared/src/x509/der';
import { fixtures } from './_fixtures';

/** Every key type the DER reader handles itself, with the parameters that change what it reads. */
const KEYS: Array<[string, () => crypto.KeyObject]> = [
  ['RSA-1024', () => crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey],
  ['RSA-2048', () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey],
  ['RSA-1023 (odd size)', () => crypto.generateKeyPairSync('rsa', { modulusLength: 1023 }).publicKey],
  ['RSA-PSS-2048', () => crypto.generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey],
  ['DSA-1024', () => crypto.generateKeyPairSync('dsa', { modulusLength: 1024, divisorLength: 160 }).publicKey],
  ...['prime192v1', 'prime256v1', 'secp256k1', 'secp384r1', 'secp521r1', 'brainpoolP256r1', 'brainpoolP512r1'].map(
    (namedCurve): [string, () => crypto.KeyObject] => [
      `EC ${namedCurve}`,
      () => crypto.generateKeyPairSync('ec', { namedCurve }).publicKey,
    ]
  ),
  ['Ed25519', () => crypto.generateKeyPairSync('ed25519').publicKey],
  ['Ed448', () => crypto.generateKeyPairSync('ed448').publicKey],
];

for (const [name, make] of KEYS) {
  test(`M6 WeakKey facts read from the DER equal OpenSSL's for ${name}`, (t) => {
    const key = make();
    const spki = parseAsn1(key.export({ type: 'spki', format: 'der' }));
    const fromDer = keyFactsFromSpki(spki);
    t.truthy(fromDer, 'read from the DER, not left to OpenSSL');
    t.deepEqual(fromDer, keyFactsFromKeyObject(key));
  });
}

test('M6 WeakKey facts: key types the reader does not know are left to OpenSSL', (t) => {
  const key = crypto.generateKeyPairSync('x25519').publicKey;
  t.is(keyFactsFromSpki(parseAsn1(key.export({ type: 'spki', format: 'der' }))), undefined);
  t.deepEqual(keyFactsFromKeyObject(key), { type: 'x25519' });
});

test('M6 certificate facts carry the leaf key as OpenSSL reports it (EC and RSA-1024 leaves)', async (t) => {
  const f = await fixtures();
  for (const cert of [f.leaf, f.rsa1024, f.intermediate]) {
    const facts = certificateFacts(Buffer.from(cert.x509.raw));
    t.deepEqual(facts.key, keyFactsFromKeyObject(cert.x509.publicKey));
  }
  t.is(certificateFacts(Buffer.from(f.rsa1024.x509.raw)).key.bits, 1024);
});
