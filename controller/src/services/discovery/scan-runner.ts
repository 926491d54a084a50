/**
 * The controller's discovery scan runner (SPEC S1): runs controller scans in the background of a controller
 * process, at most `maxConcurrentScans` at once, each with the bounded concurrency of its request (asynchronous
 * sockets only: the event loop stays free for the API).
 *
 * - Claiming: queued controller scans are claimed by one `UPDATE … FOR UPDATE SKIP LOCKED` (so replicas sharing
 *   the database never run a scan twice), when one is queued in this process and every `pollMs`.
 * - Progress: found endpoints are judged at once (the shared analysis against the scan's trust set) and buffered;
 *   every `flushMs` (about a second) one transaction writes the buffered findings and the `done` counter, so other
 *   processes see progress. The write is conditional on the row still being `running` under this runner's key: a
 *   scan cancelled through another process (or declared interrupted) stops at the next flush.
 * - Liveness: each runner holds a session-level PostgreSQL advisory lock on its own random key on a dedicated
 *   connection, and stamps the key on the scans it runs. A `running` scan whose key nobody holds any more belongs
 *   to a process that died (PostgreSQL releases the lock with the connection): at start and every `pollMs`, such
 *   scans become `interrupted`. A runner that stops normally marks its own running scans `interrupted`.
 */
import crypto from 'node:crypto';
import { Client } from 'pg';
import { MAX_SCAN_PAIRS, type ScanFinding, type SweepStats, analyseHit, expandTargets, sweep } from '@certfleet/shared';
import type { DiscoveryScan } from '../../domain/discovery';
import type { Em } from '../../storage/database';
import { DiscoveryScanEntity } from '../../storage/entities';
import type { ServiceContext } from '../context';
import { resolveTrustSet } from '../monitoring/trust-sets-service';
import { storeFindings } from './findings-store';
import type { DiscoveryRunnerHandle } from './scan-service';

/** First half of every runner's advisory-lock key (`pg_advisory_lock(int, int)`): "CFds". */
const LOCK_NAMESPACE = 0x43466473;
/** Buffered findings that trigger a write before the next tick. */
const FLUSH_FINDINGS = 1_000;

export interface ScanRunnerOptions {
  /** Scans this process runs at once. @default 2 */
  maxConcurrentScans?: number;
  /** How often progress and findings are written. @default 1000 */
  flushMs?: number;
  /** How often queued scans are looked for and dead runners' scans declared interrupted. @default 5000 */
  pollMs?: number;
}

type StopReason = 'cancelled' | 'stopping' | 'lost';

interface RunningScan {
  stop(reason: StopReason): void;
  finished: Promise<void>;
}

const INTERRUPTED_BY_DEATH = 'the controller process running this scan stopped or died';
const INTERRUPTED_BY_STOP = 'the controller stopped while this scan ran';

/** Runs controller discovery scans in this process. Create with {@link startDiscoveryRunner}. */
export class DiscoveryScanRunner implements DiscoveryRunnerHandle {
  /** This process's advisory-lock key (stamped on the scans it runs). */
  readonly key = crypto.randomInt(1, 2 ** 31 - 1);
  private lock: Client | null = null;
  private readonly running = new Map<string, RunningScan>();
  private stopped = false;
  private claiming: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private readonly maxConcurrent: number;
  private readonly flushMs: number;
  private readonly pollMs: number;

  constructor(
    private readonly ctx: ServiceContext,
    options: ScanRunnerOptions = {}
  ) {
    this.maxConcurrent = options.maxConcurrentScans ?? 2;
    this.flushMs = options.flushMs ?? 1_000;
    this.pollMs = options.pollMs ?? 5_000;
  }

  /** Takes the advisory lock, declares dead runners' scans interrupted, starts polling. */
  async start(): Promise<void> {
    await this.ensureLock();
    await this.recoverInterrupted();
    this.timer = setInterval(() => this.tick(), this.pollMs);
    this.timer.unref();
    this.wake();
  }

  wake(): void {
    if (this.stopped) return;
    this.claiming = this.claiming
      .then(() => this.claimAndRun())
      .catch((err: unknown) => this.ctx.log.warn({ err: (err as Error).message }, 'discovery: claiming scans failed'));
  }

  abort(scanId: string): void {
    this.running.get(scanId)?.stop('cancelled');
  }

  /** Scans running in this process. */
  runningCount(): number {
    return this.running.size;
  }

