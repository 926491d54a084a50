/**
 * Discovery scans as persisted jobs (SPEC S1): a request is validated, stored `queued` and answered at once; the
 * controller's scan runner (scan-runner.ts) or the named agent (agent-scan-jobs.ts) runs it in the background and
 * writes progress at most about once a second, so any process reading the row sees how far it got. Cancelling
 * marks the row `cancelled` first (whoever runs the scan notices and stops), then tells the live runner at once.
 */
import crypto from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import { CertFleetError, type PortSpec } from '@certfleet/shared';
import { isScanFinished, type DiscoveryScan, type ScanRunner } from '../../domain/discovery';
import { AgentEntity, AgentJobEntity, DiscoveryScanEntity } from '../../storage/entities';
import { enqueueJob } from '../agents/jobs';
import { appendAudit } from '../audit-service';
import type { Actor, ServiceContext } from '../context';
import { resolveTrustSet } from '../monitoring/trust-sets-service';
import { normalizeScanRequest, portLabel } from './scan-request';

/** What a controller process running scans offers to the services (scan-runner.ts implements it). */
export interface DiscoveryRunnerHandle {
  /** A controller-run scan was queued: claim it soon. */
  wake(): void;
  /** The scan was cancelled: stop it now if this process runs it. */
  abort(scanId: string): void;
}

