import { z } from 'zod';
import {
  cloneDefinition,
  createDefinition,
  definitionListQuerySchema,
  deleteDefinition,
  getDefinition,
  listDefinitions,
  updateDefinition,
} from '../../services/definition-service';
import { definitionInputSchema, definitionPatchSchema } from '../../domain/definition';
import { definitionStatuses } from '../../services/definition-overview-service';
import { actorOf, type RouteModule } from './types';

const idParams = z.object({ id: z.uuid() }).strict();

export const definitionRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'GET',
    url: '/api/v1/definitions',
    summary: 'List certificate definitions (paged, filtered; withStatus=true adds the overview columns) — SPEC R1, W1',
    tags: ['definitions'],
    permission: 'repository:read',
    query: definitionListQuerySchema,
    handler: async ({ query }) => {
      const em = ctx.db.em().fork();
      const now = ctx.clock.now();
      const page = await listDefinitions(em, query, now);
      if (query.withStatus !== 'true') return page;
      const statuses = await definitionStatuses(em, page.items, now);
      return { ...page, items: page.items.map((d) => ({ ...d, status: statuses.get(d.id) })) };
    },
  });
  add({
    method: 'POST',
    url: '/api/v1/definitions',
    summary: 'Create a certificate definition',
    tags: ['definitions'],
    permission: 'repository:write',
    body: definitionInputSchema,
    responseStatus: 201,
    handler: async ({ raw, user }) => createDefinition(ctx, raw.body, actorOf(user)),
  });
  add({
    method: 'GET',
    url: '/api/v1/definitions/:id',
    summary: 'Get a definition',
    tags: ['definitions'],
    permission: 'repository:read',
    params: idParams,
    handler: async ({ params }) => getDefinition(ctx.db.em(), params.id),
  });
  add({
    method: 'PATCH',
    url: '/api/v1/definitions/:id',
    summary: 'Change a definition',
    tags: ['definitions'],
    permission: 'repository:write',
    params: idParams,
    body: definitionPatchSchema,
    handler: async ({ params, raw, user }) => updateDefinition(ctx, params.id, raw.body, actorOf(user)),
  });
  add({
    method: 'DELETE',
    url: '/api/v1/definitions/:id',
    summary: 'Delete a definition with its requests, certificates and documents',
    tags: ['definitions'],
    permission: 'repository:write',
    params: idParams,
    handler: async ({ params, user }) => {
      await deleteDefinition(ctx, params.id, actorOf(user));
      return undefined;
    },
  });
  add({
    method: 'POST',
    url: '/api/v1/definitions/:id/clone',
    summary: 'Clone a definition under a new name (test/production twins) — SPEC R1',
    tags: ['definitions'],
    permission: 'repository:write',
    params: idParams,
    body: z.object({ name: z.string().min(1).max(200) }).strict(),
    responseStatus: 201,
    handler: async ({ params, body, user }) => cloneDefinition(ctx, params.id, body.name, actorOf(user)),
  });
};
