import { z } from 'zod';
import {
  changeRequestStatus,
  createRequest,
  getRequest,
  listRequests,
  requestHistory,
  requestInputSchema,
  statusChangeSchema,
} from '../../services/request-service';
import { actorOf, type RouteModule } from './types';

const idParams = z.object({ id: z.uuid() }).strict();

export const requestRoutes: RouteModule = (add, { ctx }) => {
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
    summary: 'Open a new or renewal request for a definition',
    tags: ['requests'],
    permission: 'repository:write',
    body: requestInputSchema,
    responseStatus: 201,
    handler: async ({ raw, user }) => createRequest(ctx, raw.body, actorOf(user)),
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
    url: '/api/v1/requests/:id/status',
    summary: 'Record a status change (with order number/date for purchases)',
    tags: ['requests'],
    permission: 'repository:write',
    params: idParams,
    body: statusChangeSchema,
    handler: async ({ params, raw, user }) => changeRequestStatus(ctx, params.id, raw.body, actorOf(user)),
  });
};
