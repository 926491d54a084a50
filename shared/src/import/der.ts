/** Binary DER files holding one certificate (`.cer`, `.der`, `.crt`) or one private key (PKCS#8, PKCS#1, SEC1, encrypted PKCS#8). */
import { malformed } from '../x509/decode-error';
import { UniversalTag, isUniversal, parseAsn1, sequenceOf } from '../x509/der';
import type { EncodedKey, RawMaterial } from './raw-material';

/** Extracts the certificate or the key of a DER file. */
export function extractDer(input: Buffer): RawMaterial {
  const key = classifyKeyDer(input);
  return key === undefined ? { certificates: [input], keys: [] } : { certificates: [], keys: [key] };
}

/**
 * Recognises a DER private key by shape; `undefined` for a certificate (three elements: tbsCertificate,
 * signatureAlgorithm, signature).
 * @throws DecodeError `malformed` when the input is neither
 */
export function classifyKeyDer(input: Buffer): EncodedKey | undefined {
  const parts = sequenceOf(parseAsn1(input), 'DER');
  const [first, second, third] = parts;
  if (isUniversal(first, UniversalTag.sequence)) {
    if (
      parts.length === 3 &&
      isUniversal(second, UniversalTag.sequence) &&
      isUniversal(third, UniversalTag.bitString)
    ) {
      return undefined;
    }
    if (parts.length === 2 && isUniversal(second, UniversalTag.octetString))
      return { kind: 'encrypted-pkcs8', der: input };
  }
  if (isUniversal(first, UniversalTag.integer)) {
    if (isUniversal(second, UniversalTag.sequence)) return { kind: 'pkcs8', der: input };
    if (isUniversal(second, UniversalTag.octetString)) return { kind: 'sec1', der: input };
    if (parts.length >= 9 && parts.every((p) => isUniversal(p, UniversalTag.integer)))
      return { kind: 'pkcs1', der: input };
  }
  throw malformed('DER: neither a certificate nor a private key');
}
