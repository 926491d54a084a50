import { SettingEntity } from '../../storage/entities';
import type { ServiceContext } from '../../services/context';
import { runMonitor, type MonitorOptions } from '../../services/monitoring/monitor-service';
import type { JobDefinition, SchedulerDeps } from '../scheduler';

/** pg-boss queue of the scheduled monitoring run (SPEC M1). */
export const MONITOR_RUN_QUEUE = 'monitor-run';
/** Default schedule: daily at 06:00 UTC (pg-boss evaluates cron in UTC), before the administrator's morning. */
export const DEFAULT_MONITOR_CRON = '0 6 * * *';
/** Setting that overrides the schedule (a 5-field cron expression, UTC). */
export const MONITOR_CRON_SETTING = 'monitoring.cron';

const CRON_FIELD = /^[\d*/,\-A-Za-z?LW#]+$/;

/** True for a plausible 5- or 6-field cron expression (pg-boss validates it fully when scheduling). */
export function isCronExpression(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const fields = value.trim().split(/\s+/);
  return (fields.length === 5 || fields.length === 6) && fields.every((f) => CRON_FIELD.test(f));
}

/** The monitoring schedule: the `monitoring.cron` setting when it holds a cron expression, else daily 06:00 UTC. */
export async function monitorCron(ctx: ServiceContext): Promise<string> {
  const row = await ctx.db.em().fork().findOne(SettingEntity, { key: MONITOR_CRON_SETTING });
  if (row && !isCronExpression(row.value)) {
    ctx.log.warn({ setting: MONITOR_CRON_SETTING }, 'monitoring.cron is not a cron expression; using the default');
  }
  return row && isCronExpression(row.value) ? row.value.trim() : DEFAULT_MONITOR_CRON;
}

/** Handler of one scheduled run: probes every enabled endpoint and logs the counters. */
export async function runScheduledMonitor(
  deps: Pick<SchedulerDeps, 'ctx' | 'log'>,
  opts?: MonitorOptions
): Promise<void> {
  const run = await runMonitor(deps.ctx, { trigger: 'schedule' }, opts);
  deps.log.info(
    {
      job: MONITOR_RUN_QUEUE,
      runId: run.id,
      endpoints: run.endpoints,
      ok: run.ok,
      warning: run.warning,
      failing: run.failing,
    },
    'monitoring run finished'
  );
}

/**
 * The `monitor-run` queue: stately (one run at a time, whichever replica enqueues it), scheduled by `monitorCron`.
 * Async because the schedule is read from the settings table: `...(await monitoringJobs(deps))`.
 */
export async function monitoringJobs(deps: SchedulerDeps): Promise<JobDefinition[]> {
  return [
    {
      queue: MONITOR_RUN_QUEUE,
      policy: 'stately',
      cron: await monitorCron(deps.ctx),
      handler: async (jobs) => {
        for (const _job of jobs) await runScheduledMonitor(deps);
      },
    },
  ];
}
