/**
 * Monitored endpoints (SPEC M1, M4, D6): the TLS listeners watched for a definition, and who probes each one — the
 * controller, a named agent that can reach a host the controller cannot, or any connected agent of a site. The
 * prober is given as `prober: {kind: 'controller'} | {kind: 'agent', agentId} | {kind: 'site', site}`, or (as
 * before) as `probeFrom` + `agentId` / `site`; responses carry both. Disabling an endpoint leaves it out of
 * scheduled runs ("disable periodic monitoring"). Every change is audited.
 *
 * Endpoints with `source: 'deploy-target'` are derived from a managed definition's deploy targets
 * (deploy-target-endpoints.ts): only `enabled` is the operator's; other changes and deletion are refused with
 * CF_ENDPOINT_DERIVED (edit or remove the deploy target, or disable the endpoint, instead).
 */
import crypto from 'node:crypto';
import net from 'node:net';
import { z } from 'zod';
import { CertFleetError, STARTTLS_PROTOCOLS } from '@certfleet/shared';
import { isDnsName } from '../../domain/definition';
import {
  SITE_PATTERN,
  proberOf,
  type EndpointSource,
  type MonitoredEndpoint,
  type Prober,
} from '../../domain/monitoring';
import type { Em } from '../../storage/database';
import { AgentEntity, MonitoredEndpointEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import type { Actor, ServiceContext } from '../context';
import { getDefinition, parseInput, parsePatch } from '../definition-service';

const hostSchema = z
  .string()
  .min(1)
  .max(253)
  .refine((h) => net.isIP(h) !== 0 || (isDnsName(h) && !h.includes('*')), 'a DNS name or an IP address');

const siteSchema = z.string().regex(SITE_PATTERN, 'a site label (letters, digits, . _ -; at most 63)');

export const proberSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('controller') }).strict(),
    z.object({ kind: z.literal('agent'), agentId: z.uuid() }).strict(),
    z.object({ kind: z.literal('site'), site: siteSchema }).strict(),
  ])
  .describe('who probes it (SPEC M4): the controller, a named agent, or any connected agent of a site');

export const endpointInputSchema = z
  .object({
    host: hostSchema.optional().describe("host to connect to; default the definition's common name"),
    port: z.number().int().min(1).max(65535).default(443),
    serverName: z
      .string()
      .min(1)
      .max(253)
      .refine((h) => isDnsName(h), 'a DNS name')
      .nullable()
      .default(null)
      .describe('SNI to send; null = the host (none for an IP)'),
    starttls: z.enum(STARTTLS_PROTOCOLS).nullable().default(null),
    prober: proberSchema.optional(),
    probeFrom: z
      .enum(['controller', 'agent', 'site'])
      .default('controller')
      .describe('who probes it (SPEC M4); the older spelling of `prober`'),
    agentId: z.uuid().nullable().default(null).describe('the probing agent when probeFrom is agent'),
    site: siteSchema.nullable().default(null).describe('the probing site when probeFrom is site'),
    enabled: z.boolean().default(true).describe('false: left out of scheduled runs'),
  })
  .strict();
export type EndpointInput = z.input<typeof endpointInputSchema>;
export const endpointPatchSchema = endpointInputSchema.partial().strict();

type EndpointFields = Pick<
  MonitoredEndpoint,
  'host' | 'port' | 'serverName' | 'starttls' | 'probeFrom' | 'agentId' | 'site'
>;

/** An endpoint as the API shows it: the stored fields and the prober as one value. */
export type EndpointView = MonitoredEndpoint & {
  site: string | null;
  prober: Prober | null;
  source: EndpointSource;
  deployTargetIndex: number | null;
};

function view(e: MonitoredEndpoint): EndpointView {
  return {
    ...e,
    site: e.site ?? null,
    prober: proberOf(e),
    source: e.source ?? 'manual',
    deployTargetIndex: e.deployTargetIndex ?? null,
  };
}

