/**
 * Agent jobs (SPEC G2, G4): rows in PostgreSQL, delivered at least once (pending → delivered, redelivered on every
 * reconnect until a result arrives) and applied at most once (the agent deduplicates by job id and by bundle
 * version). A newer install job for the same agent and slot supersedes older unfinished ones, so an agent that was
 * offline for days receives only the latest version per slot.
 */
import crypto from 'node:crypto';
import type { AgentJob, JobKind } from '../../domain/agent';
import type { Em } from '../../storage/database';
import { AgentJobEntity, DeploymentEntity } from '../../storage/entities';
import type { ServiceContext } from '../context';

export interface NewJob {
  agentId: string;
  kind: JobKind;
  slot: string | null;
  deploymentId: string | null;
  payload: Buffer;
}

/** Inserts a job inside the caller's transaction, superseding unfinished install jobs for the same slot. */
export async function enqueueJob(em: Em, job: NewJob, now: Date): Promise<AgentJob> {
  if (job.kind === 'install' && job.slot) {
    const older = await em.find(AgentJobEntity, {
      agentId: job.agentId,
      slot: job.slot,
      status: { $in: ['pending', 'delivered'] },
    });
    for (const o of older) {
      o.status = 'superseded';
      o.finishedAt = now;
      if (o.deploymentId) {
        await em.nativeUpdate(
          DeploymentEntity,
          { id: o.deploymentId, status: { $in: ['pending', 'installing'] } },
          { status: 'superseded', updatedAt: now, reason: 'Superseded', message: 'a newer version was queued' }
        );
      }
    }
  }
  const row: AgentJob = {
    id: crypto.randomUUID(),
    ...job,
    status: 'pending',
    attempts: 0,
    result: null,
    createdAt: now,
    deliveredAt: null,
    finishedAt: null,
  };
  em.persist(em.create(AgentJobEntity, row));
  return row;
}

/**
 * Claims the agent's jobs for delivery on its stream (oldest first, at most `limit`): pending ones, and with
 * `includeDelivered` (a new stream) also those delivered earlier but never answered (at-least-once). Marks them delivered, counts the attempt and moves their
 * deployments to `installing` — in one statement (one round trip), since a reconnect storm runs this for every agent.
 */
export async function claimJobsForDelivery(
  ctx: ServiceContext,
  agentId: string,
  options: { includeDelivered: boolean; limit?: number }
): Promise<Array<AgentJob & { bundleId: string }>> {
  const states = options.includeDelivered ? `('pending', 'delivered')` : `('pending')`;
  const now = ctx.clock.now();
  const rows = await ctx.db
    .em()
    .getConnection()
    .execute<Record<string, unknown>[]>(
      `with claimed as (
         update agent_jobs j set status = 'delivered', attempts = j.attempts + 1, delivered_at = ?
          where j.id in (select id from agent_jobs
                          where agent_id = ? and status in ${states}
                          order by created_at limit ?)
         returning j.*
       ), installing as (
         update deployments d set status = 'installing', updated_at = ?
          where d.id in (select deployment_id from claimed where deployment_id is not null) and d.status = 'pending'
       )
       select c.*, d.bundle_id as "bundleId" from claimed c left join deployments d on d.id = c.deployment_id
        order by c.created_at`,
      [now, agentId, options.limit ?? 50, now]
    );
  return rows.map((r) => ({
    id: String(r.id),
    agentId: String(r.agent_id),
    deploymentId: r.deployment_id == null ? null : String(r.deployment_id),
    kind: r.kind as JobKind,
    slot: r.slot == null ? null : String(r.slot),
    payload: r.payload as Buffer,
    status: 'delivered',
    attempts: Number(r.attempts),
    result: null,
    createdAt: new Date(r.created_at as string),
    deliveredAt: now,
    finishedAt: null,
    bundleId: r.bundleId == null ? '' : String(r.bundleId),
  }));
}

/** Finishes a job once; a duplicate result (redelivery) returns null and changes nothing. */
export async function finishJob(
  em: Em,
  agentId: string,
  jobId: string,
  result: Record<string, unknown>,
  now: Date
): Promise<AgentJob | null> {
  const job = await em.findOne(AgentJobEntity, { id: jobId, agentId });
  if (!job || job.status === 'done' || job.status === 'superseded') return null;
  job.status = 'done';
  job.result = result;
  job.finishedAt = now;
  return job;
}
