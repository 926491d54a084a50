import { Command } from 'commander';
import pino from 'pino';
import { loadConfig } from '../../config/config';
import { homeLayout } from '../../config/home';
import { redactUrl, createLogger } from '../../logger';
import { restoreBackup, type RestoreProgress } from '../../services/backup-service';
import { reportCliError } from '../cli-store';

interface RestoreCliOptions {
  masterKey?: string;
  json?: boolean;
}

function progressLine(p: RestoreProgress): string {
  switch (p.phase) {
    case 'checked':
      return `restore: archive checked: ${p.tables} tables, ${p.rows} rows; master key ${p.kekId} from ${p.kekSource}\n`;
    case 'table':
      return `restore: [${p.index}/${p.total}] ${p.table}: ${p.rows} rows\n`;
    case 'verified':
      return `restore: verified: ${p.privateKeys} private keys and ${p.sealedValues - p.privateKeys} other sealed values open with the master key\n`;
  }
}

/**
 * `certfleet restore FILE [--master-key FILE] [--json]` (SPEC R9, manual §4.8): restores an archive into the empty
 * repository of CERTFLEET_HOME / DATABASE_URL. Never creates a fresh master key: the key comes from the archive,
 * `--master-key`, or an existing `master.key` in the home. Errors exit with code 2 and leave the target empty.
 */
export function restoreCommand(): Command {
  return new Command('restore')
    .description('restore a backup archive into an empty repository (new CERTFLEET_HOME or empty database)')
    .argument('<file>', 'archive written by `certfleet backup`')
    .option(
      '--master-key <file>',
      'master.key file of the backed-up controller (needed when the archive does not include it)'
    )
    .option('--json', 'print one JSON object')
    .action(async (file: string, opts: RestoreCliOptions) => {
      try {
        const config = loadConfig(process.env);
        const log = createLogger(process.env.CERTFLEET_LOG_LEVEL ?? 'warn', pino.destination(2));
        const r = await restoreBackup(config, file, {
          masterKeyFile: opts.masterKey,
          log,
          onProgress: (p) => {
            process.stderr.write(progressLine(p));
          },
        });
        if (opts.json) process.stdout.write(JSON.stringify(r) + '\n');
        else {
          const target = config.databaseUrl ? redactUrl(config.databaseUrl) : config.home;
          process.stdout.write(
            `restored ${r.rows} rows in ${r.tables.length} tables into ${target} (${r.ms} ms)\n` +
              `  archive written ${r.createdAt} by CertFleet ${r.certfleetVersion}\n` +
              `  master key ${r.kekId} from ${r.kekSource}${r.masterKeyWritten ? `, written to ${homeLayout(config.home).masterKeyFile}` : ''}\n` +
              (r.migrationsAppliedAfter.length
                ? `  migrated to this version: ${r.migrationsAppliedAfter.join(', ')}\n`
                : '')
          );
        }
      } catch (err) {
        reportCliError(err, opts.json, 'restore');
      }
    });
}
