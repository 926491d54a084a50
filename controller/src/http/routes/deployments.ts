import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import { deployNow, listDeployments } from '../../services/deployment/deployment-service';
import { actorOf, type RouteModule } from './types';

/** Deployments (SPEC D1, D2). */
export const deploymentRoutes: RouteModule = (add, { ctx, agentPki }) => {
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
    summary: 'Deployments, newest first — SPEC D2',
    tags: ['deployments'],
    permission: 'repository:read',
    query: z.object({ certificateId: z.uuid().optional(), agentId: z.uuid().optional() }).strict(),
    handler: async ({ query }) =>
      listDeployments(ctx, {
        ...(query.certificateId ? { certificateId: query.certificateId } : {}),
        ...(query.agentId ? { agentId: query.agentId } : {}),
      }),
  });
};
