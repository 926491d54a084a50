/** Object identifiers CertFleet recognises, by role. Only what the decoders branch on is listed. */
export const Oid = {
  // public key algorithms (SubjectPublicKeyInfo, PrivateKeyInfo)
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecPublicKey: '1.2.840.10045.2.1',
  ed25519: '1.3.101.112',
  // named curves
  secp256r1: '1.2.840.10045.3.1.7',
  secp384r1: '1.3.132.0.34',
  secp521r1: '1.3.132.0.35',
  // extensions
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  // CMS / PKCS#7 content types
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  encryptedData: '1.2.840.113549.1.7.6',
} as const;

/**
 * Readable names for algorithm OIDs that show up in rejected material, so an error can say
 * "DSA (1.2.840.10040.4.1)" rather than a bare number.
 */
export const ALGORITHM_NAMES: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.1': 'RSA',
  '1.2.840.113549.1.1.10': 'RSASSA-PSS',
  '1.2.840.10045.2.1': 'EC',
  '1.2.840.10040.4.1': 'DSA',
  '1.2.840.113549.1.3.1': 'DH',
  '1.2.840.10046.2.1': 'X9.42 DH',
  '1.3.101.110': 'X25519',
  '1.3.101.111': 'X448',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
  '1.2.643.2.2.19': 'GOST R 34.10-2001',
  '1.2.643.7.1.1.1.1': 'GOST R 34.10-2012 (256)',
  '1.2.643.7.1.1.1.2': 'GOST R 34.10-2012 (512)',
  '1.2.156.10197.1.301': 'SM2',
  '1.2.840.10045.3.1.1': 'P-192',
  '1.3.132.0.10': 'secp256k1',
  '1.3.36.3.3.2.8.1.1.7': 'brainpoolP256r1',
};

/** `NAME (oid)` when the OID has a known name, else the OID. */
export function describeOid(oid: string): string {
  const name = ALGORITHM_NAMES[oid];
  return name === undefined ? oid : `${name} (${oid})`;
}
