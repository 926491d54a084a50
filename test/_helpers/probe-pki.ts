/**
 * In-test PKI for the probe tests (SPEC M1–M6, S1), made with the `openssl` CLI at test start: a root CA, an
 * intermediate CA, a leaf for `a.probe.test` issued by the intermediate, and a self-signed `default.probe.test`
 * leaf. Also small loopback servers: TLS with SNI selection, and the STARTTLS fakes.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ProbePki {
  dir: string;
  rootPem: string;
  intermediatePem: string;
  /** `a.probe.test` (DNS SANs a.probe.test, localhost; IP SAN 127.0.0.1, ::1), issued by the intermediate. */
  leafPem: string;
  leafKeyPem: string;
  leafPath: string;
  /** Self-signed `default.probe.test`. */
  defaultPem: string;
  defaultKeyPem: string;
  defaultPath: string;
  /** Leaf + intermediate (what a correct server sends). */
  fullchainPem: string;
  fullchainPath: string;
  leafKeyPath: string;
  cleanup(): Promise<void>;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

/** Makes the PKI in a fresh temporary directory (EC P-256 keys, 90 days: past the 30-day expiry warning). */
export async function makeProbePki(): Promise<ProbePki> {
  const dir = await mkdtemp(join(tmpdir(), 'certfleet-probe-pki-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl(
    dir,
    ['req', '-x509', ...ec, '-keyout', 'root.key', '-out', 'root.pem', '-days', '90']
      .concat(['-subj', '/CN=CertFleet Probe Test Root/O=CertFleet Tests/C=US'])
      .concat(['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  );
  await openssl(dir, [
    'req',
    '-new',
    ...ec,
    '-keyout',
    'int.key',
    '-out',
    'int.csr',
    '-subj',
    '/CN=CertFleet Probe Test Intermediate/O=CertFleet Tests/C=US',
  ]);
  await writeFile(
    join(dir, 'int.ext'),
    'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n'
  );
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    'int.csr',
    '-CA',
    'root.pem',
    '-CAkey',
    'root.key',
    '-CAcreateserial',
    '-days',
    '90',
    '-extfile',
    'int.ext',
    '-out',
    'int.pem',
  ]);
  await openssl(dir, [
    'req',
    '-new',
    ...ec,
    '-keyout',
    'leaf.key',
    '-out',
    'leaf.csr',
    '-subj',
    '/CN=a.probe.test/O=CertFleet Tests/C=US',
  ]);
  await writeFile(
    join(dir, 'leaf.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:a.probe.test,DNS:localhost,IP:127.0.0.1,IP:::1\n'
  );
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'int.pem',
    '-CAkey',
    'int.key',
    '-CAcreateserial',
    '-days',
    '90',
    '-extfile',
    'leaf.ext',
    '-out',
    'leaf.pem',
  ]);
  await openssl(dir, [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'default.key',
    '-out',
    'default.pem',
    '-days',
    '90',
    '-subj',
    '/CN=default.probe.test',
    '-addext',
    'subjectAltName=DNS:default.probe.test',
  ]);
  const read = (name: string): Promise<string> => readFile(join(dir, name), 'utf8');
  const [rootPem, intermediatePem, leafPem, leafKeyPem, defaultPem, defaultKeyPem] = (await Promise.all(
    ['root.pem', 'int.pem', 'leaf.pem', 'leaf.key', 'default.pem', 'default.key'].map(read)
  )) as [string, string, string, string, string, string];
  const fullchainPem = leafPem + intermediatePem;
  await writeFile(join(dir, 'fullchain.pem'), fullchainPem);
  return {
    dir,
    rootPem,
    intermediatePem,
    leafPem,
    leafKeyPem,
    leafPath: join(dir, 'leaf.pem'),
    leafKeyPath: join(dir, 'leaf.key'),
    defaultPem,
    defaultKeyPem,
    defaultPath: join(dir, 'default.pem'),
    fullchainPem,
    fullchainPath: join(dir, 'fullchain.pem'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Lowercase hex SHA-256/SHA-1 fingerprints of a PEM certificate file as printed by `openssl x509 -fingerprint`. */
export async function opensslFingerprints(path: string): Promise<{ sha1: string; sha256: string }> {
  const fp = async (alg: string): Promise<string> => {
    const { stdout } = await run('openssl', ['x509', '-in', path, '-noout', '-fingerprint', `-${alg}`]);
    return (/=([0-9A-F:]+)/.exec(stdout)?.[1] ?? '').replace(/:/g, '').toLowerCase();
  };
  return { sha1: await fp('sha1'), sha256: await fp('sha256') };
}

/** DER of the first certificate in a PEM text. */
export function pemToDer(pem: string): Buffer {
  const b64 = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem)?.[1] ?? '';
  return Buffer.from(b64.replace(/\s+/g, ''), 'base64');
}

/** Listens on `host` port 0 and returns the port; the server is closed by `closeAll`. */
export async function listenOn(servers: net.Server[], server: net.Server, host = '127.0.0.1'): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

/**
 * A TLS listener on loopback that serves `certPem` (leaf first, then its chain) and closes each connection after the
 * handshake — an install target for deploy checks and monitored endpoints. Returns its port; closed by `closeAll`.
 */
export function serveTlsChain(servers: net.Server[], certPem: string, keyPem: string): Promise<number> {
  return listenOn(
    servers,
    tls.createServer({ cert: certPem, key: keyPem }, (s) => {
      s.on('error', () => undefined);
      s.end();
    })
  );
}

/**
 * Stops the servers listening. Open connections are not waited for (fakes never end their side): the test
 * process's exit ends them, and destroying a plain socket under a TLS socket from here could crash Node 20.
 */
export function closeAll(servers: net.Server[]): void {
  for (const s of servers.splice(0)) {
    s.close();
    s.unref();
  }
}

/** A STARTTLS fake: greeting, then scripted replies; after the last reply the socket becomes a TLS server. */
export interface FakeDialogue {
  greet: string;
  replies: [RegExp, string][];
  /** Bytes written right after the go-ahead (STARTTLS injection). */
  inject?: string;
}

export const FAKE_DIALOGUES = {
  smtp: {
    greet: '220-mail.probe.test ESMTP\r\n220 ready\r\n',
    replies: [
      [/^EHLO /, '250-mail.probe.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n'],
      [/^STARTTLS$/, '220 2.0.0 go ahead\r\n'],
    ],
  },
  imap: {
    greet: '* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n',
    replies: [[/^a1 STARTTLS$/, '* NOTE untagged before the answer\r\na1 OK begin TLS\r\n']],
  },
  pop3: { greet: '+OK POP3 ready\r\n', replies: [[/^STLS$/, '+OK begin TLS\r\n']] },
  ftp: {
    greet: '220-FTP test server\r\n welcome text\r\n220 ready\r\n',
    replies: [[/^AUTH TLS$/, '234 AUTH TLS successful\r\n']],
  },
} satisfies Record<'smtp' | 'imap' | 'pop3' | 'ftp', FakeDialogue>;

/** A plain TCP server that speaks `dialogue`, then TLS with `secureContext`. */
export function fakeStartTlsServer(dialogue: FakeDialogue, secureContext: tls.SecureContext): net.Server {
  return net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.write(dialogue.greet);
    let buf = '';
    let step = 0;
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const [pattern, reply] = dialogue.replies[step] ?? [/$^/, ''];
        if (!pattern.test(line)) return void socket.end('500 unexpected\r\n');
        step++;
        socket.write(reply + (step === dialogue.replies.length ? (dialogue.inject ?? '') : ''));
        if (step === dialogue.replies.length) {
          socket.off('data', onData);
          const secure = new tls.TLSSocket(socket, { isServer: true, secureContext });
          secure.on('error', () => undefined);
        }
      }
    };
    socket.on('data', onData);
  });
}

/**
 * A loopback port whose TCP handshakes never complete: a child process listens with a backlog of 1 and is
 * stopped (SIGSTOP) so it never accepts; filler connections fill the accept queue, after which the kernel drops
 * further SYNs and `connect()` stays pending. `close()` kills the child and the fillers.
 */
export async function stalledListener(): Promise<{ port: number; close(): void }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(
    process.execPath,
    [
      '-e',
      "const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>console.log(s.address().port))",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] }
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  child.kill('SIGSTOP');
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 32; i++) {
    const connected = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      fillers.push(s);
      s.on('error', () => undefined);
      const timer = setTimeout(() => resolve(false), 200);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!connected) break;
  }
  return {
    port,
    close: () => {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
    },
  };
}
