/**
 * Monitoring (SPEC M1–M6, T1, T2): endpoints watched per definition, who probes them, runs and their results.
 * Pure types; the probe engine and the checks live in the shared code (shared/src/probe, shared/src/checks).
 */

/**
 * Who probes an endpoint (M4): the controller itself, a named agent that can reach it, or any connected agent of a
 * site (the run picks one and re-assigns once when it does not answer).
 */
export type ProbeFrom = 'controller' | 'agent' | 'site';

/** The prober as one tagged value (the API's `prober`); stored as `probe_from` + `agent_id` / `site`. */
export type Prober = { kind: 'controller' } | { kind: 'agent'; agentId: string } | { kind: 'site'; site: string };

/** A site label: letters, digits, `.`, `_`, `-`; 1–63 characters, starting and ending with a letter or digit. */
export const SITE_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

/** The prober of a stored endpoint (an agent endpoint whose agent was deleted keeps `agentId` null). */
export function proberOf(e: Pick<MonitoredEndpoint, 'probeFrom' | 'agentId' | 'site'>): Prober | null {
  if (e.probeFrom === 'controller') return { kind: 'controller' };
  if (e.probeFrom === 'agent') return e.agentId ? { kind: 'agent', agentId: e.agentId } : null;
  return e.site ? { kind: 'site', site: e.site } : null;
}

/**
 * Where an endpoint comes from: added by an operator (`manual`), by a discovery import (`discovery`), or derived
 * from a deploy target of a Lifecycle-Managed definition (`deploy-target`, SPEC D1, D6; kept in step with the
 * definition's `deployTargets`, only `enabled` is the operator's).
 */
export const ENDPOINT_SOURCES = ['manual', 'discovery', 'deploy-target'] as const;
export type EndpointSource = (typeof ENDPOINT_SOURCES)[number];

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
  /** The site whose connected agents probe it when `probeFrom` is `site`. */
  site?: string | null;
  /** False: left out of scheduled runs (SPEC D6 "disable periodic monitoring"). */
  enabled: boolean;
  /** @default 'manual' */
  source?: EndpointSource;
  /** The index in the definition's `deployTargets` of a `deploy-target` endpoint; null otherwise. */
  deployTargetIndex?: number | null;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * `requested`: asked for (e.g. by `certfleet monitor run-now` in another process), waiting for a running controller
 * to claim it; `running`; then `finished`, `failed` (an unexpected error), `interrupted` (the controller stopped or
 * died, or the run stalled; `done` tells how far it got) or `cancelled` (a request no controller claimed).
 */
export type MonitorRunStatus = 'requested' | 'running' | 'finished' | 'failed' | 'interrupted' | 'cancelled';

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
  /** Endpoints observed so far (progress; `endpoints` is the total once the run has selected them). */
  done?: number;
  /** Who asked for a requested run (`cli:<user>`, `user:<name>`). */
  requestedBy?: string | null;
  /** What a requested run covers (`{ definitionId? }`). */
  request?: Record<string, unknown> | null;
  /** The process executing the run (`host:pid`). */
  owner?: string | null;
  /** Last sign of life of the executing process (progress is written with it). */
  heartbeatAt?: Date | null;
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
