/**
 * The signature a TLS server makes with its certificate's key during the handshake, as the probe's certificate grab
 * checks it: TLS 1.3's CertificateVerify (RFC 8446 §4.4.3) and the ServerKeyExchange of an (EC)DHE suite in
 * TLS 1.2 (RFC 5246 §7.4.3, RFC 8422 §5.4) and TLS 1.0/1.1 (RFC 4346 §7.4.3: RSA over MD5 ‖ SHA-1, ECDSA over SHA-1).
 */
import { type KeyObject, constants, verify } from 'node:crypto';

/** `valid`, `invalid`, or `unsupported` (a key or scheme this code does not verify: DSA). */
export type SignatureVerdict = 'valid' | 'invalid' | 'unsupported';

interface Scheme {
  /** `null` for EdDSA (the digest is intrinsic). */
  digest: string | null;
  keyType: string;
  /** The curve a TLS 1.3 ECDSA scheme is bound to (TLS 1.2 pairs any curve with the hash). */
  curve?: string;
  /** Salt length of an RSA-PSS scheme. */
  pss?: number;
  /** Allowed in a TLS 1.3 CertificateVerify. */
  tls13: boolean;
}

/** Signature schemes (RFC 8446 §4.2.3) and TLS 1.2's hash/signature pairs (RFC 5246 §7.4.1.4.1) the grab offers. */
const SCHEMES: Readonly<Record<number, Scheme>> = {
  0x0201: { digest: 'sha1', keyType: 'rsa', tls13: false },
  0x0301: { digest: 'sha224', keyType: 'rsa', tls13: false },
  0x0401: { digest: 'sha256', keyType: 'rsa', tls13: false },
  0x0501: { digest: 'sha384', keyType: 'rsa', tls13: false },
  0x0601: { digest: 'sha512', keyType: 'rsa', tls13: false },
  0x0203: { digest: 'sha1', keyType: 'ec', tls13: false },
  0x0303: { digest: 'sha224', keyType: 'ec', tls13: false },
  0x0403: { digest: 'sha256', keyType: 'ec', curve: 'prime256v1', tls13: true },
  0x0503: { digest: 'sha384', keyType: 'ec', curve: 'secp384r1', tls13: true },
  0x0603: { digest: 'sha512', keyType: 'ec', curve: 'secp521r1', tls13: true },
  0x0807: { digest: null, keyType: 'ed25519', tls13: true },
  0x0808: { digest: null, keyType: 'ed448', tls13: true },
  0x0804: { digest: 'sha256', keyType: 'rsa', pss: 32, tls13: true },
  0x0805: { digest: 'sha384', keyType: 'rsa', pss: 48, tls13: true },
  0x0806: { digest: 'sha512', keyType: 'rsa', pss: 64, tls13: true },
  0x0809: { digest: 'sha256', keyType: 'rsa-pss', pss: 32, tls13: true },
  0x080a: { digest: 'sha384', keyType: 'rsa-pss', pss: 48, tls13: true },
  0x080b: { digest: 'sha512', keyType: 'rsa-pss', pss: 64, tls13: true },
};

function verified(digest: string | null, content: Buffer, key: KeyObject, signature: Buffer, pss?: number): boolean {
  try {
    return verify(
      digest,
      content,
      pss ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: pss } : key,
      signature
    );
  } catch {
    return false; // a signature OpenSSL cannot even parse
  }
}

/**
 * A TLS 1.3 CertificateVerify or TLS 1.2 ServerKeyExchange signature made with `scheme`. In TLS 1.3 a scheme outside
 * RFC 8446's list, or an ECDSA scheme on another curve than the key's, is invalid (OpenSSL's client refuses it too);
 * in TLS 1.2 a scheme this code does not know (DSA) is `unsupported`.
 */
export function verifyServerSignature(
  key: KeyObject,
  scheme: number,
  content: Buffer,
  signature: Buffer,
  tls13: boolean
): SignatureVerdict {
  const s = SCHEMES[scheme];
  if (!s) return tls13 ? 'invalid' : 'unsupported';
  if ((tls13 && !s.tls13) || key.asymmetricKeyType !== s.keyType) return 'invalid';
  if (tls13 && s.curve !== undefined && key.asymmetricKeyDetails?.namedCurve !== s.curve) return 'invalid';
  return verified(s.digest, content, key, signature, s.pss) ? 'valid' : 'invalid';
}

/** A TLS 1.0/1.1 ServerKeyExchange signature: RSA (PKCS #1 over MD5 ‖ SHA-1) or ECDSA (SHA-1). */
export function verifyLegacyServerSignature(key: KeyObject, content: Buffer, signature: Buffer): SignatureVerdict {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return verified('md5-sha1', content, key, signature) ? 'valid' : 'invalid';
    case 'ec':
      return verified('sha1', content, key, signature) ? 'valid' : 'invalid';
    default:
      return 'unsupported';
  }
}
