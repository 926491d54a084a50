/**
 * Public key facts for the WeakKey check (SPEC M6), read from a certificate's SubjectPublicKeyInfo.
 *
 * The common key types (RSA, RSA-PSS, DSA, EC on a named curve, Ed25519, Ed448) are read from the DER with the
 * bounded reader: asking OpenSSL instead (`x509.publicKey.asymmetricKeyDetails`) builds a KeyObject and queries its
 * parameters, ≈ 50 µs for every leaf of a sweep (monitor-sweep profile). Anything else — explicit EC parameters,
 * an unknown curve or algorithm, an encoding the reader cannot follow — falls back to OpenSSL, so the facts are
 * always what OpenSSL would report (a unit test compares both for every supported type).
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import {
  type Asn1Node,
  UniversalTag,
  contentOf,
  isUniversal,
  readAlgorithmIdentifier,
  readBitStringBytes,
  readOid,
  parseAsn1,
  sequenceOf,
} from '../x509/der';

/** Public key facts used by the WeakKey check. */
export interface KeyFacts {
  /** `rsa`, `ec`, `ed25519`, `dsa`, … (`KeyObject.asymmetricKeyType`). */
  type: string;
  /** Modulus length (RSA, DSA) or curve size (EC); undefined when unknown. */
  bits?: number;
  /** OpenSSL curve name for EC keys. */
  curve?: string;
}

/** Named curves by OID, with OpenSSL's names and their sizes. */
const CURVES: Readonly<Record<string, { name: string; bits: number }>> = {
  '1.2.840.10045.3.1.1': { name: 'prime192v1', bits: 192 },
  '1.3.132.0.31': { name: 'secp192k1', bits: 192 },
  '1.3.132.0.33': { name: 'secp224r1', bits: 224 },
  '1.3.132.0.32': { name: 'secp224k1', bits: 224 },
  '1.2.840.10045.3.1.7': { name: 'prime256v1', bits: 256 },
  '1.3.132.0.10': { name: 'secp256k1', bits: 256 },
  '1.3.132.0.34': { name: 'secp384r1', bits: 384 },
  '1.3.132.0.35': { name: 'secp521r1', bits: 521 },
  '1.3.36.3.3.2.8.1.1.7': { name: 'brainpoolP256r1', bits: 256 },
  '1.3.36.3.3.2.8.1.1.11': { name: 'brainpoolP384r1', bits: 384 },
  '1.3.36.3.3.2.8.1.1.13': { name: 'brainpoolP512r1', bits: 512 },
};

/** Curve sizes by OpenSSL name (the fallback path). */
const CURVE_BITS: Readonly<Record<string, number>> = Object.fromEntries(
  Object.values(CURVES).map((c) => [c.name, c.bits])
);

const RSA = '1.2.840.113549.1.1.1';
const RSASSA_PSS = '1.2.840.113549.1.1.10';
const DSA = '1.2.840.10040.4.1';
const EC = '1.2.840.10045.2.1';
const ED25519 = '1.3.101.112';
const ED448 = '1.3.101.113';

/**
 * The key facts of a certificate: from `spki` (the SubjectPublicKeyInfo node of its DER) when it is one of the
 * common types, otherwise from OpenSSL through `x509()` (only called then).
 */
export function keyFactsOf(spki: Asn1Node | undefined, x509: () => X509Certificate): KeyFacts {
  try {
    const facts = spki === undefined ? undefined : keyFactsFromSpki(spki);
    if (facts) return facts;
  } catch {
    // an encoding the reader does not follow: OpenSSL decides
  }
  return keyFactsFromKeyObject(x509().publicKey);
}

/** Facts read from the DER, or undefined when this reader leaves the key to OpenSSL. */
export function keyFactsFromSpki(spki: Asn1Node): KeyFacts | undefined {
  const [algorithm, key] = sequenceOf(spki, 'subjectPublicKeyInfo');
  const { oid, parameters } = readAlgorithmIdentifier(algorithm, 'subjectPublicKeyInfo.algorithm');
  switch (oid) {
    case RSA:
    case RSASSA_PSS: {
      const [modulus] = sequenceOf(parseAsn1(readBitStringBytes(key, 'subjectPublicKey')), 'RSAPublicKey');
      const bits = unsignedBits(modulus);
      return bits === undefined ? undefined : { type: oid === RSA ? 'rsa' : 'rsa-pss', bits };
    }
    case DSA: {
      if (!isUniversal(parameters, UniversalTag.sequence)) return undefined;
      const bits = unsignedBits(sequenceOf(parameters, 'Dss-Parms')[0]);
      return bits === undefined ? undefined : { type: 'dsa', bits };
    }
    case EC: {
      if (!isUniversal(parameters, UniversalTag.objectIdentifier)) return undefined; // explicit parameters
      const curve = CURVES[readOid(parameters, 'namedCurve')];
      return curve === undefined ? undefined : { type: 'ec', curve: curve.name, bits: curve.bits };
    }
    case ED25519:
      return { type: 'ed25519', bits: 256 };
    case ED448:
      return { type: 'ed448', bits: 456 };
    default:
      return undefined;
  }
}

/** Facts as OpenSSL reports them (`KeyObject.asymmetricKeyType` / `asymmetricKeyDetails`). */
export function keyFactsFromKeyObject(key: KeyObject): KeyFacts {
  const type = key.asymmetricKeyType ?? 'unknown';
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'ec') {
    const curve = details.namedCurve;
    const bits = curve === undefined ? undefined : CURVE_BITS[curve];
    return { type, ...(curve === undefined ? {} : { curve }), ...(bits === undefined ? {} : { bits }) };
  }
  if (type === 'ed25519') return { type, bits: 256 };
  if (type === 'ed448') return { type, bits: 456 };
  return details.modulusLength === undefined ? { type } : { type, bits: details.modulusLength };
}

/** Bit length of a positive DER INTEGER (as OpenSSL's BN_num_bits), undefined when it is not one. */
function unsignedBits(node: Asn1Node | undefined): number | undefined {
  if (!isUniversal(node, UniversalTag.integer)) return undefined;
  const bytes = contentOf(node);
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length || ((bytes[0] as number) & 0x80) !== 0) return undefined; // zero or negative
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i] as number));
}
