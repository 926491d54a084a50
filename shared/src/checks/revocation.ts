/**
 * Revocation status (SPEC M6, OCSP and CRL). The check is pure: it judges a {@link RevocationInfo} that an async
 * fetcher (shared/src/revocation: `revocationStatus` asks the OCSP responder first and falls back to the CRL)
 * obtained before the checks ran and put into `CheckContext.revocation`. No revocation info in the context means
 * nobody asked (or the leaf names neither an OCSP responder nor a CRL): the check is skipped.
 */
import type { Check, CheckResult } from './types';

/** What a revocation source said about the leaf. */
export interface RevocationInfo {
  /** `unknown`: revocation status was asked for but could not be obtained (unreachable, bad signature, stale). */
  status: 'good' | 'revoked' | 'unknown';
  source: 'crl' | 'ocsp';
  /** RFC 5280 CRLReason name (`keyCompromise`, …) when revoked and the source gave one. */
  reason?: string;
  /** ISO-8601 revocation date when revoked. */
  revokedAt?: string;
  /** For a human: where the answer came from, or why there is none (which source failed, and how). */
  message: string;
  /**
   * For `unknown`: `unreachable` when no source could be reached at all (refused, timeout, HTTP 5xx);
   * `not-known` when the OCSP responder answered "unknown"; `invalid` when an answer came but could not be trusted
   * (signature, responder, CertID, nonce, freshness, malformed); `no-issuer` when the issuer certificate needed to
   * ask or to verify was not available. Absent means `invalid` (older producers).
   */
  cause?: 'unreachable' | 'not-known' | 'invalid' | 'no-issuer';
  /** ISO-8601 thisUpdate / nextUpdate of the answer that was used, when known. */
  thisUpdate?: string;
  nextUpdate?: string;
}

/** The leaf is not revoked according to its CRL (or OCSP responder), when revocation info was fetched. */
export const notRevoked: Check = (e, ctx): CheckResult => {
  const code = 'NotRevoked';
  if (!e.leaf) return { code, status: 'skipped', message: 'no certificate to check' };
  const r = ctx.revocation;
  if (!r) return { code, status: 'skipped', message: 'revocation status not requested' };
  const source = r.source.toUpperCase();
  switch (r.status) {
    case 'good':
      return { code, status: 'ok', message: `not revoked (${source}): ${r.message}` };
    case 'revoked': {
      const when = r.revokedAt ? ` on ${r.revokedAt}` : '';
      const why = r.reason ? ` (reason ${r.reason})` : '';
      return {
        code,
        status: 'failing',
        reason: 'CertificateRevoked',
        message: `the certificate (serial ${e.leaf.serial}) was revoked${when}${why} according to its ${source}: ${r.message}`,
      };
    }
    default:
      if (r.cause === 'unreachable')
        return {
          code,
          status: 'warning',
          reason: 'RevocationUnreachable',
          message: `revocation status unknown, ${source} unreachable: ${r.message}`,
        };
      return {
        code,
        status: 'warning',
        reason: 'RevocationUnknown',
        message: `revocation status unknown (${source}): ${r.message}`,
      };
  }
};
