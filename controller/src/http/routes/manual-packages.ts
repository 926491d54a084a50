import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import { can } from '../../domain/user';
import { checkCredentials } from '../../services/auth-service';
import { installRequestMailSchema, sendInstallRequestMail } from '../../services/deployment/install-mail-service';
import { exportManualPackage, manualPackageRequestSchema } from '../../services/deployment/manual-package-service';
import { actorOf, type RouteModule } from './types';

/**
 * SPEC D4: the manual installation package of a certificate. It carries the private key (encrypted with the
 * package password), so it needs the key-export permission and the caller's own password, re-entered, like
 * `POST /api/v1/private-keys/:id/export` (same field names: `passphrase` protects the package, `password` is the
 * login password). Every download is audited as a key export; the response is `application/zip`.
 */
export const manualPackageRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'POST',
    url: '/api/v1/certificates/:id/manual-package',
    summary: 'Download the manual installation package (ZIP: PEMs, encrypted key, PKCS#12, README) — SPEC D4',
    tags: ['certificates', 'deployment'],
    permission: 'keys:export',
    params: z.object({ id: z.uuid() }).strict(),
    body: z
      .object({
        serverType: manualPackageRequestSchema.shape.serverType,
        passphrase: manualPackageRequestSchema.shape.password,
        password: z.string().min(1).max(1024).describe("the caller's own login password, re-entered"),
      })
      .strict(),
    handler: async ({ params, body, user }, reply) => {
      await checkCredentials(ctx.db.em(), user!.username, body.password);
      const pkg = await exportManualPackage(
        ctx,
        { certificateId: params.id, serverType: body.serverType, password: body.passphrase },
        actorOf(user)
      );
      return reply
        .header('content-type', 'application/zip')
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-store')
        .header('content-disposition', `attachment; filename="${pkg.fileName}"`)
        .send(pkg.zip);
    },
  });
  add({
    method: 'POST',
    url: '/api/v1/certificates/:id/install-request',
    summary:
      'Mail an install request to a server administrator, with the manual package attached (key export: password ' +
      're-entry) or linked — SPEC D5',
    tags: ['certificates', 'deployment'],
    permission: 'repository:write',
    params: z.object({ id: z.uuid() }).strict(),
    body: installRequestMailSchema.omit({ certificateId: true }).extend({
      password: z
        .string()
        .min(1)
        .max(1024)
        .optional()
        .describe("the caller's own login password, re-entered (required with attachPackage)"),
    }),
    handler: async ({ params, body, user }) => {
      const { password, ...mail } = body;
      if (mail.attachPackage) {
        if (!user || !can(user.role, 'keys:export')) {
          throw new CertFleetError('CF_FORBIDDEN', `auth: attaching the package needs permission keys:export`);
        }
        await checkCredentials(ctx.db.em(), user.username, password ?? '');
      }
      const sent = await sendInstallRequestMail(ctx, { ...mail, certificateId: params.id }, actorOf(user));
      return { mailId: sent.sentMail.id, packageFileName: sent.packageFileName };
    },
  });
};
