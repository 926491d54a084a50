/**
 * Agent-run discovery scans (SPEC S1, G4), on the probe-job pattern: the scan is queued as an agent job (created
 * with the scan, scan-service.ts), claimed and delivered on the agent's stream like every job (at least once), and
 * answered by the agent with ScanProgress messages (counters and the endpoints found since the last one) and a
 * final JobResult.
 *
 * What an agent sends is accepted only when it answers a scan job of that very agent that is still open, and only
 * for hosts and ports of that scan (an agent may only report for scans assigned to it); anything else is refused
 * with CF_FORBIDDEN and nothing is written. Accepted endpoints are judged here, by the controller, against the
 * scan's trust set (the agent's word is only what the server sent), and stored once per host:port (replays of a
 * redelivered job write nothing twice).
 */
import net from 'node:net';
import { LockMode } from '@mikro-orm/core';
import { CertFleetError, type ScanFinding, type StartTlsProtocol, analyseHit, expandTargets } from '@certfleet/shared';
import { isScanFinished, type DiscoveryScan } from '../../domain/discovery';
import { AgentJobEntity, DiscoveryScanEntity } from '../../storage/entities';
import type { ServiceContext } from '../context';
import { resolveTrustSet, type ResolvedTrustSet } from '../monitoring/trust-sets-service';
import { storeFindings } from './findings-store';

/** One endpoint an agent found, validated (grpc/from-proto.ts). */
export interface AgentScanEndpoint {
  host: string;
  port: number;
  address: string;
  serverName: string;
  starttls: string;
  chain: Buffer[];
  protocol: string;
  cipher: string;
  handshakeMs: number;
}

/** The final counters of an agent's scan. */
export interface AgentScanSummary {
  done: number;
  total: number;
  found: number;
  open: number;
  closed: number;
  filtered: number;
  unreachable: number;
  tlsFailed: number;
  durationMs: number;
  stopped: string;
}

/** One ScanProgress from an agent, validated. */
export interface AgentScanProgress {
  jobId: string;
  done: number;
  total: number;
  found: number;
  endpoints: AgentScanEndpoint[];
  summary: AgentScanSummary | null;
}

/** The end of an agent's scan job (its JobResult), validated. */
export interface AgentScanResult {
  jobId: string;
  status: 'succeeded' | 'failed' | 'rejected';
  reason: string;
  message: string;
}

/** Thrown (CF_FORBIDDEN) for messages about a scan that is no longer running: the agent should stop it. */
export function isStaleScanRefusal(err: unknown): boolean {
  return err instanceof CertFleetError && err.code === 'CF_FORBIDDEN' && err.details?.stale === true;
}

interface Scope {
  hosts: Set<string>;
  ports: Map<number, string | null>;
}

/** Expanded targets of recent scans (a /16 expands in tens of milliseconds; progress arrives every second). */
const scopes = new Map<string, Scope>();
const trusts = new Map<string, { resolved: ResolvedTrustSet; at: number }>();
const CACHE_ENTRIES = 16;
const TRUST_CACHE_MS = 60_000;

function remember<V>(map: Map<string, V>, key: string, value: V): V {
  map.set(key, value);
  while (map.size > CACHE_ENTRIES) map.delete(map.keys().next().value as string);
  return value;
}

function scopeOf(scan: DiscoveryScan): Scope {
  return (
    scopes.get(scan.id) ??
    remember(scopes, scan.id, {
      hosts: new Set(expandTargets(scan.targets).map((t) => t.host)),
      ports: new Map(scan.ports.map((p) => [p.port, p.starttls])),
    })
  );
}

async function trustOf(ctx: ServiceContext, scan: DiscoveryScan): Promise<ResolvedTrustSet> {
  const cached = trusts.get(scan.id);
  if (cached && Date.now() - cached.at < TRUST_CACHE_MS) return cached.resolved;
  const resolved = await resolveTrustSet(ctx, { trustedCaSetId: scan.options.trustSet });
  return remember(trusts, scan.id, { resolved, at: Date.now() }).resolved;
}

const forbidden = (message: string, stale = false): CertFleetError =>
  new CertFleetError('CF_FORBIDDEN', message, stale ? { details: { stale: true } } : undefined);

/**
 * Records one ScanProgress of an agent: counters, and the endpoints it carries judged and stored.
 * @returns how many findings were new
 * @throws CertFleetError CF_FORBIDDEN (nothing written) when the job is not this agent's open scan job, or an
 * endpoint lies outside the scan's targets and ports, or the counters do not fit the scan
 */
