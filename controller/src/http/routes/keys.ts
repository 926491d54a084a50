import { z } from 'zod';
import { exportPrivateKey, keyExportSchema, listPrivateKeys } from '../../services/key-service';
import { checkCredentials } from '../../services/auth-service';
import { actorOf, type RouteModule } from './types';

export const keyRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'GET',
    url: '/api/v1/private-keys',
    summary: 'List private keys (metadata only) — SPEC R4',
    tags: ['private-keys'],
    permission: 'repository:read',
    query: z
      .object({
        limit: z.coerce.number().int().min(1).max(500).default(50),
        offset: z.coerce.number().int().min(0).default(0),
      })
      .strict(),
    handler: async ({ query }) => listPrivateKeys(ctx.db.em(), query),
  });
  add({
    method: 'POST',
    url: '/api/v1/private-keys/:id/export',
    summary: 'Export a private key: admin only, password re-entry, audited — SPEC R4',
    tags: ['private-keys'],
    permission: 'keys:export',
    params: z.object({ id: z.uuid() }).strict(),
    body: keyExportSchema.extend({
      password: z.string().min(1).max(1024).describe("the caller's own login password, re-entered"),
    }),
    handler: async ({ params, body, user }) => {
      await checkCredentials(ctx.db.em(), user!.username, body.password);
      const pem = await exportPrivateKey(ctx, {
        keyId: params.id,
        role: user!.role,
        actor: actorOf(user),
        format: body.format,
        passphrase: body.passphrase,
        reason: body.reason,
      });
      return { format: body.format, pem };
    },
  });
};
