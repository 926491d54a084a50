/**
 * TLS 1.3 key schedule pieces that reading a server's handshake needs (RFC 8446 §7.1, §7.3, §5.2, §5.3): the cipher
 * suites OpenSSL offers by default, HKDF-Expand-Label, and decryption of the server's handshake records. Used by the
 * probe's own certificate grab (certificate-grab.ts) and by the tap on Node's TLS client (handshake-tap.ts).
 */
import { createDecipheriv, createHash, createHmac } from 'node:crypto';

/** A TLS 1.3 cipher suite's AEAD, key length and hash. */
export interface Tls13Suite {
  aead: 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';
  keyLength: number;
  hash: 'sha256' | 'sha384';
  /** Output length of `hash`. */
  hashLength: number;
}

/** TLS 1.3 cipher suites (RFC 8446 §B.4; OpenSSL's default three). */
export const TLS13_SUITES: Readonly<Record<number, Tls13Suite>> = {
  0x1301: { aead: 'aes-128-gcm', keyLength: 16, hash: 'sha256', hashLength: 32 },
  0x1302: { aead: 'aes-256-gcm', keyLength: 32, hash: 'sha384', hashLength: 48 },
  0x1303: { aead: 'chacha20-poly1305', keyLength: 32, hash: 'sha256', hashLength: 32 },
};

/** The AEAD tag length of every TLS 1.3 suite. */
const TAG_LENGTH = 16;
const EMPTY = Buffer.alloc(0);

/** HKDF-Expand-Label for outputs no longer than one hash block (RFC 8446 §7.1). */
export function expandLabel(
  hash: string,
  secret: Buffer,
  label: string,
  length: number,
  context: Buffer = EMPTY
): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.concat([
    Buffer.from([length >> 8, length & 0xff, full.length]),
    full,
    Buffer.from([context.length]),
    context,
    Buffer.from([1]),
  ]);
  return createHmac(hash, secret).update(info).digest().subarray(0, length);
}

/** `Derive-Secret(Early Secret, "derived", "")` without a PSK: the same for every connection, per hash. */
const derivedSalts = new Map<string, Buffer>();

/** The handshake secret for an (EC)DHE shared secret, without a PSK (RFC 8446 §7.1). */
export function handshakeSecret(suite: Tls13Suite, shared: Buffer): Buffer {
  let salt = derivedSalts.get(suite.hash);
  if (!salt) {
    const zeros = Buffer.alloc(suite.hashLength);
    const early = createHmac(suite.hash, zeros).update(zeros).digest();
    salt = expandLabel(suite.hash, early, 'derived', suite.hashLength, createHash(suite.hash).digest());
    derivedSalts.set(suite.hash, salt);
  }
  return createHmac(suite.hash, salt).update(shared).digest();
}

/** Thrown when a record does not decrypt or authenticate. */
export class RecordAuthenticationError extends Error {}

/**
 * Decrypts the server's records under one traffic secret, in order (sequence numbers from 0, §5.3), and returns each
 * record's inner content type and content (the zero padding removed, §5.2).
 * @throws RecordAuthenticationError when a record is too short or fails authentication
 */
export function recordDecrypter(
  suite: Tls13Suite,
  trafficSecret: Buffer
): (header: Buffer, fragment: Buffer) => { type: number; content: Buffer } {
  const key = expandLabel(suite.hash, trafficSecret, 'key', suite.keyLength);
  const iv = expandLabel(suite.hash, trafficSecret, 'iv', 12);
  let sequence = 0;
  return (header, fragment) => {
    if (fragment.length <= TAG_LENGTH) throw new RecordAuthenticationError('an encrypted record shorter than its tag');
    const nonce = Buffer.from(iv);
    // the 64-bit sequence number XORed into the right end of the IV; a handshake never reaches 2^32 records
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ sequence++) >>> 0, 8);
    let inner: Buffer;
    try {
      // (one overload per AEAD family; both have setAAD/setAuthTag)
      const decipher = createDecipheriv(suite.aead as 'aes-128-gcm', key, nonce, { authTagLength: TAG_LENGTH });
      decipher.setAAD(header);
      decipher.setAuthTag(fragment.subarray(fragment.length - TAG_LENGTH));
      inner = Buffer.concat([decipher.update(fragment.subarray(0, fragment.length - TAG_LENGTH)), decipher.final()]);
    } catch {
      throw new RecordAuthenticationError('a record failed authentication');
    }
    let end = inner.length - 1;
    while (end >= 0 && inner[end] === 0) end--;
    if (end < 0) throw new RecordAuthenticationError('an encrypted record without a content type');
    return { type: inner[end] as number, content: inner.subarray(0, end) };
  };
}
