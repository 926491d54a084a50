import { Command } from 'commander';
import { VERSION } from '../version';
import { accessCommand } from './commands/access';
import { agentsCommand } from './commands/agents';
import { auditCommand } from './commands/audit';
import { backupCommand } from './commands/backup';
import { caCommand } from './commands/ca';
import { deployCommand } from './commands/deploy';
import { importCommand } from './commands/import';
import { inspectCommand } from './commands/inspect';
import { monitorCommand } from './commands/monitor';
import { probeCommand } from './commands/probe';
import { renewalsCommand, requestCommand } from './commands/request';
import { restoreCommand } from './commands/restore';
import { scanCommand } from './commands/scan';
import { startCommand } from './commands/start';

/** Builds the `certfleet` command tree. Every command has `--help`. */
export function buildCli(): Command {
  const program = new Command('certfleet')
    .description('CertFleet: TLS certificate lifecycle manager (controller CLI)')
    .version(VERSION, '-V, --version')
    .showHelpAfterError()
    .enablePositionalOptions();
  program.addCommand(startCommand());
  program.addCommand(inspectCommand());
  program.addCommand(probeCommand());
  program.addCommand(importCommand());
  program.addCommand(backupCommand());
  program.addCommand(restoreCommand());
  program.addCommand(auditCommand());
  program.addCommand(accessCommand());
  program.addCommand(caCommand());
  program.addCommand(requestCommand());
  program.addCommand(renewalsCommand());
  program.addCommand(monitorCommand());
  program.addCommand(scanCommand());
  program.addCommand(agentsCommand());
  program.addCommand(deployCommand());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildCli().parseAsync(argv);
}
