import type { FastifyReply, FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { caExtensionsSchema } from '../../issuers/internal-ca';
import {
  listCas,
  activateInputSchema,
  activateSubordinate,
  caCertificate,
  caInfo,
  caRefSchema,
  caTrustInstaller,
  clientCertificateInputSchema,
  createSubordinateCsr,
  currentCrl,
  issuanceListQuerySchema,
  issueClientCertificate,
  listIssuances,
  revokeCertificate,
  revokeInputSchema,
  rolloverCa,
  rolloverInputSchema,
  setCaExtensions,
  subordinateInputSchema,
} from '../../services/ca-service';
import { actorOf, type RouteModule } from './types';

const caParams = z.object({ caId: caRefSchema }).strict();

/**
 * How long HTTP caches may keep a CRL: one hour, and never past its nextUpdate. A CRL is valid for 7 days, but a
 * revocation (keyCompromise) should reach relying parties that refetch well before a week-long proxy cache expires.
 */
export const CRL_HTTP_MAX_AGE_MS = 3600_000;

/**
 * Sends a public PKI object (CRL, CA certificate) with HTTP caching up to `expires`.
 *
 * The app's global onSend hook marks every API response `cache-control: no-store`; CRLs and CA certificates are
 * public and meant to be cached by proxies and clients until their nextUpdate, so the response is written
 * directly (hijacked) with its own headers, the security headers included. Conditional requests
 * (If-None-Match) get 304.
 */
function sendPublic(
  req: FastifyRequest,
  reply: FastifyReply,
  body: Buffer,
  contentType: string,
  opts: { lastModified: Date; expires: Date; fileName: string; now: Date }
): FastifyReply {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
  const maxAge = Math.max(0, Math.floor((opts.expires.getTime() - opts.now.getTime()) / 1000));
  const headers: Record<string, string | number> = {
    'content-type': contentType,
    'cache-control': `public, max-age=${maxAge}, no-transform`,
    expires: opts.expires.toUTCString(),
    'last-modified': opts.lastModified.toUTCString(),
    etag,
    'content-disposition': `inline; filename="${opts.fileName}"`,
    'x-content-type-options': 'nosniff',
    'strict-transport-security': 'max-age=31536000',
  };
  void reply.hijack();
  const notModified = req.headers['if-none-match']?.split(/\s*,\s*/).includes(etag) ?? false;
  if (notModified) {
    reply.raw.writeHead(304, {
      etag,
      'cache-control': headers['cache-control'] as string,
      expires: headers.expires as string,
    });
    reply.raw.end();
  } else {
    reply.raw.writeHead(200, { ...headers, 'content-length': body.length });
    reply.raw.end(body);
  }
  return reply;
}

/** Private CA routes (SPEC C1–C7, W10): admin operations under /api/v1/ca, public PKI objects under /pki. */
export const caRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'GET',
    url: '/api/v1/ca',
    summary:
      'Certificate authorities of the built-in private CA (active first), with issued/revoked counts — SPEC C1, C7',
    tags: ['ca'],
    permission: 'repository:read',
    handler: async () => ({ items: await listCas(ctx.db.em()) }),
  });
  add({
    method: 'GET',
    url: '/api/v1/ca/:caId',
    summary: 'CA details (`active` for the issuing CA)',
    tags: ['ca'],
    permission: 'repository:read',
    params: caParams,
    handler: async ({ params }) => caInfo(ctx, params.caId),
  });
  add({
    method: 'GET',
    url: '/api/v1/ca/:caId/issuances',
    summary: 'Certificates the CA issued (server, client, CA), newest first — SPEC C2, C5',
    tags: ['ca'],
    permission: 'repository:read',
    params: caParams,
    query: issuanceListQuerySchema,
    handler: async ({ params, query }) => listIssuances(ctx.db.em(), params.caId, query),
  });
  add({
    method: 'PUT',
    url: '/api/v1/ca/:caId/extensions',
    summary: 'Set the custom extensions (CRL distribution point, AIA caIssuers/OCSP; `{caId}` allowed) — SPEC C3',
    tags: ['ca'],
    permission: 'settings:manage',
    params: caParams,
    body: caExtensionsSchema,
    handler: async ({ params, body, user }) => setCaExtensions(ctx, params.caId, body, actorOf(user)),
  });
  add({
    method: 'POST',
    url: '/api/v1/ca/revoke',
    summary: 'Revoke a certificate issued by the built-in CA, by serial or certificate id (idempotent) — SPEC C4',
    tags: ['ca'],
    permission: 'settings:manage',
    body: revokeInputSchema,
    handler: async ({ body, user }) => revokeCertificate(ctx, body, actorOf(user)),
  });
  add({
    method: 'POST',
    url: '/api/v1/ca/client-certificates',
    summary: 'Issue a client certificate for a console user, as a password-protected PKCS#12 download — SPEC C5',
    tags: ['ca'],
    permission: 'settings:manage',
    body: clientCertificateInputSchema,
    handler: async ({ body, user }, reply) => {
      const r = await issueClientCertificate(ctx, body, actorOf(user));
      const fileName = `${r.username.replace(/[^A-Za-z0-9._-]/g, '_')}.p12`;
      return reply
        .header('content-type', 'application/x-pkcs12')
        .header('content-disposition', `attachment; filename="${fileName}"`)
        .header('x-certfleet-serial', r.serial)
        .header('x-certfleet-sha1', r.sha1)
        .header('x-certfleet-sha256', r.sha256)
        .send(r.pkcs12);
    },
  });
  add({
    method: 'POST',
    url: '/api/v1/ca/rollover',
    summary: 'CA rollover: a new root with a unique DN becomes active, the old one is retired and kept — SPEC C7',
    tags: ['ca'],
    permission: 'settings:manage',
    body: rolloverInputSchema,
    responseStatus: 201,
    handler: async ({ body, user }) => rolloverCa(ctx, actorOf(user), body),
  });
  add({
    method: 'POST',
    url: '/api/v1/ca/subordinates',
    summary: 'Subordinate CA, step 1: create a CA key and a CSR (CA:TRUE) for a parent CA to sign — SPEC C1',
    tags: ['ca'],
    permission: 'settings:manage',
    body: subordinateInputSchema,
    responseStatus: 201,
    handler: async ({ body, user }) => createSubordinateCsr(ctx, actorOf(user), body),
  });
  add({
    method: 'POST',
    url: '/api/v1/ca/:caId/activate',
    summary: 'Subordinate CA, step 2: import the parent-issued CA certificate (validated) and activate — SPEC C1',
    tags: ['ca'],
    permission: 'settings:manage',
    params: caParams,
    body: activateInputSchema,
    handler: async ({ params, body, user }) =>
      activateSubordinate(ctx, params.caId, body.certificatePem, body.chainPem, actorOf(user)),
  });
  add({
    method: 'GET',
    url: '/api/v1/ca/:caId/trust-installer.sh',
    summary: 'Shell script that installs the CA certificate into a Debian/RHEL trust store — SPEC C6',
    tags: ['ca'],
    permission: 'repository:read',
    params: caParams,
    handler: async ({ params }, reply) => {
      const r = await caTrustInstaller(ctx, params.caId);
      return reply
        .header('content-type', 'text/x-shellscript; charset=utf-8')
        .header('content-disposition', `attachment; filename="${r.fileName}"`)
        .send(r.script);
    },
  });

  // Public PKI objects: no session (CRL consumers and hosts fetching the CA cannot log in).
  add({
    method: 'GET',
    url: '/pki/:caId/crl',
    summary:
      'The CA certificate revocation list (DER; HTTP-cacheable for 1 h, never past nextUpdate) — SPEC C4 (public)',
    tags: ['pki'],
    permission: 'public',
    params: caParams,
    handler: async ({ params, raw }, reply) => {
      const crl = await currentCrl(ctx, params.caId);
      const now = ctx.clock.now();
      return sendPublic(raw, reply, crl.der, 'application/pkix-crl', {
        lastModified: crl.thisUpdate,
        expires: new Date(Math.min(crl.nextUpdate.getTime(), now.getTime() + CRL_HTTP_MAX_AGE_MS)),
        fileName: `${crl.caId}.crl`,
        now,
      });
    },
  });
  for (const [suffix, format, contentType] of [
    ['ca.crt', 'der', 'application/pkix-cert'],
    ['ca.pem', 'pem', 'application/x-pem-file'],
  ] as const) {
    add({
      method: 'GET',
      url: `/pki/:caId/${suffix}`,
      summary: `The CA certificate (${format.toUpperCase()}) — SPEC C6 (public)`,
      tags: ['pki'],
      permission: 'public',
      params: caParams,
      handler: async ({ params, raw }, reply) => {
        const cert = await caCertificate(ctx, params.caId, format);
        const now = ctx.clock.now();
        // A CA certificate never changes, but `active` may point to another CA after a rollover: cache a day.
        const expires = new Date(
          Math.min(cert.notAfter.getTime(), now.getTime() + (params.caId === 'active' ? 3600_000 : 86_400_000))
        );
        return sendPublic(raw, reply, cert.body, contentType, {
          lastModified: cert.notBefore,
          expires,
          fileName: `${cert.caId}.${suffix.split('.')[1]}`,
          now,
        });
      },
    });
  }
};
