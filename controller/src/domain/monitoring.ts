/**
 * Monitoring (SPEC M1–M6, T1, T2): endpoints watched per definition, who probes them, runs and their results.
 * Pure types; the probe engine and the checks live in the shared code (shared/src/probe, shared/src/checks).
 */

/** Who probes an endpoint: the controller itself, or a named agent that can reach it (M4). */
export type ProbeFrom = 'controller' | 'agent';

export interface MonitoredEndpoint {
  id: string;
  definitionId: string;
  host: string;
  port: number;
  /** SNI to send; null = the host (no SNI for an IP). */
  serverName: string | null;
  starttls: 'smtp' | 'imap' | 'pop3' | 'ftp' | null;
  probeFrom: ProbeFrom;
  /** The agent that probes it when `probeFrom` is `agent`. */
  agentId: string | null;
  /** False: left out of scheduled runs (SPEC D6 "disable periodic monitoring"). */
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type MonitorRunStatus = 'running' | 'finished' | 'failed';

export interface MonitorRun {
  id: string;
  /** `schedule`, `manual` (run now), `deploy-check`. */
  trigger: string;
  status: MonitorRunStatus;
  startedAt: Date;
  finishedAt: Date | null;
  endpoints: number;
  ok: number;
  warning: number;
  failing: number;
  /** Per-endpoint summary for the run report (JSON; the HTML report is rendered from it). */
  report: Record<string, unknown> | null;
}

/** A user-defined set of trusted roots (T2); the system set (Mozilla via Debian ca-certificates) is built in. */
export interface TrustSetRow {
  id: string;
  name: string;
  description: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface TrustSetRoot {
  id: string;
  trustSetId: string;
  /** SHA-256 (hex) of the root's DER. */
  sha256: string;
  subject: string;
  pem: string;
  addedAt: Date;
}
