/**
 * The controller's side of run requests and run recovery (SPEC M1): at start, runs left `running` by a controller
 * that died are marked `interrupted` (run-recovery.ts); then requested runs are claimed every `pollMs` (1 s) and
 * executed here, with this controller's agent streams, and the recovery check repeats every `recoveryMs` (60 s).
 * Stopping interrupts the runs this controller executes (each closes as `interrupted` with its progress).
 */
import type { ServiceContext } from '../context';
import type { MonitorOptions } from './monitor-service';
import { claimRequestedRun, executeRequestedRun } from './run-requests';
import { interruptActiveRuns, recoverRuns, type RecoveryOptions } from './run-recovery';

export interface RunExecutorOptions {
  /** How often requested runs are looked for. @default 1000 */
  pollMs?: number;
  /** How often dead or stalled runs are looked for. @default 60000 */
  recoveryMs?: number;
  /** Requested runs executed at once by this controller. @default 4 */
  maxConcurrent?: number;
  recovery?: RecoveryOptions;
  /** Options of the requested runs (tests: short deadlines). */
  monitor?: MonitorOptions;
}

export interface RunExecutor {
  /** Requested runs executing now. */
  executing(): number;
  stop(): Promise<void>;
}

export async function startRunExecutor(ctx: ServiceContext, options: RunExecutorOptions = {}): Promise<RunExecutor> {
  const log = ctx.log.child({ component: 'monitor-runs' });
  const recovered = await recoverRuns(ctx, options.recovery);
  if (recovered.interrupted.length || recovered.cancelled) {
    log.info(
      { interrupted: recovered.interrupted.length, cancelled: recovered.cancelled },
      'monitoring runs recovered at start'
    );
  }
  const max = Math.max(1, options.maxConcurrent ?? 4);
  let executing = 0;
  let polling = false;
  let stopped = false;

  const poll = async (): Promise<void> => {
    while (!stopped && executing < max) {
      const claimed = await claimRequestedRun(ctx, options.recovery?.requestTtlMs);
      if (!claimed) return;
      executing++;
      log.info({ runId: claimed.id, requestedBy: claimed.requestedBy }, 'requested monitoring run claimed');
      executeRequestedRun(ctx, claimed, options.monitor ?? {})
        .then((run) =>
          log.info(
            { runId: run.id, status: run.status, endpoints: run.endpoints, failing: run.failing },
            'requested monitoring run finished'
          )
        )
        .catch((err: unknown) => log.warn({ runId: claimed.id, err: (err as Error).message }, 'requested run ended'))
        .finally(() => executing--);
    }
  };
  const pollTimer = setInterval(() => {
    if (polling || stopped) return;
    polling = true;
    poll()
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'run request poll failed'))
      .finally(() => (polling = false));
  }, options.pollMs ?? 1000);
  pollTimer.unref();

  let recovering = false;
  const recoveryTimer = setInterval(() => {
    if (recovering || stopped) return;
    recovering = true;
    recoverRuns(ctx, options.recovery)
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'run recovery failed'))
      .finally(() => (recovering = false));
  }, options.recoveryMs ?? 60_000);
  recoveryTimer.unref();

  return {
    executing: () => executing,
    stop: async () => {
      stopped = true;
      clearInterval(pollTimer);
      clearInterval(recoveryTimer);
      const n = await interruptActiveRuns(ctx.db, 'the controller is stopping');
      if (n) log.warn({ runs: n }, 'monitoring runs interrupted by stop');
    },
  };
}
