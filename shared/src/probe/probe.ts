/**
 * The one probe engine (SPEC M1–M6, S1, D6, STYLE §7.5): connects to a TLS endpoint, directly or after a STARTTLS
 * dialogue, and observes what it serves. It judges nothing: verdicts are the checks' job.
 *
 * Contract:
 * - Never throws; every failure is an observation with `ok: false` and an `error.code`.
 * - Never trust-verifies (`rejectUnauthorized: false`, no hostname check): a private-CA, expired or mismatched
 *   certificate must still be observable.
 * - One shared client `SecureContext` with an empty trust store for every connection: no CA bundle is parsed per
 *   connection, and Node cannot append a root from a trust store to the observed chain.
 * - One budget (`timeoutMs`) bounds DNS, connect, the STARTTLS dialogue and the handshake; the outermost socket is
 *   always destroyed (destroying the plain socket under a live TLS socket crashes Node 20, so only the outermost).
 * - SNI: `serverName` when given, `host` when `serverName` is undefined, none when `serverName` is null or the name
 *   is an IP literal (RFC 6066 forbids IP literals in SNI).
 * - IPv4 and IPv6: IP literals are used as they are; names are resolved once, optionally restricted by `family`.
 */
import { X509Certificate } from 'node:crypto';
import dns from 'node:dns';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import {
  DialogueClosedError,
  STARTTLS_PROTOCOLS,
  StartTlsRefusedError,
  type StartTlsProtocol,
  startTlsDialogue,
} from './starttls';
import {
  decodeServedIssuer,
  decodedX509,
  rememberHandshakeVerified,
  rememberServed,
  servedSha256,
} from '../x509/decoded-x509';
import { sha256Hex } from '../x509/certificate';
import { HandshakeTap, servedCertificates } from './handshake-tap';
import { grabCertificates } from './certificate-grab';

export { STARTTLS_PROTOCOLS, type StartTlsProtocol };

/** Why a probe failed. */
export const PROBE_ERROR_CODES = [
  'ConnectRefused',
  'ConnectTimeout',
  /** No route to the host or network (EHOSTUNREACH, ENETUNREACH). */
  'Unreachable',
  'HandshakeFailed',
  'StartTlsRefused',
  'DnsFailed',
  'Timeout',
  'Reset',
] as const;
export type ProbeErrorCode = (typeof PROBE_ERROR_CODES)[number];

/** What to probe. */
export interface ProbeOptions {
  /** DNS name, IPv4 or IPv6 literal (without brackets). */
  host: string;
  port: number;
  /** SNI to send; `null` sends none; `undefined` sends `host` unless it is an IP literal. */
  serverName?: string | null;
  /** Plain-text dialogue before the handshake. */
  starttls?: StartTlsProtocol;
  /** Budget for the whole attempt (DNS, connect, dialogue, handshake). @default 10000 */
  timeoutMs?: number;
  /** Address family used to resolve `host`. @default either */
  family?: 4 | 6;
  /**
   * An already connected TCP socket to `host:port` (e.g. from a discovery connect scan): DNS and connect are
   * skipped and the handshake (or the STARTTLS dialogue) runs on it, so the endpoint is connected to once. The
   * probe owns it from then on and always destroys it. `host` should be the socket's remote address.
   */
  socket?: net.Socket;
  /**
   * `grab` (default): the probe's own certificate grab (certificate-grab.ts), with Node's TLS client on a second
   * connection only where the grab cannot finish; `node`: Node's TLS client only.
   */
  handshake?: 'grab' | 'node';
}

/** What a probe saw. Serializable except `chain` (Buffers). */
export interface ProbeObservation {
  host: string;
  port: number;
  /** The SNI actually sent, `null` when none. */
  serverName: string | null;
  /** The peer IP connected to (absent when DNS failed). */
  address?: string;
  /** True when the handshake completed and the server sent at least one certificate. */
  ok: boolean;
  error?: { code: ProbeErrorCode; message: string };
  /**
   * DER certificates as the server sent them, leaf first (a repeated certificate ends the list); nothing is added
   * from any trust store.
   */
  chain: Buffer[];
  /** `TLSv1.3`, `TLSv1.2`, … */
  protocol?: string;
  /** IANA/RFC name, `TLS_AES_256_GCM_SHA384`. */
  cipher?: string;
  timings: { connectMs?: number; handshakeMs?: number; totalMs: number };
}

/** Default budget of one probe. */
export const DEFAULT_PROBE_TIMEOUT_MS = 10_000;
/** Most certificates followed from the leaf. */
const MAX_CHAIN = 16;

