/**
 * Monitoring history written while a run probes (SPEC M1, M4; history-writer.ts): chunks stream into one
 * transaction — invisible to other sessions until the run commits, gone when the run is interrupted, and a chunk that
 * fails makes the commit fail with nothing written. Real PostgreSQL.
 */
import crypto from 'node:crypto';
import test from 'ava';
import type { CheckOutcome } from '@certfleet/shared';
import type { ServiceContext } from '../../../controller/src/services/context';
import { createDefinition } from '../../../controller/src/services/definition-service';
import { HistoryWriter, type HistoryRow } from '../../../controller/src/services/monitoring/history-writer';
import { type Database, openDatabase } from '../../../controller/src/storage/database';
import { dropDatabase, freshDatabaseUrl, serviceContextFor } from '../../_helpers/db';

let db: Database;
let url: string;
let ctx: ServiceContext;
let definitionId: string;

test.before(async () => {
  url = await freshDatabaseUrl('cfhist');
  db = await openDatabase(url);
  ctx = serviceContextFor(db);
  const def = await createDefinition(
    ctx,
    { name: 'history.example', subject: { commonName: 'history.example' }, operationMode: 'monitored' },
    'test'
  );
  definitionId = def.id;
});

test.after.always(async () => {
  await db?.close();
  if (url) await dropDatabase(url);
});

async function openRun(): Promise<string> {
  const id = crypto.randomUUID();
  await db
    .em()
    .getKnex()
    .raw(
      `insert into monitor_runs (id, trigger, status, started_at, endpoints, ok, warning, failing, done)
       values (?, 'manual', 'running', now(), 0, 0, 0, 0, 0)`,
      [id]
    );
  return id;
}

function row(k: number, defId = definitionId): HistoryRow {
  const outcome: CheckOutcome = {
    status: k % 2 ? 'ok' : 'failing',
    reason: k % 2 ? 'Ok' : 'CertificateExpired',
    message: `endpoint ${k}`,
    checks: [{ code: 'NotExpired', status: k % 2 ? 'ok' : 'fail', message: `check ${k}` }],
    chain: [],
    expiry: { intermediates: [] },
  } as unknown as CheckOutcome;
  return {
    definitionId: defId,
    certificateId: null,
    endpointId: null,
    endpoint: `127.0.0.1:${1000 + k}`,
    probedBy: 'controller',
    outcome,
  };
}

/** Rows of the run as another session sees them. */
async function visibleRows(runId: string): Promise<number> {
  const r = (await db
    .em()
    .getKnex()
    .raw(`select count(*)::int as n from monitoring_history where run_id = ?`, [runId])) as {
    rows: Array<{ n: number }>;
  };
  return r.rows[0]?.n ?? -1;
}

/** Waits (bounded) until the writer's background chunks have reached PostgreSQL: they hold row locks on the run. */
async function chunksWritten(runId: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = (await db
      .em()
      .getKnex()
      .raw(
        `select count(*)::int as n from pg_locks l join pg_stat_activity a on a.pid = l.pid
         where l.locktype = 'transactionid' and a.state = 'idle in transaction' and a.datname = current_database()`
      )) as { rows: Array<{ n: number }> };
    if ((r.rows[0]?.n ?? 0) > 0) return;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error(`the writer of run ${runId} never opened its transaction`);
}

test.serial(
  'M1 history rows stream in chunks but stay invisible until the run commits; then all are there',
  async (t) => {
    const runId = await openRun();
    const w = new HistoryWriter(db.em().getKnex(), runId, () => new Date(), 10);
    for (let k = 0; k < 35; k++) w.add(row(k));
    await chunksWritten(runId);
    t.is(await visibleRows(runId), 0, 'no other session sees rows of a run in progress');
    await w.commit();
    t.is(await visibleRows(runId), 35);
    const statuses = (await db
      .em()
      .getKnex()
      .raw(
        `select status, count(*)::int as n from monitoring_history where run_id = ? group by status order by status`,
        [runId]
      )) as { rows: Array<{ status: string; n: number }> };
    t.deepEqual(statuses.rows, [
      { status: 'failing', n: 18 },
      { status: 'ok', n: 17 },
    ]);
    await w.discard(); // after a commit: nothing happens
    t.is(await visibleRows(runId), 35);
  }
);

test.serial('M1 an interrupted run (discard) leaves no history, even for chunks already written', async (t) => {
  const runId = await openRun();
  const w = new HistoryWriter(db.em().getKnex(), runId, () => new Date(), 5);
  for (let k = 0; k < 23; k++) w.add(row(k));
  await chunksWritten(runId);
  await w.discard();
  w.add(row(99)); // a late answer after the run ended is dropped
  t.is(await visibleRows(runId), 0);
});

test.serial('M1 a chunk PostgreSQL refuses makes the commit fail and no row of the run is kept', async (t) => {
  const runId = await openRun();
  const w = new HistoryWriter(db.em().getKnex(), runId, () => new Date(), 4);
  for (let k = 0; k < 8; k++) w.add(row(k));
  w.add(row(8, crypto.randomUUID())); // a definition that does not exist: foreign key violation
  for (let k = 9; k < 16; k++) w.add(row(k));
  const err = await t.throwsAsync(w.commit());
  t.regex(err?.message ?? '', /foreign key/);
  t.is(await visibleRows(runId), 0);
});
