/**
 * Self-signed certificates made by the `openssl` CLI (not by the code under test), for discovery tests and the
 * discovery bench: an EC P-256 key and certificate as `<dir>/<name>.key` and `<dir>/<name>.pem`.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Runs `openssl req -x509` for `subject` (e.g. `/CN=a.test/O=Tests`), with a DNS subjectAltName `san` when given.
 * @example const { cert, key } = await opensslSelfSigned(dir, 'a', '/CN=a.test/O=Tests', { san: 'a.test', days: 90 });
 */
export async function opensslSelfSigned(
  dir: string,
  name: string,
  subject: string,
  opts: {
    san?: string;
    days: number;
    /** further `-addext` values, e.g. `basicConstraints=critical,CA:TRUE` */ addext?: string[];
  }
): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    String(opts.days),
    '-subj',
    subject,
    ...(opts.san ? ['-addext', `subjectAltName=DNS:${opts.san}`] : []),
    ...(opts.addext ?? []).flatMap((e) => ['-addext', e]),
  ]);
  return { cert, key };
}

/** An organisation root CA (EC P-256, CA:TRUE, keyCertSign/cRLSign) made by `openssl req -x509`. */
export function opensslRootCa(
  dir: string,
  name: string,
  subject: string,
  days = 365
): Promise<{ cert: string; key: string }> {
  return opensslSelfSigned(dir, name, subject, {
    days,
    addext: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
  });
}

/** A new EC P-256 key and CSR for `subject` (`openssl req -new`): `<dir>/<name>.key`, `<dir>/<name>.csr`. */
export async function opensslCsr(dir: string, name: string, subject: string): Promise<{ csr: string; key: string }> {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  await run('openssl', [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    subject,
  ]);
  return { csr, key };
}
