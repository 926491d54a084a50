import { X509Certificate } from 'node:crypto';

/** How a built chain ends. */
export type ChainAnchor = 'self-signed' | 'trusted-root' | null;

export interface ChainResult {
  /** The issuers above the leaf, nearest first (a self-signed root from the candidates is included; trusted-store roots are not). */
  chain: X509Certificate[];
  complete: boolean;
  anchor: ChainAnchor;
  /** The trusted root the chain ends at (for `trusted-root`). */
  anchorCertificate?: X509Certificate;
  /** Why the chain is incomplete or invalid, for a human. */
  problem?: string;
}

const MAX_DEPTH = 10;

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** Tolerated clock skew for a certificate that was issued a moment ago by a CA whose clock runs ahead. */
export const CLOCK_SKEW_TOLERANCE_MS = 5 * 60_000;

function validAt(cert: X509Certificate, now: Date): boolean {
  return new Date(cert.validFrom).getTime() - CLOCK_SKEW_TOLERANCE_MS <= now.getTime() && now <= new Date(cert.validTo);
}

/**
 * Builds and verifies the issuer chain of `leaf` (SPEC A4, D6): each link is checked by name and signature and for
 * validity at `now`; the chain must end in a self-signed certificate or in one issued by a `trustedRoots` entry.
 * `candidates` may hold unrelated certificates and duplicates (known intermediates, uploaded chain files).
 */
export function buildChain(
  leaf: X509Certificate,
  candidates: readonly X509Certificate[],
  trustedRoots: readonly X509Certificate[],
  now: Date
): ChainResult {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>([leaf.fingerprint256]);
  if (!validAt(leaf, now))
    return {
      chain,
      complete: false,
      anchor: null,
      problem: `the certificate is not valid at ${now.toISOString()} (valid ${leaf.validFrom} – ${leaf.validTo})`,
    };
  let current = leaf;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    if (issuedBy(current, current)) return { chain, complete: true, anchor: 'self-signed' };
    const root = trustedRoots.find((r) => issuedBy(current, r));
    if (root) {
      if (!validAt(root, now))
        return {
          chain,
          complete: false,
          anchor: null,
          problem: `the trusted root ${root.subject.replace(/\n/g, ', ')} has expired`,
        };
      return { chain, complete: true, anchor: 'trusted-root', anchorCertificate: root };
    }
    const next = candidates.find((c) => !seen.has(c.fingerprint256) && issuedBy(current, c));
    if (!next) {
      return {
        chain,
        complete: false,
        anchor: null,
        problem: `issuer "${current.issuer.replace(/\n/g, ', ')}" not found among the chain and known intermediates`,
      };
    }
    if (!next.ca)
      return {
        chain,
        complete: false,
        anchor: null,
        problem: `"${next.subject.replace(/\n/g, ', ')}" signs certificates but is not a CA`,
      };
    if (!validAt(next, now))
      return {
        chain,
        complete: false,
        anchor: null,
        problem: `chain certificate "${next.subject.replace(/\n/g, ', ')}" is not valid at ${now.toISOString()}`,
      };
    seen.add(next.fingerprint256);
    chain.push(next);
    current = next;
  }
  return { chain, complete: false, anchor: null, problem: `chain longer than ${MAX_DEPTH} certificates` };
}

/** Parses every PEM certificate in `texts`, skipping what does not parse (candidate pools may hold junk). */
export function certificatesFromPems(texts: readonly string[]): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const text of texts) {
    for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)) {
      try {
        out.push(new X509Certificate(m[0]));
      } catch {
        /* not a certificate: ignored */
      }
    }
  }
  return out;
}
