import { Command } from 'commander';
import { AgentRuntime } from '../agent';
import { loadContext, type CommonOptions } from './common';

/** `certfleet-agent run`: hold the stream to the controller until SIGTERM/SIGINT (SPEC G2). */
export function runCommand(): Command {
  return new Command('run')
    .description('connect to the controller and install what it sends (runs until stopped)')
    .option('--config <file>', 'agent config file (default /etc/certfleet-agent/agent.json)')
    .option('--state-dir <dir>', 'state directory (default from the config)')
    .action(async (opts: CommonOptions) => {
      const { config, store } = loadContext(opts);
      store.read(); // fails clearly when not enrolled
      const runtime = new AgentRuntime({ store, config });
      const stop = () => void runtime.stop();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      try {
        await runtime.start();
      } finally {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
      }
    });
}
