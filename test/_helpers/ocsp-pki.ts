/**
 * A small CA for the OCSP and AIA tests (SPEC M2, M3, M6), made with the `openssl` CLI at test start, and real
 * `openssl ocsp` responder processes on loopback ports:
 * - root (self-signed) → intermediate "issuing CA" (an `openssl ca` database: index.txt, serial), which issues
 *   leaves whose authorityInfoAccess names the given OCSP and caIssuers URLs;
 * - a delegated OCSP signer issued by the intermediate (extendedKeyUsage OCSPSigning, ocspNoCheck), one issued by
 *   it WITHOUT OCSPSigning, and an unrelated self-signed signer;
 * - the intermediate as DER (`int.der`) and as a PKCS#7 certs-only bundle (`int.p7c`) for caIssuers servers.
 * `openssl ocsp -port 0` listens on the wildcard address (the option takes no host); tests only talk to it via
 * 127.0.0.1. The responder re-reads index.txt only between requests, so after issuing or revoking, {@link
 * OcspResponder.reload} sends one throw-away request.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildOcspRequest, ocspTarget, postOcspRequest } from '@certfleet/shared';

const run = promisify(execFile);
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A certificate with its files. */
export interface PkiCert {
  path: string;
  keyPath: string;
  pem: string;
  der: Buffer;
  keyPem: string;
  x509: X509Certificate;
}

/** A leaf issued by the intermediate. */
export interface OcspLeaf extends PkiCert {
  name: string;
  /** Lowercase hex, as `openssl x509 -serial` prints it. */
  serial: string;
}

/** URLs put into a leaf. */
export interface LeafExtensions {
  ocsp?: string;
  caIssuers?: string;
  crl?: string;
}

export type ResponderSigner = 'issuer' | 'delegated' | 'no-eku' | 'unrelated';

export interface OcspPki {
  dir: string;
  root: PkiCert;
  int: PkiCert;
  /** Delegated OCSP signer: issued by the intermediate, EKU OCSPSigning. */
  delegated: PkiCert;
  /** Issued by the intermediate but without OCSPSigning. */
  noEku: PkiCert;
  /** Self-signed, unrelated to the CA. */
  unrelated: PkiCert;
  /** The intermediate as DER and as a DER PKCS#7 certs-only bundle. */
  intDer: Buffer;
  intP7c: Buffer;
  /**
   * A leaf through `openssl ca` (recorded in index.txt). `unrecorded`: signed by the intermediate with `openssl
   * x509 -req` instead, so the CA database (and the responder) does not know it.
   */
  issueLeaf(name: string, aia: LeafExtensions, opts?: { unrecorded?: boolean }): Promise<OcspLeaf>;
  /** `openssl ca -gencrl` (7 days), DER. */
  crl(): Promise<Buffer>;
  /** `openssl ca -revoke` with an RFC 5280 reason name; returns the revocation time recorded in index.txt. */
  revoke(leaf: OcspLeaf, reason: string): Promise<Date>;
  cleanup(): Promise<void>;
}

async function openssl(dir: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await run('openssl', args, { cwd: dir, ...(env ? { env: { ...process.env, ...env } } : {}) });
  return stdout;
}

async function load(dir: string, name: string): Promise<PkiCert> {
  const path = join(dir, `${name}.pem`);
  const keyPath = join(dir, `${name}.key`);
  const pem = await readFile(path, 'utf8');
  const x509 = new X509Certificate(pem);
  return { path, keyPath, pem, der: Buffer.from(x509.raw), keyPem: await readFile(keyPath, 'utf8'), x509 };
}

const CA_CONFIG = `[ ca ]
default_ca = int
[ int ]
dir = .
database = index.txt
new_certs_dir = newcerts
serial = serial
certificate = int.pem
private_key = int.key
default_md = sha256
default_days = 90
policy = policy
unique_subject = no
copy_extensions = none
[ policy ]
commonName = supplied
`;

