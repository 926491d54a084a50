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
 * Claims the agent's unfinished jobs for delivery on its stream (oldest first, at most `limit`): pending and
 * delivered-but-unanswered jobs alike (at-least-once). Marks them delivered and counts the attempt.
 */
export async function claimJobsForDelivery(ctx: ServiceContext, agentId: string, limit = 50): Promise<AgentJob[]> {
  const now = ctx.clock.now();
  return ctx.db.em().transactional(async (em) => {
    const jobs = await em.find(
      AgentJobEntity,
      { agentId, status: { $in: ['pending', 'delivered'] } },
      { orderBy: { createdAt: 'asc' }, limit }
    );
    for (const job of jobs) {
      job.status = 'delivered';
      job.attempts += 1;
      job.deliveredAt = now;
      if (job.deploymentId) {
        await em.nativeUpdate(
          DeploymentEntity,
          { id: job.deploymentId, status: 'pending' },
          { status: 'installing', updatedAt: now }
        );
      }
    }
    return jobs;
  });
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
