/**
 * Why a structure could not be decoded.
 * - `malformed`: the bytes are not a valid encoding (truncated, bad length, wrong tag, bad base64…).
 * - `unsupported`: the encoding is valid but uses an algorithm or feature CertFleet does not accept (DSA, GOST, an unknown OID…).
 */
export type DecodeFailure = 'malformed' | 'unsupported';

/**
 * Thrown by the `x509` decoders (ASN.1, PEM, certificates, keys). It is deliberately not a `CertFleetError`: the
 * caller decides which stable code a failure maps to (an import maps `malformed` to `CF_IMPORT_CORRUPT`,
 * `unsupported` to `CF_IMPORT_UNSUPPORTED_ALGORITHM`). Messages never contain secrets.
 */
export class DecodeError extends Error {
  readonly failure: DecodeFailure;

  constructor(failure: DecodeFailure, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DecodeError';
    this.failure = failure;
  }
}

/** Shorthand for `new DecodeError('malformed', message)`. */
export function malformed(message: string, cause?: unknown): DecodeError {
  return new DecodeError('malformed', message, cause === undefined ? undefined : { cause });
}

/** Shorthand for `new DecodeError('unsupported', message)`. */
export function unsupported(message: string, cause?: unknown): DecodeError {
  return new DecodeError('unsupported', message, cause === undefined ? undefined : { cause });
}
