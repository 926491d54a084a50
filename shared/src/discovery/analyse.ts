/**
 * Analysis of one discovered TLS endpoint (SPEC S2): the shared check chain in Monitored-Only mode against a trust
 * set (the default set unless the scan names another) — validity, trust, days to expiry, self-signed, weak keys and
 * signatures — summarised as plain JSON with the leaf's SHA-1/SHA-256 and the served chain as PEM (what an import
 * stores). Pure: the clock and the trust set are given.
 */
import { type CheckOutcome, certificateFacts, evaluateChecks } from '../checks';
import { type ProbeObservation, type StartTlsProtocol, sha1Fingerprint, sha256Fingerprint } from '../probe';
import type { TrustSet } from '../trust';
import { encodePem } from '../x509';
import type { ScanHit } from './sweep';

/** Validity of the leaf at analysis time. */
export type FindingValidity = 'valid' | 'expired' | 'not-yet-valid' | 'unknown';

/** One endpoint that completed a TLS handshake, with its analysis (SPEC S2). Plain JSON. */
export interface ScanFinding {
  /** The target as given: IP literal or host name. */
  host: string;
  port: number;
  /** The IP address connected to. */
  address: string;
  /** SNI sent (the host name for name targets, none for addresses). */
  serverName: string | null;
  starttls: StartTlsProtocol | null;
  protocol: string | null;
  cipher: string | null;
  /** Leaf fingerprints: lowercase hex without colons. */
  sha256: string;
  sha1: string;
  /** The leaf's (last) subject CN, null when it has none or does not decode. */
  commonName: string | null;
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  serial: string;
  sans: string[];
  selfSigned: boolean;
  /** The path validated against the trust set. */
  trusted: boolean;
  /** Whether the leaf is within its validity period at analysis time. */
  validity: FindingValidity;
  /** Whole days from analysis time to the leaf's notAfter (negative once expired); null when unknown. */
  daysToExpiry: number | null;
  /** Weak keys and signature algorithms found in the leaf or the intermediates (empty when none). */
  weakAlgorithms: string[];
  status: CheckOutcome['status'];
  reason: string;
  message: string;
  checks: { code: string; status: string; message: string; reason?: string }[];
  expiry: CheckOutcome['expiry'];
  /** The leaf and the certificates served after it, as PEM (what an import stores). */
  pem: string;
  chainPem: string[];
  timings: ProbeObservation['timings'];
}

export interface AnalyseOptions {
  now: Date;
  trustSet: TrustSet;
  /** @default 30 */
  expiryThresholdDays?: number;
}

const DAY_MS = 86_400_000;

function commonNameOf(der: Buffer): string | null {
  try {
    return certificateFacts(der).subjectAttributes.CN?.at(-1) ?? null;
  } catch {
    return null;
  }
}

/**
 * Judges one endpoint found by a sweep (SPEC S2). `hit.observation.chain` must hold the served leaf first.
 * @example const finding = analyseHit(hit, { now: new Date(), trustSet: systemTrustSet() });
 */
export function analyseHit(
  hit: Pick<ScanHit, 'target' | 'spec' | 'address'> & {
    observation: Pick<ProbeObservation, 'host' | 'port' | 'serverName' | 'chain' | 'protocol' | 'cipher' | 'timings'>;
  },
  options: AnalyseOptions
): ScanFinding {
  const { target, spec, address, observation } = hit;
  const outcome = evaluateChecks(
    { ...observation, ok: true },
    {
      now: options.now,
      mode: 'monitored',
      trustSet: options.trustSet,
      ...(target.kind === 'name' ? { checkName: target.host } : {}),
      ...(options.expiryThresholdDays === undefined ? {} : { expiryThresholdDays: options.expiryThresholdDays }),
    }
  );
  const leafDer = observation.chain[0] as Buffer;
  const leaf = outcome.leaf;
  const check = (code: string) => outcome.checks.find((c) => c.code === code);
  const statusOf = (code: string): string | undefined => check(code)?.status;
  const notAfterMs = leaf ? Date.parse(leaf.notAfter) : NaN;
  const validity: FindingValidity = !leaf
    ? 'unknown'
    : statusOf('CertificateNotExpired') === 'failing'
      ? 'expired'
      : statusOf('CertificateNotYetValid') === 'failing'
        ? 'not-yet-valid'
        : 'valid';
  const weakAlgorithms = ['WeakKey', 'WeakSignature'].flatMap((code) => {
    const c = check(code);
    return c && (c.status === 'failing' || c.status === 'warning') ? c.message.split('; ') : [];
  });
  return {
    host: target.host,
    port: spec.port,
    address,
    serverName: observation.serverName,
    starttls: spec.starttls,
    protocol: observation.protocol ?? null,
    cipher: observation.cipher ?? null,
    sha256: leaf?.sha256 ?? sha256Fingerprint(leafDer),
    sha1: leaf?.sha1 ?? sha1Fingerprint(leafDer),
    commonName: leaf ? commonNameOf(leafDer) : null,
    subject: leaf?.subject ?? '',
    issuer: leaf?.issuer ?? '',
    notBefore: leaf?.notBefore ?? '',
    notAfter: leaf?.notAfter ?? '',
    serial: leaf?.serial ?? '',
    sans: leaf ? [...leaf.sans] : [],
    selfSigned: statusOf('SelfSigned') === 'warning' || statusOf('SelfSigned') === 'failing',
    trusted: statusOf('ChainTrusted') === 'ok',
    validity,
    daysToExpiry: Number.isFinite(notAfterMs) ? Math.floor((notAfterMs - options.now.getTime()) / DAY_MS) : null,
    weakAlgorithms,
    status: outcome.status,
    reason: outcome.reason,
    message: outcome.message,
    checks: outcome.checks.map((c) => ({
      code: c.code,
      status: c.status,
      message: c.message,
      ...(c.reason ? { reason: c.reason } : {}),
    })),
    expiry: outcome.expiry,
    pem: encodePem('CERTIFICATE', leafDer),
    chainPem: observation.chain.slice(1).map((der) => encodePem('CERTIFICATE', der)),
    timings: observation.timings,
  };
}
