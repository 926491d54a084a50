/**
 * Private CA: the issuance register (SPEC C2, C4, C5). Every certificate a CA signs gets a `ca_issuances` row in
 * the same transaction as the signing, so revocation and CRLs never depend on logs (unlike Vault/step-ca).
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { generateKeyPair, keySpecSchema, summarizeCertificate, type KeySpec } from '@certfleet/shared';
import type { CaIssuance } from '../../domain/certificate-authority';
import {
  issueServerCertificate,
  publicKeyFromCsr,
  sanSchema,
  subjectSchema,
  type CertificateSubject,
  type SubjectAltName,
} from '../../issuers/internal-ca';
import type { Em } from '../../storage/database';
import { CaIssuanceEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import type { Actor, ServiceContext } from '../context';
import { parseInput } from '../definition-service';
import {
  chainOf,
  findActiveCa,
  noActiveCa,
  normalizeSerial,
  resolveCa,
  resolveExtensions,
  signingMaterial,
} from './ca-store';

export interface RecordIssuanceInput {
  caId: string;
  /** The issued certificate (PEM); serial, subject, fingerprint and validity are read from it. */
  certificatePem: string;
  kind: CaIssuance['kind'];
  /** The repository certificate, when it exists already (server certificates). */
  certificateId?: string | null;
  /** The console user (client certificates). */
  username?: string | null;
  issuedAt: Date;
}

/**
 * Records one issuance (persisted with the caller's unit of work; call inside the signing transaction).
 * @returns the new row
 */
export function recordIssuance(em: Em, input: RecordIssuanceInput): CaIssuance {
  const s = summarizeCertificate(new crypto.X509Certificate(input.certificatePem).raw);
  const row: CaIssuance = {
    id: crypto.randomUUID(),
    caId: input.caId,
    serial: normalizeSerial(s.serial),
    kind: input.kind,
    subject: s.subject,
    sha256: s.sha256,
    notBefore: new Date(s.notBefore),
    notAfter: new Date(s.notAfter),
    certificateId: input.certificateId ?? null,
    username: input.username ?? null,
    pem: s.pem,
    revokedAt: null,
    revocationReason: null,
    issuedAt: input.issuedAt,
  };
  em.persist(em.create(CaIssuanceEntity, row));
  return row;
}

/**
 * Links an issuance to the repository certificate made from it (the issuer signs before the certificate row
 * exists). Matches by SHA-256 fingerprint; a certificate the CA did not issue is ignored.
 * @returns whether an issuance was linked
 */
export async function linkIssuanceToCertificate(em: Em, sha256: string, certificateId: string): Promise<boolean> {
  const row = await em.findOne(CaIssuanceEntity, { sha256: sha256.toLowerCase() });
  if (!row) return false;
  row.certificateId = certificateId;
  return true;
}

export const issuanceListQuerySchema = z
  .object({
    kind: z.enum(['server', 'client', 'ca']).optional(),
    revoked: z.enum(['true', 'false']).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    offset: z.coerce.number().int().min(0).default(0),
  })
  .strict();

export type IssuanceView = Omit<CaIssuance, 'pem'>;

/** The issuances of one CA, newest first (the PEM is left out of lists). */
export async function listIssuances(
  em: Em,
  caRef: string,
  raw: unknown
): Promise<{ items: IssuanceView[]; total: number }> {
  const q = parseInput(issuanceListQuerySchema, raw ?? {}, 'ca.issuances');
  const ca = await resolveCa(em, caRef);
  const where: Record<string, unknown> = { caId: ca.id };
  if (q.kind) where.kind = q.kind;
  if (q.revoked) where.revokedAt = q.revoked === 'true' ? { $ne: null } : null;
  const [rows, total] = await em.findAndCount(CaIssuanceEntity, where, {
    orderBy: { issuedAt: 'desc', id: 'asc' },
    limit: q.limit,
    offset: q.offset,
  });
  return { items: rows.map(({ pem: _pem, ...rest }) => rest), total };
}

export const directIssueSchema = z
  .object({
    subject: subjectSchema,
    sans: z.array(sanSchema).min(1).max(100),
    keySpec: keySpecSchema.default('EC-P256'),
    validityDays: z.number().int().min(1).max(825).default(397),
    /** When given, the certificate is issued for this CSR's public key (nothing else is read) and no key is made. */
    csrPem: z
      .string()
      .min(1)
      .max(256 * 1024)
      .optional(),
  })
  .strict();

export interface DirectIssueInput {
  subject: CertificateSubject;
  sans: SubjectAltName[];
  keySpec?: KeySpec;
  validityDays?: number;
  csrPem?: string;
}

export interface DirectIssueResult {
  caId: string;
  serial: string;
  certificatePem: string;
  /** The CA certificate, then its parents. */
  chainPem: string[];
  /** PKCS#8 PEM of the generated key; null when a CSR was given. */
  privateKeyPem: string | null;
  notAfter: Date;
}

/**
 * Issues a server certificate from the active CA outside any definition (`certfleet ca issue`): a fresh key (or
 * a CSR's public key), recorded in ca_issuances and audited. The key is returned, never stored.
 */
export async function issueServerCertificateDirect(
  ctx: ServiceContext,
  raw: DirectIssueInput,
  actor: Actor
): Promise<DirectIssueResult> {
  const input = parseInput(directIssueSchema, raw, 'ca.issue');
  const pair = input.csrPem ? null : await generateKeyPair(input.keySpec);
  const publicKeyPem = input.csrPem ? publicKeyFromCsr(input.csrPem).publicKeyPem : pair!.publicKeyPem;
  return ctx.db.em().transactional(async (em) => {
    const ca = await findActiveCa(em);
    if (!ca) throw noActiveCa();
    const material = await signingMaterial(ctx, em, ca);
    const now = ctx.clock.now();
    const issued = await issueServerCertificate({
      ca: material.loaded,
      subjectPublicKeyPem: publicKeyPem,
      subject: input.subject,
      sans: input.sans,
      now,
      validityDays: input.validityDays,
      extensions: resolveExtensions(ca.extensions ?? {}, ca.id),
    });
    const row = recordIssuance(em, {
      caId: ca.id,
      certificatePem: issued.certificatePem,
      kind: 'server',
      issuedAt: now,
    });
    await appendAudit(
      em,
      {
        actor,
        action: 'ca.certificate-issued',
        targetType: 'ca',
        targetId: ca.id,
        details: { serial: row.serial, subject: row.subject, sha256: row.sha256, csr: Boolean(input.csrPem) },
      },
      now
    );
    return {
      caId: ca.id,
      serial: row.serial,
      certificatePem: issued.certificatePem,
      chainPem: chainOf(ca),
      privateKeyPem: pair?.privateKeyPem ?? null,
      notAfter: issued.notAfter,
    };
  });
}