/** A scan as the API shows it. */
export interface ScanView {
  id: string;
  status: DiscoveryScan['status'];
  runBy: ScanRunner;
  agentJobId: string | null;
  targets: string[];
  /** `443`, `587/smtp`. */
  ports: string[];
  options: DiscoveryScan['options'];
  /** Pairs (targets × ports), pairs finished, findings stored. */
  total: number;
  done: number;
  findings: number;
  /** done / total in percent, one decimal. */
  percent: number;
  stats: Record<string, unknown> | null;
  error: string | null;
  createdBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

const iso = (d: Date | null): string | null => (d ? new Date(d).toISOString() : null);

/** The API shape of a scan row. */
export function scanView(row: DiscoveryScan): ScanView {
  return {
    id: row.id,
    status: row.status,
    runBy: row.runBy === 'agent' ? { kind: 'agent', agentId: row.agentId ?? '' } : { kind: 'controller' },
    agentJobId: row.agentJobId,
    targets: row.targets,
    ports: row.ports.map(portLabel),
    options: row.options,
    total: row.total,
    done: row.done,
    findings: row.findings,
    percent: row.total > 0 ? Math.floor((row.done * 1000) / row.total) / 10 : 100,
    stats: row.stats,
    error: row.error,
    createdBy: row.createdBy,
    createdAt: new Date(row.createdAt).toISOString(),
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    updatedAt: new Date(row.updatedAt).toISOString(),
  };
}

/** The agent job payload of a scan (UTF-8 JSON in `agent_jobs.payload`, turned into ScanNetwork on delivery). */
export interface ScanJobPayload {
  scanId: string;
  targets: string[];
  ports: Array<{ port: number; starttls: string }>;
  concurrency: number;
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  maxDurationMs: number;
}

/** Checks that a named trust set exists (scans fail fast rather than at the first finding). */
async function checkTrustSet(ctx: ServiceContext, name: string | null): Promise<void> {
  if (name === null) return;
  try {
    await resolveTrustSet(ctx, { trustedCaSetId: name });
  } catch (err) {
    if (err instanceof CertFleetError && err.code === 'CF_NOT_FOUND')
      throw new CertFleetError('CF_NOT_FOUND', `discovery: trust set ${name} not found`);
    throw err;
  }
}

/**
 * Accepts a scan (SPEC S1): validates it, stores it `queued` and hands it to its runner. Returns at once.
 * @throws CertFleetError CF_VALIDATION (bad request, too many pairs), CF_NOT_FOUND (agent or trust set)
 */
export async function createScan(ctx: ServiceContext, raw: unknown, actor: Actor): Promise<ScanView> {
  const request = normalizeScanRequest(raw);
  await checkTrustSet(ctx, request.options.trustSet);
  const runner = request.runner;
  const row = await ctx.db
    .em()
    .fork()
    .transactional(async (em) => {
      const now = ctx.clock.now();
      const scan: DiscoveryScan = {
        id: crypto.randomUUID(),
        status: 'queued',
        runBy: runner.kind,
        agentId: runner.kind === 'agent' ? runner.agentId : null,
        agentJobId: null,
        targets: request.targets,
        ports: request.ports,
        options: request.options,
        total: request.expanded.length * request.ports.length,
        done: 0,
        findings: 0,
        stats: null,
        error: null,
        createdBy: actor,
        createdAt: now,
        startedAt: null,
        finishedAt: null,
        updatedAt: now,
        runnerKey: null,
      };
      if (runner.kind === 'agent') {
        const agent = await em.findOne(AgentEntity, { id: runner.agentId });
        if (!agent || agent.status !== 'active')
          throw new CertFleetError('CF_NOT_FOUND', `discovery: no active agent ${runner.agentId}`);
        const payload: ScanJobPayload = {
          scanId: scan.id,
          targets: request.targets,
          ports: request.ports.map((p: PortSpec) => ({ port: p.port, starttls: p.starttls ?? '' })),
          concurrency: request.options.concurrency,
          connectTimeoutMs: request.options.connectTimeoutMs,
          handshakeTimeoutMs: request.options.handshakeTimeoutMs,
          maxDurationMs: request.options.maxDurationMs,
        };
        const job = await enqueueJob(
          em,
          {
            agentId: runner.agentId,
            kind: 'scan',
            slot: null,
            deploymentId: null,
            payload: Buffer.from(JSON.stringify(payload)),
          },
          now
        );
        scan.agentJobId = job.id;
        // The job row must exist before the scan row that references it.
        await em.flush();
      }
      em.persist(em.create(DiscoveryScanEntity, scan));
      await appendAudit(
        em,
        {
          actor,
          action: 'discovery.scan-requested',
          targetType: 'discovery-scan',
          targetId: scan.id,
          details: {
            runBy: runner,
            targets: request.targets.slice(0, 100),
            ports: request.ports.map(portLabel),
            pairs: scan.total,
            trustSet: request.options.trustSet,
          },
        },
        now
      );
      return scan;
    });
  if (runner.kind === 'agent') ctx.agentHub?.jobsAvailable(runner.agentId);
  else ctx.discoveryRunner?.wake();
  ctx.log.info(
    { actor, scanId: row.id, runBy: runner.kind, targets: request.expanded.length, ports: request.ports.length },
    'discovery scan queued'
  );
  return scanView(row);
}

/** Scans, newest first. */
export async function listScans(
  ctx: ServiceContext,
  query: { limit?: number; offset?: number } = {}
): Promise<ScanView[]> {
  const rows = await ctx.db
    .em()
    .fork()
    .find(
      DiscoveryScanEntity,
      {},
      { orderBy: { createdAt: 'desc', id: 'desc' }, limit: query.limit ?? 50, offset: query.offset ?? 0 }
    );
  return rows.map(scanView);
}

/** One scan's row. @throws CertFleetError CF_NOT_FOUND */
export async function getScanRow(ctx: ServiceContext, id: string): Promise<DiscoveryScan> {
  const row = await ctx.db.em().fork().findOne(DiscoveryScanEntity, { id });
  if (!row) throw new CertFleetError('CF_NOT_FOUND', `discovery: scan ${id} not found`);
  return row;
}

/** One scan with its progress. @throws CertFleetError CF_NOT_FOUND */
export async function getScan(ctx: ServiceContext, id: string): Promise<ScanView> {
  return scanView(await getScanRow(ctx, id));
}

/**
 * Cancels a queued or running scan: the row becomes `cancelled` (nothing found after this is stored), an agent's
 * job is closed (its later messages are refused) and the runner is told to stop now.
 * @throws CertFleetError CF_NOT_FOUND, CF_CONFLICT (already finished)
 */
export async function cancelScan(ctx: ServiceContext, id: string, actor: Actor): Promise<ScanView> {
  const row = await ctx.db
    .em()
    .fork()
    .transactional(async (em) => {
      const scan = await em.findOne(DiscoveryScanEntity, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!scan) throw new CertFleetError('CF_NOT_FOUND', `discovery: scan ${id} not found`);
      if (isScanFinished(scan.status))
        throw new CertFleetError('CF_CONFLICT', `discovery: scan ${id} is already ${scan.status}`);
      const now = ctx.clock.now();
      scan.status = 'cancelled';
      scan.finishedAt = now;
      scan.updatedAt = now;
      if (scan.agentJobId) {
        const job = await em.findOne(AgentJobEntity, { id: scan.agentJobId });
        if (job && job.status !== 'done' && job.status !== 'superseded') {
          job.status = 'done';
          job.finishedAt = now;
          job.result = { cancelled: true, by: actor };
        }
      }
      await appendAudit(
        em,
        {
          actor,
          action: 'discovery.scan-cancelled',
          targetType: 'discovery-scan',
          targetId: id,
          details: { done: scan.done, total: scan.total, findings: scan.findings },
        },
        now
      );
      return scan;
    });
  if (row.agentId && row.agentJobId) ctx.agentHub?.cancelJob(row.agentId, row.agentJobId);
  ctx.discoveryRunner?.abort(id);
  return scanView(row);
}
