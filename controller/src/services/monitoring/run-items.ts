/**
 * The items of a monitoring run (SPEC M1): every selected endpoint with what judging it needs of its definition
 * and, for Lifecycle-Managed definitions, of the certificate the server must serve.
 *
 * One SQL query (endpoints ⋈ definitions ⟕ current certificate) instead of three ORM finds: a run cannot start
 * probing before its items are known, so this is time during which every core but one idles; hydrating 1,000
 * endpoint entities and then their definitions cost ≈ 60–100 ms of it (monitor-sweep benchmark), the query ≈ 10 ms.
 * Only the columns a run reads are loaded, and each definition and certificate is one object shared by its
 * endpoints — a run holds its items for its whole duration.
 */
import type { StartTlsProtocol } from '@certfleet/shared';
import type { Certificate } from '../../domain/certificate';
import type { CertificateDefinition } from '../../domain/definition';
import type { ProbeFrom } from '../../domain/monitoring';
import type { ProbeTarget } from './observation';

/** What a run needs of a definition. */
export type RunDefinition = Pick<CertificateDefinition, 'id' | 'name' | 'operationMode' | 'subject' | 'trustedCaSetId'>;
/** What a run needs of the certificate a Lifecycle-Managed server must serve. */
export type RunCertificate = Pick<Certificate, 'id' | 'sha256' | 'chainPem'>;

/** One endpoint of a run: where it is, whose it is, and (Lifecycle-Managed) which certificate it must serve. */
export interface RunItem {
  endpointId: string | null;
  definition: RunDefinition;
  target: ProbeTarget;
  /** The certificate the server must serve (managed); default the definition's current certificate. */
  expected?: RunCertificate | null;
}

/** Which endpoints a run covers. */
export interface RunSelection {
  /** Only the endpoints of this definition. */
  definitionId?: string;
  /** Exactly these endpoints, enabled or not; otherwise every enabled endpoint. */
  endpointIds?: readonly string[];
  /** Only endpoints the controller probes. */
  controllerOnly?: boolean;
}

/** The raw SQL runner the query needs (MikroORM's `em.getConnection().execute`). */
export type ExecuteSql = (sql: string, params: unknown[]) => Promise<unknown>;

interface ItemRow {
  endpoint_id: string;
  host: string;
  port: number;
  server_name: string | null;
  starttls: StartTlsProtocol | null;
  probe_from: ProbeFrom;
  agent_id: string | null;
  site: string | null;
  definition_id: string;
  name: string;
  operation_mode: CertificateDefinition['operationMode'];
  subject: CertificateDefinition['subject'] | string;
  trusted_ca_set_id: string | null;
  certificate_id: string | null;
  sha256: string | null;
  chain_pem: string[] | string | null;
}

const SELECT_ITEMS = `select e.id as endpoint_id, e.host, e.port, e.server_name, e.starttls, e.probe_from, e.agent_id,
    e.site, d.id as definition_id, d.name, d.operation_mode, d.subject, d.trusted_ca_set_id,
    c.id as certificate_id, c.sha256, c.chain_pem
  from monitored_endpoints e
  join certificate_definitions d on d.id = e.definition_id
  left join certificates c on c.definition_id = d.id and c.is_current
  where (?::boolean or e.enabled)
    and (?::uuid[] is null or e.id = any(?::uuid[]))
    and (?::uuid is null or e.definition_id = ?::uuid)
    and (not ?::boolean or e.probe_from = 'controller')
  order by e.definition_id asc, e.created_at asc, e.id asc`;

/**
 * The run items for `selection`, in definition order (then creation order) — the order of the run's report.
 * @example const items = await selectRunItems((sql, p) => em.getConnection().execute(sql, p), { definitionId })
 */
export async function selectRunItems(execute: ExecuteSql, selection: RunSelection): Promise<RunItem[]> {
  // One array literal: MikroORM's `execute` expands a JS array into a list (the ids are validated UUIDs).
  const ids = selection.endpointIds ? `{${selection.endpointIds.join(',')}}` : null;
  const definitionId = selection.definitionId ?? null;
  const rows = (await execute(SELECT_ITEMS, [
    ids !== null,
    ids,
    ids,
    definitionId,
    definitionId,
    selection.controllerOnly === true,
  ])) as ItemRow[];
  const definitions = new Map<string, { definition: RunDefinition; expected: RunCertificate | null }>();
  return rows.map((r) => {
    let owner = definitions.get(r.definition_id);
    if (owner === undefined) {
      owner = {
        definition: {
          id: r.definition_id,
          name: r.name,
          operationMode: r.operation_mode,
          subject: fromJson(r.subject),
          trustedCaSetId: r.trusted_ca_set_id,
        },
        expected:
          r.certificate_id === null
            ? null
            : { id: r.certificate_id, sha256: r.sha256 as string, chainPem: fromJson(r.chain_pem ?? []) },
      };
      definitions.set(r.definition_id, owner);
    }
    const { definition, expected } = owner;
    return {
      endpointId: r.endpoint_id,
      definition,
      target: {
        host: r.host,
        port: r.port,
        serverName: r.server_name,
        starttls: r.starttls,
        probeFrom: r.probe_from,
        agentId: r.probe_from === 'agent' ? r.agent_id : null,
        site: r.probe_from === 'site' ? r.site : null,
      },
      expected,
    };
  });
}

/** json columns arrive parsed from PostgreSQL's driver; a text value (another type-parser setup) is parsed here. */
function fromJson<T>(value: T | string): T {
  return typeof value === 'string' ? (JSON.parse(value) as T) : value;
}
