/**
 * Offline delivery (SPEC D3): for a host with no network path, the controller makes a passphrase-sealed bundle
 * (exactly one scrypt recipient, a generated passphrase of 140 bits shown once) and packs it with the agent
 * single executable into one archive. The bundle carries an Ed25519 receipt key; the controller keeps its public
 * half, and accepts the receipt the offline installer writes as the deploy check.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import {
  CertFleetError,
  RECEIPT_KEY_FILE,
  generatePassphrase,
  generateReceiptKeyPair,
  verifyReceipt,
} from '@certfleet/shared';
import type { Deployment } from '../../domain/agent';
import { deployTargetSchema } from '../../domain/definition';
import { installerFor, slotFor } from '../../domain/deployment';
import { CertificateEntity, DefinitionEntity, DeploymentEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import type { Notifier } from '../acquisition/notifier';
import type { AgentPki } from '../agents/agent-pki';
import { getCertificate } from '../certificate-service';
import type { Actor, ServiceContext } from '../context';
import { appendDeploymentHistory, installNoticeFor, nextVersion, sealForTarget } from './deployment-service';

export interface OfflineBundle {
  deploymentId: string;
  bundleId: string;
  /** Shown once; never stored. */
  passphrase: string;
  sealed: Buffer;
  signingPublicKeyPem: string;
  /** SHA-256 of the signing key's DER: the offline installer prints it for the operator to compare. */
  signingKeySha256: string;
}

export function signingKeySha256(publicKeyPem: string): string {
  const der = crypto.createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(der).digest('hex');
}

/** Seals an offline bundle for one deploy target of a certificate and records a pending offline deployment. */
export async function createOfflineBundle(
  ctx: ServiceContext,
  pki: AgentPki,
  input: { certificateId: string; targetIndex: number; scryptWorkFactor?: number },
  actor: Actor
): Promise<OfflineBundle> {
  const passphrase = generatePassphrase();
  const receiptKey = generateReceiptKeyPair();
  const now = ctx.clock.now();
  return ctx.db.em().transactional(async (em) => {
    const cert = await getCertificate(em, input.certificateId);
    const def = await em.findOneOrFail(DefinitionEntity, { id: cert.definitionId });
    const raw = def.deployTargets[input.targetIndex];
    if (!raw) {
      throw new CertFleetError('CF_NOT_FOUND', `deployment: the definition has no deploy target #${input.targetIndex}`);
    }
    const target = deployTargetSchema.parse(raw);
    if (!target.directory || !installerFor(target.serverType)) {
      throw new CertFleetError(
        'CF_DEPLOYMENT_TARGET_INVALID',
        'deployment: an offline bundle needs a target with an installer server type and a directory'
      );
    }
    const slot = slotFor(cert.definitionId, target);
    const d: Deployment = {
      id: crypto.randomUUID(),
      certificateId: cert.id,
      definitionId: cert.definitionId,
      slot,
      version: await nextVersion(em, slot),
      target: { ...target },
      method: 'offline',
      agentId: null,
      bundleId: crypto.randomUUID(),
      status: 'pending',
      reason: null,
      message: 'offline bundle created; waiting for the receipt',
      servedSha256: null,
      receiptPublicKey: receiptKey.publicKeyPem,
      receiptAt: null,
      createdBy: actor,
      createdAt: now,
      updatedAt: now,
    };
    const sealed = await sealForTarget(
      ctx,
      em,
      pki,
      cert,
      d,
      target,
      { kind: 'passphrase', passphrase },
      'offline',
      new Map([[RECEIPT_KEY_FILE, Buffer.from(receiptKey.privateKeyPem)]]),
      input.scryptWorkFactor
    );
    em.persist(em.create(DeploymentEntity, d));
    appendDeploymentHistory(em, d, 'pending', 'offline bundle created', now);
    await appendAudit(
      em,
      {
        actor,
        action: 'deployment.offline-bundle-created',
        targetType: 'certificate',
        targetId: cert.id,
        details: { deploymentId: d.id, bundleId: d.bundleId, slot, version: d.version },
      },
      now
    );
    return {
      deploymentId: d.id,
      bundleId: d.bundleId,
      passphrase,
      sealed,
      signingPublicKeyPem: pki.signingPublicKeyPem,
      signingKeySha256: signingKeySha256(pki.signingPublicKeyPem),
    };
  });
}

/** Where the agent single executable is found for offline archives. */
export function agentExecutablePath(): string {
  return (
    process.env.CERTFLEET_AGENT_EXECUTABLE ??
    path.resolve(__dirname, '..', '..', '..', '..', 'installers', 'dist', 'certfleet-agent')
  );
}

/**
 * The archive an operator carries to the host (tar.gz): `certfleet-agent` (the single executable), `bundle.age`,
 * `bundle-signing.pub` and `README.txt` with the steps and the signing key fingerprint.
 */
