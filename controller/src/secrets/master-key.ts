import crypto from 'node:crypto';
import fs from 'node:fs';
import { CertFleetError, atomicWriteFileSync } from '@certfleet/shared';

/** Length of the key-encryption key (AES-256). */
export const MASTER_KEY_BYTES = 32;

/** The key-encryption key (KEK) plus a short public id used to tell which KEK sealed a value. */
export interface MasterKey {
  readonly key: Buffer;
  /** First 8 bytes of SHA-256(key), hex: identifies the KEK without revealing it. */
  readonly id: string;
}

export function masterKeyFromBytes(key: Buffer): MasterKey {
  if (key.length !== MASTER_KEY_BYTES) {
    throw new CertFleetError('CF_KEK_MISSING', `master-key: expected ${MASTER_KEY_BYTES} bytes, got ${key.length}`);
  }
  return { key, id: crypto.createHash('sha256').update(key).digest('hex').slice(0, 16) };
}

/** Reads the master key file (base64 text). Throws CF_KEK_MISSING when absent or malformed. */
export function readMasterKey(file: string): MasterKey {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CertFleetError('CF_KEK_MISSING', `master-key: cannot read ${file}`, { cause: err });
  }
  const key = Buffer.from(text.trim(), 'base64');
  return masterKeyFromBytes(key);
}

/**
 * Returns the master key, creating it (mode 0600) on first start. `created` tells the caller whether this is a
 * fresh key, which only makes sense with an empty database.
 */
export function loadOrCreateMasterKey(file: string): { masterKey: MasterKey; created: boolean } {
  if (fs.existsSync(file)) {
    const st = fs.statSync(file);
    if ((st.mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
    return { masterKey: readMasterKey(file), created: false };
  }
  const key = crypto.randomBytes(MASTER_KEY_BYTES);
  atomicWriteFileSync(file, key.toString('base64') + '\n', 0o600);
  return { masterKey: masterKeyFromBytes(key), created: true };
}
