import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import {
  cancelAcquisition,
  confirmStep,
  resumeAcquisition,
  resumeSchema,
  startAcquisition,
  startAcquisitionSchema,
  uploadIssuedCertificate,
  uploadSchema,
} from '../../services/acquisition/acquisition-service';
import { overdueRenewals } from '../../services/acquisition/renewal-service';
import { getRequest, listRequests, orderDataSchema, recordOrder, requestHistory } from '../../services/request-service';
import { actorOf, type RouteModule } from './types';

const idParams = z.object({ id: z.uuid() }).strict();

export const requestRoutes: RouteModule = (add, { ctx, acquisition }) => {
  add({
    method: 'GET',
    url: '/api/v1/requests',
    summary: 'List certificate requests — SPEC R2',
    tags: ['requests'],
    permission: 'repository:read',
    query: z.object({ definitionId: z.uuid().optional() }).strict(),
    handler: async ({ query }) => ({ items: await listRequests(ctx.db.em(), query.definitionId) }),
  });
  add({
    method: 'POST',
    url: '/api/v1/requests',
    summary: 'Start an acquisition (new or renewal) for a definition; unattended runs to completion — SPEC O2, A4',
    tags: ['requests'],
    permission: 'repository:write',
    body: startAcquisitionSchema,
    responseStatus: 201,
    handler: async ({ raw, user }) => startAcquisition(ctx, acquisition, raw.body, actorOf(user)),
  });
  add({
    method: 'GET',
    url: '/api/v1/requests/:id',
    summary: 'Get a request with its status history',
    tags: ['requests'],
    permission: 'repository:read',
    params: idParams,
    handler: async ({ params }) => {
      const em = ctx.db.em();
      return { ...(await getRequest(em, params.id)), history: await requestHistory(em, params.id) };
    },
  });
  add({
    method: 'POST',
    url: '/api/v1/requests/:id/confirm',
    summary: 'Interactive mode: confirm and run the next step',
    tags: ['requests'],
    permission: 'repository:write',
    params: idParams,
    handler: async ({ params, user }) => confirmStep(ctx, acquisition, params.id, actorOf(user)),
  });
  add({
    method: 'POST',
    url: '/api/v1/requests/:id/resume',
    summary: 'Resume a waiting process (optionally switching interactive/unattended) — SPEC O2',
    tags: ['requests'],
    permission: 'repository:write',
    params: idParams,
    body: resumeSchema,
    handler: async ({ params, raw, user }) =>
      resumeAcquisition(ctx, acquisition, params.id, raw.body ?? {}, actorOf(user)),
  });
  add({
    method: 'POST',
    url: '/api/v1/requests/:id/cancel',
    summary: 'Cancel an open request',
    tags: ['requests'],
    permission: 'repository:write',
    params: idParams,
    handler: async ({ params, user }) => cancelAcquisition(ctx, params.id, actorOf(user)),
  });
  add({
    method: 'POST',
    url: '/api/v1/requests/:id/order',
    summary: 'Record the order number and date of a purchase — SPEC A3, R8',
    tags: ['requests'],
    permission: 'repository:write',
    params: idParams,
    body: orderDataSchema,
    handler: async ({ params, raw, user }) => recordOrder(ctx, params.id, raw.body, actorOf(user)),
  });
  add({
    method: 'GET',
    url: '/api/v1/requests/:id/csr',
    summary: 'Download the CSR (PEM) to order from a commercial CA',
    tags: ['requests'],
    permission: 'repository:read',
    params: idParams,
    handler: async ({ params }, reply) => {
      const req = await getRequest(ctx.db.em(), params.id);
      if (!req.csrPem)
        throw new CertFleetError('CF_ACQUISITION_STATE', `request: ${params.id} has no CSR yet (status ${req.status})`);
      return reply
        .header('content-type', 'application/pkcs10')
        .header('content-disposition', `attachment; filename="${params.id}.csr"`)
        .send(req.csrPem);
    },
  });
  add({
    method: 'POST',
    url: '/api/v1/requests/:id/certificate',
    summary: 'Upload the certificate (and chain) issued by a commercial CA — SPEC A2 manual, A4',
    tags: ['requests'],
    permission: 'repository:write',
    params: idParams,
    body: uploadSchema,
    handler: async ({ params, raw, user }) =>
      uploadIssuedCertificate(ctx, acquisition, params.id, raw.body, actorOf(user)),
  });
  add({
    method: 'GET',
    url: '/api/v1/renewals/due',
    summary: 'Definitions inside their renewal lead time with no renewal started (overdue list) — SPEC A5',
    tags: ['requests'],
    permission: 'repository:read',
    handler: async () => ({ items: await overdueRenewals(ctx) }),
  });
};