export async function offlineArchive(bundle: OfflineBundle, executable = agentExecutablePath()): Promise<Buffer> {
  if (!fs.existsSync(executable)) {
    throw new CertFleetError(
      'CF_CONFIG_INVALID',
      `deployment: the agent executable ${executable} is missing; build it with \`npm run build:agent\` or set CERTFLEET_AGENT_EXECUTABLE`
    );
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-offline-'));
  try {
    const root = path.join(dir, `certfleet-offline-${bundle.bundleId.slice(0, 8)}`);
    fs.mkdirSync(root);
    fs.copyFileSync(executable, path.join(root, 'certfleet-agent'));
    fs.chmodSync(path.join(root, 'certfleet-agent'), 0o755);
    fs.writeFileSync(path.join(root, 'bundle.age'), bundle.sealed, { mode: 0o600 });
    fs.writeFileSync(path.join(root, 'bundle-signing.pub'), bundle.signingPublicKeyPem);
    fs.writeFileSync(
      path.join(root, 'README.txt'),
      [
        'CertFleet offline installer bundle',
        '',
        `Bundle id: ${bundle.bundleId}`,
        `Bundle-signing key SHA-256: ${bundle.signingKeySha256}`,
        '(compare it with the value shown in the console before you install)',
        '',
        'On the server, as root:',
        '  1. Put the passphrase you were given into a file readable only by root: passphrase.txt',
        '  2. ./certfleet-agent install-bundle bundle.age --passphrase-file passphrase.txt \\',
        `        --expect-signing-key-sha256 ${bundle.signingKeySha256} --receipt receipt.json`,
        '  3. Bring receipt.json back and upload it: POST /api/v1/deployments/<id>/receipt',
        '',
        'The installer checks the signature, the bundle version and every file hash before it writes anything;',
        'if validation, reload or the served-certificate check fails it restores the previous files.',
        '',
      ].join('\n')
    );
    const out = path.join(dir, 'offline.tar.gz');
    await tar.create({ gzip: true, file: out, cwd: dir, portable: true }, [path.basename(root)]);
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The bundle id an (unverified) signed receipt names, or null when it names none readably. */
function claimedBundleId(raw: unknown): string | null {
  const text = (raw as { receipt?: unknown } | null)?.receipt;
  if (typeof text !== 'string') return null;
  try {
    const id = (JSON.parse(text) as { bundleId?: unknown } | null)?.bundleId;
    return typeof id === 'string' ? id.slice(0, 100) : null;
  } catch {
    return null;
  }
}

/**
 * Accepts an offline install receipt as the deploy check: the signature must verify with the receipt key kept for
 * this deployment and name its bundle. Verified when the served leaf equals the certificate.
 */
export async function acceptReceipt(
  ctx: ServiceContext,
  deploymentId: string,
  raw: unknown,
  actor: Actor,
  notifier?: Notifier
): Promise<Deployment> {
  const now = ctx.clock.now();
  let notice: Record<string, unknown> | null = null;
  const accepted = await ctx.db.em().transactional(async (em) => {
    const d = await em.findOne(DeploymentEntity, { id: deploymentId });
    if (!d) throw new CertFleetError('CF_NOT_FOUND', `deployment: ${deploymentId} not found`);
    if (d.method !== 'offline' || !d.receiptPublicKey) {
      throw new CertFleetError('CF_RECEIPT_INVALID', 'receipt: this deployment was not an offline bundle');
    }
    // Named before the signature check: a receipt of another deployment fails its signature too, but the
    // operator needs to hear that it is the wrong deployment, not a forgery.
    const claimed = claimedBundleId(raw);
    if (claimed !== null && claimed !== d.bundleId) {
      throw new CertFleetError(
        'CF_RECEIPT_INVALID',
        `receipt: it is for bundle ${claimed}, not for the bundle of this deployment (${d.bundleId}): wrong deployment`
      );
    }
    const receipt = verifyReceipt(raw, d.receiptPublicKey);
    if (receipt.bundleId !== d.bundleId || receipt.slot !== d.slot || receipt.version !== d.version) {
      throw new CertFleetError('CF_RECEIPT_INVALID', 'receipt: it names another bundle');
    }
    const cert = await em.findOneOrFail(CertificateEntity, { id: d.certificateId });
    const status =
      receipt.status === 'installed'
        ? receipt.servedSha256
          ? receipt.servedSha256 === cert.sha256
            ? 'verified'
            : 'failed'
          : 'installed'
        : receipt.rolledBack
          ? 'rolled-back'
          : 'failed';
    d.status = status;
    d.reason = receipt.reason;
    d.message = `offline receipt from ${receipt.hostname}: ${receipt.message}`.slice(0, 8000);
    d.servedSha256 = receipt.servedSha256 || null;
    d.receiptAt = now;
    d.updatedAt = now;
    appendDeploymentHistory(em, d, status, `${receipt.reason} (offline receipt)`, now);
    await appendAudit(
      em,
      {
        actor,
        action: 'deployment.receipt-accepted',
        targetType: 'deployment',
        targetId: d.id,
        details: { status, hostname: receipt.hostname },
      },
      now
    );
    const def = await em.findOneOrFail(DefinitionEntity, { id: d.definitionId });
    notice = installNoticeFor(d, cert, def.name, 'offline-installer', receipt.hostname);
    return d;
  });
  if (notice && notifier) await notifier.notify('install-notification', notice);
  return accepted;
}
