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
import type net from 'node:net';
import { Duplex } from 'node:stream';
import { readCertificateList } from './certificate-message';
import { TLS13_SUITES, recordDecrypter } from './tls13-keys';

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

const RECORD_HANDSHAKE = 22;
const RECORD_APPLICATION_DATA = 23;
const HANDSHAKE_SERVER_HELLO = 2;
const HANDSHAKE_CERTIFICATE = 11;
const EXTENSION_SUPPORTED_VERSIONS = 43;
const TLS13 = 0x0304;
/** The most a TLS 1.3 record's ciphertext may be (RFC 8446 §5.2). */
const MAX_RECORD = 16_384 + 256;

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
      else if (type === HANDSHAKE_CERTIFICATE) this.certificates = readCertificateList(body, this.tls13);
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
        const content = decrypt(header, fragment);
        if (content.length) reader.feed(content);
      }
    }
    return reader.certificates?.length ? reader.certificates : undefined;
  } catch {
    return undefined;
  }
}

/** Decrypts the server's handshake records in order, with the secret from the key log. */
function decrypter(
  suite: number,
  keylog: readonly Buffer[]
): ((header: Buffer, fragment: Buffer) => Buffer) | undefined {
  const params = TLS13_SUITES[suite];
  const secret = serverHandshakeSecret(keylog);
  if (!params || !secret) return undefined;
  const decrypt = recordDecrypter(params, secret);
  return (header, fragment) => {
    const inner = decrypt(header, fragment);
    return inner.type === RECORD_HANDSHAKE ? inner.content : Buffer.alloc(0);
  };
}