  /** Stops claiming, marks this process's running scans `interrupted`, releases the lock. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.claiming;
    const scans = [...this.running.values()];
    for (const s of scans) s.stop('stopping');
    await Promise.all(scans.map((s) => s.finished));
    await this.lock?.end().catch(() => undefined);
    this.lock = null;
  }

  private tick(): void {
    if (this.stopped) return;
    this.ensureLock()
      .then(() => this.recoverInterrupted())
      .catch((err: unknown) => this.ctx.log.warn({ err: (err as Error).message }, 'discovery: liveness check failed'));
    this.wake();
  }

  private async ensureLock(): Promise<void> {
    if (this.lock) return;
    const client = new Client({ connectionString: this.ctx.db.url, application_name: 'certfleet-discovery-runner' });
    client.on('error', (err: Error) => {
      this.ctx.log.warn({ err: err.message }, 'discovery: runner lock connection lost');
      if (this.lock === client) this.lock = null;
    });
    await client.connect();
    await client.query('select pg_advisory_lock($1, $2)', [LOCK_NAMESPACE, this.key]);
    this.lock = client;
  }

  /** Running controller scans whose runner's lock is free belong to a dead process: they become `interrupted`. */
  private async recoverInterrupted(): Promise<void> {
    const lock = this.lock;
    if (!lock) return;
    const conn = this.ctx.db.em().getConnection();
    const keys = await conn.execute<{ runner_key: number | null }[]>(
      `select distinct runner_key from discovery_scans where status = 'running' and run_by = 'controller'`
    );
    for (const { runner_key: key } of keys) {
      if (key === this.key) continue;
      if (key !== null) {
        const got = await lock.query<{ ok: boolean }>('select pg_try_advisory_lock($1, $2) as ok', [
          LOCK_NAMESPACE,
          key,
        ]);
        if (!got.rows[0]?.ok) continue; // its runner is alive
      }
      try {
        const now = this.ctx.clock.now();
        const rows = await conn.execute<{ id: string }[]>(
          `update discovery_scans set status = 'interrupted', error = ?, finished_at = ?, updated_at = ?
            where status = 'running' and run_by = 'controller' and runner_key ${key === null ? 'is null' : '= ?'}
            returning id`,
          [INTERRUPTED_BY_DEATH, now, now, ...(key === null ? [] : [key])]
        );
        if (rows.length) this.ctx.log.warn({ scans: rows.map((r) => r.id) }, 'discovery: scans interrupted');
      } finally {
        if (key !== null) await lock.query('select pg_advisory_unlock($1, $2)', [LOCK_NAMESPACE, key]);
      }
    }
  }

  private async claimAndRun(): Promise<void> {
    while (!this.stopped && this.running.size < this.maxConcurrent && this.lock) {
      const now = this.ctx.clock.now();
      const rows = await this.ctx.db
        .em()
        .getConnection()
        .execute<Array<{ id: string }>>(
          `update discovery_scans set status = 'running', started_at = coalesce(started_at, ?), updated_at = ?,
                  runner_key = ?
            where id = (select id from discovery_scans where status = 'queued' and run_by = 'controller'
                         order by created_at, id limit 1 for update skip locked)
            returning id`,
          [now, now, this.key]
        );
      const id = rows[0]?.id;
      if (!id) return;
      this.launch(await this.ctx.db.em().fork().findOneOrFail(DiscoveryScanEntity, { id }));
    }
  }

  private launch(row: DiscoveryScan): void {
    const abort = new AbortController();
    let reason: StopReason | null = null;
    let markFinished: () => void = () => undefined;
    const entry: RunningScan = {
      stop: (why) => {
        reason ??= why;
        abort.abort();
      },
      finished: new Promise<void>((resolve) => (markFinished = resolve)),
    };
    this.running.set(row.id, entry);
    this.ctx.log.info({ scanId: row.id, pairs: row.total }, 'discovery scan started');
    this.execute(row, abort.signal, () => reason, entry)
      .catch((err: unknown) =>
        this.ctx.log.error({ scanId: row.id, err: (err as Error).message }, 'discovery: scan bookkeeping failed')
      )
      .finally(() => {
        this.running.delete(row.id);
        markFinished();
        this.wake();
      });
  }

