/**
 * Monitoring-history rows of one run, written while the run is still probing (SPEC M1, M4): judged endpoints are
 * buffered and inserted in small chunks inside one transaction, which commits when the run finishes and rolls back
 * when it is interrupted or fails — an interrupted run leaves no history (its verdicts would be partly made up).
 *
 * Streaming the rows keeps the database work off the end of the run (it overlaps the probes) and keeps each
 * INSERT's parameters small: one 1,000-row INSERT builds several MB of array literals and JSON in one go.
 * Each chunk is one `INSERT … SELECT FROM unnest(…)` with real parameters (arrays included); building an entity
 * per row costs ≈ 0.4 ms each.
 */
import crypto from 'node:crypto';
import type { Knex } from '@mikro-orm/postgresql';
import type { CheckOutcome } from '@certfleet/shared';
import type { MonitoringRecord } from '../../domain/history';

/** Rows per INSERT. */
export const HISTORY_CHUNK_ROWS = 100;

const INSERT_HISTORY = `insert into monitoring_history (id, definition_id, certificate_id, endpoint, status, reason, message, at,
  run_id, endpoint_id, leaf_sha256, leaf_sha1, leaf_not_after, probed_by, checks)
select t.id, t.def, t.cert, t.endpoint, t.status, t.reason, t.message, ?, ?, t.ep, t.sha256, t.sha1, t.not_after,
  t.probed_by, t.checks::jsonb
from unnest(?::uuid[], ?::uuid[], ?::uuid[], ?::text[], ?::text[], ?::text[], ?::text[], ?::uuid[], ?::text[], ?::text[],
  ?::timestamptz[], ?::text[], ?::text[])
  as t(id, def, cert, endpoint, status, reason, message, ep, sha256, sha1, not_after, probed_by, checks)`;

/** What one history row needs to know about a judged endpoint. */
export interface HistoryRow {
  definitionId: string;
  certificateId: string | null;
  endpointId: string | null;
  endpoint: string;
  probedBy: string;
  outcome: CheckOutcome;
}

/** Buffers rows and writes them in chunks inside one transaction; see the module comment. */
export class HistoryWriter {
  private buffer: HistoryRow[] = [];
  private trx: Promise<Knex.Transaction> | undefined;
  /** The chain of chunk writes (serialised on the transaction's connection). */
  private writing: Promise<void> = Promise.resolve();
  private failure: unknown;
  private closed = false;
  private committed = false;

  constructor(
    private readonly knex: Knex,
    private readonly runId: string,
    private readonly now: () => Date,
    private readonly chunkRows = HISTORY_CHUNK_ROWS
  ) {}

  /**
   * Queues one row; a full chunk is written in the background (errors surface at {@link commit}). Rows added after
   * commit or discard (a late answer of an interrupted run) are dropped.
   */
  add(row: HistoryRow): void {
    if (this.closed) return;
    this.buffer.push(row);
    if (this.buffer.length >= this.chunkRows) this.flush();
  }

  /** Writes what is buffered and commits every row of the run; rolls back and throws when any chunk failed. */
  async commit(): Promise<void> {
    this.flush();
    this.closed = true;
    await this.writing;
    if (!this.trx) return;
    const trx = await this.trx.catch(() => undefined);
    if (this.failure !== undefined) {
      await trx?.rollback().catch(() => undefined);
      throw this.failure;
    }
    await trx?.commit();
    this.committed = true;
  }

  /** Drops the buffer and rolls back what was written (interrupted or failed run). Never throws. */
  async discard(): Promise<void> {
    if (this.committed) return;
    this.closed = true;
    this.buffer = [];
    await this.writing;
    if (!this.trx) return;
    const trx = await this.trx.catch(() => undefined);
    await trx?.rollback().catch(() => undefined);
  }

  private flush(): void {
    if (this.buffer.length === 0) return;
    const chunk = this.buffer;
    this.buffer = [];
    if (!this.trx) {
      this.trx = this.knex.transaction();
      this.trx.catch(() => undefined); // a failed BEGIN is reported by the chunk that awaits it
    }
    const trx = this.trx;
    this.writing = this.writing.then(async () => {
      if (this.failure !== undefined) return; // the transaction is lost; commit() reports the first error
      try {
        await (await trx).raw(INSERT_HISTORY, bindingsOf(chunk, this.now(), this.runId));
      } catch (err) {
        this.failure = err;
      }
    });
  }
}

function bindingsOf(chunk: readonly HistoryRow[], at: Date, runId: string): Knex.RawBinding[] {
  const col = <T>(f: (r: HistoryRow) => T): T[] => chunk.map(f);
  const bindings: unknown[] = [
    at,
    runId,
    col(() => crypto.randomUUID()),
    col((r) => r.definitionId),
    col((r) => r.certificateId),
    col((r) => r.endpoint.slice(0, 300)),
    col((r) => r.outcome.status),
    col((r) => r.outcome.reason.slice(0, 100)),
    col((r) => r.outcome.message.slice(0, 8000)),
    col((r) => r.endpointId),
    col((r) => r.outcome.leaf?.sha256 ?? null),
    col((r) => r.outcome.leaf?.sha1 ?? null),
    col((r) => (r.outcome.leaf ? new Date(r.outcome.leaf.notAfter).toISOString() : null)),
    col((r) => r.probedBy.slice(0, 100)),
    col((r) =>
      JSON.stringify(
        r.outcome.checks.map((c) => ({
          code: c.code,
          status: c.status,
          message: c.message,
          ...(c.reason ? { reason: c.reason } : {}),
        })) satisfies MonitoringRecord['checks']
      )
    ),
  ];
  return bindings as Knex.RawBinding[]; // arrays of nullable values: pg sends NULL elements
}
