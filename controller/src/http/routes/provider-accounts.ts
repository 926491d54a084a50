import { z } from 'zod';
import { providerAccountInputSchema } from '../../domain/provider-account';
import {
  createProviderAccount,
  deleteProviderAccount,
  listProviderAccounts,
  updateProviderAccount,
} from '../../services/provider-account-service';
import { actorOf, type RouteModule } from './types';

const idParams = z.object({ id: z.uuid() }).strict();

export const providerAccountRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'GET',
    url: '/api/v1/provider-accounts',
    summary: 'List provider accounts (passwords are never returned) — SPEC R6',
    tags: ['provider-accounts'],
    permission: 'repository:read',
    handler: async () => ({ items: await listProviderAccounts(ctx.db.em()) }),
  });
  add({
    method: 'POST',
    url: '/api/v1/provider-accounts',
    summary: 'Create a provider account (password encrypted at rest)',
    tags: ['provider-accounts'],
    permission: 'repository:write',
    body: providerAccountInputSchema,
    responseStatus: 201,
    handler: async ({ raw, user }) => createProviderAccount(ctx, raw.body, actorOf(user)),
  });
  add({
    method: 'PATCH',
    url: '/api/v1/provider-accounts/:id',
    summary: 'Change a provider account',
    tags: ['provider-accounts'],
    permission: 'repository:write',
    params: idParams,
    body: providerAccountInputSchema.partial().strict(),
    handler: async ({ params, raw, user }) => updateProviderAccount(ctx, params.id, raw.body, actorOf(user)),
  });
  add({
    method: 'DELETE',
    url: '/api/v1/provider-accounts/:id',
    summary: 'Delete a provider account',
    tags: ['provider-accounts'],
    permission: 'repository:write',
    params: idParams,
    handler: async ({ params, user }) => {
      await deleteProviderAccount(ctx, params.id, actorOf(user));
      return undefined;
    },
  });
};