/** Refuses a change other than `enabled` (or a deletion) of an endpoint derived from a deploy target. */
function assertNotDerived(row: MonitoredEndpoint, what: string): void {
  if (row.source !== 'deploy-target') return;
  throw new CertFleetError(
    'CF_ENDPOINT_DERIVED',
    `monitoring: endpoint ${row.host}:${row.port} is derived from deploy target #${row.deployTargetIndex ?? '?'} of ` +
      `its definition and cannot be ${what}; edit or remove the deploy target, or set enabled: false to stop ` +
      'monitoring it periodically',
    { details: { endpointId: row.id, deployTargetIndex: row.deployTargetIndex ?? null } }
  );
}

/**
 * The prober fields of an input: `prober` if sent (then none of `probeFrom`, `agentId`, `site` may be sent), else
 * the older fields. Only the fields of the chosen kind are kept (the others become null).
 */
function proberFields(
  raw: unknown,
  input: { prober?: Prober; probeFrom?: MonitoredEndpoint['probeFrom']; agentId?: string | null; site?: string | null }
): Partial<Pick<MonitoredEndpoint, 'probeFrom' | 'agentId' | 'site'>> {
  const sent = raw !== null && typeof raw === 'object' ? new Set(Object.keys(raw)) : new Set<string>();
  if (input.prober) {
    const legacy = ['probeFrom', 'agentId', 'site'].filter((k) => sent.has(k));
    if (legacy.length) {
      throw new CertFleetError(
        'CF_VALIDATION',
        `monitoring.endpoint: give either prober or ${legacy.join(', ')}, not both`
      );
    }
    const p = input.prober;
    return {
      probeFrom: p.kind,
      agentId: p.kind === 'agent' ? p.agentId : null,
      site: p.kind === 'site' ? p.site : null,
    };
  }
  const out: Partial<Pick<MonitoredEndpoint, 'probeFrom' | 'agentId' | 'site'>> = {};
  if (input.probeFrom !== undefined) out.probeFrom = input.probeFrom;
  if (input.agentId !== undefined) out.agentId = input.agentId;
  if (input.site !== undefined) out.site = input.site;
  return out;
}

/** Keeps only the field of the prober's kind: a controller endpoint has neither agent nor site. */
function normaliseProber<T extends Pick<MonitoredEndpoint, 'probeFrom' | 'agentId' | 'site'>>(e: T): T {
  return {
    ...e,
    agentId: e.probeFrom === 'agent' ? e.agentId : null,
    site: e.probeFrom === 'site' ? (e.site ?? null) : null,
  };
}

/** Cross-field rule: an agent endpoint names an active agent; a site endpoint names a site. */
async function assertProbePath(em: Em, e: EndpointFields): Promise<void> {
  if (e.probeFrom === 'controller') return;
  if (e.probeFrom === 'site') {
    if (!e.site) throw new CertFleetError('CF_VALIDATION', 'monitoring: probeFrom "site" needs a site');
    return;
  }
  if (!e.agentId) throw new CertFleetError('CF_VALIDATION', 'monitoring: probeFrom "agent" needs an agentId');
  const agent = await em.findOne(AgentEntity, { id: e.agentId });
  if (!agent || agent.status !== 'active') {
    throw new CertFleetError('CF_VALIDATION', `monitoring: agent ${e.agentId} is not an active agent`);
  }
}

function defaultHost(commonName: string): string {
  const host = commonName.replace(/\.$/, '');
  if (net.isIP(host) === 0 && (!isDnsName(host) || host.includes('*'))) {
    throw new CertFleetError(
      'CF_VALIDATION',
      `monitoring: the common name ${JSON.stringify(commonName)} is not a host name; give host explicitly`
    );
  }
  return host;
}

