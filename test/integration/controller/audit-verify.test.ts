import { execFile } from 'node:child_process';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import { Client } from 'pg';
import { startTestController, type TestController } from '../../_helpers/controller';
import { call } from '../../_helpers/https-client';

/**
 * SPEC U5: the audit log is hash-chained and `certfleet audit verify` (the real CLI, another process, on the
 * controller's PostgreSQL) finds one edited row, and a removed row, made directly in the database.
 */
const test = anyTest as TestFn<{ tc: TestController; admin: string }>;

const root = path.resolve(__dirname, '../../..');

test.before(async (t) => {
  t.context.tc = await startTestController();
  t.context.admin = await t.context.tc.adminToken();
});
test.after.always(async (t) => {
  await t.context.tc?.close();
});

interface Verify {
  code: number;
  result: { ok: boolean; events: number; brokenAt?: string; reason?: string };
}

function auditVerify(tc: TestController): Promise<Verify> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['bin/certfleet.js', 'audit', 'verify', '--json'],
      {
        cwd: root,
        timeout: 120_000,
        env: { ...process.env, DATABASE_URL: tc.databaseUrl, CERTFLEET_HOME: tc.home, CERTFLEET_LOG_LEVEL: 'silent' },
      },
      (err, stdout) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : -1
          : 0;
        try {
          resolve({ code, result: JSON.parse(stdout) as Verify['result'] });
        } catch {
          reject(new Error(`audit verify printed no JSON (exit ${code}): ${stdout}`));
        }
      }
    );
  });
}

async function sql<T>(tc: TestController, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: tc.databaseUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

test.serial('U5 `certfleet audit verify` detects one audit row edited in PostgreSQL, and a removed row', async (t) => {
  const { tc, admin } = t.context;
  // Security events to protect: a user created and promoted, an allow-list change.
  t.is(
    (await call(tc, 'POST', '/api/v1/users', { token: admin, body: { username: 'eve', role: 'user' } })).status,
    201
  );
  t.is((await call(tc, 'PATCH', '/api/v1/users/eve', { token: admin, body: { role: 'admin' } })).status, 200);
  t.is(
    (await call(tc, 'PUT', '/api/v1/settings/ip-allow-list', { token: admin, body: { cidrs: ['127.0.0.0/8'] } }))
      .status,
    200
  );

  const intact = await auditVerify(tc);
  t.is(intact.code, 0);
  t.true(intact.result.ok);
  t.true(intact.result.events >= 8, `${intact.result.events} events`);

  // Someone with database access rewrites history: the promotion now looks like it was done by "system".
  const row = await sql(tc, async (c) => {
    const r = await c.query<{ id: string; actor: string }>(
      `select id, actor from audit_log where action = 'user.role_changed' and target_id = 'eve'`
    );
    t.is(r.rowCount, 1);
    await c.query(`update audit_log set actor = 'system' where id = $1`, [r.rows[0]!.id]);
    return r.rows[0]!;
  });
  const edited = await auditVerify(tc);
  t.is(edited.code, 1, 'exit code 1 for a broken chain');
  t.false(edited.result.ok);
  t.is(edited.result.brokenAt, row.id, 'the edited event is named');
  t.is(edited.result.reason, 'event content does not match its hash');

  // Undo the edit: intact again (the detection was about that one change).
  await sql(tc, (c) => c.query(`update audit_log set actor = $2 where id = $1`, [row.id, row.actor]));
  t.true((await auditVerify(tc)).result.ok);

  // Removing an event from the middle of the chain is detected too.
  await sql(tc, (c) => c.query(`delete from audit_log where action = 'user.created' and target_id = 'eve'`));
  const removed = await auditVerify(tc);
  t.is(removed.code, 1);
  t.false(removed.result.ok);
  t.regex(removed.result.reason ?? '', /not on the chain|head does not match/);
});
