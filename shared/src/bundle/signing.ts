import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/**
 * `manifest.sig` holds the raw 64-byte Ed25519 signature (RFC 8032) over the exact bytes of `manifest.json` —
 * no base64, no trailing newline. The verifier checks the bytes before it parses them.
 */
export const SIGNATURE_LENGTH = 64;

function ed25519Private(pem: string | KeyObject): KeyObject {
  const key = typeof pem === 'string' ? createPrivateKey(pem) : pem;
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError('bundle signing key must be Ed25519');
  return key;
}

function ed25519Public(pem: string | KeyObject): KeyObject {
  const key = typeof pem === 'string' ? createPublicKey(pem) : pem;
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError('bundle verification key must be Ed25519');
  return key;
}

/** Signs manifest bytes with an Ed25519 PKCS#8 PEM key. */
export function signManifest(manifestBytes: Uint8Array, signingKeyPem: string | KeyObject): Buffer {
  return sign(null, manifestBytes, ed25519Private(signingKeyPem));
}

/** True when `signature` is a valid Ed25519 signature of `manifestBytes` by the SPKI PEM key. */
export function verifyManifestSignature(
  manifestBytes: Uint8Array,
  signature: Uint8Array,
  trustedKeyPem: string | KeyObject
): boolean {
  if (signature.length !== SIGNATURE_LENGTH) return false;
  return verify(null, manifestBytes, ed25519Public(trustedKeyPem), signature);
}
