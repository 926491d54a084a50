import { Command } from 'commander';
import { enroll } from '../enroll';
import { loadContext, type CommonOptions } from './common';

/** `certfleet-agent enroll --controller HOST:PORT --token T --ca-sha256 FP` (SPEC G1). */
export function enrollCommand(): Command {
  return new Command('enroll')
    .description('enroll this host with a one-time join token (pins the controller CA by its SHA-256)')
    .requiredOption('--controller <host:port>', "the controller's agent listener, e.g. certfleet.example.com:8444")
    .requiredOption('--token <token>', 'one-time join token from the console or API')
    .requiredOption('--ca-sha256 <hex>', 'SHA-256 of the controller agent CA, shown with the join token')
    .option('--hostname <name>', 'name to report (default: this host name)')
    .option('--config <file>', 'agent config file (default /etc/certfleet-agent/agent.json)')
    .option('--state-dir <dir>', 'state directory (default from the config)')
    .action(
      async (opts: CommonOptions & { controller: string; token: string; caSha256: string; hostname?: string }) => {
        const { store } = loadContext(opts);
        const { agentId } = await enroll(store, {
          controller: opts.controller,
          token: opts.token,
          caSha256: opts.caSha256,
          ...(opts.hostname ? { hostname: opts.hostname } : {}),
        });
        process.stdout.write(`${JSON.stringify({ enrolled: true, agentId, stateDir: store.dir })}\n`);
      }
    );
}
