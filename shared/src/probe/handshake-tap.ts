/**
 * The served certificates, read from the handshake bytes themselves rather than from Node's TLS socket.
 *
 * Why: in Node 20, `tlsSocket.getPeerX509Certificate()` leaks every served certificate after the leaf — the
 * `X509Certificate` constructor `X509_dup()`s each issuer and removes the original from the SSL's peer chain without
 * freeing it (≈ 6 kB per intermediate and handshake; `bench/peer-chain-leak.ts` shows it), so a controller that
 * sweeps thousands of endpoints a day grows without bound. `getPeerCertificate(true)` does not leak but costs
 * ≈ 0.3 ms more per handshake and returns the issuer path instead of the served list.
 *
 * How: the probe runs Node's TLS client (which does and judges the whole handshake, as before) over a
 * {@link HandshakeTap} that keeps a copy of the bytes the server sent until the handshake is over, and listens to
 * the socket's `keylog` lines. TLS ≤ 1.2 sends the Certificate message in the clear; TLS 1.3 encrypts it under the
 * server handshake traffic secret, which the key log gives (RFC 8446 §7.1, §7.3, §5.2). Nothing here trusts the
 * bytes: OpenSSL already accepted the same handshake, and any surprise (a suite without a known AEAD, a record that
 * does not parse or authenticate) returns `undefined`, and the caller falls back to Node's API.
 */
import { createDecipheriv, createHmac } from 'node:crypto';
import type net from 'node:net';
import { Duplex } from 'node:stream';

/** Most server bytes kept: a handshake flight with a long chain is far smaller. */
const TAP_LIMIT = 256 * 1024;

/**
 * A pass-through stream over a connected socket that keeps the first {@link TAP_LIMIT} bytes received until
 * {@link stop}. Destroying it destroys the socket; the socket's errors and end reach it.
 */
export class HandshakeTap extends Duplex {
  readonly received: Buffer[] = [];
  private size = 0;
  private recording = true;

  constructor(private readonly socket: net.Socket) {
    super();
    socket.on('data', (chunk: Buffer) => {
      if (this.recording && this.size < TAP_LIMIT) {
        this.received.push(chunk);
        this.size += chunk.length;
      }
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  /** Stops keeping bytes (they still pass) and drops what was kept. */
  stop(): void {
    this.recording = false;
    this.received.length = 0;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.socket.write(chunk, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.socket.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.socket.destroy();
    callback(err);
  }
}

/** TLS 1.3 cipher suites with their AEAD, key length and hash (RFC 8446 §B.4; OpenSSL's default three). */
const TLS13_SUITES: Record<
  number,
  { aead: 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305'; keyLength: number; hash: string }
> = {
  0x1301: { aead: 'aes-128-gcm', keyLength: 16, hash: 'sha256' },
  0x1302: { aead: 'aes-256-gcm', keyLength: 32, hash: 'sha384' },
  0x1303: { aead: 'chacha20-poly1305', keyLength: 32, hash: 'sha256' },
};

const RECORD_HANDSHAKE = 22;
const RECORD_APPLICATION_DATA = 23;
const HANDSHAKE_SERVER_HELLO = 2;
const HANDSHAKE_CERTIFICATE = 11;
const EXTENSION_SUPPORTED_VERSIONS = 43;
const TLS13 = 0x0304;
/** The most a TLS 1.3 record's ciphertext may be (RFC 8446 §5.2). */
const MAX_RECORD = 16_384 + 256;
const TAG_LENGTH = 16;

/** HKDF-Expand-Label with an empty context, for outputs no longer than one hash block (RFC 8446 §7.1). */
function expandLabel(hash: string, secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0, 1])]);
  return createHmac(hash, secret).update(info).digest().subarray(0, length);
}

class Malformed extends Error {}

function need(ok: boolean): void {
  if (!ok) throw new Malformed();
}

/** The server's handshake messages as they arrive, reassembled across records. */
class HandshakeReader {
  private pending: Buffer = Buffer.alloc(0);
  tls13 = false;
  suite = 0;
  certificates: Buffer[] | undefined;

