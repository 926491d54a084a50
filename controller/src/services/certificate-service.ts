import { raw as rawSql } from '@mikro-orm/core';
import { z } from 'zod';
import { CertFleetError, type CertificateSummary } from '@certfleet/shared';
import type { Certificate } from '../domain/certificate';
import type { Em } from '../storage/database';
import { CertificateEntity } from '../storage/entities';
import { findPage } from '../storage/find-page';
import { openDeployments } from './deployment/deployment-service';
import { appendAudit } from './audit-service';
import type { Actor, ServiceContext } from './context';
import { parseInput } from './definition-service';

export const certificateListQuerySchema = z
  .object({
    definitionId: z.uuid().optional(),
    current: z.enum(['true', 'false']).optional(),
    expiringWithinDays: z.coerce.number().int().min(0).max(3650).optional(),
    q: z
      .string()
      .max(200)
      .optional()
      .describe('substring of the subject or of a SAN, case-insensitive (3 characters or more use an index)'),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    offset: z.coerce.number().int().min(0).default(0),
  })
  .strict();

export async function listCertificates(
  em: Em,
  raw: unknown,
  now: Date
): Promise<{ items: Certificate[]; total: number }> {
  const q = parseInput(certificateListQuerySchema, raw, 'certificate.list');
  const where = (): Record<string, unknown> => {
    const w: Record<string, unknown> = {};
    if (q.definitionId) w.definitionId = q.definitionId;
    if (q.current) w.isCurrent = q.current === 'true';
    if (q.expiringWithinDays !== undefined)
      w.notAfter = { $lte: new Date(now.getTime() + q.expiringWithinDays * 86_400_000) };
    if (q.q) {
      // Matches the trigram indexes certificates_subject_trgm_idx and certificates_sans_trgm_idx.
      const like = `%${q.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      w[rawSql((a: string) => `(${a}.subject ilike ? or (${a}.sans)::text ilike ?)`, [like, like])] = [];
    }
    return w;
  };
  return findPage(em, CertificateEntity, where, { notAfter: 'asc', id: 'asc' }, q.limit, q.offset);
}

export async function getCertificate(em: Em, id: string): Promise<Certificate> {
  const cert = z.uuid().safeParse(id).success ? await em.findOne(CertificateEntity, { id }) : null;
  if (!cert) throw new CertFleetError('CF_NOT_FOUND', `certificate: ${id} not found`);
  return cert;
}

/** The repository fields of a certificate, from its summary (fingerprints, validity, names, key algorithm). */
export function certificateFromSummary(
  s: CertificateSummary,
  fields: Pick<Certificate, 'id' | 'definitionId' | 'requestId' | 'privateKeyId' | 'chainPem' | 'source' | 'createdAt'>
): Omit<Certificate, 'isCurrent'> {
  return {
    ...fields,
    pem: s.pem,
    sha1: s.sha1,
    sha256: s.sha256,
    serial: s.serial,
    subject: s.subject,
    issuer: s.issuer,
    notBefore: new Date(s.notBefore),
    notAfter: new Date(s.notAfter),
    keyAlgorithm: s.keyAlgorithm,
    sans: s.sans,
  };
}

/**
 * Stores a certificate for a definition inside the caller's transaction (import, acquisition, bootstrap). With
 * `makeCurrent` it replaces the current certificate (the database allows one current per definition) and opens
 * pending deployments (SPEC R3).
 */
export async function insertCertificate(
  em: Em,
  cert: Omit<Certificate, 'isCurrent'>,
  options: { makeCurrent: boolean; now: Date }
): Promise<Certificate> {
  if (options.makeCurrent) {
    await em.nativeUpdate(
      CertificateEntity,
      { definitionId: cert.definitionId, isCurrent: true },
      { isCurrent: false }
    );
  }
  const row: Certificate = { ...cert, isCurrent: options.makeCurrent };
  em.persist(em.create(CertificateEntity, row));
  await em.flush();
  if (options.makeCurrent) await openDeployments(em, row.id, row.definitionId, options.now);
  return row;
}

/**
 * Makes a certificate the current one of its definition (SPEC R3) and opens a pending deployment record for every
 * deploy target of the definition (delivery itself comes with the agents). Idempotent for the current certificate.
 */
export async function makeCurrent(ctx: ServiceContext, id: string, actor: Actor): Promise<Certificate> {
  return ctx.db.em().transactional(async (em) => {
    const now = ctx.clock.now();
    const cert = await getCertificate(em, id);
    if (cert.isCurrent) return cert;
    await em.nativeUpdate(
      CertificateEntity,
      { definitionId: cert.definitionId, isCurrent: true },
      { isCurrent: false }
    );
    cert.isCurrent = true;
    await em.flush();
    await openDeployments(em, cert.id, cert.definitionId, now, actor);
    await appendAudit(
      em,
      {
        actor,
        action: 'certificate.made_current',
        targetType: 'certificate',
        targetId: cert.id,
        details: { definitionId: cert.definitionId },
      },
      now
    );
    return cert;
  });
}
