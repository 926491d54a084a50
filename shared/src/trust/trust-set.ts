/**
 * Trusted CA sets (SPEC T1, T2): the roots a Monitored-Only definition's served chain must lead to.
 *
 * A {@link TrustSet} is immutable once built: the roots are parsed once, indexed by subject (RFC 4514 text read
 * from the DER, the form the checks' certificate facts give for an issuer; an index whose hits are always confirmed
 * by the issuer match and signature verification) and by SHA-256, so path validation never re-parses PEM per probe. Storage of user-defined sets and the per-definition choice live in the controller.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { subjectName } from '../x509/tbs';

/** Where a set's roots came from. */
export type TrustSetSource = 'system' | 'user';

/** An immutable set of trust anchors. */
export interface TrustSet {
  /** Display name, unique among the sets of one controller (`system`, `intranet`, …). */
  readonly name: string;
  /** The version of the root store (for `system`: the Debian ca-certificates package version), or a user label. */
  readonly version: string;
  /** `system` for the shipped Mozilla store, `user` for user-defined roots; plus the file or origin in `origin`. */
  readonly source: TrustSetSource;
  /** Human-readable origin, e.g. `/etc/ssl/certs/ca-certificates.crt`. */
  readonly origin: string;
  readonly roots: readonly X509Certificate[];
  /**
   * Roots by subject as RFC 4514 text (`subjectName`, as `CertificateFacts.subject`/`.issuer`; several roots can
   * share a subject: cross-signs, re-keys).
   */
  readonly bySubject: ReadonlyMap<string, readonly X509Certificate[]>;
  /** Lowercase hex SHA-256 of each root's DER. */
  readonly sha256: ReadonlySet<string>;
}

/** SHA-256 of a certificate's DER, lowercase hex without colons. */
export function certificateSha256(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('hex');
}

/**
 * Builds a trust set from already parsed certificates. Duplicates (same DER) are dropped; non-CA certificates are
 * kept (some private PKIs anchor on a self-signed server certificate) — path validation decides what they may sign.
 */
export function trustSetFromCertificates(
  name: string,
  certificates: readonly X509Certificate[],
  options: { version?: string; source?: TrustSetSource; origin?: string } = {}
): TrustSet {
  const roots: X509Certificate[] = [];
  const bySubject = new Map<string, X509Certificate[]>();
  const sha256 = new Set<string>();
  for (const cert of certificates) {
    const fp = certificateSha256(cert);
    if (sha256.has(fp)) continue;
    sha256.add(fp);
    roots.push(cert);
    const subject = indexName(cert);
    const list = bySubject.get(subject);
    if (list) list.push(cert);
    else bySubject.set(subject, [cert]);
  }
  return {
    name,
    version: options.version ?? '1',
    source: options.source ?? 'user',
    origin: options.origin ?? 'user-defined',
    roots,
    bySubject,
    sha256,
  };
}

/** The root's subject for the index; a Name the DER reader cannot read is kept under OpenSSL's text (no facts match it). */
function indexName(cert: X509Certificate): string {
  try {
    return subjectName(cert.raw);
  } catch {
    return cert.subject;
  }
}

/** Thrown-free result of {@link parsePemCertificates}: the certificates and how many PEM blocks were rejected. */
export interface ParsedPemBundle {
  certificates: X509Certificate[];
  rejected: number;
}

/** Parses every `CERTIFICATE` PEM block in `texts`; blocks OpenSSL rejects are counted, not thrown. */
export function parsePemCertificates(texts: readonly string[]): ParsedPemBundle {
  const certificates: X509Certificate[] = [];
  let rejected = 0;
  for (const text of texts) {
    for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)) {
      try {
        certificates.push(new X509Certificate(m[0]));
      } catch {
        rejected++;
      }
    }
  }
  return { certificates, rejected };
}

/**
 * A user-defined trust set from PEM text (one or more `CERTIFICATE` blocks per string).
 * @throws Error when no certificate parses at all (an empty trust set would silently fail every check).
 * @example trustSetFromPems('intranet', [fs.readFileSync('corp-root.pem', 'utf8')])
 */
export function trustSetFromPems(
  name: string,
  pems: readonly string[],
  options: { version?: string; origin?: string } = {}
): TrustSet {
  const { certificates } = parsePemCertificates(pems);
  if (certificates.length === 0) throw new Error(`trust(${name}): no certificate found in the given PEM text`);
  return trustSetFromCertificates(name, certificates, { ...options, source: 'user' });
}
