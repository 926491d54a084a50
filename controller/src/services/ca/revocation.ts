/**
 * Private CA: revocation and CRLs (SPEC C4).
 *
 * Revocation marks the `ca_issuances` row (audited, idempotent). CRLs are generated on demand and cached in the
 * database (setting `ca.crl.<caId>`), so every controller replica serves the same bytes and CRL numbers only
 * grow. A cached CRL is reused until a revocation happened (the CA's revoked count differs from the one the CRL
 * was built from) or half of its validity has passed; it is then rebuilt under a row lock on the CA, which also
 * bumps `crl_number`. Each CRL is valid for {@link CRL_VALIDITY_MS} (nextUpdate = thisUpdate + 7 days), so a
 * cached CRL is never served with less than 3.5 days left.
 */
import { LockMode } from '@mikro-orm/core';
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import { revocationReasons, type CaIssuance, type RevocationReason } from '../../domain/certificate-authority';
import { createCrl } from '../../issuers/internal-ca';
import type { Em } from '../../storage/database';
import { CaIssuanceEntity, CertificateAuthorityEntity, CertificateEntity, SettingEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import type { Actor, ServiceContext } from '../context';
import { parseInput } from '../definition-service';
import { caNotFound, normalizeSerial, resolveCa, signingMaterial } from './ca-store';
import type { IssuanceView } from './issuances';

/** How long a CRL is valid: nextUpdate = thisUpdate + 7 days. */
export const CRL_VALIDITY_MS = 7 * 24 * 60 * 60 * 1000;

export const revokeInputSchema = z
  .object({
    caId: z.uuid().optional().describe('the issuing CA; needed only if the serial is ambiguous'),
    serial: z
      .string()
      .min(1)
      .max(130)
      .optional()
      .describe('hex serial (any case, colons allowed), as printed by openssl x509 -serial'),
    certificateId: z.uuid().optional().describe('a repository certificate issued by the built-in CA'),
    reason: z.enum(revocationReasons).default('unspecified'),
  })
  .strict()
  .refine(
    (v) => (v.serial === undefined) !== (v.certificateId === undefined),
    'give exactly one of serial or certificateId'
  );
export type RevokeInput = z.input<typeof revokeInputSchema>;

export interface RevokeResult {
  issuance: IssuanceView;
  /** True when the certificate was revoked before this call (nothing changed, nothing audited). */
  alreadyRevoked: boolean;
}

function crlCacheKey(caId: string): string {
  return `ca.crl.${caId}`;
}

/** Finds the issuance to revoke and locks its row. */
async function lockIssuance(em: Em, input: z.output<typeof revokeInputSchema>): Promise<CaIssuance> {
  const lock = { lockMode: LockMode.PESSIMISTIC_WRITE } as const;
  if (input.certificateId) {
    const cert = await em.findOne(CertificateEntity, { id: input.certificateId });
    if (!cert) throw new CertFleetError('CF_NOT_FOUND', `ca: certificate ${input.certificateId} not found`);
    const row =
      (await em.findOne(CaIssuanceEntity, { certificateId: cert.id }, lock)) ??
      (await em.findOne(CaIssuanceEntity, { sha256: cert.sha256.toLowerCase() }, lock));
    if (!row) {
      throw new CertFleetError(
        'CF_NOT_FOUND',
        `ca: certificate ${input.certificateId} was not issued by the built-in CA (revoke it at its issuer)`
      );
    }
    if (input.caId && row.caId !== input.caId) throw new CertFleetError('CF_NOT_FOUND', 'ca: not issued by that CA');
    return row;
  }
  const serial = normalizeSerial(input.serial as string);
  const rows = await em.find(CaIssuanceEntity, { serial, ...(input.caId ? { caId: input.caId } : {}) }, lock);
  if (rows.length === 0) {
    if (input.caId && !(await em.findOne(CertificateAuthorityEntity, { id: input.caId }))) throw caNotFound(input.caId);
    throw new CertFleetError('CF_NOT_FOUND', `ca: no certificate with serial ${serial} was issued by the built-in CA`);
  }
  if (rows.length > 1) {
    throw new CertFleetError('CF_CONFLICT', `ca: serial ${serial} was issued by several CAs; give caId`, {
      details: { caIds: rows.map((r) => r.caId) },
    });
  }
  return rows[0] as CaIssuance;
}

/**
 * Revokes a certificate issued by the built-in CA (SPEC C4), by serial or by repository certificate id. Audited;
 * idempotent: revoking an already revoked certificate changes nothing (the first reason and date stay).
 * @throws CF_NOT_FOUND, CF_CONFLICT (ambiguous serial), CF_VALIDATION
 */
export async function revokeCertificate(ctx: ServiceContext, raw: RevokeInput, actor: Actor): Promise<RevokeResult> {
  const input = parseInput(revokeInputSchema, raw, 'ca.revoke');
  return ctx.db.em().transactional(async (em) => {
    const row = await lockIssuance(em, input);
    const { pem: _pem, ...view } = row;
    if (row.revokedAt) return { issuance: { ...view }, alreadyRevoked: true };
    const now = ctx.clock.now();
    row.revokedAt = now;
    row.revocationReason = input.reason as RevocationReason;
    // The cached CRL no longer lists everything: drop it (currentCrl would also notice by the revoked count).
    await em.nativeDelete(SettingEntity, { key: crlCacheKey(row.caId) });
    await appendAudit(
      em,
      {
        actor,
        action: 'ca.certificate-revoked',
        targetType: 'ca_issuance',
        targetId: row.id,
        details: { caId: row.caId, serial: row.serial, subject: row.subject, reason: input.reason, kind: row.kind },
      },
      now
    );
    return { issuance: { ...view, revokedAt: now, revocationReason: row.revocationReason }, alreadyRevoked: false };
  });
}

/** A CRL as served. */
export interface CurrentCrl {
  caId: string;
  der: Buffer;
  crlNumber: number;
  thisUpdate: Date;
  nextUpdate: Date;
}

interface CachedCrl {
  crlNumber: number;
  thisUpdate: string;
  nextUpdate: string;
  revokedCount: number;
  der: string;
}

const cachedCrlSchema = z.object({
  crlNumber: z.number().int(),
  thisUpdate: z.string(),
  nextUpdate: z.string(),
  revokedCount: z.number().int(),
  der: z.string(),
});

async function readCached(em: Em, caId: string): Promise<CachedCrl | null> {
  const row = await em.findOne(SettingEntity, { key: crlCacheKey(caId) });
  const parsed = cachedCrlSchema.safeParse(row?.value);
  return parsed.success ? parsed.data : null;
}

function isFresh(cached: CachedCrl | null, now: Date, revokedCount: number): cached is CachedCrl {
  if (!cached || cached.revokedCount !== revokedCount) return false;
  const start = Date.parse(cached.thisUpdate);
  const end = Date.parse(cached.nextUpdate);
  return now.getTime() < start + (end - start) / 2;
}

function toCurrent(caId: string, cached: CachedCrl): CurrentCrl {
  return {
    caId,
    der: Buffer.from(cached.der, 'base64'),
    crlNumber: cached.crlNumber,
    thisUpdate: new Date(cached.thisUpdate),
    nextUpdate: new Date(cached.nextUpdate),
  };
}

async function revokedCountOf(em: Em, caId: string): Promise<number> {
  return em.count(CaIssuanceEntity, { caId, revokedAt: { $ne: null } });
}

/**
 * The CA's current CRL (DER), from the cache or freshly generated (see the module comment). Works for retired
 * CAs too (C7: they stay published for validation).
 * @param options.force regenerate even when the cached CRL is fresh (`certfleet ca gen-crl --force`)
 * @throws CF_NOT_FOUND for an unknown CA; CF_CA_UNAVAILABLE for a subordinate CA still waiting for its certificate
 */
export async function currentCrl(
  ctx: ServiceContext,
  caRef: string,
  options: { force?: boolean } = {}
): Promise<CurrentCrl> {
  const em = ctx.db.em();
  const ca = await resolveCa(em, caRef);
  if (!ca.certificatePem) {
    throw new CertFleetError('CF_CA_UNAVAILABLE', `ca: ${ca.id} is waiting for its certificate and has no CRL`);
  }
  if (!options.force) {
    const cached = await readCached(em, ca.id);
    if (isFresh(cached, ctx.clock.now(), await revokedCountOf(em, ca.id))) return toCurrent(ca.id, cached);
  }
  return ctx.db.em().transactional(async (tx) => {
    const row = await tx.findOneOrFail(
      CertificateAuthorityEntity,
      { id: ca.id },
      { lockMode: LockMode.PESSIMISTIC_WRITE }
    );
    const now = ctx.clock.now();
    const revokedCount = await revokedCountOf(tx, row.id);
    const setting = await tx.findOne(SettingEntity, { key: crlCacheKey(row.id) });
    const again = cachedCrlSchema.safeParse(setting?.value);
    // Another request (or replica) may have rebuilt it while we waited for the lock.
    if (!options.force && again.success && isFresh(again.data, now, revokedCount)) return toCurrent(row.id, again.data);

    const revoked = await tx.find(
      CaIssuanceEntity,
      { caId: row.id, revokedAt: { $ne: null }, notAfter: { $gt: now } },
      { orderBy: { revokedAt: 'asc', serial: 'asc' } }
    );
    const material = await signingMaterial(ctx, tx, row);
    row.crlNumber += 1;
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + CRL_VALIDITY_MS);
    const crl = createCrl({
      ca: material.crl,
      revoked: revoked.map((r) => ({
        serial: r.serial,
        revokedAt: r.revokedAt as Date,
        reason: r.revocationReason ?? 'unspecified',
      })),
      crlNumber: row.crlNumber,
      thisUpdate,
      nextUpdate,
    });
    const value: CachedCrl = {
      crlNumber: row.crlNumber,
      thisUpdate: thisUpdate.toISOString(),
      nextUpdate: nextUpdate.toISOString(),
      revokedCount,
      der: crl.der.toString('base64'),
    };
    if (setting) {
      setting.value = value;
      setting.updatedAt = now;
    } else {
      tx.persist(tx.create(SettingEntity, { key: crlCacheKey(row.id), value, updatedAt: now }));
    }
    ctx.log.info({ caId: row.id, crlNumber: row.crlNumber, entries: revoked.length }, 'CRL generated');
    return toCurrent(row.id, value);
  });
}
