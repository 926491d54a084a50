/**
 * What the TLS stack already did with the certificates of a probe, so that the checks do not do it again:
 * - the `X509Certificate` objects it made for the served DER (`getPeerX509Certificate()`), so that decoding the same
 *   bytes for the checks does not parse them a second time (keyed by the buffer object itself, weakly: a buffer
 *   registered here must never be mutated);
 * - which served certificate's key the handshake verified the leaf's signature with (see
 *   {@link rememberHandshakeVerified}).
 */
import { X509Certificate, createHash } from 'node:crypto';

const decoded = new WeakMap<Buffer, X509Certificate>();

/** Most served issuers kept decoded (a fleet serves few distinct intermediates, each on many endpoints). */
const ISSUER_CACHE_LIMIT = 1024;
const issuers = new Map<string, X509Certificate>();

/**
 * Decodes a certificate a server sent (an OpenSSL decode costs ≈ 0.1–0.25 ms and takes locks that worker threads
 * contend for): certificates after the leaf are kept by SHA-256, bounded, oldest dropped first, so an intermediate
 * served by thousands of endpoints is decoded once. Leaves are decoded each time (each is seen once per sweep).
 * @throws Error when the bytes are not a certificate
 */
export function decodeServed(der: Buffer, position: number): { x509: X509Certificate; sha256: string } {
  const sha256 = createHash('sha256').update(der).digest('hex');
  if (position === 0) return { x509: new X509Certificate(der), sha256 };
  let x509 = issuers.get(sha256);
  if (!x509) {
    x509 = new X509Certificate(der);
    if (issuers.size >= ISSUER_CACHE_LIMIT) issuers.delete(issuers.keys().next().value as string);
    issuers.set(sha256, x509);
  }
  return { x509, sha256 };
}

/** Registers `x509` as the decoding of `der` (which must be exactly `x509.raw`); returns `der`. */
export function rememberX509(der: Buffer, x509: X509Certificate): Buffer {
  decoded.set(der, x509);
  return der;
}

/** The `X509Certificate` registered for this very buffer, if any. */
export function decodedX509(der: Buffer): X509Certificate | undefined {
  return decoded.get(der);
}

const verifiedIssuer = new WeakMap<X509Certificate, string>();

/**
 * Records that OpenSSL verified the signature of `leaf` (the probe's own object) with the public key of the served
 * certificate whose `fingerprint256` is `issuerFingerprint256`, during the handshake. Only the probe calls this, and
 * only when the handshake's verification proves it (probe.ts). Path validation then skips verifying that one pair
 * again (an ECDSA verification per endpoint); it never skips a pair it was not told about.
 */
export function rememberHandshakeVerified(leaf: X509Certificate, issuerFingerprint256: string): void {
  verifiedIssuer.set(leaf, issuerFingerprint256);
}

/** The `fingerprint256` of the served certificate whose key verified `leaf` in the handshake, if recorded. */
export function handshakeVerifiedIssuer(leaf: X509Certificate): string | undefined {
  return verifiedIssuer.get(leaf);
}