export async function recordScanProgress(
  ctx: ServiceContext,
  agentId: string,
  report: AgentScanProgress
): Promise<{ inserted: number }> {
  return ctx.db
    .em()
    .fork()
    .transactional(async (em) => {
      const job = await em.findOne(AgentJobEntity, { id: report.jobId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!job || job.agentId !== agentId || job.kind !== 'scan')
        throw forbidden('discovery: this agent may not report for that scan job');
      const scan = await em.findOne(
        DiscoveryScanEntity,
        { agentJobId: job.id },
        { lockMode: LockMode.PESSIMISTIC_WRITE }
      );
      if (!scan || scan.runBy !== 'agent' || scan.agentId !== agentId)
        throw forbidden('discovery: this agent may not report for that scan job');
      if (job.status === 'done' || job.status === 'superseded' || isScanFinished(scan.status))
        throw forbidden(`discovery: scan ${scan.id} is ${scan.status}: nothing more is accepted for it`, true);
      if (report.total !== scan.total || report.done > scan.total || report.found < report.endpoints.length)
        throw forbidden(
          `discovery: counters ${report.done}/${report.total} (found ${report.found}) do not fit scan ${scan.id} of ${scan.total} pairs`
        );
      const scope = scopeOf(scan);
      for (const e of report.endpoints) {
        const starttls = e.starttls === '' ? null : e.starttls;
        if (!scope.hosts.has(e.host) || !scope.ports.has(e.port) || scope.ports.get(e.port) !== starttls)
          throw forbidden(
            `discovery: the report names ${e.host}:${e.port}${starttls ? `/${starttls}` : ''}, which is not in scan ${scan.id} assigned to this agent`
          );
      }
      const now = ctx.clock.now();
      const trust = await trustOf(ctx, scan);
      const findings: ScanFinding[] = report.endpoints.map((e) => {
        const ip = net.isIP(e.host);
        return analyseHit(
          {
            target: { host: e.host, kind: ip === 4 ? 'ipv4' : ip === 6 ? 'ipv6' : 'name' },
            spec: { port: e.port, starttls: (scope.ports.get(e.port) ?? null) as StartTlsProtocol | null },
            address: e.address,
            observation: {
              host: e.address,
              port: e.port,
              serverName: e.serverName === '' ? null : e.serverName,
              chain: e.chain,
              ...(e.protocol ? { protocol: e.protocol } : {}),
              ...(e.cipher ? { cipher: e.cipher } : {}),
              timings: { handshakeMs: e.handshakeMs, totalMs: e.handshakeMs },
            },
          },
          { now, trustSet: trust.set }
        );
      });
      const inserted = findings.length ? await storeFindings(em, scan.id, findings, `agent:${agentId}`, now) : 0;
      if (scan.status === 'queued') scan.status = 'running';
      scan.startedAt ??= now;
      scan.done = Math.max(0, Math.min(report.done, scan.total));
      scan.findings += inserted;
      scan.updatedAt = now;
      if (report.summary) scan.stats = { ...report.summary, trustSet: trust.ref };
      return { inserted };
    });
}

/**
 * Records the end of an agent's scan job (its JobResult): the job is done and the scan `done` (or `failed` with the
 * agent's reason). A duplicate or foreign result is refused (CF_FORBIDDEN) and changes nothing.
 */
export async function recordScanResult(
  ctx: ServiceContext,
  agentId: string,
  result: AgentScanResult
): Promise<DiscoveryScan | null> {
  return ctx.db
    .em()
    .fork()
    .transactional(async (em) => {
      const job = await em.findOne(AgentJobEntity, { id: result.jobId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!job || job.agentId !== agentId || job.kind !== 'scan')
        throw forbidden('discovery: this agent may not report for that scan job');
      if (job.status === 'done' || job.status === 'superseded')
        throw forbidden(`discovery: scan job ${job.id} is already closed`, true);
      const now = ctx.clock.now();
      job.status = 'done';
      job.finishedAt = now;
      job.result = { status: result.status, reason: result.reason, message: result.message };
      const scan = await em.findOne(
        DiscoveryScanEntity,
        { agentJobId: job.id },
        { lockMode: LockMode.PESSIMISTIC_WRITE }
      );
      if (!scan || isScanFinished(scan.status)) return scan;
      const ok = result.status === 'succeeded';
      scan.status = ok ? 'done' : 'failed';
      scan.error = ok
        ? result.reason === 'ScanDeadlineReached'
          ? result.message
          : null
        : `agent ${agentId}: ${result.reason}: ${result.message}`;
      scan.startedAt ??= now;
      scan.finishedAt = now;
      scan.updatedAt = now;
      return scan;
    });
}
