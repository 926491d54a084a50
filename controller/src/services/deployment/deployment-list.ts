/**
 * The deployment list of the console and the API (SPEC D2, W3): one page of deployments, newest first, each with
 * the latest monitor or deploy-check result recorded for the endpoint its deploy check probes (SPEC D6). A page
 * costs a constant number of queries (count, page, its definitions, the latest results), never one per row.
 */
import type { Knex } from '@mikro-orm/postgresql';
import { z } from 'zod';
import type { Deployment } from '../../domain/agent';
import type { DeployTarget } from '../../domain/definition';
import { checkEndpointOf } from '../../domain/deployment';
import { deriveOptionsOf } from '../monitoring/deploy-target-endpoints';
import { DefinitionEntity, DeploymentEntity } from '../../storage/entities';
import type { ServiceContext } from '../context';
import { endpointLabel } from '../monitoring/observation';

export const deploymentListQuerySchema = z
  .object({
    certificateId: z.uuid().optional(),
    agentId: z.uuid().optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
  })
  .strict();
export type DeploymentListQuery = z.infer<typeof deploymentListQuerySchema>;

/** The latest monitoring-history row for a deployment's check endpoint. */
export interface LatestCheck {
  endpoint: string;
  status: 'ok' | 'warning' | 'failing';
  reason: string;
  message: string | null;
  at: Date;
  probedBy: string | null;
  runId: string | null;
}

export interface DeploymentListRow extends Deployment {
  /** `host:port` the deploy check probes. */
  checkEndpoint: string;
  latestCheck: LatestCheck | null;
}

const LATEST_CHECKS = `select distinct on (h.definition_id, h.endpoint)
  h.definition_id, h.endpoint, h.status, h.reason, h.message, h.at, h.probed_by, h.run_id
from monitoring_history h
join unnest(?::uuid[], ?::text[]) as k(definition_id, endpoint)
  on h.definition_id = k.definition_id and h.endpoint = k.endpoint
order by h.definition_id, h.endpoint, h.at desc, h.id desc`;

interface LatestRow {
  definition_id: string;
  endpoint: string;
  status: LatestCheck['status'];
  reason: string;
  message: string | null;
  at: Date | string;
  probed_by: string | null;
  run_id: string | null;
}

/** One page of deployments (filter by certificate or agent) with the latest check result per row. */
export async function listDeploymentPage(
  ctx: ServiceContext,
  query: DeploymentListQuery
): Promise<{ items: DeploymentListRow[]; total: number }> {
  const em = ctx.db.em().fork();
  const where = {
    ...(query.certificateId ? { certificateId: query.certificateId } : {}),
    ...(query.agentId ? { agentId: query.agentId } : {}),
  };
  const [rows, total] = await em.findAndCount(DeploymentEntity, where, {
    orderBy: { createdAt: 'desc', id: 'desc' },
    limit: query.limit,
    offset: query.offset,
  });
  if (rows.length === 0) return { items: [], total };
  const defIds = [...new Set(rows.map((d) => d.definitionId))];
  const defs = await em.find(DefinitionEntity, { id: { $in: defIds } }, { fields: ['id', 'subject'] });
  const cnOf = new Map(defs.map((d) => [d.id, d.subject.commonName]));
  const endpoints = rows.map((d) => {
    const e = checkEndpointOf(
      d.target as unknown as DeployTarget,
      cnOf.get(d.definitionId) ?? '',
      deriveOptionsOf(ctx)
    );
    return endpointLabel(e.host, e.port);
  });
  // Through knex: its raw bindings pass the two arrays as real array parameters (one query for the whole page).
  const latest = (
    await em
      .getKnex()
      .raw<{ rows: LatestRow[] }>(LATEST_CHECKS, [rows.map((d) => d.definitionId), endpoints] as Knex.RawBinding[])
  ).rows;
  const byKey = new Map(latest.map((r) => [`${r.definition_id} ${r.endpoint}`, r]));
  const items = rows.map((d, i): DeploymentListRow => {
    const endpoint = endpoints[i] ?? '';
    const r = byKey.get(`${d.definitionId} ${endpoint}`);
    return {
      ...d,
      checkEndpoint: endpoint,
      latestCheck: r
        ? {
            endpoint: r.endpoint,
            status: r.status,
            reason: r.reason,
            message: r.message,
            at: new Date(r.at),
            probedBy: r.probed_by,
            runId: r.run_id,
          }
        : null,
    };
  });
  return { items, total };
}
