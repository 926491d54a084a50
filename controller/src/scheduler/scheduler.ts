import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { JobSchedule, JobSchedules, ServiceContext } from '../services/context';
import type { AcquisitionDeps } from '../services/acquisition/acquisition-service';
import { acquisitionJobs } from './jobs/acquisition';
import { digestJobs } from './jobs/digest';
import { monitoringJobs } from './jobs/monitoring';
import { housekeepingJobs } from './jobs/housekeeping';

/** One queue: its pg-boss policy, an optional cron schedule, and the handler for a batch of jobs. */
export interface JobDefinition {
  queue: string;
  /** 'stately': at most one queued and one active job (per singletonKey), whichever replica enqueues it. */
  policy: 'standard' | 'stately' | 'singleton';
  cron?: string;
  handler: (jobs: Array<PgBoss.Job<Record<string, unknown>>>, boss: PgBoss) => Promise<void>;
}

export interface SchedulerDeps {
  ctx: ServiceContext;
  acquisition: AcquisitionDeps;
  log: Logger;
  /** Renewal starts are spread over this window (SPEC A5). @default 900 */
  renewalJitterSeconds?: number;
}

/**
 * Background work runs through pg-boss on the controller's PostgreSQL (SPEC X2): several replicas can share one
 * database and a scheduled job still runs once. Queues are created before use (pg-boss 10).
 */
export interface Scheduler {
  boss: PgBoss;
  /** Cron schedules of the running boss: a change takes effect for every replica without a restart. */
  schedules: JobSchedules;
  stop(): Promise<void>;
}

/** pg-boss clock settings (tests: a cron check every second instead of every 30 s). */
export interface SchedulerOptions {
  /** How often pg-boss checks the cron schedules. @default 30 */
  cronMonitorIntervalSeconds?: number;
  /** How often scheduled sends become jobs. @default 5 */
  cronWorkerIntervalSeconds?: number;
}

/** The schedule access services use (ServiceContext.jobSchedules), over pg-boss's `schedule` table. */
export function bossSchedules(boss: PgBoss): JobSchedules {
  return {
    get: async (queue: string): Promise<JobSchedule | null> => {
      const rows = (await boss.getSchedules()) as Array<{
        name: string;
        cron: string;
        timezone: string | null;
        updated_on?: Date | string | null;
      }>;
      const row = rows.find((r) => r.name === queue);
      if (!row) return null;
      return {
        cron: row.cron,
        timezone: row.timezone ?? 'UTC',
        updatedAt: row.updated_on ? new Date(row.updated_on) : null,
      };
    },
    set: async (queue: string, cron: string): Promise<void> => {
      await boss.schedule(queue, cron, {}, { tz: 'UTC' });
    },
  };
}

export async function startScheduler(
  url: string,
  deps: SchedulerDeps,
  options: SchedulerOptions = {}
): Promise<Scheduler> {
  const { log } = deps;
  const boss = new PgBoss({ connectionString: url, schema: 'pgboss', max: 4, ...options });
  boss.on('error', (err: Error) => log.error({ err: { message: err.message } }, 'pg-boss error'));
  await boss.start();
  const jobs: JobDefinition[] = [
    ...housekeepingJobs(deps),
    ...acquisitionJobs(deps),
    ...digestJobs(deps),
    ...(await monitoringJobs(deps)),
  ];
  for (const job of jobs) {
    await boss.createQueue(job.queue, { name: job.queue, policy: job.policy });
    if (job.cron) await boss.schedule(job.queue, job.cron, {}, { tz: 'UTC' });
    await boss.work<Record<string, unknown>>(job.queue, { pollingIntervalSeconds: 2 }, async (batch) => {
      try {
        await job.handler(batch, boss);
      } catch (err) {
        log.error({ job: job.queue, err: { message: (err as Error).message } }, 'job failed');
        throw err;
      }
    });
  }
  return {
    boss,
    schedules: bossSchedules(boss),
    stop: async () => {
      await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
    },
  };
}
