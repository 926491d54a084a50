import fs from 'node:fs';
import { Command, Option } from 'commander';
import { CertFleetError } from '@certfleet/shared';
import { importCertificate } from '../../services/import-service';
import { cliActor, reportCliError, withLocalStore } from '../cli-store';

interface ImportCliOptions {
  key?: string;
  chain?: string;
  password?: string;
  passwordFile?: string;
  keyPassword?: string;
  mode: 'managed' | 'monitored';
  name?: string;
  json?: boolean;
}

function readInput(file: string, what: string): Buffer {
  try {
    const st = fs.statSync(file);
    if (st.size > 1024 * 1024)
      throw new CertFleetError(
        'CF_IMPORT_TOO_LARGE',
        `import: ${what} ${file} is ${st.size} bytes; the limit is 1 MiB`
      );
    return fs.readFileSync(file);
  } catch (err) {
    if (err instanceof CertFleetError) throw err;
    throw new CertFleetError(
      'CF_VALIDATION',
      `import: cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`
    );
  }
}

/** `certfleet import FILE …` (SPEC I1–I3): imports into the local repository, all-or-nothing. */
export function importCommand(): Command {
  return new Command('import')
    .description('import a certificate (+ key, chain) in PEM, DER, PKCS#7, PKCS#12 or JKS into the repository')
    .argument('<file>', 'certificate file')
    .option('--key <file>', 'separate private key file')
    .option('--chain <file>', 'separate chain file')
    .option('--password <p>', 'password of the file (PKCS#12, JKS store, encrypted key)')
    .option('--password-file <file>', 'read the password from a file instead of the command line')
    .option('--key-password <p>', 'key password when it differs (JKS)')
    .addOption(
      new Option('--mode <mode>', 'operation mode of the created definition')
        .choices(['managed', 'monitored'])
        .makeOptionMandatory()
    )
    .option('--name <name>', 'definition name (default: the common name)')
    .option('--json', 'print one JSON object')
    .action(async (file: string, opts: ImportCliOptions) => {
      try {
        const password = opts.passwordFile
          ? fs.readFileSync(opts.passwordFile, 'utf8').replace(/\r?\n$/, '')
          : opts.password;
        const files = {
          file: readInput(file, 'file'),
          key: opts.key ? readInput(opts.key, 'key file') : undefined,
          chain: opts.chain ? readInput(opts.chain, 'chain file') : undefined,
        };
        const r = await withLocalStore((ctx) =>
          importCertificate(
            ctx,
            files,
            { mode: opts.mode, password, keyPassword: opts.keyPassword, name: opts.name, fileName: file },
            cliActor()
          )
        );
        const out = {
          format: r.format,
          definition: { id: r.definition.id, name: r.definition.name, operationMode: r.definition.operationMode },
          certificate: {
            id: r.certificate.id,
            sha256: r.certificate.sha256,
            subject: r.certificate.subject,
            notAfter: r.certificate.notAfter.toISOString(),
            isCurrent: r.certificate.isCurrent,
          },
          privateKeyId: r.privateKeyId,
          redeployable: r.redeployable,
        };
        if (opts.json) process.stdout.write(JSON.stringify(out) + '\n');
        else
          process.stdout.write(
            `imported ${out.certificate.subject} (${r.format}) as definition "${out.definition.name}" [${out.definition.operationMode}]` +
              `${r.redeployable ? ' with its private key (redeployable)' : ' without a key (monitoring only)'}\n  certificate ${out.certificate.id} sha256 ${out.certificate.sha256}\n`
          );
      } catch (err) {
        reportCliError(err, opts.json, 'import');
      }
    });
}
