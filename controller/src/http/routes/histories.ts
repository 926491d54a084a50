import type { EntitySchema } from '@mikro-orm/core';
import { z } from 'zod';
import { auditQuerySchema, checkAuditChain, listAuditEvents } from '../../services/audit-query-service';
import { DeploymentHistoryEntity, MonitoringHistoryEntity, PurchaseHistoryEntity } from '../../storage/entities';
import type { RouteModule } from './types';

const paging = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(100),
    offset: z.coerce.number().int().min(0).default(0),
  })
  .strict();

export const historyRoutes: RouteModule = (add, { ctx }) => {
  const history = <T extends { at: Date }>(url: string, summary: string, entity: EntitySchema<T>): void =>
    add({
      method: 'GET',
      url,
      summary,
      tags: ['histories'],
      permission: 'repository:read',
      query: paging,
      handler: async ({ query }) => {
        const [items, total] = await ctx.db
          .em()
          .findAndCount(entity, {}, { orderBy: { at: 'desc' } as never, limit: query.limit, offset: query.offset });
        return { items, total };
      },
    });
  history('/api/v1/history/purchases', 'Purchase history — SPEC R8', PurchaseHistoryEntity);
  history('/api/v1/history/deployments', 'Deployment history — SPEC R8', DeploymentHistoryEntity);
  history('/api/v1/history/monitoring', 'Monitoring history — SPEC R8', MonitoringHistoryEntity);
  add({
    method: 'GET',
    url: '/api/v1/audit',
    summary:
      'Audit log (hash-chained), newest first, paged; filter by action prefix, actor substring and time ' +
      'range — SPEC U5, R8, W11',
    tags: ['histories'],
    permission: 'settings:manage',
    query: auditQuerySchema,
    handler: async ({ query }) => listAuditEvents(ctx, query),
  });
  add({
    method: 'GET',
    url: '/api/v1/audit/verify',
    summary:
      'Verify the audit hash chain from the genesis: {ok, rows, firstBrokenId?, reason?} (as `certfleet ' +
      'audit verify`) — SPEC U5',
    tags: ['histories'],
    permission: 'settings:manage',
    handler: async () => checkAuditChain(ctx),
  });
};
