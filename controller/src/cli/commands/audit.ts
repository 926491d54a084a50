import { Command } from 'commander';
import { verifyAuditChain } from '../../services/audit-service';
import { reportCliError, withLocalStore } from '../cli-store';

/** `certfleet audit verify`: walks the hash-chained audit log (SPEC U5) and reports the first broken link. */
export function auditCommand(): Command {
  const audit = new Command('audit').description('audit log tools');
  audit
    .command('verify')
    .description('verify the hash chain of the audit log')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      try {
        const r = await withLocalStore((ctx) => verifyAuditChain(ctx.db.em()));
        if (opts.json) process.stdout.write(JSON.stringify(r) + '\n');
        else
          process.stdout.write(
            r.ok
              ? `audit log intact: ${r.events} events\n`
              : `audit log BROKEN after ${r.events} events: ${r.reason}${r.brokenAt ? ` (event ${r.brokenAt})` : ''}\n`
          );
        if (!r.ok) process.exitCode = 1;
      } catch (err) {
        reportCliError(err, opts.json, 'audit verify');
      }
    });
  return audit;
}
