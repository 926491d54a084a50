/**
 * Discovery scans (SPEC S1–S3): a scan is a persisted job — run by the controller itself or by one agent inside an
 * intranet — with progress counters, and one finding row per host:port that served a certificate, judged by the
 * controller. Pure types and rules; the sweep and the analysis live in shared/src/discovery.
 */
import type { PortSpec } from '@certfleet/shared';

/**
 * `queued` (accepted, not started), `running`, then `done`, `failed` (an unexpected error), `cancelled` (asked
 * for), `interrupted` (the controller process running it stopped or died).
 */
export type DiscoveryScanStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';

/** Statuses after which nothing changes a scan any more. */
export const FINISHED_SCAN_STATUSES: readonly DiscoveryScanStatus[] = ['done', 'failed', 'cancelled', 'interrupted'];

/** True once the scan can no longer change. */
export function isScanFinished(status: DiscoveryScanStatus): boolean {
  return FINISHED_SCAN_STATUSES.includes(status);
}

/** Who runs a scan: the controller, or the named agent from inside its network. */
export type ScanRunner = { kind: 'controller' } | { kind: 'agent'; agentId: string };

/** The scan's tuning, as accepted. */
export interface DiscoveryScanOptions {
  concurrency: number;
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  maxDurationMs: number;
  /** Trust set named for the analysis (id or name); null = the default (system) set. */
  trustSet: string | null;
}

export interface DiscoveryScan {
  id: string;
  status: DiscoveryScanStatus;
  /** `controller` or `agent`. */
  runBy: ScanRunner['kind'];
  /** The agent running it when `runBy` is `agent`. */
  agentId: string | null;
  /** The agent job carrying it when `runBy` is `agent`. */
  agentJobId: string | null;
  /** Target entries as given (CIDR blocks, ranges, addresses, names). */
  targets: string[];
  ports: PortSpec[];
  options: DiscoveryScanOptions;
  /** Pairs (targets × ports). */
  total: number;
  /** Pairs finished so far. */
  done: number;
  /** Findings stored so far. */
  findings: number;
  /** Final counters of the sweep (open, closed, filtered, …), once finished. */
  stats: Record<string, unknown> | null;
  error: string | null;
  createdBy: string;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** Last write of progress by whoever runs it. */
  updatedAt: Date;
  /** Controller-run scans: the advisory-lock key held by the process running it (its sign of life). */
  runnerKey: number | null;
}

/** One host:port of a scan that served a certificate, with the controller's analysis (SPEC S2). */
export interface DiscoveryFinding {
  id: string;
  scanId: string;
  host: string;
  port: number;
  address: string;
  serverName: string | null;
  starttls: string | null;
  protocol: string | null;
  cipher: string | null;
  sha256: string;
  sha1: string;
  commonName: string | null;
  subject: string;
  issuer: string;
  notBefore: Date | null;
  notAfter: Date | null;
  serial: string;
  sans: string[];
  /** `valid`, `expired`, `not-yet-valid`, `unknown`. */
  validity: string;
  trusted: boolean;
  selfSigned: boolean;
  daysToExpiry: number | null;
  weakAlgorithms: string[];
  status: string;
  reason: string;
  message: string;
  checks: Array<{ code: string; status: string; message: string; reason?: string }>;
  /** The leaf as PEM, and the certificates served after it. */
  pem: string;
  chainPem: string[];
  /** `controller` or `agent:<id>`. */
  probedBy: string;
  foundAt: Date;
}
