/**
 * Probe jobs (SPEC M4, G4): the controller asks an agent to probe endpoints it cannot reach. A report is accepted
 * only when it answers exactly the endpoints of that job, sent to that agent (an agent may only report for
 * endpoints assigned to it); anything else is refused and nothing is written. Accepted observations are kept on
 * the job (fingerprints and DER chains) for the monitoring engine to judge.
 */
import crypto from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import { z } from 'zod';
import { CertFleetError, STARTTLS_PROTOCOLS } from '@certfleet/shared';
import type { AgentJob } from '../../domain/agent';
import { AgentEntity, AgentJobEntity } from '../../storage/entities';
import type { ServiceContext } from '../context';
import { enqueueJob } from './jobs';

export const probeEndpointSchema = z
  .object({
    host: z.string().min(1).max(253),
    port: z.number().int().min(1).max(65535),
    serverName: z.string().min(1).max(253).optional(),
    starttls: z.enum(STARTTLS_PROTOCOLS).optional(),
  })
  .strict();
export type ProbeEndpointInput = z.infer<typeof probeEndpointSchema>;

/** Queues a probe job for an active agent and pushes it if the agent is connected. */
export async function enqueueProbeJob(
  ctx: ServiceContext,
  agentId: string,
  endpoints: ProbeEndpointInput[]
): Promise<AgentJob> {
  const list = z.array(probeEndpointSchema).min(1).max(500).parse(endpoints);
  const job = await ctx.db.em().transactional(async (em) => {
    const agent = await em.findOne(AgentEntity, { id: agentId });
    if (!agent || agent.status !== 'active') {
      throw new CertFleetError('CF_NOT_FOUND', `agents: no active agent ${agentId}`);
    }
    const payload = Buffer.from(
      JSON.stringify({
        endpoints: list.map((e) => ({
          host: e.host,
          port: e.port,
          serverName: e.serverName ?? '',
          starttls: e.starttls ?? '',
        })),
      })
    );
    return enqueueJob(em, { agentId, kind: 'probe', slot: null, deploymentId: null, payload }, ctx.clock.now());
  });
  ctx.agentHub?.jobsAvailable(agentId);
  return job;
}

export interface ProbeObservationRecord {
  host: string;
  port: number;
  serverName: string;
  error: string;
  /** SHA-256 (hex) of the served leaf, empty when nothing was served. */
  leafSha256: string;
  /** DER chain as served, base64. */
  chain: string[];
  protocol: string;
  cipher: string;
  handshakeMs: number;
}

/**
 * Records an agent's probe report for one of its probe jobs. Refused (CF_FORBIDDEN, nothing written) when the job is
 * not this agent's, not a probe job, already answered or withdrawn, or the observations do not answer exactly its
 * endpoints.
 */
export async function recordProbeReport(
  ctx: ServiceContext,
  agentId: string,
  report: {
    jobId: string;
    observations: Array<{
      endpoint: { host: string; port: number; serverName: string; starttls?: string };
      error: string;
      chain: Buffer[];
      protocol: string;
      cipher: string;
      handshakeMs: number;
    }>;
  }
): Promise<ProbeObservationRecord[]> {
  const now = ctx.clock.now();
  return ctx.db
    .em()
    .fork()
    .transactional(async (em) => {
      // Locked: a run withdrawing this job (agent-probing.ts) waits for this answer and then finds it done.
      const job = z.uuid().safeParse(report.jobId).success
        ? await em.findOne(AgentJobEntity, { id: report.jobId }, { lockMode: LockMode.PESSIMISTIC_WRITE })
        : null;
      // A superseded job was withdrawn (the run gave up on it or re-assigned its endpoints to another agent of the
      // site): its endpoints are no longer assigned to this agent.
      if (
        !job ||
        job.agentId !== agentId ||
        job.kind !== 'probe' ||
        job.status === 'done' ||
        job.status === 'superseded'
      ) {
        throw new CertFleetError('CF_FORBIDDEN', 'agents: this agent may not report for that probe job');
      }
      const asked = (JSON.parse(job.payload.toString('utf8')) as { endpoints: ProbeEndpointInput[] }).endpoints;
      const answered = report.observations.map((o) => o.endpoint);
      const same =
        asked.length === answered.length &&
        asked.every(
          (a, i) =>
            a.host === answered[i]?.host &&
            a.port === answered[i]?.port &&
            (a.serverName ?? '') === (answered[i]?.serverName ?? '') &&
            (a.starttls ?? '') === (answered[i]?.starttls ?? '')
        );
      if (!same) {
        throw new CertFleetError(
          'CF_FORBIDDEN',
          'agents: the report names endpoints that were not assigned to this agent'
        );
      }
      const records: ProbeObservationRecord[] = report.observations.map((o) => ({
        host: o.endpoint.host,
        port: o.endpoint.port,
        serverName: o.endpoint.serverName,
        error: o.error,
        leafSha256: o.chain[0] ? crypto.createHash('sha256').update(o.chain[0]).digest('hex') : '',
        chain: o.chain.map((c) => c.toString('base64')),
        protocol: o.protocol,
        cipher: o.cipher,
        handshakeMs: o.handshakeMs,
      }));
      job.status = 'done';
      job.finishedAt = now;
      job.result = { observations: records };
      return records;
    });
}
