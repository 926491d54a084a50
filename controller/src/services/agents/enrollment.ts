/**
 * Agent enrollment and identity (SPEC G1, G3): a join token and a CSR become a short-lived client certificate from
 * the agent CA; the controller takes only the public key from the CSR and names the certificate after the new
 * agent id. Serials are pinned per agent (SPIRE's rule, see domain/agent.ts checkAgentSerial).
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import { AGENT_CERT_DEFAULT_DAYS, checkAgentSerial, normalizeSerial, type Agent } from '../../domain/agent';
import { issueClientCertificate, publicKeyFromCsr, MAX_CSR_BYTES } from '../../issuers/internal-ca';
import { AgentEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import type { Actor, ServiceContext } from '../context';
import { parseInput } from '../definition-service';
import type { AgentPki } from './agent-pki';
import { hashJoinToken } from './join-tokens';

export const enrollInputSchema = z
  .object({
    joinToken: z.string().min(10).max(200),
    csrPem: z.string().min(1).max(MAX_CSR_BYTES),
    hostname: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[A-Za-z0-9._-]+$/, 'a host name'),
    agentVersion: z
      .string()
      .min(1)
      .max(50)
      .regex(/^[0-9A-Za-z.+-]+$/, 'a version'),
    bundlePublicKey: z.string().regex(/^age1[02-9ac-hj-np-z]{58}$/, 'an age X25519 recipient (age1…)'),
  })
  .strict();
export type EnrollInput = z.input<typeof enrollInputSchema>;

export interface EnrollOptions {
  /** Agent certificate lifetime in days (fractions allowed for tests). @default 7 */
  certificateDays?: number;
}

export interface EnrollResult {
  agentId: string;
  certificatePem: string;
  controllerCaPem: string;
  signingPublicKeyPem: string;
}

const tokenInvalid = () =>
  new CertFleetError('CF_AGENT_TOKEN_INVALID', 'agents(enroll): join token is unknown, expired or already used');

async function issueAgentCertificate(
  ctx: ServiceContext,
  pki: AgentPki,
  agentId: string,
  csrPem: string,
  days: number
) {
  const key = publicKeyFromCsr(csrPem);
  return issueClientCertificate({
    ca: pki.ca,
    subjectPublicKeyPem: key.publicKeyPem,
    username: agentId,
    now: ctx.clock.now(),
    validityDays: days,
  });
}

/**
 * Enrolls an agent: consumes the join token atomically (exactly one of concurrent enrollments with one token
 * wins; the others get CF_AGENT_TOKEN_INVALID and leave nothing behind), creates the agent and its certificate.
 */
export async function enrollAgent(
  ctx: ServiceContext,
  pki: AgentPki,
  raw: EnrollInput,
  options: EnrollOptions = {}
): Promise<EnrollResult> {
  const input = parseInput(enrollInputSchema, raw, 'agents(enroll)');
  const agentId = crypto.randomUUID();
  const issued = await issueAgentCertificate(
    ctx,
    pki,
    agentId,
    input.csrPem,
    options.certificateDays ?? AGENT_CERT_DEFAULT_DAYS
  );
  const now = ctx.clock.now();
  await ctx.db.em().transactional(async (em) => {
    const agent: Agent = {
      id: agentId,
      name: input.hostname,
      status: 'active',
      bundlePublicKey: input.bundlePublicKey,
      certSerial: normalizeSerial(issued.serial),
      certNotAfter: issued.notAfter,
      nextCertSerial: null,
      agentVersion: input.agentVersion,
      enrolledAt: now,
      lastSeenAt: null,
      bannedAt: null,
      site: null,
    };
    em.persist(em.create(AgentEntity, agent));
    await em.flush();
    // One statement decides the race: the row lock makes a concurrent second UPDATE re-check `used_at is null`.
    const consumed = await em.getConnection().execute<{ id: string; site: string | null }[]>(
      `update agent_join_tokens set used_at = ?, agent_id = ?
          where token_hash = ? and used_at is null and expires_at > ? returning id, site`,
      [now, agentId, hashJoinToken(input.joinToken), now],
      'all',
      em.getTransactionContext()
    );
    if (consumed.length !== 1) throw tokenInvalid();
    const site = consumed[0]?.site ?? null;
    if (site) {
      await em
        .getConnection()
        .execute(`update agents set site = ? where id = ?`, [site, agentId], 'run', em.getTransactionContext());
    }
    await appendAudit(
      em,
      {
        actor: `agent:${agentId}`,
        action: 'agents.enrolled',
        targetType: 'agent',
        targetId: agentId,
        details: {
          hostname: input.hostname,
          agentVersion: input.agentVersion,
          serial: issued.serial,
          joinTokenId: consumed[0]?.id,
          site,
        },
      },
      now
    );
  });
  return {
    agentId,
    certificatePem: issued.certificatePem,
    controllerCaPem: pki.caCertificatePem,
    signingPublicKeyPem: pki.signingPublicKeyPem,
  };
}

