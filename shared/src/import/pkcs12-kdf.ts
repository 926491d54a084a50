/** The PKCS#12 key derivation function (RFC 7292 appendix B.2), on Node's native hashes. */
import { hash } from 'node:crypto';

/** Hashes the PKCS#12 KDF and MACs may use, with their input block sizes (the KDF's `v`). */
export const PKCS12_HASH_BLOCK_BYTES = { sha1: 64, sha224: 64, sha256: 64, sha384: 128, sha512: 128 } as const;

/** A hash usable with the PKCS#12 KDF. */
export type Pkcs12Hash = keyof typeof PKCS12_HASH_BLOCK_BYTES;

/** The KDF purpose byte: 1 = cipher key, 2 = IV, 3 = MAC key. */
export type Pkcs12KdfPurpose = 1 | 2 | 3;

/**
 * PKCS#12 password encoding: UTF-16BE with a two-byte terminator; `null` (an absent password) encodes as no bytes,
 * which is how OpenSSL treats a NULL password.
 */
export function pkcs12PasswordBytes(password: string | null): Buffer {
  if (password === null) return Buffer.alloc(0);
  return Buffer.concat([Buffer.from(password, 'utf16le').swap16(), Buffer.alloc(2)]);
}

/**
 * Derives `length` bytes. The caller MUST have bounded `iterations` (this runs `iterations` hash calls per output
 * block, synchronously).
 */
export function pkcs12Kdf(
  algorithm: Pkcs12Hash,
  password: Buffer,
  salt: Buffer,
  purpose: Pkcs12KdfPurpose,
  iterations: number,
  length: number
): Buffer {
  const v = PKCS12_HASH_BLOCK_BYTES[algorithm];
  const d = Buffer.alloc(v, purpose);
  const s = repeatTo(salt, v * Math.ceil(salt.length / v));
  const p = repeatTo(password, v * Math.ceil(password.length / v));
  const i = Buffer.concat([s, p]);
  const blocks: Buffer[] = [];
  let produced = 0;
  while (produced < length) {
    let a = hash(algorithm, Buffer.concat([d, i]), 'buffer');
    for (let n = 1; n < iterations; n++) a = hash(algorithm, a, 'buffer');
    blocks.push(a);
    produced += a.length;
    if (produced >= length) break;
    // I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block of I, with B = A repeated to v bytes.
    const b = repeatTo(a, v);
    for (let j = 0; j < i.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = (i[j + k] as number) + (b[k] as number) + carry;
        i[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(blocks).subarray(0, length);
}

function repeatTo(source: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  if (source.length === 0) return out;
  for (let k = 0; k < length; k += source.length) source.copy(out, k, 0, Math.min(source.length, length - k));
  return out;
}