  feed(fragment: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, fragment]) : fragment;
    while (this.pending.length >= 4 && !this.certificates) {
      const length = this.pending.readUIntBE(1, 3);
      if (this.pending.length < 4 + length) return;
      const type = this.pending[0];
      const body = this.pending.subarray(4, 4 + length);
      this.pending = this.pending.subarray(4 + length);
      if (type === HANDSHAKE_SERVER_HELLO) this.serverHello(body);
      else if (type === HANDSHAKE_CERTIFICATE) this.certificates = this.certificateList(body);
    }
  }

  /** legacy_version, random, session id, cipher suite, compression, extensions (RFC 8446 §4.1.3). */
  private serverHello(body: Buffer): void {
    let p = 2 + 32;
    need(body.length > p);
    p += 1 + (body[p] as number);
    need(body.length >= p + 3);
    this.suite = body.readUInt16BE(p);
    p += 3;
    this.tls13 = false;
    if (body.length < p + 2) return;
    const end = p + 2 + body.readUInt16BE(p);
    need(end <= body.length);
    for (p += 2; p + 4 <= end;) {
      const type = body.readUInt16BE(p);
      const length = body.readUInt16BE(p + 2);
      need(p + 4 + length <= end);
      if (type === EXTENSION_SUPPORTED_VERSIONS && length === 2 && body.readUInt16BE(p + 4) === TLS13)
        this.tls13 = true;
      p += 4 + length;
    }
  }

  /** TLS ≤ 1.2: certificate_list; TLS 1.3: request context, then entries with their extensions (§4.4.2). */
  private certificateList(body: Buffer): Buffer[] {
    let p = 0;
    if (this.tls13) {
      need(body.length >= 1);
      p += 1 + (body[0] as number);
    }
    need(body.length >= p + 3);
    const end = p + 3 + body.readUIntBE(p, 3);
    need(end <= body.length);
    const out: Buffer[] = [];
    for (p += 3; p < end;) {
      need(p + 3 <= end);
      const length = body.readUIntBE(p, 3);
      need(length > 0 && p + 3 + length <= end);
      out.push(Buffer.from(body.subarray(p + 3, p + 3 + length)));
      p += 3 + length;
      if (this.tls13) {
        need(p + 2 <= end);
        p += 2 + body.readUInt16BE(p);
      }
    }
    need(p === end);
    return out;
  }
}

/** The server handshake traffic secret from the socket's key log lines (NSS key log format). */
function serverHandshakeSecret(keylog: readonly Buffer[]): Buffer | undefined {
  for (const line of keylog) {
    const text = line.toString('latin1').trim();
    if (!text.startsWith('SERVER_HANDSHAKE_TRAFFIC_SECRET ')) continue;
    const hex = text.split(' ')[2];
    return hex && /^[0-9a-f]+$/i.test(hex) ? Buffer.from(hex, 'hex') : undefined;
  }
  return undefined;
}

/**
 * The certificates the server sent, in the order sent (DER copies), from the bytes it sent during the handshake and
 * the connection's key log; `undefined` when they cannot be read (the caller then asks Node).
 */
export function servedCertificates(received: readonly Buffer[], keylog: readonly Buffer[]): Buffer[] | undefined {
  try {
    const data = received.length === 1 ? (received[0] as Buffer) : Buffer.concat(received);
    const reader = new HandshakeReader();
    let decrypt: ((header: Buffer, fragment: Buffer) => Buffer) | undefined;
    for (let p = 0; p + 5 <= data.length && !reader.certificates;) {
      const type = data[p];
      const length = data.readUInt16BE(p + 3);
      need(length <= MAX_RECORD);
      if (p + 5 + length > data.length) return undefined; // the flight was cut short
      const header = data.subarray(p, p + 5);
      const fragment = data.subarray(p + 5, p + 5 + length);
      p += 5 + length;
      if (type === RECORD_HANDSHAKE) reader.feed(fragment);
      else if (type === RECORD_APPLICATION_DATA && reader.tls13) {
        decrypt ??= decrypter(reader.suite, keylog);
        if (!decrypt) return undefined;
        const inner = decrypt(header, fragment);
        // TLSInnerPlaintext: content, the real type, zero padding (§5.2)
        let end = inner.length - 1;
        while (end >= 0 && inner[end] === 0) end--;
        need(end >= 0);
        if (inner[end] === RECORD_HANDSHAKE) reader.feed(inner.subarray(0, end));
      }
    }
    return reader.certificates?.length ? reader.certificates : undefined;
  } catch {
    return undefined;
  }
}

/** Decrypts the server's handshake records in order (sequence numbers from 0, §5.3). */
function decrypter(
  suite: number,
  keylog: readonly Buffer[]
): ((header: Buffer, fragment: Buffer) => Buffer) | undefined {
  const params = TLS13_SUITES[suite];
  const secret = serverHandshakeSecret(keylog);
  if (!params || !secret) return undefined;
  const key = expandLabel(params.hash, secret, 'key', params.keyLength);
  const iv = expandLabel(params.hash, secret, 'iv', 12);
  let sequence = 0;
  return (header, fragment) => {
    need(fragment.length > TAG_LENGTH);
    const nonce = Buffer.from(iv);
    // the 64-bit sequence number XORed into the right end of the IV; a handshake never reaches 2^32 records
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ sequence++) >>> 0, 8);
    // (one overload per AEAD family; both have setAAD/setAuthTag)
    const decipher = createDecipheriv(params.aead as 'aes-128-gcm', key, nonce, { authTagLength: TAG_LENGTH });
    decipher.setAAD(header);
    decipher.setAuthTag(fragment.subarray(fragment.length - TAG_LENGTH));
    return Buffer.concat([decipher.update(fragment.subarray(0, fragment.length - TAG_LENGTH)), decipher.final()]);
  };
}
