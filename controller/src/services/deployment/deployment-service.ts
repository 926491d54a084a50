/**
 * Automated deployment (SPEC D1, D2): a certificate made current (or "deploy now") opens one deployment per deploy
 * target of its definition; agent targets get a sealed bundle and an install job for their agent; results flow
 * back as installing → installed/verified or failed/rolled-back, recorded in the deployment history.
 */
import crypto from 'node:crypto';
import { CertFleetError, sealBundleWithManifest } from '@certfleet/shared';
import type { Deployment, DeploymentStatus } from '../../domain/agent';
import type { Certificate } from '../../domain/certificate';
import { deployTargetSchema, type DeployTarget } from '../../domain/definition';
import { deliveryMethodOf, hooksFor, installTargetOf, installerFor, slotFor } from '../../domain/deployment';
import { deriveOptionsOf } from '../monitoring/deploy-target-endpoints';
import { openPrivateKey } from '../../secrets/key-vault';
import type { Em } from '../../storage/database';
import {
  AgentEntity,
  AgentJobEntity,
  CertificateEntity,
  DefinitionEntity,
  DeploymentEntity,
  DeploymentHistoryEntity,
} from '../../storage/entities';
import { appendAudit } from '../audit-service';
import type { AgentPki } from '../agents/agent-pki';
import { enqueueJob, finishJob } from '../agents/jobs';
import { getCertificate } from '../certificate-service';
import type { Actor, ServiceContext } from '../context';
import { bundleFilesFor } from './bundle-files';

/** How long a sealed bundle stays installable (an agent offline longer gets a fresh bundle on "deploy now"). */
export const BUNDLE_VALIDITY_MS = 30 * 24 * 60 * 60 * 1000;
const BUNDLE_BACKDATE_MS = 5 * 60 * 1000;

export function appendDeploymentHistory(
  em: Em,
  d: { certificateId: string; target: DeployTarget | Record<string, unknown> },
  status: 'pending' | 'installed' | 'verified' | 'failed' | 'rolled-back',
  message: string | null,
  now: Date
): void {
  const t = d.target as Partial<DeployTarget>;
  em.persist(
    em.create(DeploymentHistoryEntity, {
      id: crypto.randomUUID(),
      certificateId: d.certificateId,
      target: `${t.serverType ?? '?'}:${t.serverName ?? '?'}`.slice(0, 300),
      status,
      message,
      at: now,
    })
  );
}

/** Next version for a slot, serialised per slot by a transaction-scoped advisory lock. */
export async function nextVersion(em: Em, slot: string): Promise<number> {
  const conn = em.getConnection();
  await conn.execute(
    `select pg_advisory_xact_lock(hashtext(?))`,
    [`certfleet.slot:${slot}`],
    'all',
    em.getTransactionContext()
  );
  const rows = await conn.execute<{ v: number | null }[]>(
    `select max(version) as v from deployments where slot = ?`,
    [slot],
    'all',
    em.getTransactionContext()
  );
  return (rows[0]?.v ?? 0) + 1;
}

/**
 * Opens deployments for a certificate inside the caller's transaction: a history record for every target and, for
 * agent targets, a pending deployment (sealed and queued by {@link materializeDeployments} after commit).
 */
export async function openDeployments(
  em: Em,
  certificateId: string,
  definitionId: string,
  now: Date,
  actor: Actor = 'system',
  only?: number
): Promise<Deployment[]> {
  const def = await em.findOneOrFail(DefinitionEntity, { id: definitionId });
  const opened: Deployment[] = [];
  for (const [index, raw] of def.deployTargets.entries()) {
    if (only !== undefined && index !== only) continue;
    const target = deployTargetSchema.parse(raw);
    const method = deliveryMethodOf(target);
    appendDeploymentHistory(
      em,
      { certificateId, target },
      'pending',
      method === 'agent' ? 'queued for the agent' : `waiting for ${method} delivery`,
      now
    );
    if (method !== 'agent' || !installerFor(target.serverType)) continue;
    const slot = slotFor(definitionId, target);
    await em.nativeUpdate(
      DeploymentEntity,
      { slot, status: 'pending' },
      { status: 'superseded', reason: 'Superseded', message: 'a newer deployment was opened', updatedAt: now }
    );
    const row: Deployment = {
      id: crypto.randomUUID(),
      certificateId,
      definitionId,
      slot,
      version: await nextVersion(em, slot),
      target: { ...target },
      method,
      agentId: target.agentId ?? null,
      bundleId: crypto.randomUUID(),
      status: 'pending',
      reason: null,
      message: null,
      servedSha256: null,
      receiptPublicKey: null,
      receiptAt: null,
      createdBy: actor,
      createdAt: now,
      updatedAt: now,
    };
    em.persist(em.create(DeploymentEntity, row));
    opened.push(row);
  }
  await em.flush();
  return opened;
}

