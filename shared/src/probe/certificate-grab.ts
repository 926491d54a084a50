/**
 * The probe's certificate grab: CertFleet's own TLS client for the part of a handshake that shows what a server
 * serves. It sends the ClientHello Node's client would send (client-hello.ts), reads the server's first flight and
 * closes the connection before sending anything else.
 *
 * - TLS 1.3: X25519 key exchange, the handshake key schedule, the server's encrypted EncryptedExtensions,
 *   [CertificateRequest], Certificate, CertificateVerify and Finished — the CertificateVerify signature is verified
 *   with the leaf's key (the server holds it) and the Finished MAC over the whole transcript (nothing was altered):
 *   everything Node's client judges there, except the trust decision, which the checks make.
 * - TLS ≤ 1.2: the Certificate message travels in the clear right after the ServerHello; with an (EC)DHE suite the
 *   grab also verifies the ServerKeyExchange signature with the leaf's key, then stops, before its own key exchange.
 *   (With RSA key exchange nothing the server sends is signed; Node's client learns that the server holds the key
 *   only from its Finished, after the grab has gone.)
 * - Anything it does not complete itself — a HelloRetryRequest (the server wants another group than X25519), a
 *   key exchange signed with DSA, a server name longer than SNI allows — is reported as `{ served: false }`, and
 *   the probe runs Node's TLS client on a new connection instead. A server that fails the handshake (an alert, a record that does not authenticate, a
 *   wrong signature, bytes that are not TLS) is a {@link GrabFailure}.
 *
 * Why not Node's TLS client: it costs ≈ 1 ms of CPU per handshake on this hardware (`bench/endpoint-cost.ts`),
 * about twice the grab's (with its signature checks), and a monitoring sweep is CPU-bound; its `getPeerX509Certificate()` also leaks every served issuer
 * in Node 20 (handshake-tap.ts). The server does the same work for both (it has sent its whole flight when the
 * grab closes).
 */
