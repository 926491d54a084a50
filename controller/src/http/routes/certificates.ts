import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import {
  certificateListQuerySchema,
  getCertificate,
  listCertificates,
  makeCurrent,
} from '../../services/certificate-service';
import { importCertificate, importOptionsSchema } from '../../services/import-service';
import { actorOf, type RouteModule } from './types';

const idParams = z.object({ id: z.uuid() }).strict();
const base64 = z
  .string()
  .max(2_000_000)
  .regex(/^[A-Za-z0-9+/=\s]*$/, 'must be base64');

/** Import body: files as base64 (the 1 MiB input cap is checked on the decoded bytes). */
export const importBodySchema = importOptionsSchema.extend({
  file: base64.describe('the certificate file (PEM, DER, PKCS#7, PKCS#12 or JKS), base64'),
  key: base64.optional().describe('a separate private key file, base64'),
  chain: base64.optional().describe('a separate chain file, base64'),
});

const decode = (s: string | undefined): Buffer | undefined =>
  s === undefined ? undefined : Buffer.from(s.replace(/\s+/g, ''), 'base64');

export const certificateRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'GET',
    url: '/api/v1/certificates',
    summary: 'List certificates (paged; filter by definition, current, expiry) — SPEC R3',
    tags: ['certificates'],
    permission: 'repository:read',
    query: certificateListQuerySchema,
    handler: async ({ query }) => listCertificates(ctx.db.em(), query, ctx.clock.now()),
  });
  add({
    method: 'GET',
    url: '/api/v1/certificates/:id',
    summary: 'Get a certificate',
    tags: ['certificates'],
    permission: 'repository:read',
    params: idParams,
    handler: async ({ params }) => getCertificate(ctx.db.em(), params.id),
  });
  add({
    method: 'POST',
    url: '/api/v1/certificates/:id/make-current',
    summary: "Make this the definition's current certificate (opens pending deployments)",
    tags: ['certificates'],
    permission: 'repository:write',
    params: idParams,
    handler: async ({ params, user }) => makeCurrent(ctx, params.id, actorOf(user)),
  });
  add({
    method: 'POST',
    url: '/api/v1/imports',
    summary: 'Import a certificate with optional key and chain, in any supported format — SPEC I1–I3',
    tags: ['certificates'],
    permission: 'repository:write',
    body: importBodySchema,
    bodyLimit: 4 * 1024 * 1024,
    responseStatus: 201,
    handler: async ({ body, user }) => {
      const { file, key, chain, ...options } = body;
      const fileBuf = decode(file);
      if (!fileBuf || fileBuf.length === 0) throw new CertFleetError('CF_VALIDATION', 'import: file is empty');
      const r = await importCertificate(
        ctx,
        { file: fileBuf, key: decode(key), chain: decode(chain) },
        options,
        actorOf(user)
      );
      return {
        definition: r.definition,
        certificate: r.certificate,
        privateKeyId: r.privateKeyId,
        redeployable: r.redeployable,
        format: r.format,
      };
    },
  });
};
