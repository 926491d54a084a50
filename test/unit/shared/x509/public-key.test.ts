/**
 * `publicKeyFromSpki` (shared/src/x509/public-key.ts) builds RSA and named-curve EC keys through a JWK (≈ 8–15×
 * cheaper than OpenSSL's DER decoder) and everything else through the DER: the key must be exactly the one OpenSSL
 * reads from the same SubjectPublicKeyInfo, for every key type and for every root of the system store.
 */
import { type KeyObject, generateKeyPairSync } from 'node:crypto';
import test from 'ava';
import { parseAsn1 } from '../../../../shared/src/x509/der';
import { publicKeyFromSpki } from '../../../../shared/src/x509/public-key';
import { tbsFields } from '../../../../shared/src/x509/tbs';
import { systemRootsFor } from '../../../_helpers/system-roots';

const spkiOf = (key: KeyObject): Buffer => key.export({ format: 'der', type: 'spki' });

test('M1 a key from the SubjectPublicKeyInfo equals OpenSSL’s for RSA, RSA-PSS, EC P-256/384/521, secp256k1, Ed25519, Ed448, DSA', (t) => {
  const keys: Array<[string, KeyObject]> = [
    ['rsa 2048', generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey],
    ['rsa 1024, e=3', generateKeyPairSync('rsa', { modulusLength: 1024, publicExponent: 3 }).publicKey],
    ['rsa-pss', generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey],
    ...(['P-256', 'P-384', 'P-521', 'secp256k1'] as const).map((namedCurve): [string, KeyObject] => [
      namedCurve,
      generateKeyPairSync('ec', { namedCurve }).publicKey,
    ]),
    ['ed25519', generateKeyPairSync('ed25519').publicKey],
    ['ed448', generateKeyPairSync('ed448').publicKey],
    ['dsa', generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 }).publicKey],
  ];
  for (const [name, key] of keys) {
    const spki = spkiOf(key);
    const made = publicKeyFromSpki(parseAsn1(spki));
    t.deepEqual(spkiOf(made), spki, name);
    t.is(made.asymmetricKeyType, key.asymmetricKeyType, name);
  }
});

test('M1 a compressed EC point and a malformed key go through OpenSSL’s decoder (which decides)', (t) => {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const uncompressed = spkiOf(key);
  // the same point compressed: 02/03 ‖ x (SEC 1 §2.3.3), in an SPKI with the shorter BIT STRING
  const point = uncompressed.subarray(uncompressed.length - 65);
  const compressedPoint = Buffer.concat([Buffer.from([2 + ((point[64] as number) & 1)]), point.subarray(1, 33)]);
  const head = uncompressed.subarray(0, uncompressed.length - 65 - 3);
  const bitString = Buffer.concat([Buffer.from([0x03, 34, 0]), compressedPoint]);
  const body = Buffer.concat([head.subarray(2), bitString]);
  const compressed = Buffer.concat([Buffer.from([0x30, body.length]), body]);
  // OpenSSL keeps the point compressed; the key is the same point
  t.deepEqual(publicKeyFromSpki(parseAsn1(compressed)).export({ format: 'jwk' }), key.export({ format: 'jwk' }));
  // a point that is not on the curve
  const offCurve = Buffer.from(uncompressed);
  offCurve[offCurve.length - 1] = (offCurve[offCurve.length - 1] as number) ^ 0x01;
  t.throws(() => publicKeyFromSpki(parseAsn1(offCurve)));
});

test('M1 the key of every system root equals OpenSSL’s', (t) => {
  const roots = systemRootsFor(t);
  if (!roots) return;
  for (const root of roots) {
    const spki = tbsFields(root.raw).subjectPublicKeyInfo;
    t.truthy(spki, root.subject);
    t.deepEqual(spkiOf(publicKeyFromSpki(spki as NonNullable<typeof spki>)), spkiOf(root.publicKey), root.subject);
  }
});
