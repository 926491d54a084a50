/**
 * Probe `served-leaf` (SPEC D2): connects to a TLS endpoint and returns the SHA-256 (hex) of the DER of the leaf
 * certificate it serves, to compare with a bundle's `leafSha256`.
 *
 * - SNI is `serverName ?? host`, omitted when that is an IP address (RFC 6066 forbids IP literals in SNI).
 * - STARTTLS: minimal `smtp` (greeting, EHLO, STARTTLS), `imap` (greeting, `a1 STARTTLS`) and `pop3` (greeting,
 *   `STLS`) dialogues; any unexpected reply fails the probe.
 * - The chain is never trust-verified (`rejectUnauthorized: false`): the probe compares fingerprints, it does not
 *   authenticate the server, and a private-CA or not-yet-trusted certificate must still be observable.
 * - Bounded: one deadline covers connect, dialogue and handshake; server lines are capped at 4 KiB, a dialogue at
 *   64 KiB. Observes only, never writes anything.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

export type StartTls = 'smtp' | 'imap' | 'pop3';

export interface ServedLeafProbeOptions {
  host: string;
  port: number;
  serverName?: string;
  starttls?: StartTls;
  /** Deadline for the whole attempt. @default 5000 */
  timeoutMs?: number;
}

export type ServedLeafResult =
  { ok: true; sha256: string; notAfter: string; subject: string } | { ok: false; message: string };

const MAX_LINE = 4096;
const MAX_DIALOGUE = 64 * 1024;

/** SNI for a probe target: the server name or host, unless it is an IP literal. */
export function sniFor(host: string, serverName?: string): string | undefined {
  const name = serverName ?? host;
  return net.isIP(name) === 0 ? name : undefined;
}

/** Reads CRLF/LF-terminated lines from a plain socket, with caps. */
class LineReader {
  private buf = '';
  private total = 0;
  private waiters: { resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.on('error', this.onEnd);
    socket.on('close', this.onEnd);
  }

  private onData = (chunk: Buffer): void => {
    this.total += chunk.length;
    this.buf += chunk.toString('latin1');
    if (this.total > MAX_DIALOGUE) return this.fail(new Error('server sent too much before TLS'));
    this.drain();
    if (this.buf.length > MAX_LINE) this.fail(new Error('server line too long'));
  };

  private onEnd = (err?: unknown): void => {
    this.fail(err instanceof Error ? err : new Error('connection closed during STARTTLS dialogue'));
  };

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
  }

  private drain(): void {
    let nl: number;
    while (this.waiters.length > 0 && (nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      this.waiters.shift()?.resolve(line);
    }
  }

  next(): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.waiters.push({ resolve, reject });
      this.drain();
    });
  }

  /** Stops reading so the TLS layer gets the socket's next bytes; fails if the server already sent more. */
  detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onEnd);
    this.socket.off('close', this.onEnd);
    if (this.buf.length > 0) throw new Error('server sent data after its STARTTLS reply');
  }
}

async function expectLine(reader: LineReader, ok: (line: string) => boolean, what: string): Promise<string> {
  const line = await reader.next();
  if (!ok(line)) throw new Error(`${what}: unexpected reply ${JSON.stringify(line.slice(0, 120))}`);
  return line;
}

/** SMTP replies may be multi-line (`250-…` … `250 …`); returns the final line. */
async function smtpReply(reader: LineReader, code: string, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const line = await expectLine(reader, (l) => l.startsWith(code), what);
    if (line.charAt(3) !== '-') return;
  }
  throw new Error(`${what}: reply too long`);
}

async function startTlsDialogue(socket: net.Socket, protocol: StartTls): Promise<void> {
  const reader = new LineReader(socket);
  const send = (text: string): void => {
    socket.write(`${text}\r\n`);
  };
  if (protocol === 'smtp') {
    await smtpReply(reader, '220', 'smtp greeting');
    send('EHLO certfleet-agent.invalid');
    await smtpReply(reader, '250', 'smtp EHLO');
    send('STARTTLS');
    await smtpReply(reader, '220', 'smtp STARTTLS');
  } else if (protocol === 'imap') {
    await expectLine(reader, (l) => /^\* (OK|PREAUTH)\b/i.test(l), 'imap greeting');
    send('a1 STARTTLS');
    for (let i = 0; ; i++) {
      const line = await reader.next();
      if (/^a1 OK\b/i.test(line)) break;
      if (!line.startsWith('* ') || i > 50) throw new Error(`imap STARTTLS: unexpected reply ${line.slice(0, 120)}`);
    }
  } else {
    await expectLine(reader, (l) => l.startsWith('+OK'), 'pop3 greeting');
    send('STLS');
    await expectLine(reader, (l) => l.startsWith('+OK'), 'pop3 STLS');
  }
  reader.detach();
}

/**
 * One probe attempt. Never throws: a refused connection, a timeout or a failed dialogue/handshake is
 * `{ ok: false, message }`.
 */
export async function probeServedLeaf(opts: ServedLeafProbeOptions): Promise<ServedLeafResult> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  // Destroy only the outermost socket: destroying the plain socket under a live TLSSocket crashes Node 20
  // (SIGSEGV); the TLS socket tears its transport down itself.
  let outer: net.Socket | undefined;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no TLS handshake within ${timeoutMs} ms`)), timeoutMs);
  });
  const attempt = async (): Promise<ServedLeafResult> => {
    let plain: net.Socket | undefined;
    if (opts.starttls) {
      const s = net.connect({ host: opts.host, port: opts.port });
      outer = s;
      await new Promise<void>((resolve, reject) => {
        s.once('connect', resolve);
        s.once('error', reject);
      });
      await startTlsDialogue(s, opts.starttls);
      plain = s;
    }
    const servername = sniFor(opts.host, opts.serverName);
    const secure = tls.connect({
      ...(plain ? { socket: plain } : { host: opts.host, port: opts.port }),
      ...(servername ? { servername } : {}),
      rejectUnauthorized: false,
    });
    outer = secure;
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    const peer = secure.getPeerCertificate(false);
    if (!peer || !peer.raw) return { ok: false, message: 'the server sent no certificate' };
    const notAfter = Date.parse(peer.valid_to);
    return {
      ok: true,
      sha256: createHash('sha256').update(peer.raw).digest('hex'),
      notAfter: Number.isNaN(notAfter) ? '' : new Date(notAfter).toISOString(),
      subject: typeof peer.subject?.CN === 'string' ? peer.subject.CN : '',
    };
  };
  try {
    return await Promise.race([attempt(), deadline]);
  } catch (err) {
    return { ok: false, message: `probe ${opts.host}:${opts.port}: ${(err as Error).message}` };
  } finally {
    clearTimeout(timer);
    outer?.destroy();
  }
}