/** SNI for a probe target: `serverName` (or `host` when undefined), unless null or an IP literal. */
export function sniFor(host: string, serverName?: string | null): string | undefined {
  if (serverName === null) return undefined;
  const name = serverName ?? host;
  return name !== '' && net.isIP(name) === 0 ? name : undefined;
}

let sharedContext: tls.SecureContext | undefined;
/**
 * The one client context. `ca: []` leaves its store empty (no root bundle parsed at all); legacy protocol versions
 * and ciphers are allowed so that weak servers can be observed and then judged by the checks.
 */
function clientContext(): tls.SecureContext {
  sharedContext ??= tls.createSecureContext({ ca: [], minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' });
  return sharedContext;
}

class ProbeFailure extends Error {
  constructor(
    readonly code: ProbeErrorCode,
    message: string
  ) {
    super(message);
  }
}

type Phase = 'dns' | 'connect' | 'starttls' | 'handshake';

const round = (ms: number): number => Math.round(ms * 100) / 100;

/**
 * Probes one endpoint once. Resolves within about `timeoutMs` whatever the peer does.
 * @example
 * const o = await probeEndpoint({ host: 'mail.example.com', port: 25, starttls: 'smtp' });
 * if (o.ok) console.log(sha256Fingerprint(o.chain[0]!));
 */
export async function probeEndpoint(opts: ProbeOptions): Promise<ProbeObservation> {
  const started = performance.now();
  const timeoutMs = opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const servername = sniFor(opts.host, opts.serverName);
  const observation: ProbeObservation = {
    host: opts.host,
    port: opts.port,
    serverName: servername ?? null,
    ok: false,
    chain: [],
    timings: { totalMs: 0 },
  };
  const origin = `probe(${net.isIPv6(opts.host) ? `[${opts.host}]` : opts.host}:${opts.port})`;
  let phase: Phase = 'dns';
  let outer: net.Socket | undefined;
  let timedOut = false;
  let onTimeout: ((err: Error) => void) | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    const err = new Error('budget exhausted');
    onTimeout?.(err);
    outer?.destroy(err);
  }, timeoutMs);
  // Rejects every pending phase when the budget runs out (DNS cannot be cancelled, so it is raced).
  const deadline = new Promise<never>((_, reject) => {
    onTimeout = reject;
  });
  deadline.catch(() => undefined);

  /** A TCP connection within the budget; the probe destroys it whatever happens. */
  const connectTo = async (address: string, family: number): Promise<net.Socket> => {
    phase = 'connect';
    const socket = (outer = openSocket(address, opts.port, family));
    await Promise.race([connected(socket), deadline]);
    return socket;
  };
  const dialogue = async (socket: net.Socket): Promise<void> => {
    if (!opts.starttls) return;
    phase = 'starttls';
    await Promise.race([startTlsDialogue(socket, opts.starttls), deadline]);
  };

  if (opts.socket) outer = opts.socket;
  try {
    if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535)
      throw new ProbeFailure('ConnectRefused', `invalid port ${opts.port}`);
    let plain: net.Socket;
    if (opts.socket) {
      // Connected by the caller: no DNS, no second connect.
      plain = opts.socket;
      observation.address = plain.remoteAddress ?? opts.host;
      if (plain.destroyed || plain.connecting)
        throw new ProbeFailure('ConnectRefused', 'the given socket is not connected');
      plain.setNoDelay(true);
      plain.removeAllListeners('error');
      plain.on('error', () => undefined);
      phase = 'handshake';
    } else {
      // DNS
      let address = opts.host;
      let family = net.isIP(opts.host);
      if (family === 0) {
        try {
          const found = await Promise.race([dns.promises.lookup(opts.host, { family: opts.family ?? 0 }), deadline]);
          address = found.address;
          family = found.family;
        } catch (err) {
          if (timedOut) throw err;
          throw new ProbeFailure(
            'DnsFailed',
            `cannot resolve ${opts.host}: ${(err as NodeJS.ErrnoException).code ?? err}`
          );
        }
      }
      observation.address = address;

      const connectStarted = performance.now();
      plain = await connectTo(address, family);
      observation.timings.connectMs = round(performance.now() - connectStarted);
    }
    await dialogue(plain);

    // TLS handshake: the grab (certificate-grab.ts), or Node's client where the grab cannot finish
    phase = 'handshake';
    const handshakeStarted = performance.now();
    let seen: Handshake | undefined;
    if (opts.handshake !== 'node') {
      const grabbed = await Promise.race([grabCertificates(plain, servername), deadline]);
      if (grabbed.served) seen = { ...grabbed, chain: registerServed(grabbed.certificates) };
      else {
        // a new connection for Node's client (the grab has spoken on this one), to the address already resolved
        plain.destroy();
        const address = observation.address ?? opts.host;
        plain = await connectTo(address, net.isIP(address));
        await dialogue(plain);
        phase = 'handshake';
      }
    }
    seen ??= await nodeHandshake(plain, servername, deadline, (secure) => (outer = secure));
    observation.timings.handshakeMs = round(performance.now() - handshakeStarted);
    observation.protocol = seen.protocol;
    observation.cipher = seen.cipher;
    observation.chain = seen.chain;
    if (observation.chain.length === 0) throw new ProbeFailure('HandshakeFailed', 'the server sent no certificate');
    observation.ok = true;
  } catch (err) {
    const failure = classify(err, phase, timedOut, timeoutMs);
    observation.error = { code: failure.code, message: `${origin}: ${failure.message}` };
  } finally {
    clearTimeout(timer);
    outer?.destroy();
    observation.timings.totalMs = round(performance.now() - started);
  }
  if (observation.protocol === undefined) delete observation.protocol;
  if (observation.cipher === undefined) delete observation.cipher;
  return observation;
}

