import { buildDailyDigest } from '../../services/digest-service';
import type { JobDefinition, SchedulerDeps } from '../scheduler';

export const DAILY_DIGEST_QUEUE = 'daily-digest';

/** The daily digest mail to the administrator (SPEC M5), 06:00 UTC. Runs once across replicas (stately queue). */
export function digestJobs({ ctx, acquisition, log }: SchedulerDeps): JobDefinition[] {
  return [
    {
      queue: DAILY_DIGEST_QUEUE,
      policy: 'stately',
      cron: '0 6 * * *',
      handler: async (jobs) => {
        for (const _job of jobs) {
          const data = await buildDailyDigest(ctx);
          await acquisition.notifier.notify('daily-digest', { ...data });
          log.info(
            { job: DAILY_DIGEST_QUEUE, failing: data.failingChecks.length, expiring: data.expiringCertificates.length },
            'daily digest sent'
          );
        }
      },
    },
  ];
}
