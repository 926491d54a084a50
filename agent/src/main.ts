/**
 * `certfleet-agent`: the agent's command line (SPEC G5). The single executable's entry point
 * (installers/src/build-agent.ts bundles this file).
 */
import { Command } from 'commander';
import { isCertFleetError } from '@certfleet/shared';
import { AGENT_VERSION } from './version';
import { enrollCommand } from './cli/enroll';
import { installBundleCommand } from './cli/install-bundle';
import { runCommand } from './cli/run';
import { selfTestCommand } from './cli/self-test';
import { statusCommand } from './cli/status';

/** Builds the `certfleet-agent` command tree. Every command has `--help`. */
export function buildAgentCli(): Command {
  const program = new Command('certfleet-agent')
    .description('CertFleet agent: installs certificates delivered by the controller and probes endpoints')
    .version(AGENT_VERSION, '-V, --version')
    .showHelpAfterError()
    .enablePositionalOptions();
  program.addCommand(enrollCommand());
  program.addCommand(runCommand());
  program.addCommand(statusCommand());
  program.addCommand(installBundleCommand());
  program.addCommand(selfTestCommand());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildAgentCli().parseAsync(argv);
  } catch (err) {
    const code = isCertFleetError(err) ? err.code : 'CF_INTERNAL';
    process.stderr.write(`certfleet-agent: ${code}: ${(err as Error).message}\n`);
    process.exitCode = isCertFleetError(err) && err.code === 'CF_VALIDATION' ? 2 : 1;
  }
}
