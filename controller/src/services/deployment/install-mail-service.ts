/**
 * Install request mail (SPEC D5): asks a server administrator to install a certificate by hand, with the steps for
 * the server type and the manual package (SPEC D4) attached on request. The package password is chosen by the
 * operator and handed over another way: it is never in the mail, the sent-mail log or the audit record.
 *
 * Attaching the package is a private-key export: {@link exportManualPackage} audits it (`key.exported`), and the
 * caller must hold the key-export permission. The request itself is audited as `deployment.install-requested`.
 */
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import type { SentMail } from '../../domain/notification';
import { MANUAL_SERVER_TYPES, manualInstallStepLines, type ManualServerType } from '../../deployment/manual-package';
import { sendMail, type MailAttachment } from '../../notifications/mailer';
import { DefinitionEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import { getCertificate } from '../certificate-service';
import type { Actor, ServiceContext } from '../context';
import { parseInput } from '../definition-service';
import { commonNameOf, exportManualPackage, manualPackageRequestSchema } from './manual-package-service';

export const installRequestMailSchema = z
  .object({
    certificateId: z.uuid(),
    to: z.union([z.email().max(320), z.array(z.email().max(320)).min(1).max(20)]),
    serverType: z.enum(MANUAL_SERVER_TYPES),
    /** The install server's name; default: the definition's first deploy target of that type, else the CN. */
    serverName: z.string().trim().min(1).max(255).optional(),
    /** Attach the manual package, protected by this password (sent to the administrator separately). */
    attachPackage: z.object({ password: manualPackageRequestSchema.shape.password }).strict().optional(),
    /** Where the administrator downloads the package when it is not attached (e.g. the console page). */
    packageUrl: z.url().max(2000).optional(),
    installBy: z.coerce.date().optional(),
  })
  .strict();

export type InstallRequestMailInput = z.input<typeof installRequestMailSchema>;

export interface InstallRequestMailResult {
  sentMail: SentMail;
  /** The attached package's file name, when one was attached. */
  packageFileName: string | null;
}

/** Deploy target types (SPEC D1) by manual package server type. */
const targetTypeOf: Record<ManualServerType, string | null> = {
  nginx: 'nginx',
  apache: 'apache',
  haproxy: 'haproxy',
  postfix: 'postfix',
  dovecot: 'dovecot',
  'java-keystore': 'java-keystore',
  file: 'file-command',
  'iis-or-other': null,
};

/**
 * Sends the `install-request` mail for a certificate to `to`. Throws CF_VALIDATION (bad input), CF_NOT_FOUND,
 * CF_SMTP_NOT_CONFIGURED / CF_SMTP_FAILED (from the mailer), and with `attachPackage` whatever
 * {@link exportManualPackage} throws (no key, key not exportable).
 */
export async function sendInstallRequestMail(
  ctx: ServiceContext,
  raw: InstallRequestMailInput,
  actor: Actor
): Promise<InstallRequestMailResult> {
  const input = parseInput(installRequestMailSchema, raw, 'install-request');
  const em = ctx.db.em();
  const cert = await getCertificate(em, input.certificateId);
  const definition = await em.findOne(DefinitionEntity, { id: cert.definitionId });
  if (!definition)
    throw new CertFleetError('CF_NOT_FOUND', `install-request: definition ${cert.definitionId} not found`);
  const commonName = commonNameOf(cert.pem, cert.sha256.slice(0, 16));
  const target = definition.deployTargets.find((d) => d.serverType === targetTypeOf[input.serverType]);
  const serverName = input.serverName ?? target?.serverName ?? commonName;

  let attachments: MailAttachment[] = [];
  let packageFileName: string | null = null;
  if (input.attachPackage) {
    const pkg = await exportManualPackage(
      ctx,
      { certificateId: cert.id, serverType: input.serverType, password: input.attachPackage.password },
      actor
    );
    attachments = [{ filename: pkg.fileName, content: pkg.zip, contentType: 'application/zip' }];
    packageFileName = pkg.fileName;
  }
  const instructions = [
    ...(packageFileName
      ? [
          `Unpack ${packageFileName}; key.pem and certificate.p12 are encrypted with the package password, which you receive separately (not by this mail).`,
        ]
      : []),
    ...manualInstallStepLines(commonName, input.serverType, cert.sha256),
    'README.txt in the package has the same steps in full.',
  ];
  const sentMail = await sendMail(ctx, {
    template: 'install-request',
    to: input.to,
    data: {
      definitionName: definition.name,
      serverName,
      serverType: input.serverType,
      commonName,
      notAfter: cert.notAfter,
      sha256: cert.sha256,
      ...(packageFileName ? { packageName: packageFileName } : {}),
      ...(input.packageUrl && !packageFileName ? { packageUrl: input.packageUrl } : {}),
      instructions,
      ...(input.installBy ? { installBy: input.installBy } : {}),
      ...(target?.checkHost ? { checkEndpoint: `${target.checkHost}:${target.checkPort ?? 443}` } : {}),
      requestedBy: actor,
    },
    attachments,
  });
  await ctx.db.em().transactional(async (tx) => {
    await appendAudit(
      tx,
      {
        actor,
        action: 'deployment.install-requested',
        targetType: 'certificate',
        targetId: cert.id,
        details: {
          to: Array.isArray(input.to) ? input.to : [input.to],
          serverType: input.serverType,
          serverName,
          packageAttached: packageFileName !== null,
          sentMailId: sentMail.id,
        },
      },
      ctx.clock.now()
    );
  });
  return { sentMail, packageFileName };
}
