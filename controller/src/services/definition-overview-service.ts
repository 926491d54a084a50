/**
 * The definitions overview (SPEC W1): for one page of definitions, the facts behind the three status columns and the
 * monitor view, gathered in five set-based queries (no per-row queries, so a page costs the same with 100,000
 * definitions), then judged by the pure {@link definitionStatus}.
 */
import type { CertificateDefinition } from '../domain/definition';
import { definitionStatus, type DefinitionStatus, type DefinitionStatusInput } from '../domain/definition-status';
import type { RequestStatus } from '../domain/request';
import type { Em } from '../storage/database';

type Row = Record<string, unknown>;

const toDate = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

/** Status columns for each given definition, keyed by definition id. */
export async function definitionStatuses(
  em: Em,
  definitions: ReadonlyArray<Pick<CertificateDefinition, 'id' | 'operationMode' | 'renewalLeadDays' | 'deployTargets'>>,
  now: Date
): Promise<Map<string, DefinitionStatus>> {
  const out = new Map<string, DefinitionStatus>();
  if (definitions.length === 0) return out;
  const ids = definitions.map((d) => d.id);
  const conn = em.getConnection();

  const current = await conn.execute<Row[]>(
    `select definition_id, id, not_after from certificates where is_current and definition_id in (?)`,
    [ids]
  );
  const requests = await conn.execute<Row[]>(
    `select distinct on (definition_id) definition_id, kind, status, waiting_for, awaiting_confirmation
       from certificate_requests where definition_id in (?)
      order by definition_id, created_at desc`,
    [ids]
  );
  const certIds = current.map((c) => String(c.id));
  const deployments = certIds.length
    ? await conn.execute<Row[]>(
        `select distinct on (certificate_id, target) certificate_id, target, status
           from deployment_history where certificate_id in (?)
          order by certificate_id, target, at desc`,
        [certIds]
      )
    : [];
  const endpoints = await conn.execute<Row[]>(
    `select definition_id, count(*)::int as n from monitored_endpoints
      where enabled and definition_id in (?) group by definition_id`,
    [ids]
  );
  const monitor = await conn.execute<Row[]>(
    `select distinct on (h.endpoint_id) e.definition_id, h.endpoint, h.status, h.at, h.leaf_not_after
       from monitoring_history h join monitored_endpoints e on e.id = h.endpoint_id and e.enabled
      where e.definition_id in (?)
      order by h.endpoint_id, h.at desc`,
    [ids]
  );

  const currentByDef = new Map(current.map((c) => [String(c.definition_id), c]));
  const requestByDef = new Map(requests.map((r) => [String(r.definition_id), r]));
  const endpointsByDef = new Map(endpoints.map((e) => [String(e.definition_id), Number(e.n)]));
  for (const d of definitions) {
    const cur = currentByDef.get(d.id);
    const req = requestByDef.get(d.id);
    const input: DefinitionStatusInput = {
      operationMode: d.operationMode,
      renewalLeadDays: d.renewalLeadDays,
      deployTargets: d.deployTargets.length,
      current: cur ? { notAfter: toDate(cur.not_after) } : null,
      latestRequest: req
        ? {
            kind: req.kind === 'new' ? 'new' : 'renewal',
            status: String(req.status) as RequestStatus,
            waitingFor: req.waiting_for == null ? null : String(req.waiting_for),
            awaitingConfirmation: req.awaiting_confirmation === true,
          }
        : null,
      deployments: cur
        ? deployments
            .filter((h) => String(h.certificate_id) === String(cur.id))
            .map((h) => ({ target: String(h.target), status: String(h.status) }))
        : [],
      endpoints: endpointsByDef.get(d.id) ?? 0,
      monitor: monitor
        .filter((m) => String(m.definition_id) === d.id)
        .map((m) => ({
          endpoint: String(m.endpoint),
          status: String(m.status),
          at: toDate(m.at),
          leafNotAfter: m.leaf_not_after == null ? null : toDate(m.leaf_not_after),
        })),
    };
    out.set(d.id, definitionStatus(input, now));
  }
  return out;
}