/** "Deploy now" (SPEC D2): opens deployments for a certificate's targets (all, or one by index) and queues them. */
export async function deployNow(
  ctx: ServiceContext,
  pki: AgentPki,
  certificateId: string,
  options: { targetIndex?: number },
  actor: Actor
): Promise<Deployment[]> {
  const now = ctx.clock.now();
  const opened = await ctx.db.em().transactional(async (em) => {
    const cert = await getCertificate(em, certificateId);
    if (!cert.privateKeyId) {
      throw new CertFleetError(
        'CF_DEPLOYMENT_TARGET_INVALID',
        'deployment: this certificate has no private key in the repository, so it cannot be deployed'
      );
    }
    const def = await em.findOneOrFail(DefinitionEntity, { id: cert.definitionId });
    if (options.targetIndex !== undefined && !def.deployTargets[options.targetIndex]) {
      throw new CertFleetError(
        'CF_NOT_FOUND',
        `deployment: the definition has no deploy target #${options.targetIndex}`
      );
    }
    const rows = await openDeployments(em, cert.id, cert.definitionId, now, actor, options.targetIndex);
    await appendAudit(
      em,
      {
        actor,
        action: 'deployment.requested',
        targetType: 'certificate',
        targetId: cert.id,
        details: { deployments: rows.map((r) => r.id) },
      },
      now
    );
    return rows;
  });
  await materializeDeployments(ctx, pki);
  return ctx.db
    .em()
    .fork()
    .find(DeploymentEntity, { id: { $in: opened.map((d) => d.id) } });
}

/**
 * Seals and queues every pending agent deployment that has no job yet (also those opened by imports, renewals or
 * the CLI). Each deployment is sealed in its own transaction; a failure marks only that deployment failed.
 */
export async function materializeDeployments(ctx: ServiceContext, pki: AgentPki, limit = 100): Promise<number> {
  const em = ctx.db.em().fork();
  const pending = await em.getConnection().execute<{ id: string }[]>(
    `select d.id from deployments d
        where d.status = 'pending' and d.method = 'agent'
          and not exists (select 1 from agent_jobs j where j.deployment_id = d.id)
        order by d.created_at limit ?`,
    [limit]
  );
  let queued = 0;
  for (const { id } of pending) {
    const agentId = await sealAndQueue(ctx, pki, id).catch(async (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      await markDeployment(ctx, id, 'failed', 'BundleNotSealed', message);
      ctx.log.warn({ deploymentId: id, err: message }, 'deployment could not be sealed');
      return null;
    });
    if (agentId) {
      queued += 1;
      ctx.agentHub?.jobsAvailable(agentId);
    }
  }
  return queued;
}

async function sealAndQueue(ctx: ServiceContext, pki: AgentPki, deploymentId: string): Promise<string | null> {
  return ctx.db.em().transactional(async (em) => {
    const rows = await em
      .getConnection()
      .execute<{ id: string }[]>(
        `select id from deployments where id = ? and status = 'pending' for update skip locked`,
        [deploymentId],
        'all',
        em.getTransactionContext()
      );
    if (rows.length === 0) return null;
    if ((await em.count(AgentJobEntity, { deploymentId })) > 0) return null;
    const d = await em.findOneOrFail(DeploymentEntity, { id: deploymentId });
    const target = deployTargetSchema.parse(d.target);
    const agent = d.agentId ? await em.findOne(AgentEntity, { id: d.agentId }) : null;
    if (!agent || agent.status !== 'active') {
      throw new CertFleetError('CF_DEPLOYMENT_TARGET_INVALID', 'deployment: the target names no active agent');
    }
    const cert = await em.findOneOrFail(CertificateEntity, { id: d.certificateId });
    const sealed = await sealForTarget(
      ctx,
      em,
      pki,
      cert,
      d,
      target,
      {
        kind: 'x25519',
        publicKey: agent.bundlePublicKey,
      },
      agent.id
    );
    await enqueueJob(
      em,
      { agentId: agent.id, kind: 'install', slot: d.slot, deploymentId: d.id, payload: sealed },
      ctx.clock.now()
    );
    return agent.id;
  });
}

/** Seals a certificate's bundle for one deployment (online: agent id + X25519; offline: 'offline' + passphrase). */
export async function sealForTarget(
  ctx: ServiceContext,
  em: Em,
  pki: AgentPki,
  cert: Certificate,
  d: Pick<Deployment, 'bundleId' | 'slot' | 'version'>,
  target: DeployTarget,
  recipient: { kind: 'x25519'; publicKey: string } | { kind: 'passphrase'; passphrase: string },
  agentId: string,
  extraFiles: Map<string, Buffer> = new Map(),
  scryptWorkFactor?: number
): Promise<Buffer> {
  if (!cert.privateKeyId) {
    throw new CertFleetError('CF_DEPLOYMENT_TARGET_INVALID', 'deployment: the certificate has no private key');
  }
  const installer = installerFor(target.serverType);
  if (!installer) {
    throw new CertFleetError(
      'CF_DEPLOYMENT_TARGET_INVALID',
      `deployment: ${target.serverType} is not installed by an agent`
    );
  }
  const commonName = /CN=([^,]+)/.exec(cert.subject)?.[1] ?? target.serverName;
  const key = await openPrivateKey(em, ctx.masterKey, cert.privateKeyId);
  const files = bundleFilesFor(cert, key);
  for (const [name, data] of extraFiles) files.set(name, data);
  const now = ctx.clock.now();
  const { bytes } = await sealBundleWithManifest({
    manifest: {
      bundleId: d.bundleId,
      agentId,
      slot: d.slot,
      version: d.version,
      issuedAt: now.toISOString(),
      notBefore: new Date(now.getTime() - BUNDLE_BACKDATE_MS).toISOString(),
      notAfter: new Date(now.getTime() + BUNDLE_VALIDITY_MS).toISOString(),
      files: [...files.keys()].map((path) => ({ path })),
      hooks: hooksFor(installer),
      target: installTargetOf(target, commonName, deriveOptionsOf(ctx)),
    },
    files,
    signingKey: pki.signingPrivateKeyPem,
    recipient,
    ...(scryptWorkFactor === undefined ? {} : { scryptWorkFactor }),
  });
  for (const buf of files.values()) buf.fill(0);
  return bytes;
}

