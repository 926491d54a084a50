import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { ServiceContext } from '../services/context';
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
  stop(): Promise<void>;
}

export async function startScheduler(url: string, deps: SchedulerDeps): Promise<Scheduler> {
  const { log } = deps;
  const boss = new PgBoss({ connectionString: url, schema: 'pgboss', max: 4 });
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
    if (job.cron) await boss.schedule(job.queue, job.cron, {});
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
    stop: async () => {
      await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
    },
  };
}
