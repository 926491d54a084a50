/**
 * The leaf's revocation status from the best source it names (SPEC M6): its OCSP responder when it has one, else
 * (or when OCSP gives no definite answer) its CRL. The result feeds `CheckContext.revocation`; the pure
 * `NotRevoked` check judges it.
 *
 * - OCSP good/revoked → that answer.
 * - OCSP unreachable, unverifiable or "unknown" → the CRL's answer when it has a definite one (its message notes
 *   why OCSP was not used); otherwise `unknown` naming both sources and what failed, with cause `unreachable`
 *   only when neither could be reached.
 * - Neither an OCSP URL nor an http CDP → undefined (`NotRevoked` is skipped).
 */
import type { X509Certificate } from 'node:crypto';
import type { RevocationInfo } from '../checks/revocation';
import { type CrlCache, type downloadCrl, crlRevocationStatus } from './crl-fetcher';
import { type OcspCache, type OcspPost, ocspRevocationStatus } from './ocsp-fetcher';

export interface RevocationCheckOptions {
  now?: Date;
  /** Candidate issuer certificates besides the served chain (trust set roots, AIA-fetched intermediates). */
  issuers?: readonly X509Certificate[];
  /** Budget of each OCSP request and each CRL download. @default 5000 */
  timeoutMs?: number;
  /** Ask the OCSP responder. @default true */
  ocsp?: boolean;
  /** Fall back to the CRL. @default true */
  crl?: boolean;
  ocspCache?: OcspCache;
  crlCache?: CrlCache;
  /** Test seams. */
  postOcsp?: OcspPost;
  downloadCrl?: typeof downloadCrl;
}

/**
 * OCSP first, CRL as fallback (see the module comment). Never throws.
 * @example const revocation = await revocationStatus(observation.chain, { issuers: trustSet.roots });
 */
export async function revocationStatus(
  chain: readonly Buffer[],
  opts: RevocationCheckOptions = {}
): Promise<RevocationInfo | undefined> {
  const now = opts.now ?? new Date();
  const common = {
    now,
    ...(opts.issuers ? { issuers: opts.issuers } : {}),
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
  };
  const ocsp =
    opts.ocsp === false
      ? undefined
      : await ocspRevocationStatus(chain, {
          ...common,
          ...(opts.ocspCache ? { cache: opts.ocspCache } : {}),
          ...(opts.postOcsp ? { post: opts.postOcsp } : {}),
        }).catch((err: unknown): RevocationInfo => ({
          status: 'unknown',
          source: 'ocsp',
          cause: 'invalid',
          message: `OCSP: ${err instanceof Error ? err.message : String(err)}`,
        }));
  if (ocsp && ocsp.status !== 'unknown') return ocsp;
  const crl =
    opts.crl === false
      ? undefined
      : await crlRevocationStatus(chain, {
          ...common,
          ...(opts.crlCache ? { cache: opts.crlCache } : {}),
          ...(opts.downloadCrl ? { download: opts.downloadCrl } : {}),
        }).catch((err: unknown): RevocationInfo => ({
          status: 'unknown',
          source: 'crl',
          cause: 'invalid',
          message: `CRL: ${err instanceof Error ? err.message : String(err)}`,
        }));
  if (!ocsp) return crl;
  if (!crl) return ocsp;
  if (crl.status !== 'unknown') return { ...crl, message: `${crl.message} (OCSP gave no answer: ${ocsp.message})` };
  // `unreachable` only when neither source could be reached; otherwise the more telling cause
  const cause = ocsp.cause === 'unreachable' ? (crl.cause ?? 'invalid') : (ocsp.cause ?? 'invalid');
  return { status: 'unknown', source: 'ocsp', cause, message: `${ocsp.message}; CRL: ${crl.message}` };
}
