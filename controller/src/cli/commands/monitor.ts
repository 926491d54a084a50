/**
 * `certfleet monitor run-now [--definition ID] [--json]` (SPEC M1; issue 5 item 7): runs the monitor once on the
 * local repository and prints the run summary (with `--json`: one JSON object, the run with its report).
 * Exit codes: 0 nothing failing, 1 at least one endpoint failing (or the run failed), 2 usage/known error.
 *
 * Agent-probed endpoints: this process holds no agent streams, so their probe jobs are delivered when the agent
 * next (re)connects to a controller; an agent that does not answer within the deadline gives `AgentDidNotReport`.
 */
import { Command } from 'commander';
import { runMonitor, type RunReport } from '../../services/monitoring/monitor-service';
import { reportCliError, withLocalStore } from '../cli-store';

export function monitorCommand(): Command {
  const monitor = new Command('monitor').description('monitoring of served certificates');
  monitor
    .command('run-now')
    .description('probe and judge the enabled monitored endpoints now; exit 1 when something is failing')
    .option('--definition <id>', 'only the endpoints of this definition')
    .option('--agent-deadline-ms <ms>', 'how long to wait for agents to report', '60000')
    .option('--json', 'print one JSON object')
    .action(async (opts: { definition?: string; json?: boolean; agentDeadlineMs: string }) => {
      try {
        const deadline = Number(opts.agentDeadlineMs);
        const run = await withLocalStore((ctx) =>
          runMonitor(
            ctx,
            { trigger: 'manual', ...(opts.definition ? { definitionId: opts.definition } : {}) },
            Number.isFinite(deadline) && deadline > 0 ? { agentDeadlineMs: deadline } : {}
          )
        );
        if (opts.json) {
          process.stdout.write(JSON.stringify(run) + '\n');
        } else {
          const report = (run.report ?? { results: [] }) as unknown as RunReport;
          const lines = [
            `run ${run.id} ${run.status}: ${run.endpoints} endpoint(s), ${run.ok} ok, ${run.warning} warning, ${run.failing} failing`,
            ...report.results
              .filter((r) => r.status !== 'ok')
              .map((r) => `  ${r.status.padEnd(7)} ${r.endpoint} (${r.definition.name}) ${r.reason}: ${r.message}`),
          ];
          process.stdout.write(lines.join('\n') + '\n');
        }
        if (run.failing > 0 || run.status !== 'finished') process.exitCode = 1;
      } catch (err) {
        reportCliError(err, opts.json, 'monitor run-now');
      }
    });
  return monitor;
}
