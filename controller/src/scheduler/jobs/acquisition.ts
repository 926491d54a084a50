import { isCertFleetError } from '@certfleet/shared';
import { renewalJitterMs } from '../../domain/acquisition';
import { runAcquisition, startAcquisition } from '../../services/acquisition/acquisition-service';
import { dueRenewals } from '../../services/acquisition/renewal-service';
import { RequestEntity } from '../../storage/entities';
import type { JobDefinition, SchedulerDeps } from '../scheduler';

export const RENEWAL_SCAN_QUEUE = 'renewal-scan';
export const RENEWAL_START_QUEUE = 'renewal-start';
export const ACQUISITION_TICK_QUEUE = 'acquisition-tick';
const RENEWAL_ACTOR = 'system:renewal';

/**
 * Finds unattended definitions inside their renewal lead time and enqueues one start per definition, spread over a
 * jitter window so that a thousand certificates with the same expiry do not hit the CA in the same second (SPEC A5).
 * Returns how many were enqueued (a definition already queued is not queued twice: stately queue + singletonKey).
 */
export async function scanRenewals(
  deps: SchedulerDeps,
  boss: { send: (name: string, data: object, options: object) => Promise<string | null> }
): Promise<number> {
  const due = await dueRenewals(deps.ctx.db.em(), deps.ctx.clock.now());
  const windowMs = (deps.renewalJitterSeconds ?? 900) * 1000;
  let queued = 0;
  for (const d of due.filter((x) => x.processMode === 'unattended')) {
    const id = await boss.send(
      RENEWAL_START_QUEUE,
      { definitionId: d.definitionId },
      { singletonKey: d.definitionId, startAfter: Math.ceil(renewalJitterMs(d.definitionId, windowMs) / 1000) }
    );
    if (id) queued++;
  }
  return queued;
}

/** Starts one renewal; a definition that already has an open request (another replica won) is skipped. */
export async function startRenewal(deps: SchedulerDeps, definitionId: string): Promise<'started' | 'skipped'> {
  // Still due? (a job queued with jitter may run after another replica or an operator already renewed)
  const due = await dueRenewals(deps.ctx.db.em(), deps.ctx.clock.now(), { definitionId });
  if (due.length === 0) return 'skipped';
  try {
    await startAcquisition(deps.ctx, deps.acquisition, { definitionId, processMode: 'unattended' }, RENEWAL_ACTOR);
    return 'started';
  } catch (err) {
    const unique =
      (err as { code?: string }).code === '23505' || /one_open_per_definition/.test((err as Error).message);
    if ((isCertFleetError(err) && err.code === 'CF_CONFLICT') || unique) return 'skipped';
    throw err;
  }
}

/** Continues unattended processes whose retry or poll time has come (pending CA orders, retryable failures). */
export async function tickAcquisitions(deps: SchedulerDeps, limit = 100): Promise<number> {
  const now = deps.ctx.clock.now();
  const due = await deps.ctx.db.em().find(
    RequestEntity,
    {
      processMode: 'unattended',
      awaitingConfirmation: false,
      status: { $nin: ['completed', 'cancelled', 'failed', 'waiting'] },
      nextAttemptAt: { $lte: now },
    },
    { orderBy: { nextAttemptAt: 'asc' }, limit, fields: ['id'] }
  );
  for (const r of due) await runAcquisition(deps.ctx, deps.acquisition, r.id, 'system:scheduler');
  return due.length;
}

export function acquisitionJobs(deps: SchedulerDeps): JobDefinition[] {
  return [
    {
      queue: RENEWAL_SCAN_QUEUE,
      policy: 'stately',
      cron: '*/10 * * * *',
      handler: async (jobs, boss) => {
        for (const _job of jobs)
          deps.log.info({ job: RENEWAL_SCAN_QUEUE, queued: await scanRenewals(deps, boss) }, 'renewal scan done');
      },
    },
    {
      queue: RENEWAL_START_QUEUE,
      policy: 'stately',
      handler: async (jobs) => {
        for (const job of jobs) {
          const definitionId = String(job.data.definitionId);
          deps.log.info(
            { job: RENEWAL_START_QUEUE, definitionId, result: await startRenewal(deps, definitionId) },
            'renewal start'
          );
        }
      },
    },
    {
      queue: ACQUISITION_TICK_QUEUE,
      policy: 'stately',
      cron: '* * * * *',
      handler: async (jobs) => {
        for (const _job of jobs) await tickAcquisitions(deps);
      },
    },
  ];
}
