/**
 * A KeyObject from a SubjectPublicKeyInfo. OpenSSL 3.0's DER decoder makes one in ≈ 110–125 µs; the same RSA key
 * given as a JWK takes ≈ 7 µs and an EC key ≈ 70 µs (the point is still validated), which matters for a key used
 * once per probed endpoint (the leaf's, to verify the handshake signature). Key types and encodings a JWK cannot
 * carry (RSA-PSS, DSA, explicit or unnamed curves, compressed points) go through the DER decoder.
 */
import { type KeyObject, createPublicKey } from 'node:crypto';
import {
  type Asn1Node,
  UniversalTag,
  contentOf,
  encodingOf,
  isUniversal,
  parseAsn1,
  readAlgorithmIdentifier,
  readBitStringBytes,
  readOid,
  sequenceOf,
} from './der';

const RSA = '1.2.840.113549.1.1.1';
const EC = '1.2.840.10045.2.1';
/** JWK curve names and coordinate lengths of the named curves a JWK can carry. */
const JWK_CURVES: Readonly<Record<string, { crv: string; size: number }>> = {
  '1.2.840.10045.3.1.7': { crv: 'P-256', size: 32 },
  '1.3.132.0.34': { crv: 'P-384', size: 48 },
  '1.3.132.0.35': { crv: 'P-521', size: 66 },
};

/**
 * The public key of `spki` (the SubjectPublicKeyInfo node of a certificate).
 * @throws Error when OpenSSL rejects the key
 */
export function publicKeyFromSpki(spki: Asn1Node): KeyObject {
  const jwk = jwkOf(spki);
  return jwk
    ? createPublicKey({ key: jwk, format: 'jwk' })
    : createPublicKey({ key: encodingOf(spki), format: 'der', type: 'spki' });
}

type PublicJwk = { kty: 'RSA'; n: string; e: string } | { kty: 'EC'; crv: string; x: string; y: string };

function jwkOf(spki: Asn1Node): PublicJwk | undefined {
  try {
    const [algorithm, key] = sequenceOf(spki, 'subjectPublicKeyInfo');
    const { oid, parameters } = readAlgorithmIdentifier(algorithm, 'subjectPublicKeyInfo.algorithm');
    const bits = readBitStringBytes(key, 'subjectPublicKey');
    if (oid === RSA) {
      const fields = sequenceOf(parseAsn1(bits), 'RSAPublicKey');
      const [n, e] = fields.map((f) => (isUniversal(f, UniversalTag.integer) ? unsigned(contentOf(f)) : undefined));
      return fields.length === 2 && n && e
        ? { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }
        : undefined;
    }
    if (oid === EC && isUniversal(parameters, UniversalTag.objectIdentifier)) {
      const curve = JWK_CURVES[readOid(parameters, 'namedCurve')];
      if (!curve || bits.length !== 1 + 2 * curve.size || bits[0] !== 4) return undefined; // not an uncompressed point
      return {
        kty: 'EC',
        crv: curve.crv,
        x: bits.subarray(1, 1 + curve.size).toString('base64url'),
        y: bits.subarray(1 + curve.size).toString('base64url'),
      };
    }
  } catch {
    // an encoding this reader does not follow: OpenSSL's decoder decides
  }
  return undefined;
}

/** A positive DER INTEGER's magnitude without its sign octet; undefined for zero or a negative value. */
function unsigned(bytes: Buffer): Buffer | undefined {
  if (bytes.length === 0 || ((bytes[0] as number) & 0x80) !== 0) return undefined;
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes[i] === 0 ? undefined : bytes.subarray(i);
}
