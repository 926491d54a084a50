/**
 * A private key as an object of its own (SPEC R4): reusable by later requests, encrypted at rest. The domain only
 * sees metadata; the key material stays sealed inside storage and is opened by the key service.
 */
export interface PrivateKeyRecord {
  id: string;
  algorithm: string;
  /** SHA-256 of the SubjectPublicKeyInfo DER, hex: finds the key of a certificate without decrypting anything. */
  publicKeySha256: string;
  publicKeyPem: string;
  /** Envelope-sealed PKCS#8 DER (see secrets/envelope.ts); never leaves storage unsealed. */
  sealed: Buffer;
  /** Whether it may be exported at all (e.g. CA keys may not). */
  exportable: boolean;
  label: string | null;
  createdAt: Date;
}
