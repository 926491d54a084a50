/** The key algorithms CertFleet accepts, named the same way for certificates and private keys. */
import type { KeyObject } from 'node:crypto';
import { unsupported } from './decode-error';

/** Every key algorithm CertFleet accepts. Anything else is rejected as unsupported. */
export const KEY_ALGORITHMS = ['RSA-2048', 'RSA-3072', 'RSA-4096', 'EC-P256', 'EC-P384', 'EC-P521', 'Ed25519'] as const;

/** One of {@link KEY_ALGORITHMS}. */
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

const CURVES: Readonly<Record<string, KeyAlgorithm>> = {
  prime256v1: 'EC-P256',
  secp384r1: 'EC-P384',
  secp521r1: 'EC-P521',
};

/**
 * Names the algorithm of a public or private key.
 * @throws DecodeError `unsupported` for DSA, RSA sizes other than 2048/3072/4096, other curves, Ed448, RSA-PSS…
 */
export function keyAlgorithmOf(key: KeyObject): KeyAlgorithm {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'rsa') {
    const name = `RSA-${details.modulusLength ?? 0}`;
    if ((KEY_ALGORITHMS as readonly string[]).includes(name)) return name as KeyAlgorithm;
    throw unsupported(`RSA key size ${details.modulusLength ?? 'unknown'} is not supported (use 2048, 3072 or 4096)`);
  }
  if (type === 'ec') {
    const curve = details.namedCurve === undefined ? undefined : CURVES[details.namedCurve];
    if (curve !== undefined) return curve;
    throw unsupported(
      `EC curve ${details.namedCurve ?? '(explicit parameters)'} is not supported (use P-256, P-384 or P-521)`
    );
  }
  if (type === 'ed25519') return 'Ed25519';
  throw unsupported(`${type ?? 'unknown'} keys are not supported`);
}
