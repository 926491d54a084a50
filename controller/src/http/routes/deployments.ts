import { z } from 'zod';
import { CertFleetError, signedReceiptSchema } from '@certfleet/shared';
import { deploymentListQuerySchema, listDeploymentPage } from '../../services/deployment/deployment-list';
import { deployNow } from '../../services/deployment/deployment-service';
import { acceptReceipt, createOfflineBundle, offlineArchive } from '../../services/deployment/offline-bundle';
import { actorOf, type RouteModule } from './types';

/** Deployments (SPEC D1, D2). */
export const deploymentRoutes: RouteModule = (add, { ctx, agentPki, acquisition }) => {
  add({
    method: 'POST',
    url: '/api/v1/certificates/:id/deployments',
    summary:
      "Deploy now: open deployments for the certificate's deploy targets and queue them for their agents — SPEC D2",
    tags: ['deployments'],
    permission: 'repository:write',
    params: z.object({ id: z.uuid() }).strict(),
    body: z
      .object({ targetIndex: z.number().int().min(0).max(99).optional().describe('only this deploy target') })
      .strict(),
    responseStatus: 202,
    handler: async ({ params, body, user }, reply) => {
      if (!agentPki) throw new CertFleetError('CF_CONFIG_INVALID', 'deployment: the agent listener is not running');
      const rows = await deployNow(
        ctx,
        agentPki,
        params.id,
        body.targetIndex === undefined ? {} : { targetIndex: body.targetIndex },
        actorOf(user)
      );
      reply.status(202);
      return rows;
    },
  });
  add({
    method: 'GET',
    url: '/api/v1/deployments',
    summary:
      'Deployments, newest first, paged ({items, total}; filter by certificate or agent), each with the latest ' +
      'monitor/deploy-check result of its check endpoint (latestCheck) — SPEC D2, D6',
    tags: ['deployments'],
    permission: 'repository:read',
    query: deploymentListQuerySchema,
    handler: async ({ query }) => listDeploymentPage(ctx, query),
  });
  add({
    method: 'POST',
    url: '/api/v1/certificates/:id/offline-bundles',
    summary:
      'Offline installer bundle (tar.gz: agent executable + passphrase-sealed bundle); the passphrase is in the ' +
      'x-certfleet-passphrase response header, shown once — SPEC D3',
    tags: ['deployments'],
    permission: 'keys:export',
    params: z.object({ id: z.uuid() }).strict(),
    body: z.object({ targetIndex: z.number().int().min(0).max(99).default(0) }).strict(),
    handler: async ({ params, body, user }, reply) => {
      if (!agentPki) throw new CertFleetError('CF_CONFIG_INVALID', 'deployment: the agent PKI is not loaded');
      const bundle = await createOfflineBundle(
        ctx,
        agentPki,
        { certificateId: params.id, targetIndex: body.targetIndex },
        actorOf(user)
      );
      const archive = await offlineArchive(bundle);
      reply
        .header('content-type', 'application/gzip')
        .header('content-disposition', `attachment; filename="certfleet-offline-${bundle.bundleId.slice(0, 8)}.tar.gz"`)
        .header('x-certfleet-passphrase', bundle.passphrase)
        .header('x-certfleet-deployment-id', bundle.deploymentId)
        .header('x-certfleet-signing-key-sha256', bundle.signingKeySha256);
      return reply.send(archive);
    },
  });
  add({
    method: 'POST',
    url: '/api/v1/deployments/:id/receipt',
    summary: 'Upload the signed receipt of an offline install: the deploy check — SPEC D3',
    tags: ['deployments'],
    permission: 'repository:write',
    params: z.object({ id: z.uuid() }).strict(),
    body: signedReceiptSchema,
    handler: async ({ params, body, user }) => acceptReceipt(ctx, params.id, body, actorOf(user), acquisition.notifier),
  });
};
