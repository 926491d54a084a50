/**
 * Orders certificates leaf first, then each certificate's issuer in turn.
 *
 * The leaf is the certificate matching the private key when there is one; otherwise a certificate that issues
 * no other certificate in the set (an end-entity one when several qualify, then the earliest). "Issues" means
 * names/key identifiers match (`X509Certificate.checkIssued`) and the signature verifies. Certificates that are
 * not on the leaf's issuer path (unrelated roots, cross-signed duplicates) follow, in input order.
 */
import type { KeyObject } from 'node:crypto';
import type { ParsedCertificate } from '../x509/certificate';
import { privateKeyMatchesCertificate } from '../x509/key-match';

/** The ordered certificates, and whether the key (if any) belongs to the leaf. */
export interface OrderedChain {
  readonly certificates: ParsedCertificate[];
  /** null when there is no private key. */
  readonly keyMatchesLeaf: boolean | null;
}

/** Orders `certificates` (which must be non-empty and free of duplicates). */
export function orderChain(certificates: readonly ParsedCertificate[], privateKey?: KeyObject): OrderedChain {
  const issues = issuerRelation(certificates);
  const keyIndex =
    privateKey === undefined ? -1 : certificates.findIndex((c) => privateKeyMatchesCertificate(c.x509, privateKey));
  const leafIndex = keyIndex >= 0 ? keyIndex : pickLeaf(certificates, issues);
  const ordered = [leafIndex];
  const remaining = new Set(certificates.keys());
  remaining.delete(leafIndex);
  for (let current = leafIndex; ;) {
    const issuer = [...remaining].find((candidate) => issues(candidate, current));
    if (issuer === undefined) break;
    ordered.push(issuer);
    remaining.delete(issuer);
    current = issuer;
  }
  ordered.push(...remaining);
  return {
    certificates: ordered.map((i) => certificates[i] as ParsedCertificate),
    keyMatchesLeaf: privateKey === undefined ? null : keyIndex >= 0,
  };
}

function pickLeaf(
  certificates: readonly ParsedCertificate[],
  issues: (issuer: number, subject: number) => boolean
): number {
  const indexes = [...certificates.keys()];
  const issuesNothing = indexes.filter((i) => !indexes.some((j) => i !== j && issues(i, j)));
  const endEntity = issuesNothing.find((i) => !(certificates[i] as ParsedCertificate).isCa);
  return endEntity ?? issuesNothing[0] ?? 0;
}

/** A memoized "certificate i issued certificate j" predicate (never true for i === j). */
function issuerRelation(certificates: readonly ParsedCertificate[]): (issuer: number, subject: number) => boolean {
  const memo = new Map<number, boolean>();
  return (issuer, subject) => {
    if (issuer === subject) return false;
    const key = issuer * certificates.length + subject;
    let result = memo.get(key);
    if (result === undefined) {
      const issuerCert = (certificates[issuer] as ParsedCertificate).x509;
      const subjectCert = (certificates[subject] as ParsedCertificate).x509;
      result = subjectCert.checkIssued(issuerCert) && verifies(subjectCert, issuerCert.publicKey);
      memo.set(key, result);
    }
    return result;
  };
}

function verifies(subject: ParsedCertificate['x509'], issuerKey: KeyObject): boolean {
  try {
    return subject.verify(issuerKey);
  } catch {
    return false;
  }
}
