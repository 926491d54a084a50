import { Command } from 'commander';
import { CertFleetError } from '@certfleet/shared';
import { startAcquisition } from '../../services/acquisition/acquisition-service';
import { defaultAcquisitionDeps } from '../../services/acquisition/defaults';
import { overdueRenewals } from '../../services/acquisition/renewal-service';
import { DefinitionEntity } from '../../storage/entities';
import { cliActor, reportCliError, withLocalStore } from '../cli-store';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `certfleet request start DEFINITION [--unattended|--interactive]` (SPEC O2): DEFINITION is an id or a name. */
export function requestCommand(): Command {
  const cmd = new Command('request').description('acquisition processes');
  cmd
    .command('start')
    .description('start acquiring a certificate for a definition (new or renewal)')
    .argument('<definition>', 'definition id or name')
    .option('--unattended', 'run to completion without confirmations')
    .option('--interactive', 'stop before every step for confirmation')
    .option('--json', 'print one JSON object')
    .action(async (definition: string, opts: { unattended?: boolean; interactive?: boolean; json?: boolean }) => {
      try {
        if (opts.unattended && opts.interactive)
          throw new CertFleetError('CF_VALIDATION', 'request start: choose --unattended or --interactive, not both');
        const r = await withLocalStore(async (ctx) => {
          const def = await ctx.db
            .em()
            .findOne(DefinitionEntity, UUID.test(definition) ? { id: definition } : { name: definition });
          if (!def)
            throw new CertFleetError('CF_NOT_FOUND', `request start: no definition ${JSON.stringify(definition)}`);
          const processMode = opts.unattended ? 'unattended' : opts.interactive ? 'interactive' : undefined;
          return startAcquisition(
            ctx,
            defaultAcquisitionDeps(ctx),
            { definitionId: def.id, ...(processMode ? { processMode } : {}) },
            cliActor()
          );
        });
        const out = {
          requestId: r.request.id,
          kind: r.request.kind,
          status: r.request.status,
          stoppedBecause: r.stoppedBecause,
          steps: r.steps,
          waitingFor: r.request.waitingFor,
          certificateId: r.request.certificateId,
        };
        if (opts.json) process.stdout.write(JSON.stringify(out) + '\n');
        else
          process.stdout.write(
            `request ${out.requestId} (${out.kind}): ${out.status}${out.waitingFor ? ` — waiting for ${out.waitingFor}` : ''}\n  steps: ${out.steps.join(' → ') || '(none yet)'}\n`
          );
      } catch (err) {
        reportCliError(err, opts.json, 'request start');
      }
    });
  return cmd;
}

/** `certfleet renewals due`: definitions inside their renewal lead time with nothing started (SPEC A5). */
export function renewalsCommand(): Command {
  const cmd = new Command('renewals').description('renewal overview');
  cmd
    .command('due')
    .description('list definitions whose certificate is inside its renewal lead time and not being renewed')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      try {
        const due = await withLocalStore((ctx) => overdueRenewals(ctx));
        if (opts.json) process.stdout.write(JSON.stringify({ items: due }) + '\n');
        else if (due.length === 0) process.stdout.write('no renewals due\n');
        else
          for (const d of due)
            process.stdout.write(
              `${d.definitionName}\t${d.processMode}\t${d.daysLeft} days left\t(expires ${d.notAfter.toISOString()})\n`
            );
      } catch (err) {
        reportCliError(err, opts.json, 'renewals due');
      }
    });
  return cmd;
}
