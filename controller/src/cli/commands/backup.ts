import { Command } from 'commander';
import pino from 'pino';
import { loadConfig } from '../../config/config';
import { openStore } from '../../controller';
import { createLogger } from '../../logger';
import { createBackup, type BackupProgress } from '../../services/backup-service';
import { reportCliError } from '../cli-store';

interface BackupCliOptions {
  includeMasterKey?: boolean;
  force?: boolean;
  json?: boolean;
}

const kib = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`;

/**
 * `certfleet backup FILE [--include-master-key] [--force] [--json]` (SPEC R9, manual §4.8): writes one consistent
 * archive of the local repository (database, documents, CA material), also while the controller runs. Progress goes
 * to stderr; the summary to stdout (one JSON object with --json). Errors exit with code 2.
 */
export function backupCommand(): Command {
  return new Command('backup')
    .description('write a consistent backup archive (database, documents, CA material) of the repository')
    .argument('<file>', 'archive to write (gzip-compressed tar, mode 0600)')
    .option(
      '--include-master-key',
      'also store the master key in the archive: the archive alone then decrypts every private key'
    )
    .option('--force', 'replace FILE when it exists')
    .option('--json', 'print one JSON object')
    .action(async (file: string, opts: BackupCliOptions) => {
      try {
        const config = loadConfig(process.env);
        const log = createLogger(process.env.CERTFLEET_LOG_LEVEL ?? 'warn', pino.destination(2));
        if (opts.includeMasterKey) {
          process.stderr.write(
            'WARNING: --include-master-key puts the master key into the archive. Anyone holding the archive can decrypt every\n' +
              '         stored private key and password. Keep it encrypted and offline, or back up master.key separately instead.\n'
          );
        }
        const store = await openStore(config, log, { createMasterKey: false });
        try {
          const onProgress = (p: BackupProgress): void => {
            process.stderr.write(`backup: [${p.index}/${p.total}] ${p.table}: ${p.rows} rows, ${kib(p.bytes)}\n`);
          };
          const r = await createBackup(store.db, store.masterKey, file, {
            includeMasterKey: opts.includeMasterKey,
            overwrite: opts.force,
            onProgress,
            log,
          });
          if (opts.json) process.stdout.write(JSON.stringify(r) + '\n');
          else {
            process.stdout.write(
              `backup written: ${r.file} (${kib(r.bytes)}, ${r.tables.length} tables, ${r.rows} rows, ${r.ms} ms)\n` +
                `  master key ${r.kekId}: ${r.masterKeyIncluded ? 'INCLUDED in the archive' : 'not included; keep master.key to restore (certfleet restore FILE --master-key master.key)'}\n`
            );
            for (const w of r.warnings) process.stderr.write(`backup: warning: ${w}\n`);
          }
        } finally {
          await store.close();
        }
      } catch (err) {
        reportCliError(err, opts.json, 'backup');
      }
    });
}
