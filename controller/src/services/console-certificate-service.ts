/**
 * The console's own TLS certificate after start (SPEC U3): the console definition (type "this controller") is renewed
 * by the scheduler like any other unattended definition; this module tells the running HTTPS server when its
 * definition has a new current certificate, with the key to serve it. Each replica swaps its own listener.
 */
import crypto from 'node:crypto';
import { openPrivateKey } from '../secrets/key-vault';
import { CertificateEntity } from '../storage/entities';
import { appendAudit } from './audit-service';
import { consoleDefinitionId } from './bootstrap-service';
import type { ServiceContext } from './context';

/** What the HTTPS server needs to serve a certificate. */
export interface ConsoleTlsMaterial {
  /** SHA-256 (lowercase hex) of the leaf. */
  sha256: string;
  certificateId: string;
  /** Leaf followed by its chain, PEM. */
  certChainPem: string;
  privateKeyPem: string;
}

/** SHA-256 (lowercase hex) of the first certificate in a PEM bundle. */
export function leafSha256OfPem(pem: string): string {
  return crypto.createHash('sha256').update(new crypto.X509Certificate(pem).raw).digest('hex');
}

/**
 * The console definition's current certificate when it is not the one served (`servedSha256`) and its key is in the
 * repository; otherwise null (nothing to install).
 */
export async function consoleCertificateToInstall(
  ctx: ServiceContext,
  servedSha256: string
): Promise<ConsoleTlsMaterial | null> {
  const em = ctx.db.em().fork();
  const defId = await consoleDefinitionId(em);
  if (!defId) return null;
  const current = await em.findOne(CertificateEntity, { definitionId: defId, isCurrent: true });
  if (!current || current.sha256 === servedSha256 || !current.privateKeyId) return null;
  if (current.notAfter.getTime() <= ctx.clock.now().getTime()) return null; // never switch to an expired one
  const key = await openPrivateKey(em, ctx.masterKey, current.privateKeyId);
  return {
    sha256: current.sha256,
    certificateId: current.id,
    certChainPem: [current.pem, ...current.chainPem].join(''),
    privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** Audits that this process now serves the console certificate (a deployment of the "this controller" target). */
export async function auditConsoleCertificateInstalled(
  ctx: ServiceContext,
  installed: Pick<ConsoleTlsMaterial, 'sha256' | 'certificateId'>,
  previousSha256: string
): Promise<void> {
  const em = ctx.db.em().fork();
  await em.transactional(async (tx) => {
    await appendAudit(
      tx,
      {
        actor: 'system',
        action: 'console.certificate-installed',
        targetType: 'certificate',
        targetId: installed.certificateId,
        details: { sha256: installed.sha256, previousSha256 },
      },
      ctx.clock.now()
    );
  });
}
