/** What the per-format extractors hand to `parseMaterial`: still-encoded certificates and keys. */

/** A private key as found in the input, not yet decrypted or decoded. */
export type EncodedKey =
  /** Unencrypted DER in one of the standard encodings. */
  | { readonly kind: 'pkcs8' | 'pkcs1' | 'sec1'; readonly der: Buffer }
  /** PKCS#8 `EncryptedPrivateKeyInfo` DER (`BEGIN ENCRYPTED PRIVATE KEY`). */
  | { readonly kind: 'encrypted-pkcs8'; readonly der: Buffer }
  /** OpenSSL legacy PEM encryption (`Proc-Type: 4,ENCRYPTED` + `DEK-Info`) around PKCS#1 or SEC1. */
  | {
      readonly kind: 'legacy-encrypted';
      readonly inner: 'pkcs1' | 'sec1';
      readonly dekInfo: string;
      readonly ciphertext: Buffer;
    };

/** Certificates (DER, in container order) and keys found in one input. */
export interface RawMaterial {
  readonly certificates: Buffer[];
  readonly keys: EncodedKey[];
}
