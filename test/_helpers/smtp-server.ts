/**
 * A real SMTP server on loopback for notification tests (SPEC N1–N3).
 *
 * `startSmtpTestServer()` runs npm `smtp-server` in a CHILD PROCESS (this same file, run with node + tsx), on a free
 * port, with either STARTTLS (default) or implicit TLS, using a CA + server certificate minted with openssl at test
 * time. AUTH PLAIN/LOGIN is required (over TLS only) for one test user. Every accepted message is written to a
 * directory as `NNNN.eml` (raw) plus `NNNN.json` (what the server saw: TLS cipher, authenticated user, envelope,
 * connection id); the parent reads them back and parses them with `mailparser`. Auth attempts go to `auth.jsonl`
 * (without passwords).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';

export type SmtpTestMode = 'starttls' | 'tls';

/** Test PKI for the mail server: a CA (trust anchor to give the client) and a server certificate for 127.0.0.1. */
export interface TestMailTls {
  caPem: string;
  keyFile: string;
  certFile: string;
}

/** What the server recorded about the session that delivered a message. */
export interface ReceivedSession {
  /** smtp-server's connection id: equal ids mean one (pooled) connection delivered both messages. */
  id: string;
  secure: boolean;
  tls: { name: string; version: string } | null;
  user: string | null;
  transmissionType: string;
  mailFrom: string | null;
  rcptTo: string[];
}

export interface ReceivedMail {
  file: string;
  raw: Buffer;
  parsed: ParsedMail;
  session: ReceivedSession;
}

export interface AuthAttempt {
  method: string;
  username: string | null;
  ok: boolean;
  secure: boolean;
}

export interface SmtpTestServer {
  host: string;
  port: number;
  mode: SmtpTestMode;
  /** The CA certificate to trust (the settings' `caPem`). */
  caPem: string;
  user: string;
  password: string;
  dir: string;
  /** Every message received so far, oldest first. */
  received(): Promise<ReceivedMail[]>;
  /** Waits until at least `count` messages have arrived (rejects after `timeoutMs`). */
  waitForMail(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  authAttempts(): AuthAttempt[];
  stop(): Promise<void>;
}

interface ChildConfig {
  host: string;
  mode: SmtpTestMode;
  keyFile: string;
  certFile: string;
  dir: string;
  users: Record<string, string>;
}

/** Mints a P-256 CA and a server certificate (SAN localhost, 127.0.0.1) with openssl into `dir`. */
export function makeTestMailTls(dir: string): TestMailTls {
  fs.mkdirSync(dir, { recursive: true });
  const f = (n: string): string => path.join(dir, n);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=CertFleet test mail CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign'
  );
  openssl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost');
  fs.writeFileSync(
    f('server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n'
  );
  openssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('server.pem'),
    '-days',
    '2',
    '-extfile',
    f('server.ext')
  );
  return { caPem: fs.readFileSync(f('ca.pem'), 'utf8'), keyFile: f('server.key'), certFile: f('server.pem') };
}

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Starts the server process and resolves once it listens. */
export async function startSmtpTestServer(
  options: { mode?: SmtpTestMode; user?: string; password?: string; tls?: TestMailTls } = {}
): Promise<SmtpTestServer> {
  const mode = options.mode ?? 'starttls';
  const user = options.user ?? 'certfleet-mailer';
  const password = options.password ?? `smtp-${crypto.randomBytes(12).toString('hex')}`;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-smtp-'));
  const tls = options.tls ?? makeTestMailTls(path.join(root, 'pki'));
  const dir = path.join(root, 'mail');
  fs.mkdirSync(dir);
  const config: ChildConfig = {
    host: '127.0.0.1',
    mode,
    keyFile: tls.keyFile,
    certFile: tls.certFile,
    dir,
    users: { [user]: password },
  };
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', __filename, JSON.stringify(config)], {
    cwd: REPO_ROOT,
    // stdin stays open: the child exits when it closes, so a crashed test run leaves no server behind.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`smtp test server did not start in 20 s: ${stderr}`)), 20_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /"port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`smtp test server exited (${code}): ${stderr}`));
    });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const received = async (): Promise<ReceivedMail[]> => {
    const metas = fs
      .readdirSync(dir)
      .filter((n) => /^\d+\.json$/.test(n))
      .sort();
    return Promise.all(
      metas.map(async (m) => {
        const file = path.join(dir, m.replace(/\.json$/, '.eml'));
        const raw = fs.readFileSync(file);
        return {
          file,
          raw,
          parsed: await simpleParser(raw),
          session: JSON.parse(fs.readFileSync(path.join(dir, m), 'utf8')) as ReceivedSession,
        };
      })
    );
  };

  return {
    host: '127.0.0.1',
    port,
    mode,
    caPem: tls.caPem,
    user,
    password,
    dir,
    received,
    waitForMail: async (count, timeoutMs = 10_000) => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const n = fs.readdirSync(dir).filter((f) => /^\d+\.json$/.test(f)).length;
        if (n >= count) return received();
        if (Date.now() > until) throw new Error(`smtp test server: ${n} of ${count} message(s) after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    authAttempts: () => {
      const f = path.join(dir, 'auth.jsonl');
      if (!fs.existsSync(f)) return [];
      return fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as AuthAttempt);
    },
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The child process: an smtp-server instance configured by argv[2]. */
async function runChild(config: ChildConfig): Promise<void> {
  const { SMTPServer } = await import('smtp-server');
  let seq = 0;
  const append = (file: string, obj: unknown): void =>
    fs.appendFileSync(path.join(config.dir, file), `${JSON.stringify(obj)}\n`);
  const server = new SMTPServer({
    secure: config.mode === 'tls',
    key: fs.readFileSync(config.keyFile),
    cert: fs.readFileSync(config.certFile),
    name: 'mail.certfleet.test',
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: false,
    authOptional: false,
    size: 10 * 1024 * 1024,
    logger: false,
    ...(config.mode === 'tls' ? { disabledCommands: ['STARTTLS'] } : {}),
    onAuth(auth, session, callback) {
      const ok = auth.username !== undefined && config.users[auth.username] === auth.password;
      append('auth.jsonl', { method: auth.method, username: auth.username ?? null, ok, secure: session.secure });
      if (ok) return callback(null, { user: auth.username });
      return callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', callback);
      stream.on('end', () => {
        if (stream.sizeExceeded) return callback(Object.assign(new Error('Message too big'), { responseCode: 552 }));
        const n = String(++seq).padStart(4, '0');
        fs.writeFileSync(path.join(config.dir, `${n}.eml`), Buffer.concat(chunks));
        const meta: ReceivedSession = {
          id: session.id,
          secure: session.secure,
          tls: session.tlsOptions ? { name: session.tlsOptions.name, version: session.tlsOptions.version } : null,
          user: typeof session.user === 'string' ? session.user : null,
          transmissionType: session.transmissionType,
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
        };
        // meta last, via rename: the parent treats a .json file as "message complete"
        const tmp = path.join(config.dir, `${n}.json.tmp`);
        fs.writeFileSync(tmp, JSON.stringify(meta));
        fs.renameSync(tmp, path.join(config.dir, `${n}.json`));
        callback(null, `queued as ${n}`);
      });
    },
  });
  server.on('error', (err) => process.stderr.write(`smtp-server error: ${err.message}\n`));
  await new Promise<void>((resolve) => server.listen(0, config.host, resolve));
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

if (require.main === module) {
  runChild(JSON.parse(process.argv[2] ?? '{}') as ChildConfig).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
