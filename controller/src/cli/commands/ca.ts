/**
 * `certfleet ca …`: the built-in private CA from the command line (SPEC C1–C7, X3), on the local repository
 * (embedded PostgreSQL under CERTFLEET_HOME, or DATABASE_URL), like the other repository commands.
 *
 *   ca info [--json]                                       list the CAs (active first)
 *   ca show-cacert [--der] [--ca ID] [--out F]             the CA certificate (PEM to stdout; DER needs --out or a pipe)
 *   ca issue --cn CN --san S… [--key-spec K] [--days N] [--csr F] [--out-dir D] [--json]
 *                                                          a server certificate outside any definition
 *   ca revoke SERIAL [--reason R] [--ca ID] [--json]       revoke by serial (idempotent)
 *   ca gen-crl [--out F] [--ca ID] [--force]               the current CRL (DER to F, else PEM to stdout)
 *   ca gen-client USERNAME --out F.p12 [--password-file F] [--days N] [--json]
 *                                                          a console user's client certificate as PKCS#12
 *
 * Errors print `certfleet ca <cmd>: CODE: message` (or the JSON error shape with --json) and exit 2.
 * Private keys and PKCS#12 files are written with mode 0600.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { CertFleetError, atomicWriteFileSync, encodePem } from '@certfleet/shared';
import { revocationReasons, type RevocationReason } from '../../domain/certificate-authority';
import {
  caCertificate,
  currentCrl,
  issueClientCertificate,
  issueServerCertificateDirect,
  listCas,
  revokeCertificate,
} from '../../services/ca-service';
import { cliActor, reportCliError, withLocalStore } from '../cli-store';

function readText(file: string, what: string, limit = 256 * 1024): string {
  try {
    const st = fs.statSync(file);
    if (st.size > limit) throw new CertFleetError('CF_VALIDATION', `ca: ${what} ${file} is larger than ${limit} bytes`);
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof CertFleetError) throw err;
    throw new CertFleetError(
      'CF_VALIDATION',
      `ca: cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`
    );
  }
}

async function writeOut(file: string, data: string | Buffer, mode: number): Promise<void> {
  try {
    atomicWriteFileSync(file, data, mode);
  } catch (err) {
    throw new CertFleetError(
      'CF_VALIDATION',
      `ca: cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      {
        cause: err,
      }
    );
  }
}

/** `DNS:x`, `IP:1.2.3.4`, or a bare value (an IP when it parses as one, else a DNS name). */
function parseSan(value: string): { type: 'dns' | 'ip'; value: string } {
  const m = /^(dns|ip):(.*)$/i.exec(value);
  if (m) return { type: (m[1] as string).toLowerCase() as 'dns' | 'ip', value: m[2] as string };
  return /^[0-9.]+$|:/.test(value) ? { type: 'ip', value } : { type: 'dns', value };
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** The `ca` command group for the `certfleet` program. */
export function caCommand(): Command {
  const ca = new Command('ca').description(
    'built-in private CA: info, CA certificate, issue, revoke, CRL, client certificates'
  );

  ca.command('info')
    .description('list the certificate authorities (active, pending, retired)')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      try {
        const items = await withLocalStore((ctx) => listCas(ctx.db.em()));
        if (opts.json) {
          printJson({ items: items.map(({ certificatePem: _c, chainPem: _ch, csrPem: _csr, ...rest }) => rest) });
          return;
        }
        if (!items.length) process.stdout.write('no CA yet: start the controller once to create the root CA\n');
        for (const c of items) {
          process.stdout.write(
            [
              `${c.status.toUpperCase().padEnd(8)} ${c.id}  ${c.kind}  ${c.name}`,
              `         subject:   ${c.subject}`,
              ...(c.notAfter
                ? [`         validity:  ${c.notBefore} .. ${c.notAfter}`]
                : ['         validity:  (waiting for the parent-issued certificate)']),
              ...(c.sha256 ? [`         sha256:    ${c.sha256}`, `         key:       ${c.keyAlgorithm}`] : []),
              `         issued:    ${c.issued} (${c.revoked} revoked), CRL number ${c.crlNumber}`,
              ...Object.entries(c.extensions).map(([k, v]) => `         ${k}: ${String(v)}`),
              '',
            ].join('\n')
          );
        }
      } catch (err) {
        reportCliError(err, opts.json, 'ca info');
      }
    });

  ca.command('show-cacert')
    .description('print the CA certificate (PEM), or write it as DER')
    .option('--der', 'DER instead of PEM')
    .option('--ca <id>', 'CA id (default: the active CA)', 'active')
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (opts: { der?: boolean; ca: string; out?: string }) => {
      try {
        const cert = await withLocalStore((ctx) => caCertificate(ctx, opts.ca, opts.der ? 'der' : 'pem'));
        if (opts.out) await writeOut(opts.out, cert.body, 0o644);
        else process.stdout.write(cert.body);
      } catch (err) {
        reportCliError(err, false, 'ca show-cacert');
      }
    });

  ca.command('issue')
    .description('issue a server certificate from the active CA (key generated here, or --csr)')
    .requiredOption('--cn <name>', 'subject common name')
    .option('--san <name>', 'subject alternative name: DNS:x, IP:y or a bare name/address (repeatable)', collect, [])
    .option('--org <organization>', 'subject organization (O)')
    .addOption(
      new Option('--key-spec <spec>', 'key to generate')
        .choices(['RSA-2048', 'RSA-3072', 'RSA-4096', 'EC-P256', 'EC-P384'])
        .default('EC-P256')
    )
    .option('--days <n>', 'validity in days (1..825)', (v) => Number.parseInt(v, 10), 397)
    .option('--csr <file>', "issue for this CSR's public key (nothing else in it is used); no key is generated")
    .option('--out-dir <dir>', 'directory for cert.pem, chain.pem, fullchain.pem and key.pem', '.')
    .option('--json', 'print one JSON object')
    .action(
      async (opts: {
        cn: string;
        san: string[];
        org?: string;
        keySpec: 'RSA-2048' | 'RSA-3072' | 'RSA-4096' | 'EC-P256' | 'EC-P384';
        days: number;
        csr?: string;
        outDir: string;
        json?: boolean;
      }) => {
        try {
          const sans = (opts.san.length ? opts.san : [opts.cn]).map(parseSan);
          const csrPem = opts.csr ? readText(opts.csr, 'CSR') : undefined;
          const r = await withLocalStore((ctx) =>
            issueServerCertificateDirect(
              ctx,
              {
                subject: { commonName: opts.cn, ...(opts.org ? { organization: opts.org } : {}) },
                sans,
                keySpec: opts.keySpec,
                validityDays: opts.days,
                ...(csrPem ? { csrPem } : {}),
              },
              cliActor()
            )
          );
          fs.mkdirSync(opts.outDir, { recursive: true });
          const files: Record<string, string> = {
            cert: path.join(opts.outDir, 'cert.pem'),
            chain: path.join(opts.outDir, 'chain.pem'),
            fullchain: path.join(opts.outDir, 'fullchain.pem'),
          };
          await writeOut(files.cert as string, r.certificatePem, 0o644);
          await writeOut(files.chain as string, r.chainPem.join(''), 0o644);
          await writeOut(files.fullchain as string, [r.certificatePem, ...r.chainPem].join(''), 0o644);
          if (r.privateKeyPem) {
            files.key = path.join(opts.outDir, 'key.pem');
            await writeOut(files.key, r.privateKeyPem, 0o600);
          }
          if (opts.json) printJson({ caId: r.caId, serial: r.serial, notAfter: r.notAfter.toISOString(), files });
          else
            process.stdout.write(
              `issued serial ${r.serial} (valid until ${r.notAfter.toISOString()})\n${Object.values(files)
                .map((f) => `  ${f}`)
                .join('\n')}\n`
            );
        } catch (err) {
          reportCliError(err, opts.json, 'ca issue');
        }
      }
    );

  ca.command('revoke')
    .description('revoke a certificate issued by the built-in CA (idempotent)')
    .argument('<serial>', 'hex serial number (as openssl x509 -serial prints it; colons allowed)')
    .addOption(
      new Option('--reason <reason>', 'RFC 5280 reason').choices([...revocationReasons]).default('unspecified')
    )
    .option('--ca <id>', 'the issuing CA, if the serial is ambiguous')
    .option('--json', 'print one JSON object')
    .action(async (serial: string, opts: { reason: RevocationReason; ca?: string; json?: boolean }) => {
      try {
        const r = await withLocalStore((ctx) =>
          revokeCertificate(ctx, { serial, reason: opts.reason, ...(opts.ca ? { caId: opts.ca } : {}) }, cliActor())
        );
        if (opts.json) printJson(r);
        else
          process.stdout.write(
            r.alreadyRevoked
              ? `serial ${r.issuance.serial} was already revoked on ${r.issuance.revokedAt?.toISOString()} (${r.issuance.revocationReason})\n`
              : `revoked serial ${r.issuance.serial} (${r.issuance.subject}), reason ${r.issuance.revocationReason}\n`
          );
      } catch (err) {
        reportCliError(err, opts.json, 'ca revoke');
      }
    });

  ca.command('gen-crl')
    .description('the current CRL of a CA: DER to --out, else PEM to stdout')
    .option('--out <file>', 'write the DER CRL to a file')
    .option('--ca <id>', 'CA id (default: the active CA)', 'active')
    .option('--force', 'generate a new CRL even if the published one is fresh')
    .action(async (opts: { out?: string; ca: string; force?: boolean }) => {
      try {
        const crl = await withLocalStore((ctx) => currentCrl(ctx, opts.ca, { force: Boolean(opts.force) }));
        if (opts.out) {
          await writeOut(opts.out, crl.der, 0o644);
          process.stderr.write(
            `CRL number ${crl.crlNumber} of CA ${crl.caId}, next update ${crl.nextUpdate.toISOString()}: ${opts.out}\n`
          );
        } else {
          process.stdout.write(encodePem('X509 CRL', crl.der));
        }
      } catch (err) {
        reportCliError(err, false, 'ca gen-crl');
      }
    });

  ca.command('gen-client')
    .description("issue a console user's client certificate as a password-protected PKCS#12 (AES-256, SHA-256 MAC)")
    .argument('<username>', 'an existing console user')
    .requiredOption('--out <file>', 'the .p12 file to write (mode 0600)')
    .option('--password-file <file>', 'read the PKCS#12 password from this file; default: generate one and print it')
    .option('--days <n>', 'validity in days (1..825)', (v) => Number.parseInt(v, 10), 365)
    .option('--json', 'print one JSON object')
    .action(async (username: string, opts: { out: string; passwordFile?: string; days: number; json?: boolean }) => {
      try {
        const generated = !opts.passwordFile;
        const password = opts.passwordFile
          ? readText(opts.passwordFile, 'password file', 4096).replace(/\r?\n$/, '')
          : crypto.randomBytes(18).toString('base64url');
        const r = await withLocalStore((ctx) =>
          issueClientCertificate(ctx, { username, password, validityDays: opts.days }, cliActor())
        );
        await writeOut(opts.out, r.pkcs12, 0o600);
        const info = {
          file: opts.out,
          username: r.username,
          serial: r.serial,
          sha1: r.sha1,
          sha256: r.sha256,
          notAfter: r.notAfter.toISOString(),
          ...(generated ? { password } : {}),
        };
        if (opts.json) printJson(info);
        else
          process.stdout.write(
            `wrote ${opts.out} for ${r.username}: serial ${r.serial}, SHA-256 ${r.sha256}\n` +
              (generated ? `password: ${password}\n` : '')
          );
      } catch (err) {
        reportCliError(err, opts.json, 'ca gen-client');
      }
    });

  return ca;
}
