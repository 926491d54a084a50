/** Certificate fingerprints as CertFleet stores and prints them (SPEC R3, M2, D6): lowercase hex, no colons. */
import { createHash } from 'node:crypto';

/** SHA-1 of `der` as 40 lowercase hex digits, no colons (kept for the manual's Appendix A thumbprints). */
export function sha1Fingerprint(der: Buffer): string {
  return createHash('sha1').update(der).digest('hex');
}

/** SHA-256 of `der` as 64 lowercase hex digits, no colons. */
export function sha256Fingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

/** Both fingerprints of one DER certificate. */
export function fingerprints(der: Buffer): { sha1: string; sha256: string } {
  return { sha1: sha1Fingerprint(der), sha256: sha256Fingerprint(der) };
}
