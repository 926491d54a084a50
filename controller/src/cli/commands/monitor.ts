/**
 * `certfleet monitor run-now [--definition ID] [--json] [--no-wait] [--local]` (SPEC M1; issue 5 item 7).
 *
 * By default the run is executed by the RUNNING controller on the same repository, with its agent streams (agent
 * and site endpoints included): the command writes a run request (a `requested` run row), the controller claims it
 * within about a second (the same database poll that carries `agents ban` to live streams), and the command
 * follows it, printing progress (`done/total`) on stderr, then the run summary (`--json`: one JSON object, the run
 * with its report). `--no-wait` prints the run id at once. When no controller claims the request within
 * `--claim-timeout-s` (15 s), the request is cancelled and the command fails with CF_CONTROLLER_NOT_RUNNING.
 *
 * `--local` runs in this process instead, without a controller: only the endpoints the controller itself probes;
 * agent and site endpoints are skipped (this process holds no agent streams), with a warning that says how many.
 *
 * Exit codes: 0 nothing failing, 1 at least one endpoint failing or the run did not finish, 2 usage/known error.
 */
import { Command } from 'commander';
import { CertFleetError } from '@certfleet/shared';
import type { MonitorRun } from '../../domain/monitoring';
import type { ServiceContext } from '../../services/context';
import { runMonitor, type RunReport } from '../../services/monitoring/monitor-service';
import {
  FINAL_RUN_STATUSES,
  cancelRequestedRun,
  readRun,
  requestMonitorRun,
} from '../../services/monitoring/run-requests';
import { MonitoredEndpointEntity } from '../../storage/entities';
import { cliActor, reportCliError, withLocalStore } from '../cli-store';

interface RunNowOptions {
  definition?: string;
  json?: boolean;
  agentDeadlineMs?: string;
  wait: boolean;
  local?: boolean;
  claimTimeoutS: string;
  timeoutS: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function positive(value: string | undefined, option: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value) || Number(value) <= 0 || Number(value) > max) {
    throw new CertFleetError('CF_VALIDATION', `monitor run-now: ${option} must be a whole number from 1 to ${max}`);
  }
  return Number(value);
}

