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
 *
 * A served certificate's signature and OpenSSL's issuer match (`X509_check_issued`) are read from its DER
 * (x509/certificate-signature.ts, x509/issued-check.ts), so a leaf is not decoded by OpenSSL on the normal path;
 * OpenSSL answers what those do not decide (RSASSA-PSS, DSA, unusual encodings or extensions).
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import type { TrustSet } from '../trust/trust-set';
import { issuerPublicKey, verifyCertificateSignature } from '../x509/certificate-signature';
import { handshakeVerifiedIssuer } from '../x509/decoded-x509';
import { type IssuerProfile, checkIssuedDer, issuerProfile } from '../x509/issued-check';
import { subjectName } from '../x509/tbs';
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
      intermediates: CertificateFacts[];
      /** The trust anchor the path ends at. */
      anchor: X509Certificate;
    }
  | {
      ok: false;
      problem: PathProblem;
      /** 0 = leaf, 1 = its issuer, … (as OpenSSL's error depth). */
      depth: number;
      message: string;
      /** The part of the path that could be built. */
      intermediates: CertificateFacts[];
      anchor?: X509Certificate;
    };

/** A certificate on a path: served ones (the leaf included) as facts read from their DER, trust anchors as OpenSSL's. */
type PathCertificate = CertificateFacts | X509Certificate;

const isFacts = (c: PathCertificate): c is CertificateFacts => 'sha256' in c;
const x509Of = (c: PathCertificate): X509Certificate => (isFacts(c) ? c.x509 : c);

/** Is `anchor` the certificate `facts` describes (same DER)? */
export function isSameCertificate(anchor: X509Certificate, facts: CertificateFacts): boolean {
  return anchor.fingerprint256.replace(/:/g, '').toLowerCase() === facts.sha256;
}

/**
 * Did the handshake that served `child` prove `issuer` to be its issuer? OpenSSL matched the pair (names, key
 * identifiers, key usage) and verified the signature then (probe.ts); a signature depends only on the bytes.
 */
function provenByHandshake(child: CertificateFacts, issuer: PathCertificate): boolean {
  return isFacts(issuer) && handshakeVerifiedIssuer(child.sha256) === issuer.sha256;
}

/**
 * The signature half of an issuer match. Names are compared by the caller (OpenSSL's `ossl_x509_likely_issued`);
 * key usage is judged after building, so a mis-flagged CA is reported as such instead of as a missing issuer.
 */
function verifiedBy(cert: CertificateFacts, issuer: PathCertificate): boolean {
  let known = verified.get(cert);
  const hit = known?.get(issuer);
  if (hit !== undefined) return hit;
  let ok: boolean;
  try {
    ok = provenByHandshake(cert, issuer) || signatureVerifies(cert, issuer);
  } catch {
    ok = false;
  }
  if (!known) verified.set(cert, (known = new WeakMap()));
  known.set(issuer, ok);
  return ok;
}

/** The signature, verified from the DER, or by OpenSSL when the DER verification does not decide. */
function signatureVerifies(cert: CertificateFacts, issuer: PathCertificate): boolean {
  const key = keyOf(issuer);
  return verifyCertificateSignature(cert.der, key) ?? cert.x509.verify(key);
}

/** OpenSSL's reading of an issuer's key, one KeyObject per certificate. */
const keyOf = (issuer: PathCertificate): KeyObject => issuerPublicKey(x509Of(issuer));

/** Issuer profiles per issuer object (facts are memoized, trust roots live as long as their set). */
const profiles = new WeakMap<PathCertificate, IssuerProfile>();

/**
 * OpenSSL's `X509_check_issued(issuer, child) == X509_V_OK` (names already compared when building), from the DER
 * or, when that does not decide, by OpenSSL.
 */
function issued(child: CertificateFacts, issuer: PathCertificate): boolean {
  return issuedFromDer(child, issuer) ?? child.x509.checkIssued(x509Of(issuer));
}

function issuedFromDer(child: CertificateFacts, issuer: PathCertificate): boolean | undefined {
  let profile = profiles.get(issuer);
  if (!profile) {
    try {
      profile = issuerProfile(isFacts(issuer) ? issuer.der : issuer.raw, keyOf(issuer));
    } catch {
      return undefined; // OpenSSL cannot read the issuer's key: its own check decides
    }
    profiles.set(issuer, profile);
  }
  return checkIssuedDer(profile, child.der);
}

