/** Types of the check chain (SPEC M2, M3, M6; STYLE §7.5). */
import type { TrustSet } from '../trust/trust-set';
import type { CertificateFacts } from './certificate-facts';
import type { PathResult } from './path';
import type { RevocationInfo } from './revocation';

/**
 * What a probe observed, as far as the checks are concerned. The probe engine's `ProbeObservation` satisfies it
 * structurally; the checks do not import the probe module, so they stay pure and testable with literal objects.
 */
export interface ObservedEndpoint {
  host: string;
  port: number;
  /** The SNI name sent, or null when none was sent. */
  serverName: string | null;
  /** True when a TLS handshake completed and a certificate was received. */
  ok: boolean;
  error?: { code: string; message: string };
  /** DER certificates as served, leaf first. */
  chain: readonly Buffer[];
}

/** Which rules apply: Lifecycle-Managed (SPEC M2) or Monitored-Only (SPEC M3). */
export type CheckMode = 'managed' | 'monitored';

/** The DN attributes a definition expects (each compared case-insensitively when given). */
export interface ExpectedSubject {
  commonName?: string;
  organization?: string;
  country?: string;
}

/** Everything a check may take into account besides the observation. Pure data; time is injected. */
export interface CheckContext {
  now: Date;
  mode: CheckMode;
  /** SHA-256 (hex, any case, colons allowed) of the current certificate of a Lifecycle-Managed definition. */
  expectedSha256?: string;
  /** SHA-256 of the intermediates the server must send (Lifecycle-Managed: the chain CertFleet deployed). */
  expectedChainSha256?: readonly string[];
  /** Trust anchors for path validation (Monitored-Only; optional for managed). */
  trustSet?: TrustSet;
  expectedSubject?: ExpectedSubject;
  /** The name the certificate must cover (DNS name or IP); defaults to the SNI name sent. */
  checkName?: string;
  /** Warn when the leaf expires within this many days. @default 30 */
  expiryThresholdDays?: number;
  /**
   * The leaf's revocation status, fetched before the checks ran (shared/src/revocation). Absent: not requested,
   * `NotRevoked` is skipped.
   */
  revocation?: RevocationInfo;
  /**
   * Issuers the server did not send, fetched from AIA caIssuers URLs before the checks ran (shared/src/aia). Used
   * only to complete path building, so `IntermediatesServed` can tell an incomplete-but-completable chain from an
   * untrusted one. Absent: not fetched (not asked, or nothing was missing).
   */
  aia?: AiaEvidence;
}

/** One AIA caIssuers lookup made while completing a served chain. */
export interface AiaAttempt {
  /** Subject (RFC 4514) of the certificate whose issuer was missing. */
  for: string;
  /** The caIssuers URL tried; absent when the certificate names no http:// caIssuers URL. */
  url?: string;
  /** Why no issuer came from it; absent when it gave the issuer. */
  error?: string;
  /** True when the URL could not be reached (refused, timeout, HTTP 5xx). */
  unreachable?: boolean;
}

/** What AIA fetching found for a chain served without (some of) its intermediates. */
export interface AiaEvidence {
  /** Fetched issuer certificates (DER), nearest to the leaf first; each verified to have signed the one below. */
  certificates: readonly Buffer[];
  attempts: readonly AiaAttempt[];
}

/** Identifiers of the checks, in evaluation order. */
export const CHECK_CODES = [
  'Reachable',
  'ServedCertMatchesCurrent',
  'IntermediatesServed',
  'ChainTrusted',
  'SubjectMatches',
  'HostnameCovered',
  'CertificateNotExpired',
  'CertificateNotYetValid',
  'CertificateNearingExpiry',
  'SelfSigned',
  'WeakKey',
  'WeakSignature',
  'IntermediateExpiring',
  'NotRevoked',
] as const;

/** One of {@link CHECK_CODES}. */
export type CheckCode = (typeof CHECK_CODES)[number];

export type CheckStatus = 'ok' | 'warning' | 'failing' | 'skipped';

/** The result of one check. */
export interface CheckResult {
  code: CheckCode;
  status: CheckStatus;
  /** For `warning`/`failing`: CamelCase machine reason (`CertificateExpired`, `HostnameMismatch`…). */
  reason?: string;
  /** For a human: what was found, with names and dates. */
  message: string;
}

/** Summary of the served leaf certificate. Fingerprints are lowercase hex without colons. */
export interface LeafSummary {
  sha1: string;
  sha256: string;
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  serial: string;
  sans: string[];
}

/** Summary of a certificate the server sent after the leaf. */
export interface ServedCertificateSummary {
  sha1: string;
  sha256: string;
  subject: string;
  issuer: string;
  notAfter: string;
}

/** The verdict on one observation. */
export interface CheckOutcome {
  status: 'ok' | 'warning' | 'failing';
  /** Reason of the first failing check, else of the first warning, else `Ok`. */
  reason: string;
  /** The message of the check that gave `reason` (or a short all-clear). */
  message: string;
  checks: CheckResult[];
  leaf?: LeafSummary;
  /** The certificates served after the leaf, in served order. */
  chain: ServedCertificateSummary[];
  /** ISO-8601 notAfter of the leaf, of each intermediate of the path, and of the root it ends at (when known). */
  expiry: { leaf?: string; intermediates: string[]; root?: string };
}

/** What the checks see: the observation, decoded once. */
export interface Evidence {
  observation: ObservedEndpoint;
  leaf?: CertificateFacts;
  /** Why the leaf could not be decoded. */
  leafError?: string;
  /** Decodable certificates served after the leaf. */
  served: CertificateFacts[];
  /** Path validation against `ctx.trustSet`, when one is given and a leaf was decoded. */
  path?: PathResult;
  /** Decodable certificates fetched via AIA (`ctx.aia`). */
  aiaFetched: CertificateFacts[];
  /**
   * Path validation with the served and the AIA-fetched certificates, when `path` failed for a missing issuer and
   * AIA fetching gave at least one certificate.
   */
  completedPath?: PathResult;
}

/** A check: a small pure function of the evidence and the context. */
export type Check = (evidence: Evidence, ctx: CheckContext) => CheckResult;