import { type Hash, type KeyObject, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type net from 'node:net';
import { publicKeyFromSpki } from '../x509/public-key';
import { tbsFields } from '../x509/tbs';
import { KEY_SHARE_GROUP, clientHello, offeredSuiteName } from './client-hello';
import { GrabFailure, alertFailure, check, fail } from './grab-failure';
import { readCertificateList } from './certificate-message';
import {
  DOWNGRADE_SENTINELS,
  HELLO_RETRY_RANDOM,
  PROTOCOLS,
  type ServerHello,
  TLS13,
  readServerHello,
} from './server-hello';
import { verifyLegacyServerSignature, verifyServerSignature } from './server-signature';
import {
  RecordAuthenticationError,
  TLS13_SUITES,
  type Tls13Suite,
  expandLabel,
  handshakeSecret,
  recordDecrypter,
} from './tls13-keys';
import { x25519KeyShare, x25519SharedSecret } from './x25519';

export { x25519KeyShare };

export { GrabFailure };

/** What the grab saw: the served certificates, or why Node's client must do this handshake instead. */
export type GrabResult =
  { served: true; protocol: string; cipher: string; certificates: Buffer[] } | { served: false; reason: string };

const RECORD = { changeCipherSpec: 20, alert: 21, handshake: 22, applicationData: 23 } as const;
const MESSAGE = {
  serverHello: 2,
  encryptedExtensions: 8,
  certificate: 11,
  serverKeyExchange: 12,
  certificateRequest: 13,
  serverHelloDone: 14,
  certificateVerify: 15,
  finished: 20,
} as const;
/** Largest record fragment: TLS 1.3 ciphertext (RFC 8446 §5.2) and TLS ≤ 1.2 compressed/encrypted alike. */
const MAX_RECORD = 16_384 + 2048;
/** Most bytes read from a server before its flight must be complete: a long chain is far smaller. */
const MAX_FLIGHT = 256 * 1024;
const ALERT_WARNING = 1;
const ALERT_CLOSE_NOTIFY = 0;
const ALERT_USER_CANCELED = 90;
/** Longest server name SNI carries (RFC 6066 §3: a HostName of at most 2^16 − 1 bytes; DNS names ≤ 253). */
const MAX_SERVER_NAME = 255;

const CERTIFICATE_VERIFY_CONTEXT = Buffer.concat([
  Buffer.alloc(64, 0x20),
  Buffer.from('TLS 1.3, server CertificateVerify\0', 'latin1'),
]);

function x25519Shared(privateKey: KeyObject, peer: Buffer): Buffer {
  check(peer.length === 32, 'an X25519 key share of the wrong length');
  try {
    return x25519SharedSecret(privateKey, peer);
  } catch {
    return fail('an unusable X25519 key share');
  }
}

/**
 * One grab on one socket. Feed it the server's bytes; it settles once it has the certificates, the server failed,
 * or the grab cannot continue.
 */
class Grab {
  private pending: Buffer = Buffer.alloc(0);
  private received = 0;
  private messages: Buffer = Buffer.alloc(0);
  private hello?: ServerHello;
  private suite?: Tls13Suite;
  private transcript?: Hash;
  private trafficSecret?: Buffer;
  private decrypt?: ReturnType<typeof recordDecrypter>;
  private expected: number[] = [MESSAGE.serverHello];
  private certificates?: Buffer[];
  private leafKey?: KeyObject;
  result?: GrabResult;

  constructor(
    private readonly clientHelloMessage: Buffer,
    private readonly privateKey: KeyObject
  ) {}

  /** Consumes bytes from the server; sets {@link result} when done. @throws GrabFailure */
  feed(chunk: Buffer): void {
    this.received += chunk.length;
    check(this.received <= MAX_FLIGHT, `the server sent more than ${MAX_FLIGHT} bytes without completing its flight`);
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (!this.result && this.pending.length >= 5) {
      const type = this.pending[0] as number;
      const length = this.pending.readUInt16BE(3);
      if (!Object.values(RECORD).includes(type as 20) || this.pending[1] !== 3)
        fail(
          `the server did not answer with TLS (first bytes ${JSON.stringify(this.pending.subarray(0, 8).toString('latin1'))})`
        );
      check(length <= MAX_RECORD, `a record of ${length} bytes (more than TLS allows)`);
      if (this.pending.length < 5 + length) return;
      const header = this.pending.subarray(0, 5);
      const fragment = this.pending.subarray(5, 5 + length);
      this.pending = this.pending.subarray(5 + length);
      this.record(type, header, fragment);
    }
  }

  private record(type: number, header: Buffer, fragment: Buffer): void {
    if (type === RECORD.alert) return this.alert(fragment);
    if (this.decrypt) {
      if (type === RECORD.changeCipherSpec) return; // middlebox compatibility (RFC 8446 §5)
      check(type === RECORD.applicationData, 'an unencrypted record after the ServerHello');
      const inner = this.decrypt(header, fragment);
      if (inner.type === RECORD.alert) return this.alert(inner.content);
      check(inner.type === RECORD.handshake, 'an encrypted record that is not a handshake message');
      return this.handshake(inner.content);
    }
    check(type === RECORD.handshake, 'a record that is not a handshake message before the ServerHello');
    this.handshake(fragment);
  }

  /**
   * Before TLS 1.3 a warning alert other than close_notify does not end the handshake (Apache sends
   * `unrecognized_name` as a warning for an unknown SNI name; OpenSSL's client goes on), so neither does the grab. In
   * TLS 1.3 every alert but a `user_canceled` warning is fatal (RFC 8446 §6).
   */
  private alert(fragment: Buffer): void {
    check(fragment.length === 2, 'a malformed alert');
    const [level, description] = [fragment[0] as number, fragment[1] as number];
    const warning = level === ALERT_WARNING && description !== ALERT_CLOSE_NOTIFY;
    if (warning && (this.suite === undefined || description === ALERT_USER_CANCELED)) return;
    throw alertFailure(description);
  }

  private handshake(fragment: Buffer): void {
    this.messages = this.messages.length ? Buffer.concat([this.messages, fragment]) : fragment;
    while (!this.result && this.messages.length >= 4) {
      const length = this.messages.readUIntBE(1, 3);
      if (this.messages.length < 4 + length) return;
      const message = this.messages.subarray(0, 4 + length);
      this.messages = this.messages.subarray(4 + length);
      this.message(message[0] as number, message.subarray(4), message);
    }
  }

  private message(type: number, body: Buffer, whole: Buffer): void {
    check(this.expected.includes(type), `an unexpected handshake message (type ${type})`);
    switch (type) {
      case MESSAGE.serverHello:
        return this.serverHello(body, whole);
      case MESSAGE.encryptedExtensions:
        this.expected = [MESSAGE.certificateRequest, MESSAGE.certificate];
        break;
      case MESSAGE.certificateRequest:
        this.expected = [MESSAGE.certificate];
        break;
      case MESSAGE.certificate:
        return this.certificate(body, whole);
      case MESSAGE.serverKeyExchange:
        return this.serverKeyExchange(body);
      case MESSAGE.certificateVerify:
        this.certificateVerify(body);
        this.expected = [MESSAGE.finished];
        break;
      case MESSAGE.finished:
        return this.finished(body);
      default:
        // TLS ≤ 1.2 without a Certificate before ServerKeyExchange or ServerHelloDone: an anonymous suite
        return fail('the server sent no certificate');
    }
    this.transcript?.update(whole);
  }

  private serverHello(body: Buffer, whole: Buffer): void {
    const hello = readServerHello(body);
    if (hello.random.equals(HELLO_RETRY_RANDOM)) {
      this.result = { served: false, reason: 'the server asked for another key share (HelloRetryRequest)' };
      return;
    }
    this.hello = hello;
    const cipher = offeredSuiteName(hello.suite);
    if (hello.version !== TLS13) {
      check(
        PROTOCOLS[hello.version] !== undefined,
        `the server chose an unsupported version 0x${hello.version.toString(16)}`
      );
      check(
        !DOWNGRADE_SENTINELS.some((s) => hello.random.subarray(24).equals(s)),
        'the server signalled a downgrade from TLS 1.3 (inappropriate fallback)'
      );
      check(
        cipher !== undefined && TLS13_SUITES[hello.suite] === undefined,
        `the server chose cipher suite 0x${hello.suite.toString(16)}, which was not offered`
      );
      this.expected = [MESSAGE.certificate, MESSAGE.serverKeyExchange, MESSAGE.serverHelloDone];
      return;
    }
    const suite = TLS13_SUITES[hello.suite];
    check(
      suite !== undefined && cipher !== undefined,
      `the server chose cipher suite 0x${hello.suite.toString(16)}, which was not offered`
    );
    check(hello.keyShare?.group === KEY_SHARE_GROUP, 'the server sent no X25519 key share');
    this.suite = suite;
    this.transcript = createHash(suite.hash).update(this.clientHelloMessage).update(whole);
    const shared = x25519Shared(this.privateKey, hello.keyShare.key);
    const secret = expandLabel(
      suite.hash,
      handshakeSecret(suite, shared),
      's hs traffic',
      suite.hashLength,
      this.transcript.copy().digest()
    );
    this.trafficSecret = secret;
    this.decrypt = recordDecrypter(suite, secret);
    this.expected = [MESSAGE.encryptedExtensions];
  }

  private certificate(body: Buffer, whole: Buffer): void {
    const tls13 = this.suite !== undefined;
    let certificates: Buffer[];
    try {
      certificates = readCertificateList(body, tls13);
    } catch {
      return fail('a malformed Certificate message');
    }
    check(certificates.length > 0, 'the server sent no certificate');
    this.certificates = certificates;
    if (!tls13) {
      // an (EC)DHE suite: the server signs its key exchange parameters next; RSA key exchange signs nothing
      if (!/^TLS_(EC)?DHE_/.test(offeredSuiteName((this.hello as ServerHello).suite) ?? '')) {
        this.leafPublicKey(); // still a certificate with a key, as OpenSSL's client requires
        return this.done();
      }
      this.expected = [MESSAGE.serverKeyExchange];
      return;
    }
    this.transcript?.update(whole);
    this.expected = [MESSAGE.certificateVerify];
  }

  /** The server's signature over the transcript with the leaf's key (RFC 8446 §4.4.3). */
  private certificateVerify(body: Buffer): void {
    check(body.length >= 4 && body.length === 4 + body.readUInt16BE(2), 'a malformed CertificateVerify');
    const content = Buffer.concat([CERTIFICATE_VERIFY_CONTEXT, (this.transcript as Hash).copy().digest()]);
    const verdict = verifyServerSignature(this.leafPublicKey(), body.readUInt16BE(0), content, body.subarray(4), true);
    check(verdict === 'valid', 'the CertificateVerify signature does not verify with the certificate key');
  }

  /**
   * TLS ≤ 1.2 with an (EC)DHE suite: the server's signature over both randoms and its key exchange parameters
   * (RFC 5246 §7.4.3, RFC 8422 §5.4), made with the leaf's key.
   */
  private serverKeyExchange(body: Buffer): void {
    check(this.certificates !== undefined, 'the server sent no certificate'); // an anonymous suite
    const hello = this.hello as ServerHello;
    let p: number;
    if (/^TLS_ECDHE_/.test(offeredSuiteName(hello.suite) ?? '')) {
      check(body.length >= 4 && body[0] === 3, 'a ServerKeyExchange without a named curve');
      p = 4 + (body[3] as number); // curve type, named curve, point
    } else {
      p = 0;
      for (let i = 0; i < 3; i++) {
        check(body.length >= p + 2, 'a malformed ServerKeyExchange');
        p += 2 + body.readUInt16BE(p); // dh_p, dh_g, dh_Ys
      }
    }
    const tls12 = hello.version === 0x0303;
    const at = tls12 ? p + 2 : p;
    check(body.length >= at + 2 && body.length === at + 2 + body.readUInt16BE(at), 'a malformed ServerKeyExchange');
    const content = Buffer.concat([this.clientHelloMessage.subarray(6, 38), hello.random, body.subarray(0, p)]);
    const signature = body.subarray(at + 2);
    const key = this.leafPublicKey();
    const verdict = tls12
      ? verifyServerSignature(key, body.readUInt16BE(p), content, signature, false)
      : verifyLegacyServerSignature(key, content, signature);
    if (verdict === 'unsupported') {
      this.result = { served: false, reason: 'a key exchange signed with a key or scheme the grab does not verify' };
      return;
    }
    check(verdict === 'valid', 'the ServerKeyExchange signature does not verify with the certificate key');
    this.done();
  }

  private leafPublicKey(): KeyObject {
    if (this.leafKey) return this.leafKey;
    try {
      const spki = tbsFields(this.certificates?.[0] as Buffer).subjectPublicKeyInfo;
      check(spki !== undefined, 'the certificate has no public key');
      this.leafKey = publicKeyFromSpki(spki);
      return this.leafKey;
    } catch {
      return fail('the certificate has no usable public key');
    }
  }

  private finished(body: Buffer): void {
    const suite = this.suite as Tls13Suite;
    const key = expandLabel(suite.hash, this.trafficSecret as Buffer, 'finished', suite.hashLength);
    const expected = createHmac(suite.hash, key)
      .update((this.transcript as Hash).digest())
      .digest();
    check(body.length === expected.length && timingSafeEqual(body, expected), 'the server Finished does not verify');
    this.done();
  }

  private done(): void {
    const hello = this.hello as ServerHello;
    this.result = {
      served: true,
      protocol: hello.version === TLS13 ? 'TLSv1.3' : (PROTOCOLS[hello.version] as string),
      cipher: offeredSuiteName(hello.suite) as string,
      certificates: this.certificates as Buffer[],
    };
  }
}

/**
 * Runs the grab on a connected socket (after any STARTTLS dialogue). The caller bounds the time and destroys the
 * socket afterwards, whatever happened. `keyShare` is fresh for every handshake; tests pass their own to play a
 * man in the middle.
 * @throws GrabFailure when the server fails the handshake; the socket's own error (ECONNRESET…) when it breaks
 */
export function grabCertificates(
  socket: net.Socket,
  servername: string | undefined,
  keyShare: { privateKey: KeyObject; share: Buffer } = x25519KeyShare()
): Promise<GrabResult> {
  if (servername !== undefined && Buffer.byteLength(servername) > MAX_SERVER_NAME)
    return Promise.resolve({ served: false, reason: 'a server name longer than SNI carries' });
  const { privateKey, share } = keyShare;
  const hello = clientHello(servername, share, randomBytes(64));
  const grab = new Grab(hello.message, privateKey);
  return new Promise<GrabResult>((resolve, reject) => {
    const settle = (err: Error | undefined): void => {
      socket.off('data', onData);
      socket.off('error', settle);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      if (err) reject(err);
      else resolve(grab.result as GrabResult);
    };
    const onData = (chunk: Buffer): void => {
      try {
        grab.feed(chunk);
      } catch (err) {
        // a record that does not authenticate, or bytes that do not parse, fail the handshake as in any client
        return settle(
          err instanceof GrabFailure
            ? err
            : new GrabFailure(err instanceof RecordAuthenticationError ? err.message : 'a malformed handshake message')
        );
      }
      if (grab.result) settle(undefined);
    };
    const onEnd = (): void => settle(new GrabFailure('the server closed the connection during the handshake'));
    socket.on('data', onData);
    socket.once('error', settle);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.write(hello.record);
  });
}
