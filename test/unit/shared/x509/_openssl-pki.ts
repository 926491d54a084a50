/**
 * Certificates of every key and signature algorithm, made by the `openssl` CLI in a temporary directory (not by the
 * code under test), with exactly the extensions a test asks for.
 */
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Key algorithms `openssl genpkey` makes here. */
export type KeySpec = 'rsa' | 'rsa-pss' | 'dsa' | 'P-256' | 'P-384' | 'P-521' | 'ed25519' | 'ed448';

const GENPKEY: Readonly<Record<KeySpec, string[]>> = {
  rsa: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  'rsa-pss': ['-algorithm', 'RSA-PSS', '-pkeyopt', 'rsa_keygen_bits:2048'],
  dsa: [], // from parameters, see key()
  'P-256': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  'P-384': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  'P-521': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'],
  ed25519: ['-algorithm', 'ED25519'],
  ed448: ['-algorithm', 'ED448'],
};

/** A private key made by openssl: its PEM file and node:crypto's reading. */
export interface PkiKey {
  file: string;
  privateKey: KeyObject;
}

/** A certificate made by openssl. */
export interface PkiCert {
  der: Buffer;
  x509: X509Certificate;
  pem: string;
  file: string;
  key: PkiKey;
}

/** What to put in a certificate. */
export interface PkiCertSpec {
  /** `/CN=…/O=…` */
  subject: string;
  key: PkiKey;
  /** Absent: self-signed. */
  issuer?: PkiCert;
  /** Extension config lines (`keyUsage = critical,keyCertSign`); openssl's default key identifiers are off. */
  ext?: string[];
  /** Further config sections the extension lines refer to (`[dir_sect]` …). */
  sections?: string[];
  /** `sha256`, `sha384`…; absent for EdDSA. */
  digest?: string;
  /** Sign with RSASSA-PSS padding. */
  pss?: boolean;
  serial?: number;
}

/** A temporary directory with openssl-made keys and certificates. */
export class OpensslPki {
  private count = 0;

  private constructor(readonly dir: string) {}

  static async create(): Promise<OpensslPki> {
    return new OpensslPki(await mkdtemp(path.join(os.tmpdir(), 'certfleet-openssl-pki-')));
  }

  async key(spec: KeySpec): Promise<PkiKey> {
    const file = this.file('key');
    if (spec === 'dsa') {
      const params = this.file('params');
      await run('openssl', [
        'genpkey',
        '-genparam',
        '-algorithm',
        'DSA',
        '-pkeyopt',
        'dsa_paramgen_bits:1024',
        '-out',
        params,
      ]);
      await run('openssl', ['genpkey', '-paramfile', params, '-out', file]);
    } else {
      await run('openssl', ['genpkey', ...GENPKEY[spec], '-out', file]);
    }
    return { file, privateKey: createPrivateKey(await readFile(file)) };
  }

  async cert(spec: PkiCertSpec): Promise<PkiCert> {
    const file = this.file('pem');
    const config = this.file('cnf');
    const ext = ['subjectKeyIdentifier = none', 'authorityKeyIdentifier = none', ...(spec.ext ?? [])];
    const lines = ['[req]', 'distinguished_name = dn', '[dn]', '[ext]', ...dedupe(ext), ...(spec.sections ?? [])];
    await writeFile(config, `${lines.join('\n')}\n`);
    const signing = [
      ...(spec.digest ? [`-${spec.digest}`] : []),
      ...(spec.pss ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'] : []),
    ];
    const common = ['-days', '2', '-set_serial', String(spec.serial ?? ++this.count + 1000), '-out', file];
    if (spec.issuer === undefined) {
      await run('openssl', [
        'req',
        '-x509',
        '-new',
        '-key',
        spec.key.file,
        '-subj',
        spec.subject,
        '-config',
        config,
        '-extensions',
        'ext',
        ...signing,
        ...common,
      ]);
    } else {
      const csr = this.file('csr');
      await run('openssl', [
        'req',
        '-new',
        '-key',
        spec.key.file,
        '-subj',
        spec.subject,
        '-config',
        config,
        '-out',
        csr,
      ]);
      await run('openssl', [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        spec.issuer.file,
        '-CAkey',
        spec.issuer.key.file,
        '-extfile',
        config,
        '-extensions',
        'ext',
        ...signing,
        ...common,
      ]);
    }
    const pem = await readFile(file, 'utf8');
    const x509 = new X509Certificate(pem);
    return { der: Buffer.from(x509.raw), x509, pem, file, key: spec.key };
  }

  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  private file(ext: string): string {
    return path.join(this.dir, `${++this.count}.${ext}`);
  }
}

/** Later lines override earlier ones with the same name (openssl would keep the first). */
function dedupe(lines: string[]): string[] {
  const byName = new Map<string, string>();
  for (const line of lines) byName.set(line.split('=')[0]?.trim() ?? line, line);
  return [...byName.values()];
}