/** The identity a verified client certificate claims: CN = agent id, and its serial. */
export interface PresentedIdentity {
  agentId: string;
  serial: string;
  /** The presented certificate's notAfter (becomes the agent's when a renewed serial is first used). */
  notAfter: Date;
}

/**
 * Checks a verified client certificate against the agent's pinned serials; on first use of a renewed certificate
 * the new serial becomes current and the old one is refused from then on.
 * @throws CF_AGENT_REVOKED (banned, unknown or unpinned serial)
 */
export async function authenticateAgent(ctx: ServiceContext, presented: PresentedIdentity): Promise<Agent> {
  const em = ctx.db.em();
  if (!z.uuid().safeParse(presented.agentId).success) {
    throw new CertFleetError('CF_AGENT_REVOKED', 'agents: certificate does not name an agent');
  }
  const agent = await em.findOne(AgentEntity, { id: presented.agentId });
  if (!agent) throw new CertFleetError('CF_AGENT_REVOKED', 'agents: unknown agent; enroll again');
  const check = checkAgentSerial(agent, presented.serial);
  if (!check.ok) {
    throw new CertFleetError(
      'CF_AGENT_REVOKED',
      check.reason === 'AgentBanned'
        ? 'agents: this agent is banned'
        : 'agents: certificate serial is not pinned for this agent (rotated away)',
      { details: { reason: check.reason } }
    );
  }
  if (check.rotated) {
    await em.getConnection().execute(
      `update agents set cert_serial = next_cert_serial, next_cert_serial = null,
                cert_not_after = coalesce(?, cert_not_after) where id = ? and next_cert_serial = ?`,
      [presented.notAfter, agent.id, agent.nextCertSerial]
    );
    em.clear();
    return em.findOneOrFail(AgentEntity, { id: agent.id });
  }
  return agent;
}

/** Issues a renewed certificate for an authenticated agent and pins its serial as "next". */
export async function renewAgentIdentity(
  ctx: ServiceContext,
  pki: AgentPki,
  agent: Agent,
  csrPem: string,
  options: EnrollOptions = {}
): Promise<{ certificatePem: string; serial: string; notAfter: Date }> {
  const csr = z.string().min(1).max(MAX_CSR_BYTES).safeParse(csrPem);
  if (!csr.success) throw new CertFleetError('CF_VALIDATION', 'agents(renew): csr_pem is missing or too large');
  const issued = await issueAgentCertificate(
    ctx,
    pki,
    agent.id,
    csr.data,
    options.certificateDays ?? AGENT_CERT_DEFAULT_DAYS
  );
  const em = ctx.db.em();
  const updated = await em
    .getConnection()
    .execute<{ affectedRows: number }>(
      `update agents set next_cert_serial = ? where id = ? and status = 'active'`,
      [normalizeSerial(issued.serial), agent.id],
      'run'
    );
  if (updated.affectedRows !== 1) throw new CertFleetError('CF_AGENT_REVOKED', 'agents(renew): this agent is banned');
  return { certificatePem: issued.certificatePem, serial: issued.serial, notAfter: issued.notAfter };
}

/** Bans an agent: its stream is closed at once and every later call is refused (audited). */
export async function banAgent(ctx: ServiceContext, agentId: string, actor: Actor): Promise<Agent> {
  const now = ctx.clock.now();
  const agent = await ctx.db.em().transactional(async (em) => {
    const row = await em.findOne(AgentEntity, { id: agentId });
    if (!row) throw new CertFleetError('CF_NOT_FOUND', `agents: agent ${agentId} not found`);
    if (row.status !== 'banned') {
      row.status = 'banned';
      row.bannedAt = now;
      await appendAudit(em, { actor, action: 'agents.banned', targetType: 'agent', targetId: agentId }, now);
    }
    return row;
  });
  ctx.agentHub?.revoked(agentId);
  return agent;
}
