/**
 * internal-ca: native signing with Node's `crypto.sign` (OpenSSL) for the structures the CA encodes itself (CRLs,
 * PKCS#10 requests). ECDSA signatures come out DER-encoded (`Ecdsa-Sig-Value`), as X.509 wants them.
 *
 * Algorithms follow the CA key, as for certificates: ECDSA-SHA384 for EC-P384, ECDSA-SHA256 for EC-P256, and
 * SHA-256 with RSA (PKCS#1 v1.5) for RSA keys.
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { CertFleetError, keySpecOf, signatureHashFor, type KeySpec } from '@certfleet/shared';
import { algorithmIdentifier } from './der-writer';

/** Signature algorithm OIDs CertFleet writes and accepts. */
export const SignatureOid = {
  sha256WithRSA: '1.2.840.113549.1.1.11',
  sha384WithRSA: '1.2.840.113549.1.1.12',
  sha512WithRSA: '1.2.840.113549.1.1.13',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
} as const;

/** A private key ready to sign DER structures. */
export interface NodeSigner {
  readonly key: KeyObject;
  readonly keySpec: KeySpec;
  /** DER `AlgorithmIdentifier` of the signature this signer produces. */
  readonly algorithmIdentifier: Buffer;
  /** Signs `data` (the DER of a to-be-signed structure); returns the signature octets for a BIT STRING. */
  sign(data: Buffer): Buffer;
}

/**
 * Wraps a private key (PEM or KeyObject) as a {@link NodeSigner}.
 * @throws CertFleetError `CF_VALIDATION` for an unreadable key; `CF_IMPORT_UNSUPPORTED_ALGORITHM` for a key that
 *   is not a {@link KeySpec}.
 */
export function nodeSigner(privateKey: string | KeyObject): NodeSigner {
  let key: KeyObject;
  try {
    key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  } catch (err) {
    throw new CertFleetError('CF_VALIDATION', 'internal-ca: not a readable unencrypted private key', { cause: err });
  }
  if (key.type !== 'private') throw new CertFleetError('CF_VALIDATION', 'internal-ca: expected a private key');
  const keySpec = keySpecOf(key);
  if (keySpec === null) {
    throw new CertFleetError('CF_IMPORT_UNSUPPORTED_ALGORITHM', 'internal-ca: unsupported signing key', {
      details: { algorithm: key.asymmetricKeyType ?? 'unknown' },
    });
  }
  const hash = signatureHashFor(keySpec);
  const isRsa = key.asymmetricKeyType === 'rsa';
  const oid = isRsa
    ? hash === 'SHA-384'
      ? SignatureOid.sha384WithRSA
      : SignatureOid.sha256WithRSA
    : hash === 'SHA-384'
      ? SignatureOid.ecdsaWithSha384
      : SignatureOid.ecdsaWithSha256;
  const nodeHash = hash === 'SHA-384' ? 'sha384' : 'sha256';
  return {
    key,
    keySpec,
    // RFC 5754: RSA signature AlgorithmIdentifiers carry NULL parameters, ECDSA ones carry none.
    algorithmIdentifier: algorithmIdentifier(oid, isRsa ? 'null' : 'absent'),
    sign: (data) => (isRsa ? sign(nodeHash, data, key) : sign(nodeHash, data, { key, dsaEncoding: 'der' })),
  };
}