function printSummary(run: MonitorRun, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(JSON.stringify(run) + '\n');
    return;
  }
  const report = (run.report ?? { results: [] }) as unknown as Partial<RunReport>;
  const progress = run.status === 'finished' ? '' : ` (${run.done ?? 0} of ${run.endpoints} observed)`;
  const lines = [
    `run ${run.id} ${run.status}: ${run.endpoints} endpoint(s)${progress}, ${run.ok} ok, ${run.warning} warning, ${run.failing} failing`,
    ...(report.error ? [`  ${report.error}`] : []),
    ...(report.results ?? [])
      .filter((r) => r.status !== 'ok')
      .map((r) => `  ${r.status.padEnd(7)} ${r.endpoint} (${r.definition.name}) ${r.reason}: ${r.message}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/** Follows a requested run until it is final (or, once claimed, `timeoutMs`), with progress lines on stderr. */
async function follow(ctx: ServiceContext, id: string, claimTimeoutMs: number, timeoutMs: number): Promise<MonitorRun> {
  const started = Date.now();
  let claimed = false;
  let lastProgress = '';
  for (;;) {
    const run = await readRun(ctx, id);
    if (!run) throw new CertFleetError('CF_NOT_FOUND', `monitor run-now: run ${id} disappeared`);
    if (FINAL_RUN_STATUSES.has(run.status)) return run;
    if (run.status === 'requested') {
      if (Date.now() - started >= claimTimeoutMs) {
        const seconds = Math.round(claimTimeoutMs / 1000);
        const why = `no running controller claimed the run request within ${seconds} s`;
        if (await cancelRequestedRun(ctx, id, why)) {
          throw new CertFleetError(
            'CF_CONTROLLER_NOT_RUNNING',
            `monitor run-now: ${why}; start the controller (certfleet start) on this repository, or use --local ` +
              'to probe the controller-probed endpoints from here (agent and site endpoints are then skipped)',
            { details: { runId: id } }
          );
        }
        continue; // claimed just now
      }
    } else {
      if (!claimed) {
        claimed = true;
        process.stderr.write(`monitor run-now: run ${id} is executed by the controller ${run.owner ?? '?'}\n`);
      }
      const progress = `${run.done ?? 0}/${run.endpoints}`;
      if (progress !== lastProgress && run.endpoints > 0) {
        lastProgress = progress;
        process.stderr.write(`monitor run-now: ${progress} endpoints done\n`);
      }
    }
    if (Date.now() - started >= timeoutMs && run.status !== 'requested') {
      process.stderr.write(
        `monitor run-now: run ${id} is still ${run.status} after ${Math.round(timeoutMs / 1000)} s; it goes on ` +
          `in the controller (GET /api/v1/monitoring/runs/${id})\n`
      );
      return run;
    }
    await sleep(500);
  }
}

export function monitorCommand(): Command {
  const monitor = new Command('monitor').description('monitoring of served certificates');
  monitor
    .command('run-now')
    .description(
      'run the monitor now in the running controller (agent and site endpoints included) and print the summary; ' +
        'exit 1 when something is failing'
    )
    .option('--definition <id>', 'only the endpoints of this definition')
    .option('--agent-deadline-ms <ms>', 'how long the run waits for agents to report (default 60000)')
    .option('--json', 'print one JSON object (the run with its report)')
    .option('--no-wait', 'print the run id at once instead of waiting for the run')
    .option('--local', 'run here without a controller: controller-probed endpoints only (agent/site ones skipped)')
    .option('--claim-timeout-s <s>', 'how long to wait for a running controller to take the request', '15')
    .option('--timeout-s <s>', 'how long to wait for the run to finish', '3600')
    .action(async (opts: RunNowOptions) => {
      try {
        const agentDeadlineMs = positive(opts.agentDeadlineMs, '--agent-deadline-ms', 3_600_000);
        const claimTimeoutMs = (positive(opts.claimTimeoutS, '--claim-timeout-s', 3600) ?? 15) * 1000;
        const timeoutMs = (positive(opts.timeoutS, '--timeout-s', 86_400) ?? 3600) * 1000;
        const definitionId = opts.definition;
        if (opts.local) {
          const { run, skipped } = await withLocalStore(async (ctx) => {
            const skippedCount = await ctx.db
              .em()
              .fork()
              .count(MonitoredEndpointEntity, {
                enabled: true,
                probeFrom: { $ne: 'controller' },
                ...(definitionId ? { definitionId } : {}),
              });
            const done = await runMonitor(ctx, {
              trigger: 'manual',
              controllerOnly: true,
              ...(definitionId ? { definitionId } : {}),
            });
            return { run: done, skipped: skippedCount };
          });
          if (skipped > 0) {
            process.stderr.write(
              `monitor run-now --local: WARNING: ${skipped} agent/site endpoint(s) skipped (no agent streams in ` +
                'this process); run without --local while the controller runs to include them\n'
            );
          }
          printSummary(run, opts.json);
          if (run.failing > 0 || run.status !== 'finished') process.exitCode = 1;
          return;
        }
        const run = await withLocalStore(async (ctx) => {
          const requested = await requestMonitorRun(
            ctx,
            {
              ...(definitionId ? { definitionId } : {}),
              ...(agentDeadlineMs ? { agentDeadlineMs } : {}),
            },
            cliActor()
          );
          if (!opts.wait) return requested;
          process.stderr.write(`monitor run-now: run ${requested.id} requested; waiting for the controller\n`);
          return follow(ctx, requested.id, claimTimeoutMs, timeoutMs);
        });
        if (!opts.wait) {
          if (opts.json) process.stdout.write(JSON.stringify(run) + '\n');
          else {
            process.stdout.write(`${run.id}\n`);
            process.stderr.write(
              `monitor run-now: run ${run.id} requested; a running controller executes it ` +
                `(GET /api/v1/monitoring/runs/${run.id}); unclaimed requests are cancelled after 10 min\n`
            );
          }
          return;
        }
        printSummary(run, opts.json);
        if (run.failing > 0 || run.status !== 'finished') process.exitCode = 1;
      } catch (err) {
        reportCliError(err, opts.json, 'monitor run-now');
      }
    });
  return monitor;
}
