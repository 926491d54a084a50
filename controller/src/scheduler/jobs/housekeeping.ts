import { ApiSessionEntity } from '../../storage/entities';
import type { ServiceContext } from '../../services/context';
import { SESSION_IDLE_MS } from '../../services/auth-service';
import type { JobDefinition, SchedulerDeps } from '../scheduler';

export const HOUSEKEEPING_QUEUE = 'housekeeping';

/** Deletes API sessions past their absolute expiry or idle timeout; returns how many. */
export async function purgeExpiredSessions(ctx: ServiceContext): Promise<number> {
  const now = ctx.clock.now();
  return ctx.db.em().nativeDelete(ApiSessionEntity, {
    $or: [{ expiresAt: { $lte: now } }, { lastSeenAt: { $lte: new Date(now.getTime() - SESSION_IDLE_MS) } }],
  });
}

export function housekeepingJobs({ ctx, log }: SchedulerDeps): JobDefinition[] {
  return [
    {
      queue: HOUSEKEEPING_QUEUE,
      policy: 'stately',
      cron: '*/15 * * * *',
      handler: async (jobs) => {
        for (const _job of jobs) {
          const purged = await purgeExpiredSessions(ctx);
          log.info({ job: HOUSEKEEPING_QUEUE, purgedSessions: purged }, 'housekeeping done');
        }
      },
    },
  ];
}