/** Adds an endpoint to a definition (host defaults to the definition's CN, port to 443). */
export async function createEndpoint(
  ctx: ServiceContext,
  definitionId: string,
  raw: unknown,
  actor: Actor
): Promise<EndpointView> {
  const input = parseInput(endpointInputSchema, raw, 'monitoring.endpoint');
  const prober = proberFields(raw, input);
  const now = ctx.clock.now();
  return ctx.db.em().transactional(async (em) => {
    const def = await getDefinition(em, definitionId);
    const endpoint: MonitoredEndpoint = normaliseProber({
      id: crypto.randomUUID(),
      definitionId: def.id,
      host: input.host ?? defaultHost(def.subject.commonName),
      port: input.port,
      serverName: input.serverName,
      starttls: input.starttls,
      probeFrom: prober.probeFrom ?? 'controller',
      agentId: prober.agentId ?? null,
      site: prober.site ?? null,
      enabled: input.enabled,
      source: 'manual',
      deployTargetIndex: null,
      createdAt: now,
      updatedAt: now,
    });
    await assertProbePath(em, endpoint);
    em.persist(em.create(MonitoredEndpointEntity, endpoint));
    await appendAudit(
      em,
      {
        actor,
        action: 'monitoring.endpoint.created',
        targetType: 'definition',
        targetId: def.id,
        details: {
          endpointId: endpoint.id,
          endpoint: `${endpoint.host}:${endpoint.port}`,
          probeFrom: endpoint.probeFrom,
          ...(endpoint.site ? { site: endpoint.site } : {}),
        },
      },
      now
    );
    return view(endpoint);
  });
}

/** A definition's endpoints, oldest first. CF_NOT_FOUND for an unknown definition. */
export async function listEndpoints(ctx: ServiceContext, definitionId: string): Promise<EndpointView[]> {
  const em = ctx.db.em().fork();
  const def = await getDefinition(em, definitionId);
  const rows = await em.find(
    MonitoredEndpointEntity,
    { definitionId: def.id },
    { orderBy: { createdAt: 'asc', id: 'asc' } }
  );
  return rows.map(view);
}

async function getEndpoint(em: Em, definitionId: string, endpointId: string): Promise<MonitoredEndpoint> {
  const found = z.uuid().safeParse(endpointId).success
    ? await em.findOne(MonitoredEndpointEntity, { id: endpointId, definitionId })
    : null;
  if (!found) throw new CertFleetError('CF_NOT_FOUND', `monitoring: endpoint ${endpointId} not found`);
  return found;
}

/** Changes an endpoint (only the fields sent); switching the prober's kind clears the other kind's agent/site. */
export async function updateEndpoint(
  ctx: ServiceContext,
  definitionId: string,
  endpointId: string,
  raw: unknown,
  actor: Actor
): Promise<EndpointView> {
  const parsed = parsePatch(endpointPatchSchema, raw, 'monitoring.endpoint');
  const { prober: _prober, probeFrom: _from, agentId: _agent, site: _site, ...patch } = parsed;
  const probing = proberFields(raw, parsed);
  const now = ctx.clock.now();
  return ctx.db.em().transactional(async (em) => {
    const row = await getEndpoint(em, definitionId, endpointId);
    if (Object.keys(parsed).some((k) => k !== 'enabled')) assertNotDerived(row, 'changed (only enabled can be)');
    const next = normaliseProber({ ...row, ...patch, ...probing } as MonitoredEndpoint);
    // a derived endpoint's prober follows its deploy target (its agent may be gone); only `enabled` changes here
    if (row.source !== 'deploy-target') await assertProbePath(em, next);
    em.assign(row, {
      host: next.host,
      port: next.port,
      serverName: next.serverName,
      starttls: next.starttls,
      probeFrom: next.probeFrom,
      agentId: next.agentId,
      site: next.site ?? null,
      enabled: next.enabled,
      updatedAt: now,
    });
    await appendAudit(
      em,
      {
        actor,
        action: 'monitoring.endpoint.updated',
        targetType: 'definition',
        targetId: definitionId,
        details: { endpointId, fields: Object.keys(parsed) },
      },
      now
    );
    return view(row);
  });
}

/** Removes an endpoint; its history rows stay (their endpoint reference is cleared). */
export async function deleteEndpoint(
  ctx: ServiceContext,
  definitionId: string,
  endpointId: string,
  actor: Actor
): Promise<void> {
  await ctx.db.em().transactional(async (em) => {
    const row = await getEndpoint(em, definitionId, endpointId);
    assertNotDerived(row, 'deleted');
    em.remove(row);
    await appendAudit(
      em,
      {
        actor,
        action: 'monitoring.endpoint.deleted',
        targetType: 'definition',
        targetId: definitionId,
        details: { endpointId, endpoint: `${row.host}:${row.port}` },
      },
      ctx.clock.now()
    );
  });
}