/** What a handshake showed. */
interface Handshake {
  protocol: string | undefined;
  cipher: string | undefined;
  chain: Buffer[];
}

/**
 * Node's TLS client on `plain`, within the probe's budget (`deadline`). The served certificates are read from the
 * handshake's own bytes (handshake-tap.ts: Node 20's getPeerX509Certificate() leaks every served issuer).
 * `onSocket` receives the TLS socket, which the caller destroys (the outermost socket).
 */
async function nodeHandshake(
  plain: net.Socket,
  servername: string | undefined,
  deadline: Promise<never>,
  onSocket: (secure: tls.TLSSocket) => void
): Promise<Handshake> {
  const tap = new HandshakeTap(plain);
  const keylog: Buffer[] = [];
  const secure = tls.connect({
    socket: tap,
    secureContext: clientContext(),
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
    ...(servername ? { servername } : {}),
  });
  secure.on('keylog', (line: Buffer) => keylog.push(line));
  onSocket(secure);
  await Promise.race([
    new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
      secure.once('close', () => reject(new Error('connection closed during the handshake')));
    }),
    deadline,
  ]);
  secure.on('error', () => undefined);
  const cipher = secure.getCipher();
  const chain = servedChain(secure, servedCertificates(tap.received, keylog));
  tap.stop();
  noteHandshakeVerification(secure, chain);
  return { protocol: secure.getProtocol() ?? undefined, cipher: cipher.standardName ?? cipher.name, chain };
}

/** A new TCP connection for the probe (errors after the connect are seen by the TLS layer or ignored). */
function openSocket(address: string, port: number, family: number): net.Socket {
  const socket = net.connect({ host: address, port, ...(family ? { family } : {}) });
  socket.setNoDelay(true);
  return socket;
}

function connected(socket: net.Socket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      socket.on('error', () => undefined); // late errors are seen by the TLS layer or ignored after cleanup
      resolve();
    });
    socket.once('error', reject);
  });
}

/**
 * The certificates as served, leaf first, without repeats (bounded), each registered for the checks with its
 * SHA-256 (decoded-x509.ts). Served issuers are decoded once per thread; the leaf is not decoded here (the checks read
 * its DER).
 * @throws ProbeFailure when OpenSSL cannot decode a served issuer (Node's client fails such a handshake too)
 */
function registerServed(certificates: readonly Buffer[]): Buffer[] {
  const chain: Buffer[] = [];
  const seen = new Set<string>();
  for (const der of certificates) {
    const sha256 = sha256Hex(der);
    if (seen.has(sha256) || chain.length >= MAX_CHAIN) break;
    seen.add(sha256);
    let issuer: X509Certificate | undefined;
    if (chain.length > 0) {
      try {
        issuer = decodeServedIssuer(der, sha256);
      } catch {
        throw new ProbeFailure('HandshakeFailed', `certificate ${chain.length + 1} the server sent does not decode`);
      }
    }
    chain.push(rememberServed(der, sha256, issuer));
  }
  return chain;
}

/**
 * The peer's certificates as served when Node's client did the handshake. `tapped` are the certificates read from
 * the handshake bytes; only when there is one, or they could not be read, does Node's `getPeerX509Certificate()`
 * give them (it leaks each served issuer in Node 20, see handshake-tap.ts).
 */
