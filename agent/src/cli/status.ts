import crypto from 'node:crypto';
import { Command } from 'commander';
import { loadContext, type CommonOptions } from './common';

/** `certfleet-agent status`: enrollment, certificate validity and installed versions, as JSON. */
export function statusCommand(): Command {
  return new Command('status')
    .description('show enrollment, agent certificate validity and installed bundle versions (JSON)')
    .option('--config <file>', 'agent config file (default /etc/certfleet-agent/agent.json)')
    .option('--state-dir <dir>', 'state directory (default from the config)')
    .action((opts: CommonOptions) => {
      const { store } = loadContext(opts);
      if (!store.isEnrolled()) {
        process.stdout.write(`${JSON.stringify({ enrolled: false, stateDir: store.dir })}\n`);
        process.exitCode = 3;
        return;
      }
      const state = store.read();
      const cert = new crypto.X509Certificate(store.readIdentity().certPem);
      process.stdout.write(
        `${JSON.stringify({
          enrolled: true,
          agentId: state.agentId,
          controller: state.controller,
          certificate: { serial: cert.serialNumber, notBefore: cert.validFrom, notAfter: cert.validTo },
          installed: state.lastVersions,
          jobsAnswered: Object.keys(state.results).length,
        })}\n`
      );
    });
}
