/**
 * Recovery of monitoring runs (SPEC M1): a run left `running` by a controller that stopped or died, or a run that
 * stalled, is marked `interrupted` with how far it got (`done` of `endpoints`), so the history tells the truth and
 * later runs proceed normally. A controller does this at start and periodically (run-executor.ts).
 *
 * A `running` run is interrupted when
 * - it has no owner (left by an earlier version, or written by hand);
 * - its owner is a process of this host that is gone (or this process, which has not executed it for 15 s);
 * - its heartbeat (written every 5 s while it executes) is older than `staleMs` (default 60 s) — its process, on
 *   whatever host, is gone or hung;
 * - it started more than `maxRunMs` ago (default 6 h): stalled, whatever its heartbeat says.
 * Runs of live controllers on other hosts (several replicas on one database) keep running. A `requested` run that
 * no controller claimed within `requestTtlMs` (default 10 min) is `cancelled`.
 */
import os from 'node:os';
import type { Database } from '../../storage/database';
import { MonitorRunEntity } from '../../storage/entities';
import type { ServiceContext } from '../context';

/** This process as the owner of the runs it executes: `host:pid`. */
export const RUN_OWNER = `${os.hostname()}:${process.pid}`;

export const DEFAULT_RUN_STALE_MS = 60_000;
export const DEFAULT_MAX_RUN_MS = 6 * 60 * 60 * 1000;
export const DEFAULT_RUN_REQUEST_TTL_MS = 10 * 60 * 1000;
/** A run of this very process that it does not execute is an orphan once its heartbeat is this old. */
const OWN_ORPHAN_GRACE_MS = 15_000;

interface ActiveRun {
  db: Database;
  abort: AbortController;
  settled: Promise<void>;
}

/** Runs executing in this process, by id (any controller or CLI store in it). */
const active = new Map<string, ActiveRun>();

/** Registers a run this process executes (before its row is written); `settle()` when it is over. */
export function registerActiveRun(db: Database, id: string, abort: AbortController): { settle(): void } {
  let settle: () => void = () => undefined;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  active.set(id, { db, abort, settled });
  return {
    settle: () => {
      if (active.get(id)?.abort === abort) active.delete(id);
      settle();
    },
  };
}

/** Ids of the runs this process executes now. */
export function activeRunIds(): Set<string> {
  return new Set(active.keys());
}

/**
 * Interrupts the runs this process executes on `db` (the controller is stopping): each closes itself as
 * `interrupted` with its progress. Waits at most `waitMs` for them to do so.
 */
export async function interruptActiveRuns(db: Database, reason: string, waitMs = 5_000): Promise<number> {
  const mine = [...active.values()].filter((r) => r.db === db);
  for (const r of mine) r.abort.abort(reason);
  if (mine.length === 0) return 0;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(mine.map((r) => r.settled)),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
  return mine.length;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface RecoveryOptions {
  /** A running run whose heartbeat is older than this is interrupted. @default 60000 */
  staleMs?: number;
  /** A run running longer than this is interrupted (stalled). @default 6 h */
  maxRunMs?: number;
  /** A requested run no controller claimed within this is cancelled. @default 10 min */
  requestTtlMs?: number;
}

/** Why a running run must be interrupted, or null while it is alive (pure apart from the pid probe). */
export function whyInterrupted(
  run: { id: string; owner: string | null; heartbeatAt: Date | null; startedAt: Date },
  now: Date,
  opts: Required<Pick<RecoveryOptions, 'staleMs' | 'maxRunMs'>>,
  here: { host: string; pid: number; active: ReadonlySet<string>; alive: (pid: number) => boolean }
): string | null {
  if (!run.owner) return 'no process owns it';
  const sep = run.owner.lastIndexOf(':');
  const host = run.owner.slice(0, sep);
  const pid = Number(run.owner.slice(sep + 1));
  const beat = run.heartbeatAt ?? run.startedAt;
  if (host === here.host && Number.isInteger(pid) && pid > 0) {
    // Own runs: a claimed run registers as active a few queries after its claim (which set the heartbeat).
    const quiet = now.getTime() - beat.getTime() > OWN_ORPHAN_GRACE_MS;
    if (pid === here.pid && !here.active.has(run.id) && quiet) {
      return `its controller (${run.owner}) no longer executes it`;
    }
    if (pid !== here.pid && !here.alive(pid)) return `its process ${run.owner} is gone`;
  }
  if (now.getTime() - beat.getTime() > opts.staleMs) {
    return `no heartbeat from ${run.owner} since ${beat.toISOString()}`;
  }
  if (now.getTime() - run.startedAt.getTime() > opts.maxRunMs) {
    return `stalled: running for more than ${Math.round(opts.maxRunMs / 60_000)} min`;
  }
  return null;
}

export interface RecoveryResult {
  interrupted: Array<{ id: string; done: number; endpoints: number; reason: string }>;
  cancelled: number;
}

/** Marks dead or stalled runs `interrupted` and stale requests `cancelled` (see the file comment). */
export async function recoverRuns(ctx: ServiceContext, options: RecoveryOptions = {}): Promise<RecoveryResult> {
  const opts = {
    staleMs: options.staleMs ?? DEFAULT_RUN_STALE_MS,
    maxRunMs: options.maxRunMs ?? DEFAULT_MAX_RUN_MS,
    requestTtlMs: options.requestTtlMs ?? DEFAULT_RUN_REQUEST_TTL_MS,
  };
  const em = ctx.db.em().fork();
  const now = ctx.clock.now();
  const running = await em.find(
    MonitorRunEntity,
    { status: 'running' },
    { fields: ['id', 'owner', 'heartbeatAt', 'startedAt', 'done', 'endpoints'] }
  );
  const here = { host: os.hostname(), pid: process.pid, active: activeRunIds(), alive: pidAlive };
  const result: RecoveryResult = { interrupted: [], cancelled: 0 };
  for (const r of running) {
    const reason = whyInterrupted(
      { id: r.id, owner: r.owner ?? null, heartbeatAt: r.heartbeatAt ?? null, startedAt: r.startedAt },
      now,
      opts,
      here
    );
    if (!reason) continue;
    const mine = active.get(r.id);
    if (mine) {
      // A stalled run of this process: stop it; it closes itself as interrupted.
      mine.abort.abort(reason);
      continue;
    }
    const done = r.done ?? 0;
    const n = await em.nativeUpdate(
      MonitorRunEntity,
      { id: r.id, status: 'running' },
      {
        status: 'interrupted',
        finishedAt: now,
        report: {
          results: [],
          durationMs: Math.max(0, now.getTime() - r.startedAt.getTime()),
          error: `interrupted: ${reason}; ${done} of ${r.endpoints} endpoint(s) observed`,
        },
      }
    );
    if (n === 1) result.interrupted.push({ id: r.id, done, endpoints: r.endpoints, reason });
  }
  result.cancelled = await em.nativeUpdate(
    MonitorRunEntity,
    { status: 'requested', startedAt: { $lt: new Date(now.getTime() - opts.requestTtlMs) } },
    {
      status: 'cancelled',
      finishedAt: now,
      report: {
        results: [],
        durationMs: 0,
        error: `no running controller claimed the request within ${Math.round(opts.requestTtlMs / 60_000)} min`,
      },
    }
  );
  for (const r of result.interrupted) {
    ctx.log.warn(
      { runId: r.id, done: r.done, endpoints: r.endpoints, reason: r.reason },
      'monitoring run marked interrupted'
    );
  }
  return result;
}
