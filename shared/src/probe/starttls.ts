/**
 * STARTTLS dialogues (SPEC M6, S1): the plain-text exchange that precedes the TLS handshake on mail and FTP ports.
 *
 * | protocol | dialogue |
 * | --- | --- |
 * | `smtp` (RFC 3207) | `220` greeting, `EHLO`, `250` reply, `STARTTLS`, `220` |
 * | `imap` (RFC 3501) | `* OK` greeting, `a1 STARTTLS`, `a1 OK` |
 * | `pop3` (RFC 2595) | `+OK` greeting, `STLS`, `+OK` |
 * | `ftp` (RFC 4217) | `220` greeting, `AUTH TLS`, `234` |
 *
 * Bounded: a line is at most {@link MAX_LINE} bytes, the whole dialogue at most {@link MAX_DIALOGUE} bytes, a
 * multi-line reply at most {@link MAX_REPLY_LINES} lines. A server that answers but declines (a negative reply, an
 * unexpected greeting, bytes after its go-ahead) fails with {@link StartTlsRefusedError}; a closed or reset
 * connection fails with {@link DialogueClosedError}. The caller's deadline covers the time.
 */
import type net from 'node:net';

/** STARTTLS protocols the probe speaks. */
export const STARTTLS_PROTOCOLS = ['smtp', 'imap', 'pop3', 'ftp'] as const;
export type StartTlsProtocol = (typeof STARTTLS_PROTOCOLS)[number];

/** Longest server line accepted before TLS. */
export const MAX_LINE = 4096;
/** Most bytes accepted from the server before TLS. */
export const MAX_DIALOGUE = 64 * 1024;
/** Most lines in one multi-line reply. */
export const MAX_REPLY_LINES = 100;

/** The server answered but did not agree to start TLS. */
export class StartTlsRefusedError extends Error {
  override readonly name = 'StartTlsRefusedError';
}

/** The connection ended (closed or reset) during the dialogue. */
export class DialogueClosedError extends Error {
  override readonly name = 'DialogueClosedError';
  constructor(
    message: string,
    readonly errno?: string
  ) {
    super(message);
  }
}

/** Reads CRLF/LF-terminated lines from a plain socket, with caps. */
class LineReader {
  private buf = '';
  private total = 0;
  private waiters: { resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private onData = (chunk: Buffer): void => {
    this.total += chunk.length;
    this.buf += chunk.toString('latin1');
    if (this.total > MAX_DIALOGUE) return this.fail(new StartTlsRefusedError(`server sent over ${MAX_DIALOGUE} bytes`));
    this.drain();
    const pending = this.buf.indexOf('\n');
    if ((pending < 0 ? this.buf.length : pending) > MAX_LINE)
      this.fail(new StartTlsRefusedError(`server line longer than ${MAX_LINE} bytes`));
  };

  private onError = (err: NodeJS.ErrnoException): void => {
    this.fail(new DialogueClosedError(`connection failed during the dialogue: ${err.code ?? err.message}`, err.code));
  };

  private onClose = (): void => {
    this.fail(new DialogueClosedError('server closed the connection during the dialogue'));
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

  /** Stops reading so the TLS layer gets the socket's next bytes; refuses if the server already sent more. */
  detach(): void {
    this.stop();
    // Bytes after the go-ahead would be read as TLS: a server (or a man in the middle) injecting them is refused.
    if (this.buf.length > 0) throw new StartTlsRefusedError('server sent data after its STARTTLS go-ahead');
  }

  /** Removes the listeners (also on failure, so a later TLS layer sees a clean socket). */
  stop(): void {
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
  }
}

const quote = (line: string): string => JSON.stringify(line.slice(0, 160));

/**
 * A numbered reply (SMTP/FTP): `NNN text` or `NNN-text` … `NNN text`. Returns the lines; refuses when the code is
 * not `expect`.
 */
async function numberedReply(reader: LineReader, expect: string, what: string): Promise<string[]> {
  const first = await reader.next();
  const code = first.slice(0, 3);
  const lines = [first];
  if (!/^\d{3}$/.test(code)) throw new StartTlsRefusedError(`${what}: unexpected reply ${quote(first)}`);
  if (first.charAt(3) === '-') {
    for (;;) {
      if (lines.length >= MAX_REPLY_LINES)
        throw new StartTlsRefusedError(`${what}: reply over ${MAX_REPLY_LINES} lines`);
      const line = await reader.next();
      lines.push(line);
      if (line.startsWith(`${code} `) || line === code) break;
    }
  }
  if (code !== expect)
    throw new StartTlsRefusedError(`${what}: server replied ${quote(lines[lines.length - 1] ?? first)}`);
  return lines;
}

async function smtp(reader: LineReader, send: (text: string) => void): Promise<void> {
  await numberedReply(reader, '220', 'smtp greeting');
  send('EHLO certfleet-probe.invalid');
  const ehlo = await numberedReply(reader, '250', 'smtp EHLO');
  const offered = ehlo.some((l) => /^250[- ]STARTTLS\b/i.test(l));
  send('STARTTLS');
  try {
    await numberedReply(reader, '220', 'smtp STARTTLS');
  } catch (err) {
    if (err instanceof StartTlsRefusedError && !offered)
      throw new StartTlsRefusedError(`${err.message} (EHLO did not offer STARTTLS)`);
    throw err;
  }
}

async function imap(reader: LineReader, send: (text: string) => void): Promise<void> {
  const greeting = await reader.next();
  if (!/^\* (OK|PREAUTH)\b/i.test(greeting)) throw new StartTlsRefusedError(`imap greeting: ${quote(greeting)}`);
  send('a1 STARTTLS');
  for (let i = 0; ; i++) {
    if (i >= MAX_REPLY_LINES) throw new StartTlsRefusedError(`imap STARTTLS: reply over ${MAX_REPLY_LINES} lines`);
    const line = await reader.next();
    if (/^a1 OK\b/i.test(line)) return;
    if (/^a1 /i.test(line) || !line.startsWith('* '))
      throw new StartTlsRefusedError(`imap STARTTLS: server replied ${quote(line)}`);
  }
}

async function pop3(reader: LineReader, send: (text: string) => void): Promise<void> {
  const greeting = await reader.next();
  if (!greeting.startsWith('+OK')) throw new StartTlsRefusedError(`pop3 greeting: ${quote(greeting)}`);
  send('STLS');
  const reply = await reader.next();
  if (!reply.startsWith('+OK')) throw new StartTlsRefusedError(`pop3 STLS: server replied ${quote(reply)}`);
}

async function ftp(reader: LineReader, send: (text: string) => void): Promise<void> {
  await numberedReply(reader, '220', 'ftp greeting');
  send('AUTH TLS');
  await numberedReply(reader, '234', 'ftp AUTH TLS');
}

const DIALOGUES: Record<StartTlsProtocol, (reader: LineReader, send: (text: string) => void) => Promise<void>> = {
  smtp,
  imap,
  pop3,
  ftp,
};

/**
 * Runs the `protocol` dialogue on a connected plain socket. On success the socket's next bytes are the server's
 * TLS records and no listener of this module remains on it.
 * @throws StartTlsRefusedError | DialogueClosedError
 */
export async function startTlsDialogue(socket: net.Socket, protocol: StartTlsProtocol): Promise<void> {
  const reader = new LineReader(socket);
  const send = (text: string): void => {
    socket.write(`${text}\r\n`);
  };
  try {
    await DIALOGUES[protocol](reader, send);
  } catch (err) {
    reader.stop();
    throw err;
  }
  reader.detach();
}