/**
 * Signature results per (certificate, issuer) object pair. Facts are memoized (CertificateFacts) and trust roots
 * live as long as their set, so the intermediate → root signature that thousands of endpoints of a sweep share is
 * verified once; entries go when either object does.
 */
const verified = new WeakMap<CertificateFacts, WeakMap<PathCertificate, boolean>>();

/** RFC 4514, as `CertificateFacts.subject`. */
function name(cert: PathCertificate): string {
  return isFacts(cert) ? cert.subject : subjectName(cert.raw);
}

const validity = (c: PathCertificate): { from: Date; to: Date } =>
  isFacts(c) ? { from: c.notBefore, to: c.notAfter } : { from: new Date(c.validFrom), to: new Date(c.validTo) };

/** Validates the served chain (`leaf` + `served`, in any order, with duplicates or junk) against `trust`. */
export function validatePath(
  leaf: CertificateFacts,
  served: readonly CertificateFacts[],
  trust: TrustSet,
  now: Date
): PathResult {
  const path: CertificateFacts[] = [leaf];
  const used = new Set<string>([leaf.sha256]);
  let anchor: X509Certificate | undefined;
  let current = leaf;
  // 1. build
  for (let depth = 0; ; depth++) {
    if (depth >= MAX_DEPTH) return fail('ChainTooLong', depth, `chain longer than ${MAX_DEPTH} certificates`, path);
    if (current.selfSigned && trust.sha256.has(current.sha256)) {
      // the server sent a trusted root itself (or the leaf is an explicitly trusted self-signed certificate)
      anchor = current.x509;
      path.pop();
      break;
    }
    const from = current;
    const trusted = (trust.bySubject.get(from.issuer) ?? []).find((root) => verifiedBy(from, root));
    if (trusted) {
      anchor = trusted;
      break;
    }
    const next = served.find((c) => !used.has(c.sha256) && from.issuer === c.subject && verifiedBy(from, c));
    if (next) {
      used.add(next.sha256);
      path.push(next);
      current = next;
      continue;
    }
    if (current.selfSigned) {
      return depth === 0
        ? fail('SelfSigned', 0, `the certificate is self-signed and not in trust set "${trust.name}"`, path)
        : fail(
            'UntrustedRoot',
            depth,
            `the chain ends at the self-signed "${current.subject}", which is not in trust set "${trust.name}"`,
            path
          );
    }
    return fail(
      'IssuerNotFound',
      depth,
      `issuer "${current.issuer}" of "${current.subject}" was neither served nor found in trust set "${trust.name}"`,
      path
    );
  }
  const full: PathCertificate[] = [...path, anchor];
  // 2. CA flags and key usage of every issuer
  for (let depth = 1; depth < full.length; depth++) {
    const issuer = full[depth] as PathCertificate;
    if (!(isFacts(issuer) ? issuer.isCa : issuer.ca))
      return fail('IssuerNotCa', depth, `"${name(issuer)}" signs certificates but is not a CA`, path, anchor);
    const child = full[depth - 1] as CertificateFacts; // only the anchor, last, is not served
    if (!provenByHandshake(child, issuer) && !issued(child, issuer))
      return fail(
        'IssuerNotCa',
        depth,
        `"${name(issuer)}" is a CA but its key usage or key identifier does not allow it to sign "${child.subject}"`,
        path,
        anchor
      );
  }
  // 3. validity, from the anchor down (OpenSSL's internal_verify order)
  for (let depth = full.length - 1; depth >= 0; depth--) {
    const cert = full[depth] as PathCertificate;
    const { from, to } = validity(cert);
    const role = depth === 0 ? 'the certificate' : depth === full.length - 1 ? 'the root' : 'the intermediate';
    if (now < from)
      return fail(
        'NotYetValid',
        depth,
        `${role} "${name(cert)}" is not valid before ${from.toISOString()}`,
        path,
        anchor
      );
    if (now > to) return fail('Expired', depth, `${role} "${name(cert)}" expired on ${to.toISOString()}`, path, anchor);
  }
  return { ok: true, intermediates: path.slice(1), anchor };
}

function fail(
  problem: PathProblem,
  depth: number,
  message: string,
  path: CertificateFacts[],
  anchor?: X509Certificate
): PathResult {
  return { ok: false, problem, depth, message, intermediates: path.slice(1), ...(anchor ? { anchor } : {}) };
}
