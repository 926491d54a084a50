/**
 * Monitored endpoints derived from deploy targets (SPEC D1, D6, M2, M4): kept in step with a Lifecycle-Managed
 * definition's `deployTargets` inside the transaction that changes the definition, so scheduled monitoring checks
 * every deploy target (served leaf = current certificate, intermediates served). Rows with another `source`
 * (operator-added, discovery) are never touched. An operator's `enabled: false` survives later syncs of the same
 * target (same host and port); a changed host or port is a new endpoint (enabled).
 */
import crypto from 'node:crypto';
import type { CertificateDefinition } from '../../domain/definition';
import { derivedEndpointsOf, type DeriveOptions, type DerivedEndpoint } from '../../domain/deploy-target-endpoint';
import type { MonitoredEndpoint } from '../../domain/monitoring';
import type { Em } from '../../storage/database';
import { AgentEntity, DefinitionEntity, MonitoredEndpointEntity, SettingEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import type { Actor, ServiceContext } from '../context';

export const DEPLOY_TARGET_SOURCE = 'deploy-target' as const;
/** Set once the endpoints of the definitions that existed before this feature have been created. */
const BACKFILL_KEY = 'monitoring.deployTargetEndpointsBackfilled';

export interface SyncResult {
  created: number;
  updated: number;
  removed: number;
}

const key = (e: { host: string; port: number }) => `${e.host} ${e.port}`;

/** The derive options of a context: the controller's own HTTPS port once it listens. */
export function deriveOptionsOf(ctx: Pick<ServiceContext, 'httpsPort'>): DeriveOptions {
  return ctx.httpsPort ? { controllerHttpsPort: ctx.httpsPort } : {};
}

/**
 * Reconciles the derived endpoints of one definition (inside the caller's transaction). Matching: same target
 * index and host:port first, then same host:port (a target that moved in the list keeps its row and `enabled`).
 * An agent target whose agent does not exist gets `agentId` null (the run reports it as unavailable).
 */
export async function syncDeployTargetEndpoints(
  em: Em,
  def: Pick<CertificateDefinition, 'id' | 'subject' | 'sans' | 'operationMode' | 'deployTargets'>,
  now: Date,
  actor: Actor,
  opts: DeriveOptions & { isNew?: boolean } = {}
): Promise<SyncResult> {
  const desired = derivedEndpointsOf(def, opts);
  // a definition made in this transaction has no endpoints yet (bulk creation saves the query)
  if (opts.isNew && desired.length === 0) return { created: 0, updated: 0, removed: 0 };
  const rows = opts.isNew
    ? []
    : await em.find(
        MonitoredEndpointEntity,
        { definitionId: def.id, source: DEPLOY_TARGET_SOURCE },
        { orderBy: { createdAt: 'asc', id: 'asc' } }
      );
  const agentIds = [...new Set(desired.map((d) => d.agentId).filter((a): a is string => a !== null))];
  const known = new Set(
    agentIds.length ? (await em.find(AgentEntity, { id: { $in: agentIds } }, { fields: ['id'] })).map((a) => a.id) : []
  );

  const unmatched = new Set(rows);
  const pairs: Array<[DerivedEndpoint, MonitoredEndpoint | undefined]> = desired.map((d) => {
    const row = [...unmatched].find((r) => r.deployTargetIndex === d.deployTargetIndex && key(r) === key(d));
    if (row) unmatched.delete(row);
    return [d, row];
  });
  for (const pair of pairs) {
    if (pair[1]) continue;
    const row = [...unmatched].find((r) => key(r) === key(pair[0]));
    if (row) {
      unmatched.delete(row);
      pair[1] = row;
    }
  }

  const result: SyncResult = { created: 0, updated: 0, removed: 0 };
  for (const [d, row] of pairs) {
    const agentId = d.agentId && known.has(d.agentId) ? d.agentId : null;
    const fields = {
      serverName: d.serverName,
      starttls: d.starttls,
      probeFrom: d.probeFrom,
      agentId,
      site: null,
      deployTargetIndex: d.deployTargetIndex,
    };
    if (!row) {
      const endpoint: MonitoredEndpoint = {
        id: crypto.randomUUID(),
        definitionId: def.id,
        host: d.host,
        port: d.port,
        ...fields,
        enabled: true,
        source: DEPLOY_TARGET_SOURCE,
        createdAt: now,
        updatedAt: now,
      };
      em.persist(em.create(MonitoredEndpointEntity, endpoint));
      result.created++;
      continue;
    }
    const changed = (Object.keys(fields) as Array<keyof typeof fields>).some((k) => (row[k] ?? null) !== fields[k]);
    if (changed) {
      em.assign(row, { ...fields, updatedAt: now });
      result.updated++;
    }
  }
  for (const row of unmatched) {
    em.remove(row);
    result.removed++;
  }
  if (result.created + result.updated + result.removed > 0) {
    await appendAudit(
      em,
      {
        actor,
        action: 'monitoring.endpoint.synced',
        targetType: 'definition',
        targetId: def.id,
        details: { ...result, source: DEPLOY_TARGET_SOURCE },
      },
      now
    );
  }
  return result;
}

/**
 * Creates the derived endpoints of definitions that existed before derived endpoints did (once per database;
 * idempotent: a later call finds the marker and does nothing). Runs at controller start, before bootstrap.
 */
export async function backfillDeployTargetEndpoints(ctx: ServiceContext, opts: DeriveOptions = {}): Promise<number> {
  return ctx.db.em().transactional(async (em) => {
    await em
      .getConnection()
      .execute(`select pg_advisory_xact_lock(hashtext(?))`, [BACKFILL_KEY], 'all', em.getTransactionContext());
    if (await em.findOne(SettingEntity, { key: BACKFILL_KEY })) return 0;
    const now = ctx.clock.now();
    let created = 0;
    const defs = await em.find(DefinitionEntity, { operationMode: 'managed' }, { orderBy: { id: 'asc' } });
    for (const def of defs) {
      if (def.deployTargets.length === 0) continue;
      created += (await syncDeployTargetEndpoints(em, def, now, 'system', opts)).created;
    }
    em.persist(
      em.create(SettingEntity, { key: BACKFILL_KEY, value: { at: now.toISOString(), created }, updatedAt: now })
    );
    return created;
  });
}
