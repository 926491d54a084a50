/**
 * `X509Certificate` objects already made for a DER buffer, e.g. by the TLS stack during a probe
 * (`getPeerX509Certificate()`), so that decoding the same bytes for the checks does not parse them a second time.
 * Keyed by the buffer object itself (weakly): a buffer registered here must never be mutated.
 */
import type { X509Certificate } from 'node:crypto';

const decoded = new WeakMap<Buffer, X509Certificate>();

/** Registers `x509` as the decoding of `der` (which must be exactly `x509.raw`); returns `der`. */
export function rememberX509(der: Buffer, x509: X509Certificate): Buffer {
  decoded.set(der, x509);
  return der;
}

/** The `X509Certificate` registered for this very buffer, if any. */
export function decodedX509(der: Buffer): X509Certificate | undefined {
  return decoded.get(der);
}
