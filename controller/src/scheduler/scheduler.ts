import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { ServiceContext } from '../services/context';
import { purgeExpiredSessions } from './jobs/housekeeping';

export const HOUSEKEEPING_QUEUE = 'housekeeping';

/**
 * Background work runs through pg-boss on the controller's PostgreSQL (SPEC X2): several replicas can share one
 * database and a scheduled job still runs once. Queues are created before use (pg-boss 10).
 */
export interface Scheduler {
  boss: PgBoss;
  stop(): Promise<void>;
}

export async function startScheduler(url: string, ctx: ServiceContext, log: Logger): Promise<Scheduler> {
  const boss = new PgBoss({ connectionString: url, schema: 'pgboss', max: 4 });
  boss.on('error', (err: Error) => log.error({ err: { message: err.message } }, 'pg-boss error'));
  await boss.start();
  // 'stately': at most one queued and one active housekeeping job, whichever replica enqueues it.
  await boss.createQueue(HOUSEKEEPING_QUEUE, { name: HOUSEKEEPING_QUEUE, policy: 'stately' });
  await boss.schedule(HOUSEKEEPING_QUEUE, '*/15 * * * *', {}, { singletonKey: 'housekeeping' });
  await boss.work(HOUSEKEEPING_QUEUE, async (jobs) => {
    for (const _job of jobs) {
      const purged = await purgeExpiredSessions(ctx);
      log.info({ job: HOUSEKEEPING_QUEUE, purgedSessions: purged }, 'housekeeping done');
    }
  });
  return {
    boss,
    stop: async () => {
      await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
    },
  };
}
