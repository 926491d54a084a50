/**
 * The manual package for a stored certificate (SPEC D4): certificate, chain and private key from the repository,
 * packed by {@link buildManualPackage}. This is a private-key export (SPEC R4): the key leaves the controller only
 * inside the password-protected `key.pem` / `certificate.p12`, only when the key is exportable, and every export is
 * audited (`key.exported`, format `manual-package`) in the same transaction that opens the key. The password is in
 * no audit record, log line or error.
 *
 * The caller checks the permission (`keys:export`, as for the explicit key export).
 */
import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import {
  MANUAL_SERVER_TYPES,
  buildManualPackage,
  manualPackagePasswordSchema,
  serverFileSlug,
  type ManualServerType,
} from '../../deployment/manual-package';
import { openPrivateKey } from '../../secrets/key-vault';
import { PrivateKeyEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import { getCertificate } from '../certificate-service';
import type { Actor, ServiceContext } from '../context';
import { parseInput } from '../definition-service';

export const manualPackageRequestSchema = z
  .object({
    serverType: z.enum(MANUAL_SERVER_TYPES),
    password: manualPackagePasswordSchema,
  })
  .strict();

export interface ManualPackageRequest {
  certificateId: string;
  serverType: ManualServerType;
  password: string;
}

export interface ManualPackage {
  /** Suggested download name: `<cn>-<serverType>-<sha256 prefix>.zip`. */
  fileName: string;
  zip: Buffer;
  /** For callers that describe the package (the install-request mail). */
  commonName: string;
  sha256: string;
}

/** The subject CN of a certificate, else its first DNS SAN, else its SHA-256 prefix. */
export function commonNameOf(pem: string, fallback: string): string {
  const cert = new X509Certificate(pem);
  const cn = /^CN=(.+)$/m.exec(cert.subject)?.[1];
  if (cn) return cn;
  const dns = /DNS:([^,\s]+)/.exec(cert.subjectAltName ?? '')?.[1];
  return dns ?? fallback;
}

/**
 * Builds the manual package of certificate `certificateId` for `serverType`, protected by `password`. Throws
 * CF_NOT_FOUND (no such certificate or key), CF_CONFLICT (the certificate has no private key in the repository),
 * CF_KEY_EXPORT_FORBIDDEN (the key is not exportable), CF_VALIDATION (password under 12 characters, unknown server
 * type), CF_CRYPTO_INTEGRITY (the sealed key was altered).
 */
export async function exportManualPackage(
  ctx: ServiceContext,
  raw: ManualPackageRequest,
  actor: Actor
): Promise<ManualPackage> {
  const req = parseInput(
    manualPackageRequestSchema,
    { serverType: raw.serverType, password: raw.password },
    'manual-package'
  );
  return ctx.db.em().transactional(async (em) => {
    const cert = await getCertificate(em, raw.certificateId);
    if (!cert.privateKeyId) {
      throw new CertFleetError(
        'CF_CONFLICT',
        `manual-package: certificate ${cert.id} has no private key in the repository (monitoring only)`
      );
    }
    const keyRow = await em.findOne(PrivateKeyEntity, { id: cert.privateKeyId });
    if (!keyRow) throw new CertFleetError('CF_NOT_FOUND', `manual-package: private key ${cert.privateKeyId} not found`);
    if (!keyRow.exportable) {
      throw new CertFleetError(
        'CF_KEY_EXPORT_FORBIDDEN',
        `manual-package: private key ${cert.privateKeyId} is not exportable`
      );
    }
    const key = await openPrivateKey(em, ctx.masterKey, cert.privateKeyId);
    const commonName = commonNameOf(cert.pem, cert.sha256.slice(0, 16));
    const zip = await buildManualPackage({
      commonName,
      certificatePem: cert.pem,
      chainPem: cert.chainPem,
      privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
      password: req.password,
      serverType: req.serverType,
      createdAt: ctx.clock.now(),
    });
    await appendAudit(
      em,
      {
        actor,
        action: 'key.exported',
        targetType: 'private_key',
        targetId: cert.privateKeyId,
        details: { format: 'manual-package', certificateId: cert.id, serverType: req.serverType },
      },
      ctx.clock.now()
    );
    const sha = cert.sha256.replace(/:/g, '').toLowerCase();
    return {
      fileName: `${serverFileSlug(commonName)}-${req.serverType}-${sha.slice(0, 8)}.zip`,
      zip,
      commonName,
      sha256: sha,
    };
  });
}
