import { runMonitor, type MonitorOptions } from '../../services/monitoring/monitor-service';
import { MONITOR_RUN_QUEUE, monitorCron } from '../../services/monitoring/schedule-service';
import type { JobDefinition, SchedulerDeps } from '../scheduler';

// The schedule lives in the schedule service (GET/PUT /api/v1/monitoring/schedule change it at run time).
export { DEFAULT_MONITOR_CRON } from '../../domain/monitor-schedule';
export { MONITOR_CRON_SETTING, MONITOR_RUN_QUEUE, monitorCron } from '../../services/monitoring/schedule-service';

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