async function markDeployment(
  ctx: ServiceContext,
  id: string,
  status: DeploymentStatus,
  reason: string,
  message: string
): Promise<void> {
  await ctx.db
    .em()
    .fork()
    .nativeUpdate(DeploymentEntity, { id }, { status, reason, message, updatedAt: ctx.clock.now() });
}

/** An agent's answer to an install job, validated at the transport edge. */
export interface InstallResult {
  jobId: string;
  status: 'succeeded' | 'failed' | 'rejected';
  reason: string;
  message: string;
  servedSha256: string;
  stderrTail: string;
  idempotent: boolean;
  rolledBack: boolean;
}

/**
 * Records a job result once (duplicates are ignored) and moves its deployment to verified (served leaf matches),
 * installed (no probe), rolled-back or failed, with a history record.
 */
export async function recordJobResult(
  ctx: ServiceContext,
  agentId: string,
  result: InstallResult
): Promise<Record<string, unknown> | null> {
  const now = ctx.clock.now();
  return ctx.db
    .em()
    .fork()
    .transactional(async (em) => {
      const job = await finishJob(em, agentId, result.jobId, { ...result }, now);
      if (!job?.deploymentId) return null;
      const d = await em.findOne(DeploymentEntity, { id: job.deploymentId });
      if (!d || d.status === 'superseded') return null;
      const cert = await em.findOneOrFail(CertificateEntity, { id: d.certificateId });
      let status: 'verified' | 'installed' | 'failed' | 'rolled-back';
      if (result.status === 'succeeded') {
        status = result.servedSha256 ? (result.servedSha256 === cert.sha256 ? 'verified' : 'failed') : 'installed';
      } else {
        status = result.rolledBack ? 'rolled-back' : 'failed';
      }
      d.status = status;
      d.reason =
        status === 'failed' && result.status === 'succeeded' ? 'ServedCertMismatch' : result.reason.slice(0, 100);
      d.message = [result.message, result.stderrTail ? `stderr: ${result.stderrTail}` : '']
        .filter(Boolean)
        .join('\n')
        .slice(0, 8000);
      d.servedSha256 = result.servedSha256 || null;
      d.updatedAt = now;
      appendDeploymentHistory(em, d, status, `${d.reason}: ${result.message}`.slice(0, 2000), now);
      const def = await em.findOneOrFail(DefinitionEntity, { id: d.definitionId });
      const agent = await em.findOne(AgentEntity, { id: agentId });
      return installNoticeFor(d, cert, def.name, 'agent', agent?.name);
    });
}

/** The data of an `install-notification` mail (SPEC D5) for a finished deployment. */
export function installNoticeFor(
  d: Deployment,
  cert: Certificate,
  definitionName: string,
  method: 'agent' | 'offline-installer',
  installedBy?: string
): Record<string, unknown> {
  const target = d.target as Partial<DeployTarget>;
  const ok = d.status === 'verified' || d.status === 'installed';
  return {
    definitionName,
    serverName: target.serverName ?? '?',
    commonName: /CN=([^,]+)/.exec(cert.subject)?.[1] ?? cert.subject,
    installedAt: d.updatedAt.toISOString(),
    method,
    outcome: d.status === 'verified' ? 'verified' : ok ? 'installed' : 'failed',
    ...(ok ? {} : { reason: `${d.status}: ${d.reason ?? ''} ${d.message ?? ''}`.trim().slice(0, 4000) }),
    sha256: cert.sha256,
    notAfter: cert.notAfter.toISOString(),
    ...(installedBy ? { installedBy } : {}),
  };
}

/** Deployments, newest first, optionally of one certificate. */
export async function listDeployments(
  ctx: ServiceContext,
  filter: { certificateId?: string; agentId?: string }
): Promise<Deployment[]> {
  return ctx.db
    .em()
    .fork()
    .find(
      DeploymentEntity,
      {
        ...(filter.certificateId ? { certificateId: filter.certificateId } : {}),
        ...(filter.agentId ? { agentId: filter.agentId } : {}),
      },
      { orderBy: { createdAt: 'desc' }, limit: 500 }
    );
}
