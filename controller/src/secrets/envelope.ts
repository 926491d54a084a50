import crypto from 'node:crypto';
import { CertFleetError } from '@certfleet/shared';
import type { MasterKey } from './master-key';

/**
 * Envelope encryption for secrets at rest (SPEC R4).
 *
 * Every sealed value gets its own random 256-bit data key (DEK). The value is encrypted with AES-256-GCM under the
 * DEK; the DEK is encrypted with AES-256-GCM under the master key (KEK). Both encryptions carry associated data that
 * names the table, column and row id, so a ciphertext copied to another row or column fails authentication
 * instead of decrypting to the wrong secret.
 *
 * Layout (all binary): `"CFE1"` | kekId(8) | wrapIv(12) | wrapTag(16) | wrappedDek(32) | iv(12) | tag(16) | ciphertext
 */
const MAGIC = Buffer.from('CFE1');
const HEADER = MAGIC.length + 8 + 12 + 16 + 32 + 12 + 16;

/** Where a sealed value lives; bound into the ciphertext as associated data. */
export interface SealContext {
  table: string;
  column: string;
  rowId: string;
}

function aad(ctx: SealContext, part: 'dek' | 'data'): Buffer {
  return Buffer.from(`certfleet/v1/${part}/${ctx.table}/${ctx.column}/${ctx.rowId}`, 'utf8');
}

function gcmEncrypt(key: Buffer, plaintext: Buffer, ad: Buffer): { iv: Buffer; tag: Buffer; ct: Buffer } {
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(ad);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return { iv, tag: c.getAuthTag(), ct };
}

function gcmDecrypt(key: Buffer, iv: Buffer, tag: Buffer, ct: Buffer, ad: Buffer): Buffer {
  const d = crypto.createDecipheriv('aes-256-gcm', key, iv);
  d.setAAD(ad);
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]);
}

/** Encrypts `plaintext` for the row/column named by `ctx`. */
export function seal(kek: MasterKey, ctx: SealContext, plaintext: Buffer | string): Buffer {
  const dek = crypto.randomBytes(32);
  try {
    const wrapped = gcmEncrypt(kek.key, dek, aad(ctx, 'dek'));
    const body = gcmEncrypt(
      dek,
      typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext,
      aad(ctx, 'data')
    );
    return Buffer.concat([
      MAGIC,
      Buffer.from(kek.id, 'hex'),
      wrapped.iv,
      wrapped.tag,
      wrapped.ct,
      body.iv,
      body.tag,
      body.ct,
    ]);
  } finally {
    dek.fill(0);
  }
}

/**
 * Decrypts a value sealed by {@link seal}. Throws CF_CRYPTO_INTEGRITY when the blob is malformed, was sealed for
 * another row/column, or was tampered with; CF_KEK_MISSING when it was sealed under a different master key.
 */
export function unseal(kek: MasterKey, ctx: SealContext, blob: Buffer): Buffer {
  if (blob.length < HEADER || !blob.subarray(0, 4).equals(MAGIC)) {
    throw new CertFleetError('CF_CRYPTO_INTEGRITY', `envelope: ${ctx.table}.${ctx.column} is not a sealed value`, {
      details: { table: ctx.table, column: ctx.column, rowId: ctx.rowId },
    });
  }
  let o = 4;
  const take = (n: number): Buffer => blob.subarray(o, (o += n));
  const kekId = take(8).toString('hex');
  if (kekId !== kek.id) {
    throw new CertFleetError(
      'CF_KEK_MISSING',
      `envelope: ${ctx.table}.${ctx.column} was sealed under another master key (${kekId})`,
      {
        details: { table: ctx.table, column: ctx.column, rowId: ctx.rowId, sealedWith: kekId, current: kek.id },
      }
    );
  }
  const wrapIv = take(12);
  const wrapTag = take(16);
  const wrappedDek = take(32);
  const iv = take(12);
  const tag = take(16);
  const ct = blob.subarray(o);
  let dek: Buffer | undefined;
  try {
    dek = gcmDecrypt(kek.key, wrapIv, wrapTag, wrappedDek, aad(ctx, 'dek'));
    return gcmDecrypt(dek, iv, tag, ct, aad(ctx, 'data'));
  } catch (err) {
    throw new CertFleetError(
      'CF_CRYPTO_INTEGRITY',
      `envelope: integrity check failed for ${ctx.table}.${ctx.column} of row ${ctx.rowId} (moved or tampered ciphertext)`,
      { details: { table: ctx.table, column: ctx.column, rowId: ctx.rowId }, cause: err }
    );
  } finally {
    dek?.fill(0);
  }
}