/** Makes the PKI in a fresh temporary directory (EC P-256, 90 days). */
export async function makeOcspPki(): Promise<OcspPki> {
  const dir = await mkdtemp(join(tmpdir(), 'certfleet-ocsp-pki-'));
  await mkdir(join(dir, 'newcerts'));
  await writeFile(join(dir, 'index.txt'), '');
  await writeFile(join(dir, 'serial'), '1000\n');
  await writeFile(join(dir, 'ca.cnf'), CA_CONFIG);
  await openssl(dir, [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    'root.key',
    '-out',
    'root.pem',
    '-days',
    '90',
    '-subj',
    '/CN=CertFleet OCSP Test Root/O=CertFleet Tests',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const signed = async (name: string, subject: string, ext: string, issuer: string): Promise<void> => {
    await openssl(dir, ['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
    await writeFile(join(dir, `${name}.ext`), ext);
    await openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${issuer}.pem`,
      '-CAkey',
      `${issuer}.key`,
      '-set_serial',
      `0x${Date.now().toString(16)}${Math.floor(Math.random() * 1e6).toString(16)}`,
      '-days',
      '90',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    ]);
  };
  await signed(
    'int',
    '/CN=CertFleet OCSP Test Issuing CA/O=CertFleet Tests',
    'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n',
    'root'
  );
  await signed(
    'delegated',
    '/CN=CertFleet OCSP Test Responder/O=CertFleet Tests',
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\nnoCheck=ignored\n',
    'int'
  );
  await signed(
    'noeku',
    '/CN=CertFleet OCSP Test Not A Responder/O=CertFleet Tests',
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
    'int'
  );
  await openssl(dir, [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    'unrelated.key',
    '-out',
    'unrelated.pem',
    '-days',
    '90',
    '-subj',
    '/CN=CertFleet OCSP Test Unrelated Signer',
  ]);
  await openssl(dir, ['x509', '-in', 'int.pem', '-outform', 'DER', '-out', 'int.der']);
  await openssl(dir, ['crl2pkcs7', '-nocrl', '-certfile', 'int.pem', '-outform', 'DER', '-out', 'int.p7c']);
  const pki: OcspPki = {
    dir,
    root: await load(dir, 'root'),
    int: await load(dir, 'int'),
    delegated: await load(dir, 'delegated'),
    noEku: await load(dir, 'noeku'),
    unrelated: await load(dir, 'unrelated'),
    intDer: await readFile(join(dir, 'int.der')),
    intP7c: await readFile(join(dir, 'int.p7c')),
    async issueLeaf(name, aia, opts = {}) {
      const base = `leaf-${name.replace(/[^a-z0-9]/gi, '_')}`;
      const access = [
        ...(aia.ocsp ? [`OCSP;URI:${aia.ocsp}`] : []),
        ...(aia.caIssuers ? [`caIssuers;URI:${aia.caIssuers}`] : []),
      ];
      await writeFile(
        join(dir, `${base}.ext`),
        [
          'basicConstraints=CA:FALSE',
          'keyUsage=critical,digitalSignature',
          'extendedKeyUsage=serverAuth',
          `subjectAltName=DNS:${name}`,
          ...(access.length ? [`authorityInfoAccess=${access.join(',')}`] : []),
          ...(aia.crl ? [`crlDistributionPoints=URI:${aia.crl}`] : []),
          '',
        ].join('\n')
      );
      await openssl(dir, [
        'req',
        '-new',
        ...EC,
        '-keyout',
        `${base}.key`,
        '-out',
        `${base}.csr`,
        '-subj',
        `/CN=${name}`,
      ]);
      if (opts.unrecorded)
        await openssl(dir, [
          'x509',
          '-req',
          '-in',
          `${base}.csr`,
          '-CA',
          'int.pem',
          '-CAkey',
          'int.key',
          '-set_serial',
          `0x7${Date.now().toString(16)}`,
          '-days',
          '90',
          '-extfile',
          `${base}.ext`,
          '-out',
          `${base}.pem`,
        ]);
      else
        await openssl(dir, [
          'ca',
          '-batch',
          '-config',
          'ca.cnf',
          '-extfile',
          `${base}.ext`,
          '-in',
          `${base}.csr`,
          '-out',
          `${base}.pem`,
          '-notext',
        ]);
      const cert = await load(dir, base);
      return { ...cert, name, serial: cert.x509.serialNumber.toLowerCase() };
    },
    async revoke(leaf, reason) {
      await openssl(dir, ['ca', '-config', 'ca.cnf', '-revoke', leaf.path, '-crl_reason', reason]);
      const index = await readFile(join(dir, 'index.txt'), 'utf8');
      const line = index.split('\n').find((l) => l.split('\t')[3]?.toLowerCase() === leaf.serial);
      const m = /^R\t\d+Z\t(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z/.exec(line ?? '');
      if (!m) throw new Error(`revocation of ${leaf.serial} not found in index.txt`);
      const [, yy, mo, dd, hh, mi, ss] = m.map(Number) as number[];
      return new Date(Date.UTC(2000 + (yy as number), (mo as number) - 1, dd, hh, mi, ss));
    },
    async crl() {
      await openssl(dir, ['ca', '-config', 'ca.cnf', '-gencrl', '-crldays', '7', '-out', 'int.crl.pem']);
      await openssl(dir, ['crl', '-in', 'int.crl.pem', '-outform', 'DER', '-out', 'int.crl']);
      return readFile(join(dir, 'int.crl'));
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
  return pki;
}

/** The libfaketime preload library (Debian `faketime`), or undefined. */
export function libfaketime(): string | undefined {
  for (const base of ['/usr/lib', '/usr/lib64']) {
    let entries: string[] = [];
    try {
      entries = readdirSync(base);
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = join(base, e, 'faketime', 'libfaketime.so.1');
      if (existsSync(p)) return p;
    }
    const direct = join(base, 'faketime', 'libfaketime.so.1');
    if (existsSync(direct)) return direct;
  }
  return undefined;
}

/** A running `openssl ocsp` responder. */
export interface OcspResponder {
  port: number;
  url: string;
  /** Makes the responder re-read index.txt (one throw-away request; see the module comment). */
  reload(leaf: OcspLeaf): Promise<void>;
  stop(): void;
}

export interface ResponderOptions {
  signer: ResponderSigner;
  /** `-nmin`: nextUpdate this many minutes after thisUpdate (absent: no nextUpdate). */
  nmin?: number;
  /** libfaketime offset for the responder's clock, e.g. `-2h` (needs the `faketime` package). */
  fakeTime?: string;
  /** `-badsig`: corrupt the signature. */
  badsig?: boolean;
}

/** Starts `openssl ocsp -index index.txt -port 0 -rsigner … -rkey … -CA int.pem` and waits for its port. */
export async function startOcspResponder(pki: OcspPki, opts: ResponderOptions): Promise<OcspResponder> {
  const signer = { issuer: pki.int, delegated: pki.delegated, 'no-eku': pki.noEku, unrelated: pki.unrelated }[
    opts.signer
  ];
  const args = ['ocsp', '-index', 'index.txt', '-port', '0', '-rsigner', signer.path, '-rkey', signer.keyPath];
  args.push('-CA', pki.int.path);
  if (opts.nmin !== undefined) args.push('-nmin', String(opts.nmin));
  if (opts.badsig) args.push('-badsig');
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (opts.fakeTime) {
    const lib = libfaketime();
    if (!lib) throw new Error('libfaketime not found (apt-get install faketime)');
    env.LD_PRELOAD = lib;
    env.FAKETIME = opts.fakeTime;
    env.DONT_FAKE_MONOTONIC = '1';
  }
  const child: ChildProcess = spawn('openssl', args, { cwd: pki.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`openssl ocsp did not start: ${out}`)), 10_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /ACCEPT \S*:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`openssl ocsp exited with ${code}: ${out}`));
    });
  });
  child.stdout?.resume();
  child.stderr?.resume();
  const url = `http://127.0.0.1:${port}`;
  return {
    port,
    url,
    async reload(leaf) {
      const req = buildOcspRequest(ocspTarget(leaf.der, pki.int.der));
      await postOcspRequest(url, req.der, 5_000, 65_536);
    },
    stop: () => {
      child.kill('SIGTERM');
    },
  };
}

/** What `openssl ocsp -issuer … -cert … -url …` said (the oracle). */
export interface OpensslOcspVerdict {
  exitCode: number;
  output: string;
  /** "Response verify OK" printed. */
  verified: boolean;
  status?: 'good' | 'revoked' | 'unknown';
  reason?: string;
  revocationTime?: Date;
  /** "Status times invalid" / "status expired" printed. */
  timesInvalid: boolean;
}

/** Runs the openssl OCSP client against `url` for `leaf` (trusting the test root), as the oracle. */
export async function opensslOcsp(
  pki: OcspPki,
  leaf: OcspLeaf,
  url: string,
  extra: string[] = []
): Promise<OpensslOcspVerdict> {
  const args = ['ocsp', '-issuer', pki.int.path, '-cert', leaf.path, '-url', url, '-CAfile', pki.root.path];
  args.push('-timeout', '5', ...extra);
  let output: string;
  let exitCode = 0;
  try {
    const r = await run('openssl', args, { cwd: pki.dir });
    output = r.stdout + r.stderr;
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    exitCode = typeof e.code === 'number' ? e.code : 1;
    output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
  const status = /: (?:WARNING: Status times invalid\.\n[^\n]*\n)?(good|revoked|unknown)\n/.exec(output)?.[1] as
    OpensslOcspVerdict['status'] | undefined;
  const reason = /\tReason: (\S+)/.exec(output)?.[1];
  const rt = /\tRevocation Time: (.+ GMT)/.exec(output)?.[1];
  return {
    exitCode,
    output,
    verified: /Response verify OK/.test(output),
    ...(status ? { status } : {}),
    ...(reason ? { reason } : {}),
    ...(rt ? { revocationTime: new Date(rt) } : {}),
    timesInvalid: /Status times invalid|status expired/.test(output),
  };
}
