import { ApiSessionEntity } from '../../storage/entities';
import type { ServiceContext } from '../../services/context';
import { SESSION_IDLE_MS } from '../../services/auth-service';

/** Deletes API sessions past their absolute expiry or idle timeout; returns how many. */
export async function purgeExpiredSessions(ctx: ServiceContext): Promise<number> {
  const now = ctx.clock.now();
  return ctx.db.em().nativeDelete(ApiSessionEntity, {
    $or: [{ expiresAt: { $lte: now } }, { lastSeenAt: { $lte: new Date(now.getTime() - SESSION_IDLE_MS) } }],
  });
}
