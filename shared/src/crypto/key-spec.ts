import { z } from 'zod';

/**
 * The key algorithms and sizes CertFleet generates and accepts for TLS server keys (SPEC A1).
 *
 * The order is the order shown in the console; `EC-P256` is the usual choice for new definitions,
 * `RSA-2048` the most compatible one.
 */
export const KEY_SPECS = ['RSA-2048', 'RSA-3072', 'RSA-4096', 'EC-P256', 'EC-P384'] as const;

/** One of {@link KEY_SPECS}: `RSA-<modulus bits>` or `EC-<NIST curve>`. */
export type KeySpec = (typeof KEY_SPECS)[number];

/** zod schema for a {@link KeySpec}, for configs, REST bodies and stored definitions. */
export const keySpecSchema = z
  .enum(KEY_SPECS)
  .describe(
    'Key algorithm and size: RSA-2048, RSA-3072, RSA-4096 (RSA, e = 65537), EC-P256 or EC-P384 (ECDSA, NIST curves)'
  );

/** The algorithm parameters behind a {@link KeySpec}, in the names Node and WebCrypto use. */
export type KeySpecParams =
  | { kind: 'rsa'; modulusLength: 2048 | 3072 | 4096 }
  | {
      kind: 'ec';
      /** WebCrypto / JOSE curve name. */
      namedCurve: 'P-256' | 'P-384';
      /** OpenSSL / Node `KeyObject.asymmetricKeyDetails.namedCurve` name. */
      opensslCurve: 'prime256v1' | 'secp384r1';
    };

/** Maps a {@link KeySpec} to its algorithm parameters. */
export function keySpecParams(spec: KeySpec): KeySpecParams {
  switch (spec) {
    case 'RSA-2048':
      return { kind: 'rsa', modulusLength: 2048 };
    case 'RSA-3072':
      return { kind: 'rsa', modulusLength: 3072 };
    case 'RSA-4096':
      return { kind: 'rsa', modulusLength: 4096 };
    case 'EC-P256':
      return { kind: 'ec', namedCurve: 'P-256', opensslCurve: 'prime256v1' };
    case 'EC-P384':
      return { kind: 'ec', namedCurve: 'P-384', opensslCurve: 'secp384r1' };
  }
}

/** True for the RSA key specs (which also get `keyEncipherment` in a server certificate's key usage). */
export function isRsaKeySpec(spec: KeySpec): spec is 'RSA-2048' | 'RSA-3072' | 'RSA-4096' {
  return spec.startsWith('RSA-');
}