export function servedChain(secure: tls.TLSSocket, tapped: Buffer[] | undefined): Buffer[] {
  // A lone certificate comes from Node's API: with no issuer to build it does not leak, and it hands over the
  // certificate OpenSSL already decoded.
  if (tapped && tapped.length > 1) {
    try {
      return registerServed(tapped);
    } catch {
      // OpenSSL accepted these bytes in the handshake, so this does not happen; Node's reading is the fallback
    }
  }
  const chain: Buffer[] = [];
  const seen = new Set<string>();
  for (let cert = secure.getPeerX509Certificate(); cert; cert = cert.issuerCertificate) {
    const der = Buffer.from(cert.raw);
    const sha256 = sha256Hex(der);
    if (seen.has(sha256) || chain.length >= MAX_CHAIN) break;
    seen.add(sha256);
    chain.push(rememberServed(der, sha256, cert));
  }
  return chain;
}

/**
 * With the empty trust store, OpenSSL still verifies the served chain during every handshake (Node accepts any
 * result): it builds the chain from the served certificates, finds no trusted root, and then verifies each link's
 * signature and each certificate's validity, reporting every problem to a callback; the verify error Node exposes is
 * the last one reported. `UNABLE_TO_GET_ISSUER_CERT_LOCALLY` as the last error therefore means: a served issuer of
 * the leaf was found by OpenSSL's issuer match (names, key identifiers; a leaf alone ends in
 * `UNABLE_TO_VERIFY_LEAF_SIGNATURE`), and its key usage, its signature on the leaf and every later check passed (a
 * failure would be reported after it). With exactly two served certificates that issuer is the second; with more,
 * it is known only when exactly one served certificate bears the leaf's issuer name (the leaf is decoded for that).
 * Then the checks need not match and verify that pair again.
 */
function noteHandshakeVerification(secure: tls.TLSSocket, chain: readonly Buffer[]): void {
  // Node sets `authorizationError` to OpenSSL's error code string (typed as Error)
  const verifyError: unknown = secure.authorizationError;
  if (verifyError !== 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' || chain.length < 2) return;
  const [leafDer, ...rest] = chain as [Buffer, ...Buffer[]];
  const leafSha256 = servedSha256(leafDer);
  if (leafSha256 === undefined) return;
  let issuer: Buffer | undefined;
  if (rest.length === 1) issuer = rest[0];
  else {
    let leaf = decodedX509(leafDer);
    if (!leaf) {
      try {
        leaf = new X509Certificate(leafDer);
      } catch {
        return;
      }
      rememberServed(leafDer, leafSha256, leaf);
    }
    for (const der of rest) {
      const cert = decodedX509(der);
      if (!cert) return;
      if (cert.subject !== leaf.issuer) continue;
      if (issuer) return; // two candidates: OpenSSL may have used either
      issuer = der;
    }
  }
  const issuerSha256 = issuer && servedSha256(issuer);
  if (issuerSha256) rememberHandshakeVerified(leafSha256, issuerSha256);
}

function classify(err: unknown, phase: Phase, timedOut: boolean, timeoutMs: number): ProbeFailure {
  if (err instanceof ProbeFailure) return err;
  if (timedOut) {
    return phase === 'connect'
      ? new ProbeFailure('ConnectTimeout', `no TCP connection within ${timeoutMs} ms`)
      : new ProbeFailure('Timeout', `${phase === 'dns' ? 'DNS' : phase} did not finish within ${timeoutMs} ms`);
  }
  const e = err as NodeJS.ErrnoException;
  if (err instanceof StartTlsRefusedError) return new ProbeFailure('StartTlsRefused', err.message);
  if (err instanceof DialogueClosedError)
    return new ProbeFailure(err.errno === 'ECONNRESET' ? 'Reset' : 'StartTlsRefused', err.message);
  const errno = typeof e?.code === 'string' ? e.code : undefined;
  const text = `${e?.message ?? String(err)}${errno && !e.message?.includes(errno) ? ` (${errno})` : ''}`;
  if (phase === 'connect') {
    if (errno === 'ECONNRESET') return new ProbeFailure('Reset', `connect: ${text}`);
    if (errno === 'ETIMEDOUT') return new ProbeFailure('ConnectTimeout', `connect: ${text}`);
    if (errno === 'EHOSTUNREACH' || errno === 'ENETUNREACH') {
      return new ProbeFailure('Unreachable', `connect: ${text}`);
    }
    return new ProbeFailure('ConnectRefused', `connect: ${text}`);
  }
  // A reset read by the kernel (RST) is a reset; OpenSSL alerts, non-TLS replies and a clean close are failed
  // handshakes.
  if (errno === 'ECONNRESET' && e.syscall === 'read') return new ProbeFailure('Reset', `${phase}: ${text}`);
  if (errno === 'EPIPE') return new ProbeFailure('Reset', `${phase}: ${text}`);
  return new ProbeFailure('HandshakeFailed', `${phase}: ${text}`);
}
