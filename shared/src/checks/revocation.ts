/**
 * Revocation status (SPEC M6, CRL; OCSP later). The check is pure: it judges a {@link RevocationInfo} that an
 * async fetcher (shared/src/revocation/crl-fetcher.ts) obtained before the checks ran and put into
 * `CheckContext.revocation`. No revocation info in the context means nobody asked: the check is skipped.
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
  /** For a human: where the answer came from, or why there is none. */
  message: string;
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
      return {
        code,
        status: 'warning',
        reason: 'RevocationUnknown',
        message: `revocation status unknown (${source}): ${r.message}`,
      };
  }
};
