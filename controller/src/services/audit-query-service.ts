/**
 * Reading the audit log (SPEC U5, R8, W11): server-side paged, filtered by action (prefix), actor (substring,
 * case-insensitive) and time range, newest first; and the hash-chain check as the API answers it.
 */
import { z } from 'zod';
import type { AuditEvent } from '../domain/history';
import { AuditEventEntity } from '../storage/entities';
import { verifyAuditChain } from './audit-service';
import type { ServiceContext } from './context';

const like = (s: string): string => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export const auditQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(100),
    offset: z.coerce.number().int().min(0).default(0),
    action: z.string().trim().max(100).optional().describe('action prefix, e.g. `trust-set.` or `user.created`'),
    actor: z.string().trim().max(200).optional().describe('part of the actor, e.g. `admin` or `user:alice`'),
    from: z.iso.datetime({ offset: true }).optional().describe('events at or after (ISO 8601)'),
    to: z.iso.datetime({ offset: true }).optional().describe('events before (ISO 8601)'),
  })
  .strict()
  .refine((q) => !q.from || !q.to || Date.parse(q.from) < Date.parse(q.to), {
    message: '`from` must be before `to`',
    path: ['from'],
  });
export type AuditQuery = z.infer<typeof auditQuerySchema>;

export async function listAuditEvents(
  ctx: ServiceContext,
  query: AuditQuery
): Promise<{ items: AuditEvent[]; total: number }> {
  const where: Record<string, unknown> = {};
  if (query.action) where.action = { $like: `${like(query.action)}%` };
  if (query.actor) where.actor = { $ilike: `%${like(query.actor)}%` };
  if (query.from || query.to) {
    where.at = {
      ...(query.from ? { $gte: new Date(query.from) } : {}),
      ...(query.to ? { $lt: new Date(query.to) } : {}),
    };
  }
  const [items, total] = await ctx.db
    .em()
    .fork()
    .findAndCount(AuditEventEntity, where, {
      orderBy: { at: 'desc', id: 'desc' },
      limit: query.limit,
      offset: query.offset,
    });
  return { items, total };
}

export interface AuditChainCheck {
  ok: boolean;
  /** Events verified on the chain from the genesis. */
  rows: number;
  /** The first event found broken (edited, or off the chain), when there is one. */
  firstBrokenId?: string;
  reason?: string;
  checkedAt: string;
}

/** Walks the whole chain in one snapshot (SPEC U5): what `certfleet audit verify` prints. */
export async function checkAuditChain(ctx: ServiceContext): Promise<AuditChainCheck> {
  const r = await verifyAuditChain(ctx.db.em().fork());
  return {
    ok: r.ok,
    rows: r.events,
    ...(r.brokenAt ? { firstBrokenId: r.brokenAt } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
    checkedAt: ctx.clock.now().toISOString(),
  };
}
