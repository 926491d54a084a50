import crypto, { type KeyObject } from 'node:crypto';
import { CertFleetError } from '@certfleet/shared';
import type { PrivateKeyRecord } from '../domain/private-key';
import type { Em } from '../storage/database';
import { PrivateKeyEntity } from '../storage/entities';
import { seal, unseal, type SealContext } from './envelope';
import type { MasterKey } from './master-key';
import { SEALED_COLUMNS, sealContext } from './sealed-columns';

const sealCtx = (id: string): SealContext => sealContext(SEALED_COLUMNS.privateKey, id);

/** SHA-256 of a public key's SubjectPublicKeyInfo DER, hex. */
export function publicKeySha256(key: KeyObject): string {
  const pub = key.type === 'private' ? crypto.createPublicKey(key) : key;
  return crypto
    .createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

export interface StoreKeyOptions {
  algorithm: string;
  exportable?: boolean;
  label?: string | null;
  now: Date;
}

/**
 * Stores a private key sealed under the master key (SPEC R4). When the same key is already stored (same public
 * key), the existing record is returned instead: keys are objects of their own, reused by later requests.
 */
export async function storePrivateKey(
  em: Em,
  kek: MasterKey,
  key: KeyObject,
  opts: StoreKeyOptions
): Promise<PrivateKeyRecord> {
  if (key.type !== 'private') throw new CertFleetError('CF_VALIDATION', 'key-vault: not a private key');
  const fp = publicKeySha256(key);
  const existing = await em.findOne(PrivateKeyEntity, { publicKeySha256: fp });
  if (existing) return existing;
  const id = crypto.randomUUID();
  const der = key.export({ type: 'pkcs8', format: 'der' });
  try {
    const record = em.create(PrivateKeyEntity, {
      id,
      algorithm: opts.algorithm,
      publicKeySha256: fp,
      publicKeyPem: crypto.createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString(),
      sealed: seal(kek, sealCtx(id), der),
      exportable: opts.exportable ?? true,
      label: opts.label ?? null,
      createdAt: opts.now,
    });
    em.persist(record);
    return record;
  } finally {
    der.fill(0);
  }
}

/** Opens a stored key. Throws CF_NOT_FOUND, or CF_CRYPTO_INTEGRITY when its ciphertext was moved or altered. */
export async function openPrivateKey(em: Em, kek: MasterKey, id: string): Promise<KeyObject> {
  const row = await em.findOne(PrivateKeyEntity, { id }, { populate: ['sealed'] });
  if (!row) throw new CertFleetError('CF_NOT_FOUND', `key-vault: private key ${id} not found`);
  const der = unseal(kek, sealCtx(id), row.sealed);
  try {
    return crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}
