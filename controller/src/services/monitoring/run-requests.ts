/**
 * Run requests (SPEC M1 "run now" from another process): `certfleet monitor run-now` cannot reach the agents of a
 * running controller, so it writes a `requested` run row; every running controller polls for such rows (the same
 * database-poll mechanism that carries bans made by `certfleet agents ban` to live streams), claims one atomically
 * (`FOR UPDATE SKIP LOCKED`: one controller wins among replicas) and executes it under the request's id, with its
 * agent streams. The requester follows the row's status and progress (`done` of `endpoints`).
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import type { MonitorRun } from '../../domain/monitoring';
import { MonitorRunEntity } from '../../storage/entities';
import type { Actor, ServiceContext } from '../context';
import { parseInput } from '../definition-service';
import { type MonitorOptions, runMonitor } from './monitor-service';
import { DEFAULT_RUN_REQUEST_TTL_MS, RUN_OWNER } from './run-recovery';

export const runRequestInputSchema = z
  .object({
    definitionId: z.uuid().optional().describe('only the endpoints of this definition'),
    agentDeadlineMs: z
      .number()
      .int()
      .min(100)
      .max(3_600_000)
      .optional()
      .describe('how long the run waits for agents to report (default 60 s)'),
  })
  .strict();
export type RunRequestInput = z.input<typeof runRequestInputSchema>;

/** Final states of a run. */
export const FINAL_RUN_STATUSES: ReadonlySet<string> = new Set(['finished', 'failed', 'interrupted', 'cancelled']);

/** Writes a `requested` run (trigger `manual`) for a running controller to execute; returns it at once. */
export async function requestMonitorRun(ctx: ServiceContext, raw: RunRequestInput, actor: Actor): Promise<MonitorRun> {
  const input = parseInput(runRequestInputSchema, raw, 'monitoring.run-request');
  const run: MonitorRun = {
    id: crypto.randomUUID(),
    trigger: 'manual',
    status: 'requested',
    startedAt: ctx.clock.now(),
    finishedAt: null,
    endpoints: 0,
    ok: 0,
    warning: 0,
    failing: 0,
    report: null,
    done: 0,
    requestedBy: actor.slice(0, 200),
    request: { ...input },
    owner: null,
    heartbeatAt: null,
  };
  const em = ctx.db.em().fork();
  em.persist(em.create(MonitorRunEntity, run));
  await em.flush();
  return run;
}

/** Claims the oldest unexpired requested run for this process (it becomes `running`, owned here); null if none. */
export async function claimRequestedRun(
  ctx: ServiceContext,
  requestTtlMs = DEFAULT_RUN_REQUEST_TTL_MS
): Promise<MonitorRun | null> {
  const now = ctx.clock.now();
  const rows = await ctx.db
    .em()
    .getConnection()
    .execute<Array<{ id: string }>>(
      `update monitor_runs set status = 'running', owner = ?, heartbeat_at = ?, started_at = ?
        where id = (select id from monitor_runs
                     where status = 'requested' and started_at >= ?
                     order by started_at, id limit 1 for update skip locked)
        returning id`,
      [RUN_OWNER, now, now, new Date(now.getTime() - requestTtlMs)]
    );
  const id = rows[0]?.id;
  return id ? ctx.db.em().fork().findOne(MonitorRunEntity, { id }) : null;
}

/** Executes a claimed request (its id, its input) with this process's agent streams. */
export async function executeRequestedRun(
  ctx: ServiceContext,
  claimed: MonitorRun,
  opts: MonitorOptions = {}
): Promise<MonitorRun> {
  const parsed = runRequestInputSchema.safeParse(claimed.request ?? {});
  const input = parsed.success ? parsed.data : {};
  return runMonitor(
    ctx,
    { trigger: 'manual', ...(input.definitionId ? { definitionId: input.definitionId } : {}) },
    { ...opts, ...(input.agentDeadlineMs ? { agentDeadlineMs: input.agentDeadlineMs } : {}) },
    claimed
  );
}

/** Cancels a request no controller has claimed yet; false when one claimed it meanwhile (it runs). */
export async function cancelRequestedRun(ctx: ServiceContext, id: string, why: string): Promise<boolean> {
  const n = await ctx.db
    .em()
    .fork()
    .nativeUpdate(
      MonitorRunEntity,
      { id, status: 'requested' },
      {
        status: 'cancelled',
        finishedAt: ctx.clock.now(),
        report: { results: [], durationMs: 0, error: why.slice(0, 4000) },
      }
    );
  return n === 1;
}

/** The run row (with its report), or null. */
export async function readRun(ctx: ServiceContext, id: string): Promise<MonitorRun | null> {
  return ctx.db.em().fork().findOne(MonitorRunEntity, { id });
}
