import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import type { PrivateKeyRecord } from '../domain/private-key';
import { can, type Role } from '../domain/user';
import { openPrivateKey } from '../secrets/key-vault';
import type { Em } from '../storage/database';
import { PrivateKeyEntity } from '../storage/entities';
import { findPage } from '../storage/find-page';
import { appendAudit } from './audit-service';
import type { Actor, ServiceContext } from './context';

export type PrivateKeyView = Omit<PrivateKeyRecord, 'sealed'>;

export async function listPrivateKeys(
  em: Em,
  raw: { limit?: number; offset?: number } = {}
): Promise<{ items: PrivateKeyView[]; total: number }> {
  const { items: rows, total } = await findPage(
    em,
    PrivateKeyEntity,
    () => ({}),
    { createdAt: 'desc', id: 'desc' },
    raw.limit ?? 50,
    raw.offset ?? 0
  );
  return { items: rows.map(({ sealed: _s, ...rest }) => rest), total };
}

export const keyExportSchema = z
  .object({
    format: z.enum(['pkcs8-pem', 'pkcs8-encrypted-pem']).default('pkcs8-pem'),
    passphrase: z.string().min(12).max(1024).optional().describe('required for pkcs8-encrypted-pem'),
    reason: z.string().min(1).max(500),
  })
  .strict();

export interface KeyExportRequest {
  keyId: string;
  role: Role;
  actor: Actor;
  format: 'pkcs8-pem' | 'pkcs8-encrypted-pem';
  passphrase?: string;
  reason: string;
}

/**
 * Exports a private key (SPEC R4): only with the `keys:export` permission, only for exportable keys, and always
 * audited (the audit record is written in the same transaction, so no export happens without its record).
 */
export async function exportPrivateKey(ctx: ServiceContext, req: KeyExportRequest): Promise<string> {
  if (!can(req.role, 'keys:export')) {
    throw new CertFleetError('CF_KEY_EXPORT_FORBIDDEN', 'key-export: your role may not export private keys');
  }
  if (req.format === 'pkcs8-encrypted-pem' && !req.passphrase) {
    throw new CertFleetError(
      'CF_VALIDATION',
      'key-export: pkcs8-encrypted-pem needs a passphrase of at least 12 characters'
    );
  }
  return ctx.db.em().transactional(async (em) => {
    const row = await em.findOne(PrivateKeyEntity, { id: req.keyId });
    if (!row) throw new CertFleetError('CF_NOT_FOUND', `key-export: private key ${req.keyId} not found`);
    if (!row.exportable)
      throw new CertFleetError('CF_KEY_EXPORT_FORBIDDEN', `key-export: private key ${req.keyId} is not exportable`);
    const key = await openPrivateKey(em, ctx.masterKey, req.keyId);
    await appendAudit(
      em,
      {
        actor: req.actor,
        action: 'key.exported',
        targetType: 'private_key',
        targetId: req.keyId,
        details: { format: req.format, reason: req.reason },
      },
      ctx.clock.now()
    );
    return req.format === 'pkcs8-encrypted-pem'
      ? key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: req.passphrase }).toString()
      : key.export({ type: 'pkcs8', format: 'pem' }).toString();
  });
}
