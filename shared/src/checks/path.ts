/**
 * X.509 path validation of a served chain against a trust set (SPEC M3), in the order OpenSSL's `X509_verify_cert`
 * reports problems, so a verdict names the same first problem as `openssl verify -CAfile … -untrusted …`:
 * 1. build: from the leaf, find each issuer by name/key identifier (`checkIssued`) and signature, preferring the
 *    trust set over the served certificates; a chain that ends at a certificate whose issuer is nowhere fails
 *    (`IssuerNotFound` at that depth), one that ends at a self-signed certificate outside the trust set fails
 *    (`SelfSigned` at depth 0, `UntrustedRoot` above);
 * 2. every issuer must be a CA (basicConstraints cA) (`IssuerNotCa`);
 * 3. from the anchor down to the leaf: each certificate's validity at `now` (`Expired` / `NotYetValid`).
 * Signatures are verified while building, so a forged link is never followed.
 */
import type { X509Certificate } from 'node:crypto';
import type { TrustSet } from '../trust/trust-set';
import { handshakeVerifiedIssuer } from '../x509/decoded-x509';
import type { CertificateFacts } from './certificate-facts';

const MAX_DEPTH = 10;

/** Why path validation failed. */
export type PathProblem =
  'IssuerNotFound' | 'SelfSigned' | 'UntrustedRoot' | 'IssuerNotCa' | 'Expired' | 'NotYetValid' | 'ChainTooLong';

/** The validated path, or the first problem found. */
export type PathResult =
  | {
      ok: true;
      /** Certificates above the leaf that came from the server, nearest first. */
      intermediates: X509Certificate[];
      /** The trust anchor the path ends at. */
      anchor: X509Certificate;
    }
  | {
      ok: false;
      problem: PathProblem;
      /** 0 = leaf, 1 = its issuer, … (as OpenSSL's error depth). */
      depth: number;
      /** The certificate at `depth`. */
      certificate: X509Certificate;
      message: string;
      /** The part of the path that could be built. */
      intermediates: X509Certificate[];
      anchor?: X509Certificate;
    };

/**
 * The signature half of an issuer match. Names are compared by the caller (OpenSSL's `ossl_x509_likely_issued`);
 * key usage is judged after building, so a mis-flagged CA is reported as such instead of as a missing issuer.
 */
function verifiedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  let known = verified.get(cert);
  const hit = known?.get(issuer);
  if (hit !== undefined) return hit;
  let ok: boolean;
  try {
    ok = handshakeVerifiedIssuer(cert) === issuer.fingerprint256 || cert.verify(issuer.publicKey);
  } catch {
    ok = false;
  }
  if (!known) verified.set(cert, (known = new WeakMap()));
  known.set(issuer, ok);
  return ok;
}

/**
 * Signature results per (certificate, issuer) object pair. Decoded certificates are memoized (CertificateFacts) and
 * trust roots live as long as their set, so the intermediate → root signature that thousands of endpoints of a
 * sweep share is verified once; entries go when either object does.
 */
const verified = new WeakMap<X509Certificate, WeakMap<X509Certificate, boolean>>();

function name(cert: X509Certificate): string {
  return cert.subject.replace(/\n/g, ', ');
}

/** Validates the served chain (`leaf` + `served`, in any order, with duplicates or junk) against `trust`. */
export function validatePath(
  leaf: CertificateFacts,
  served: readonly CertificateFacts[],
  trust: TrustSet,
  now: Date
): PathResult {
  const path: X509Certificate[] = [leaf.x509];
  const used = new Set<string>([leaf.sha256]);
  let anchor: X509Certificate | undefined;
  // served certificates are decoded once (CertificateFacts: names and self-signature precomputed)
  let cur: CertificateFacts = leaf;
  let current = leaf.x509;
  // 1. build
  for (let depth = 0; ; depth++) {
    if (depth >= MAX_DEPTH)
      return fail('ChainTooLong', depth, current, `chain longer than ${MAX_DEPTH} certificates`, path);
    if (cur.selfSigned && trust.sha256.has(cur.sha256)) {
      // the server sent a trusted root itself (or the leaf is an explicitly trusted self-signed certificate)
      anchor = current;
      path.pop();
      break;
    }
    const issuerName = current.issuer;
    const trusted = (trust.bySubject.get(issuerName) ?? []).find((root) => verifiedBy(current, root));
    if (trusted) {
      anchor = trusted;
      break;
    }
    const from = cur;
    const next = served.find((c) => !used.has(c.sha256) && from.issuer === c.subject && verifiedBy(current, c.x509));
    if (next) {
      used.add(next.sha256);
      path.push(next.x509);
      cur = next;
      current = next.x509;
      continue;
    }
    if (cur.selfSigned) {
      return depth === 0
        ? fail('SelfSigned', 0, current, `the certificate is self-signed and not in trust set "${trust.name}"`, path)
        : fail(
            'UntrustedRoot',
            depth,
            current,
            `the chain ends at the self-signed "${name(current)}", which is not in trust set "${trust.name}"`,
            path
          );
    }
    return fail(
      'IssuerNotFound',
      depth,
      current,
      `issuer "${current.issuer.replace(/\n/g, ', ')}" of "${name(current)}" was neither served nor found in trust set "${trust.name}"`,
      path
    );
  }
  const full = [...path, anchor];
  // 2. CA flags and path length of every issuer
  for (let depth = 1; depth < full.length; depth++) {
    const issuer = full[depth] as X509Certificate;
    if (!issuer.ca)
      return fail('IssuerNotCa', depth, issuer, `"${name(issuer)}" signs certificates but is not a CA`, path, anchor);
    const child = full[depth - 1] as X509Certificate;
    if (!child.checkIssued(issuer))
      return fail(
        'IssuerNotCa',
        depth,
        issuer,
        `"${name(issuer)}" is a CA but its key usage or key identifier does not allow it to sign "${name(child)}"`,
        path,
        anchor
      );
  }
  // 3. validity, from the anchor down (OpenSSL's internal_verify order)
  for (let depth = full.length - 1; depth >= 0; depth--) {
    const cert = full[depth] as X509Certificate;
    const role = depth === 0 ? 'the certificate' : depth === full.length - 1 ? 'the root' : 'the intermediate';
    if (now < new Date(cert.validFrom))
      return fail(
        'NotYetValid',
        depth,
        cert,
        `${role} "${name(cert)}" is not valid before ${new Date(cert.validFrom).toISOString()}`,
        path,
        anchor
      );
    if (now > new Date(cert.validTo))
      return fail(
        'Expired',
        depth,
        cert,
        `${role} "${name(cert)}" expired on ${new Date(cert.validTo).toISOString()}`,
        path,
        anchor
      );
  }
  return { ok: true, intermediates: path.slice(1), anchor };
}

function fail(
  problem: PathProblem,
  depth: number,
  certificate: X509Certificate,
  message: string,
  path: X509Certificate[],
  anchor?: X509Certificate
): PathResult {
  return {
    ok: false,
    problem,
    depth,
    certificate,
    message,
    intermediates: path.slice(1),
    ...(anchor ? { anchor } : {}),
  };
}
