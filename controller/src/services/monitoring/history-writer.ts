/**
 * Monitoring-history rows of one run, written while the run is still probing (SPEC M1, M4): judged endpoints are
 * buffered and inserted in small chunks inside one transaction, which commits when the run finishes and rolls back
 * when it is interrupted or fails — an interrupted run leaves no history (its verdicts would be partly made up).
 *
 * Streaming the rows keeps the database work off the end of the run (it overlaps the probes) and keeps each
 * INSERT's parameters small: one 1,000-row INSERT builds several MB of array literals and JSON in one go.
 * Each chunk is one `INSERT … SELECT FROM json_to_recordset(…)` with the rows as one JSON parameter: building an
 * entity per row costs ≈ 0.4 ms each, and thirteen array parameters made the driver escape every element in
 * JavaScript (≈ 25 ms of the main thread per 1,000 rows); PostgreSQL reads the JSON in C.
 */
import type { Knex } from '@mikro-orm/postgresql';
import type { CheckOutcome } from '@certfleet/shared';
import type { MonitoringRecord } from '../../domain/history';
import { pgJson } from '../../storage/pg-values';

/** Rows per INSERT. */
export const HISTORY_CHUNK_ROWS = 100;

const INSERT_HISTORY = `insert into monitoring_history (id, definition_id, certificate_id, endpoint, status, reason, message, at,
  run_id, endpoint_id, leaf_sha256, leaf_sha1, leaf_not_after, probed_by, checks)
select gen_random_uuid(), t.def, t.cert, t.endpoint, t.status, t.reason, t.message, ?, ?, t.ep, t.sha256, t.sha1,
  t.not_after, t.probed_by, t.checks
from json_to_recordset(?::json)
  as t(def uuid, cert uuid, endpoint text, status text, reason text, message text, ep uuid, sha256 text, sha1 text,
    not_after timestamptz, probed_by text, checks jsonb)`;

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
  const rows = chunk.map((r) => ({
    def: r.definitionId,
    cert: r.certificateId,
    endpoint: r.endpoint.slice(0, 300),
    status: r.outcome.status,
    reason: r.outcome.reason.slice(0, 100),
    message: r.outcome.message.slice(0, 8000),
    ep: r.endpointId,
    sha256: r.outcome.leaf?.sha256 ?? null,
    sha1: r.outcome.leaf?.sha1 ?? null,
    not_after: r.outcome.leaf ? new Date(r.outcome.leaf.notAfter).toISOString() : null,
    probed_by: r.probedBy.slice(0, 100),
    checks: r.outcome.checks.map((c) => ({
      code: c.code,
      status: c.status,
      message: c.message,
      ...(c.reason ? { reason: c.reason } : {}),
    })) satisfies MonitoringRecord['checks'],
  }));
  return [at, runId, pgJson(rows)];
}
