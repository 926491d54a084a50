/**
 * Monitored endpoints (SPEC M1, M4, D6): the TLS listeners watched for a definition, and who probes each one — the
 * controller, or a named agent that can reach a host the controller cannot. Disabling an endpoint leaves it out
 * of scheduled runs ("disable periodic monitoring"). Every change is audited.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import { z } from 'zod';
import { CertFleetError, STARTTLS_PROTOCOLS } from '@certfleet/shared';
import { isDnsName } from '../../domain/definition';
import type { MonitoredEndpoint } from '../../domain/monitoring';
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
    probeFrom: z.enum(['controller', 'agent']).default('controller').describe('who probes it (SPEC M4)'),
    agentId: z.uuid().nullable().default(null).describe('the probing agent when probeFrom is agent'),
    enabled: z.boolean().default(true).describe('false: left out of scheduled runs'),
  })
  .strict();
export type EndpointInput = z.input<typeof endpointInputSchema>;
export const endpointPatchSchema = endpointInputSchema.partial().strict();

type EndpointFields = Pick<MonitoredEndpoint, 'host' | 'port' | 'serverName' | 'starttls' | 'probeFrom' | 'agentId'>;

/** Cross-field rule: an agent endpoint names an active agent. */
async function assertProbePath(em: Em, e: EndpointFields): Promise<void> {
  if (e.probeFrom === 'controller') return;
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
): Promise<MonitoredEndpoint> {
  const input = parseInput(endpointInputSchema, raw, 'monitoring.endpoint');
  const now = ctx.clock.now();
  return ctx.db.em().transactional(async (em) => {
    const def = await getDefinition(em, definitionId);
    const endpoint: MonitoredEndpoint = {
      id: crypto.randomUUID(),
      definitionId: def.id,
      host: input.host ?? defaultHost(def.subject.commonName),
      port: input.port,
      serverName: input.serverName,
      starttls: input.starttls,
      probeFrom: input.probeFrom,
      agentId: input.probeFrom === 'agent' ? input.agentId : null,
      enabled: input.enabled,
      createdAt: now,
      updatedAt: now,
    };
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
        },
      },
      now
    );
    return endpoint;
  });
}

/** A definition's endpoints, oldest first. CF_NOT_FOUND for an unknown definition. */
export async function listEndpoints(ctx: ServiceContext, definitionId: string): Promise<MonitoredEndpoint[]> {
  const em = ctx.db.em().fork();
  const def = await getDefinition(em, definitionId);
  return em.find(MonitoredEndpointEntity, { definitionId: def.id }, { orderBy: { createdAt: 'asc', id: 'asc' } });
}

async function getEndpoint(em: Em, definitionId: string, endpointId: string): Promise<MonitoredEndpoint> {
  const found = z.uuid().safeParse(endpointId).success
    ? await em.findOne(MonitoredEndpointEntity, { id: endpointId, definitionId })
    : null;
  if (!found) throw new CertFleetError('CF_NOT_FOUND', `monitoring: endpoint ${endpointId} not found`);
  return found;
}

/** Changes an endpoint (only the fields sent); switching to the controller clears the agent. */
export async function updateEndpoint(
  ctx: ServiceContext,
  definitionId: string,
  endpointId: string,
  raw: unknown,
  actor: Actor
): Promise<MonitoredEndpoint> {
  const patch = parsePatch(endpointPatchSchema, raw, 'monitoring.endpoint');
  const now = ctx.clock.now();
  return ctx.db.em().transactional(async (em) => {
    const row = await getEndpoint(em, definitionId, endpointId);
    const next = { ...row, ...patch } as MonitoredEndpoint;
    if (next.probeFrom === 'controller') next.agentId = null;
    await assertProbePath(em, next);
    em.assign(row, {
      host: next.host,
      port: next.port,
      serverName: next.serverName,
      starttls: next.starttls,
      probeFrom: next.probeFrom,
      agentId: next.agentId,
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
        details: { endpointId, fields: Object.keys(patch) },
      },
      now
    );
    return row;
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
