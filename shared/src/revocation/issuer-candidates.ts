import { X509Certificate } from 'node:crypto';

/**
 * The certificates that may have issued a leaf (SPEC M6): the served chain after the leaf (undecodable entries are
 * skipped: junk in the served chain), then `extra` (trust set roots, AIA-fetched intermediates).
 */
export function issuerCandidates(chain: readonly Buffer[], extra: readonly X509Certificate[] = []): X509Certificate[] {
  const candidates: X509Certificate[] = [];
  for (const der of chain.slice(1)) {
    try {
      candidates.push(new X509Certificate(der));
    } catch {
      /* junk in the served chain */
    }
  }
  candidates.push(...extra);
  return candidates;
}