  private async execute(
    row: DiscoveryScan,
    signal: AbortSignal,
    reasonOf: () => StopReason | null,
    entry: RunningScan
  ): Promise<void> {
    const buffer: ScanFinding[] = [];
    let done = 0;
    let writes: Promise<void> = Promise.resolve();
    /** Writes the buffer and the counter while the scan is still ours; stops the scan when it is not. */
    const flush = (): void => {
      writes = writes.then(async () => {
        const batch = buffer.splice(0);
        let ours: boolean;
        try {
          ours = await this.write(row.id, batch, { done });
        } catch (err) {
          buffer.unshift(...batch); // written with the next flush
          throw err;
        }
        if (!ours) entry.stop('lost');
      });
      writes = writes.catch((err: unknown) =>
        this.ctx.log.warn({ scanId: row.id, err: (err as Error).message }, 'discovery: progress write failed')
      );
    };
    const timer = setInterval(flush, this.flushMs);
    let stats: SweepStats | undefined;
    let failure: Error | undefined;
    let trustSetRef: unknown = null;
    try {
      const trust = await resolveTrustSet(this.ctx, { trustedCaSetId: row.options.trustSet });
      trustSetRef = trust.ref;
      stats = await sweep(expandTargets(row.targets), row.ports, {
        concurrency: row.options.concurrency,
        connectTimeoutMs: row.options.connectTimeoutMs,
        handshakeTimeoutMs: row.options.handshakeTimeoutMs,
        maxDurationMs: row.options.maxDurationMs,
        maxPairs: MAX_SCAN_PAIRS,
        signal,
        progressIntervalMs: 200,
        onProgress: (p) => {
          done = p.done;
        },
        onHit: (hit) => {
          buffer.push(analyseHit(hit, { now: this.ctx.clock.now(), trustSet: trust.set }));
          if (buffer.length >= FLUSH_FINDINGS) flush();
        },
      });
      done = stats.done;
    } catch (err) {
      failure = err as Error;
    } finally {
      clearInterval(timer);
      await writes;
    }
    const reason = reasonOf();
    if (reason === 'cancelled' || reason === 'lost') {
      this.ctx.log.info({ scanId: row.id, done }, 'discovery scan stopped (cancelled)');
      return;
    }
    const status = failure ? 'failed' : reason === 'stopping' ? 'interrupted' : 'done';
    const error = failure
      ? `discovery: ${failure.message}`
      : reason === 'stopping'
        ? INTERRUPTED_BY_STOP
        : stats?.stopped === 'deadline'
          ? `stopped at the scan's time budget (${row.options.maxDurationMs} ms) after ${done} of ${row.total} pairs`
          : null;
    try {
      await this.write(row.id, buffer.splice(0), {
        done,
        final: { status, error, stats: stats ? { ...stats, trustSet: trustSetRef } : null },
      });
    } catch (err) {
      // The findings could not be stored: the scan must not stay `running` for ever.
      await this.write(row.id, [], {
        done,
        final: {
          status: 'failed',
          error: `discovery: storing the results failed: ${(err as Error).message}`,
          stats: null,
        },
      });
      throw err;
    }
    this.ctx.log.info({ scanId: row.id, status, done, total: row.total }, 'discovery scan finished');
  }

  /**
   * One transaction: the counters (and the final status) on the row — only while it is `running` under this
   * runner — then the findings. Returns false when the row is no longer this runner's running scan.
   */
  private async write(
    scanId: string,
    findings: ScanFinding[],
    progress: {
      done: number;
      final?: { status: DiscoveryScan['status']; error: string | null; stats: Record<string, unknown> | null };
    }
  ): Promise<boolean> {
    return this.ctx.db
      .em()
      .fork()
      .transactional(async (em: Em) => {
        const now = this.ctx.clock.now();
        const conn = em.getConnection();
        const tx = em.getTransactionContext();
        const final = progress.final;
        const updated = await conn.execute<{ id: string }[]>(
          final
            ? `update discovery_scans set done = ?, updated_at = ?, status = ?, error = ?, stats = ?::jsonb, finished_at = ?
                where id = ? and status = 'running' and runner_key = ? returning id`
            : `update discovery_scans set done = ?, updated_at = ?
                where id = ? and status = 'running' and runner_key = ? returning id`,
          final
            ? [
                progress.done,
                now,
                final.status,
                final.error,
                final.stats ? JSON.stringify(final.stats) : null,
                now,
                scanId,
                this.key,
              ]
            : [progress.done, now, scanId, this.key],
          'all',
          tx
        );
        if (updated.length === 0) return false;
        if (findings.length > 0) {
          const inserted = await storeFindings(em, scanId, findings, 'controller', now);
          if (inserted > 0)
            await conn.execute(
              `update discovery_scans set findings = findings + ? where id = ?`,
              [inserted, scanId],
              'all',
              tx
            );
        }
        return true;
      });
  }
}

/** Starts the runner of this controller process (see {@link DiscoveryScanRunner}). */
export async function startDiscoveryRunner(
  ctx: ServiceContext,
  options: ScanRunnerOptions = {}
): Promise<DiscoveryScanRunner> {
  const runner = new DiscoveryScanRunner(ctx, options);
  await runner.start();
  return runner;
}
