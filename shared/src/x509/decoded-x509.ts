/**
 * What the TLS stack already did with the certificates of a probe, so that the checks do not do it again:
 * - the served DER buffers themselves, with their SHA-256 (a buffer registered here must never be mutated: it is
 *   known by identity, weakly), and the `X509Certificate` objects already made for some of them;
 * - which served certificate's key the handshake verified the leaf's signature with (see
 *   {@link rememberHandshakeVerified}).
 */
import { X509Certificate } from 'node:crypto';

const decoded = new WeakMap<Buffer, X509Certificate>();
const servedDigests = new WeakMap<Buffer, string>();

/** Most served issuers kept decoded (a fleet serves few distinct intermediates, each on many endpoints). */
const ISSUER_CACHE_LIMIT = 1024;
const issuers = new Map<string, X509Certificate>();

/**
 * Decodes a certificate a server sent after its leaf (an OpenSSL decode costs ≈ 0.1–0.25 ms and takes locks that
 * worker threads contend for): kept by SHA-256, bounded, oldest dropped first, so an intermediate served by
 * thousands of endpoints is decoded once. Leaves are not decoded here at all: the checks read them from the DER and
 * ask OpenSSL only when a signature must be verified.
 * @throws Error when the bytes are not a certificate
 */
export function decodeServedIssuer(der: Buffer, sha256: string): X509Certificate {
  let x509 = issuers.get(sha256);
  if (!x509) {
    x509 = new X509Certificate(der);
    if (issuers.size >= ISSUER_CACHE_LIMIT) issuers.delete(issuers.keys().next().value as string);
    issuers.set(sha256, x509);
  }
  return x509;
}

/**
 * Registers a buffer the probe will never change, with its SHA-256 and, when one exists, its `X509Certificate`
 * (which must be exactly `der` decoded); returns `der`.
 */
export function rememberServed(der: Buffer, sha256: string, x509?: X509Certificate): Buffer {
  servedDigests.set(der, sha256);
  if (x509) decoded.set(der, x509);
  return der;
}

/** The SHA-256 registered for this very buffer, if it is a probe's. */
export function servedSha256(der: Buffer): string | undefined {
  return servedDigests.get(der);
}

/** The `X509Certificate` registered for this very buffer, if any. */
export function decodedX509(der: Buffer): X509Certificate | undefined {
  return decoded.get(der);
}

/** Most handshake results kept: only the probes in flight need theirs, the bound only caps memory. */
const VERIFIED_LIMIT = 4096;
const verifiedIssuer = new Map<string, string>();

/**
 * Records that OpenSSL verified the signature of the certificate with SHA-256 `leafSha256` with the public key of
 * the served certificate with SHA-256 `issuerSha256` during a handshake. A signature's validity depends only on
 * these bytes, so the record holds for any later evaluation of the same pair. Only the probe calls this, and only
 * when the handshake's verification proves it (probe.ts). Path validation then skips verifying that one pair again
 * (and OpenSSL's issuer match, which the same handshake made); it never skips a pair it was not told about.
 */
export function rememberHandshakeVerified(leafSha256: string, issuerSha256: string): void {
  if (verifiedIssuer.size >= VERIFIED_LIMIT) verifiedIssuer.delete(verifiedIssuer.keys().next().value as string);
  verifiedIssuer.set(leafSha256, issuerSha256);
}

/** The SHA-256 of the served certificate whose key verified the certificate `leafSha256` in a handshake, if any. */
export function handshakeVerifiedIssuer(leafSha256: string): string | undefined {
  return verifiedIssuer.get(leafSha256);
}
