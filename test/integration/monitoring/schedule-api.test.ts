/**
 * SPEC M1, W6: the monitoring schedule over the API, against a real controller (HTTPS, fresh PostgreSQL, real
 * pg-boss). A PUT re-schedules pg-boss's `monitor-run` cron in the running controller (read back from the
 * `pgboss.schedule` table directly); a per-minute cron then fires a real scheduled monitoring run (pg-boss checks
 * its crons every second here instead of every 30 s, so no test waits a minute); invalid expressions are refused
 * with a typed 400 and change nothing; a User can read the schedule but not change it; a second scheduler started
 * on the same database (a replica's start) re-applies the stored setting when pg-boss drifted from it.
 */
import anyTest, { type TestFn } from 'ava';
import pg from 'pg';
import pino from 'pino';
import { startScheduler } from '../../../controller/src/scheduler/scheduler';
import { defaultAcquisitionDeps } from '../../../controller/src/services/acquisition/defaults';
import { startTestController, type TestController } from '../../_helpers/controller';
import { createUser } from '../../_helpers/https-client';

interface Ctx {
  tc: TestController;
  admin: string;
  user: string;
}
const test = anyTest as TestFn<Ctx>;

interface ScheduleView {
  cron: string;
  description: string;
  timezone: string;
  isDefault: boolean;
  defaultCron: string;
  nextRuns: string[];
  updatedAt: string | null;
  scheduled: { cron: string; timezone: string } | null;
  inEffect: boolean;
}
interface ErrorJson {
  error: { code: string; message: string; details?: { problems?: string[] } };
}

/** A daily cron 12 hours away from now, so it cannot fire while the test runs. */
const FAR_HOUR = (new Date().getUTCHours() + 12) % 24;
const FAR_CRON = `17 ${FAR_HOUR} * * *`;

test.before(async (t) => {
  const tc = await startTestController({ scheduler: { cronMonitorIntervalSeconds: 1, cronWorkerIntervalSeconds: 1 } });
  t.context.tc = tc;
  t.context.admin = await tc.adminToken();
  t.context.user = await createUser(tc, t.context.admin, 'schedule-user', 'user', 'schedule user password 1');
});
test.after.always(async (t) => {
  await t.context.tc?.close();
});

async function pgbossCron(tc: TestController): Promise<{ cron: string; timezone: string } | null> {
  const client = new pg.Client({ connectionString: tc.databaseUrl });
  await client.connect();
  try {
    const r = await client.query<{ cron: string; timezone: string }>(
      `select cron, timezone from pgboss.schedule where name = 'monitor-run'`
    );
    return r.rows[0] ?? null;
  } finally {
    await client.end();
  }
}

async function schedule(t: { context: Ctx }): Promise<ScheduleView> {
  const r = await t.context.tc.request('GET', '/api/v1/monitoring/schedule', undefined, t.context.admin);
  if (r.status !== 200) throw new Error(`GET schedule: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json as ScheduleView;
}

async function auditActions(t: { context: Ctx }): Promise<Array<{ action: string; details: unknown }>> {
  const r = await t.context.tc.request(
    'GET',
    '/api/v1/audit?action=monitoring.schedule&limit=50',
    undefined,
    t.context.admin
  );
  return (r.json as { items: Array<{ action: string; details: unknown }> }).items;
}

test.serial('M1 W6 GET: the default schedule (daily 06:00 UTC) with its next runs, in effect in pg-boss', async (t) => {
  const s = await schedule(t);
  t.is(s.cron, '0 6 * * *');
  t.true(s.isDefault);
  t.is(s.defaultCron, '0 6 * * *');
  t.is(s.timezone, 'UTC');
  t.regex(s.description, /06:00/);
  t.is(s.nextRuns.length, 5);
  const times = s.nextRuns.map((x) => Date.parse(x));
  t.true(times[0]! > Date.now() - 1000, 'the first next run is in the future');
  for (let i = 1; i < times.length; i++) t.is(times[i]! - times[i - 1]!, 86_400_000, 'one day apart');
  for (const x of s.nextRuns) t.regex(x, /T06:00:00\.000Z$/);
  t.deepEqual(s.scheduled, { cron: '0 6 * * *', timezone: 'UTC' });
  t.true(s.inEffect);
  t.deepEqual(await pgbossCron(t.context.tc), { cron: '0 6 * * *', timezone: 'UTC' });
});

test.serial(
  'M1 W6 PUT: invalid cron expressions are refused with a typed 400 naming the problem; nothing written',
  async (t) => {
    const { tc, admin } = t.context;
    const cases: Array<[unknown, RegExp]> = [
      [{ cron: '61 * * * *' }, /got value 61 expected range 0-59/],
      [{ cron: '0 6 * *' }, /needs 5 fields .* got 4/],
      [{ cron: '0 6 * * * *' }, /needs 5 fields .* got 6/],
      [{ cron: '0 6 31 2 *' }, /day of month/i],
      [{ cron: '0 6 * * mon;rm' }, /day of week field/],
      [{ cron: '' }, /needs 5 fields/],
      [{ cron: 42 }, /expected string/],
      [{ cron: '0 6 * * *', extra: true }, /extra|unrecognized/i],
    ];
    for (const [body, message] of cases) {
      const r = await tc.request('PUT', '/api/v1/monitoring/schedule', body, admin);
      const label = JSON.stringify(body);
      t.is(r.status, 400, label);
      t.is((r.json as ErrorJson).error.code, 'CF_VALIDATION', label);
      t.regex((r.json as ErrorJson).error.message, message, label);
    }
    const named = await tc.request('PUT', '/api/v1/monitoring/schedule', { cron: '61 * * * *' }, admin);
    t.true(
      ((named.json as ErrorJson).error.details?.problems ?? []).some((p) => p.startsWith('body.cron:')),
      'the problem names the field (the console shows it next to the input)'
    );
    const s = await schedule(t);
    t.true(s.isDefault, 'the setting was not written');
    t.deepEqual(await pgbossCron(tc), { cron: '0 6 * * *', timezone: 'UTC' }, 'pg-boss unchanged');
    t.deepEqual(await auditActions(t), [], 'nothing audited');
  }
);

test.serial('M1 U1 W6 a User reads the schedule but cannot change it (403 CF_FORBIDDEN)', async (t) => {
  const { tc, user } = t.context;
  const read = await tc.request('GET', '/api/v1/monitoring/schedule', undefined, user);
  t.is(read.status, 200);
  t.is((read.json as ScheduleView).cron, '0 6 * * *');
  const put = await tc.request('PUT', '/api/v1/monitoring/schedule', { cron: FAR_CRON }, user);
  t.is(put.status, 403);
  t.is((put.json as ErrorJson).error.code, 'CF_FORBIDDEN');
  t.deepEqual(await pgbossCron(tc), { cron: '0 6 * * *', timezone: 'UTC' });
});

test.serial(
  'M1 W6 PUT re-schedules pg-boss in the running controller, audited; null restores the default',
  async (t) => {
    const { tc, admin } = t.context;
    const r = await tc.request('PUT', '/api/v1/monitoring/schedule', { cron: `  17   ${FAR_HOUR} * *  * ` }, admin);
    t.is(r.status, 200, JSON.stringify(r.json));
    const s = r.json as ScheduleView;
    t.is(s.cron, FAR_CRON, 'stored in canonical spacing');
    t.false(s.isDefault);
    t.true(s.inEffect);
    t.truthy(s.updatedAt);
    t.regex(s.description, new RegExp(`${String(FAR_HOUR).padStart(2, '0')}:17`));
    for (const x of s.nextRuns) t.regex(x, new RegExp(`T${String(FAR_HOUR).padStart(2, '0')}:17:00\\.000Z$`));
    t.deepEqual(await pgbossCron(tc), { cron: FAR_CRON, timezone: 'UTC' }, 'pg-boss holds the new cron');
    t.deepEqual(await tc.controller.ctx.jobSchedules?.get('monitor-run').then((x) => x?.cron), FAR_CRON);
    const audit = await auditActions(t);
    t.is(audit.length, 1);
    t.is(audit[0]?.action, 'monitoring.schedule-changed');
    t.like(audit[0]?.details as object, { from: '0 6 * * *', to: FAR_CRON, default: false });

    const back = await tc.request('PUT', '/api/v1/monitoring/schedule', { cron: null }, admin);
    t.is(back.status, 200);
    t.true((back.json as ScheduleView).isDefault);
    t.deepEqual(await pgbossCron(tc), { cron: '0 6 * * *', timezone: 'UTC' });
    t.is((await auditActions(t)).length, 2);
  }
);

test.serial(
  'M1 X2 a replica starting on the same database re-applies the stored setting when pg-boss drifted',
  async (t) => {
    const { tc, admin } = t.context;
    t.is((await tc.request('PUT', '/api/v1/monitoring/schedule', { cron: FAR_CRON }, admin)).status, 200);
    const client = new pg.Client({ connectionString: tc.databaseUrl });
    await client.connect();
    try {
      await client.query(`update pgboss.schedule set cron = '0 3 * * *' where name = 'monitor-run'`);
    } finally {
      await client.end();
    }
    const drifted = await schedule(t);
    t.is(drifted.cron, FAR_CRON, 'the setting stays the truth');
    t.deepEqual(drifted.scheduled, { cron: '0 3 * * *', timezone: 'UTC' });
    t.false(drifted.inEffect, 'the drift is shown');
    const ctx = tc.controller.ctx;
    const log = pino({ level: 'silent' });
    const replica = await startScheduler(tc.databaseUrl, { ctx, acquisition: defaultAcquisitionDeps(ctx, {}), log });
    try {
      t.deepEqual(await pgbossCron(tc), { cron: FAR_CRON, timezone: 'UTC' });
      t.true((await schedule(t)).inEffect);
    } finally {
      await replica.stop();
    }
  }
);

test.serial('M1 W6 a per-minute cron set through the API fires a real scheduled monitoring run', async (t) => {
  const { tc, admin } = t.context;
  const runs = async (): Promise<Array<{ id: string; trigger: string; status: string }>> =>
    (await tc.request('GET', '/api/v1/monitoring/runs?trigger=schedule', undefined, admin)).json as Array<{
      id: string;
      trigger: string;
      status: string;
    }>;
  t.deepEqual(await runs(), [], 'no scheduled run yet (the schedule is 12 hours away)');
  const put = await tc.request('PUT', '/api/v1/monitoring/schedule', { cron: '* * * * *' }, admin);
  t.is(put.status, 200);
  t.regex((put.json as ScheduleView).description, /every minute/i);
  const t0 = Date.now();
  let found: Array<{ id: string; trigger: string; status: string }> = [];
  for (let i = 0; i < 60 && found.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 500));
    found = (await runs()).filter((r) => r.status === 'finished');
  }
  t.log(`scheduled run finished ${Date.now() - t0} ms after the PUT`);
  t.is(found.length, 1, 'one scheduled run within 30 s');
  t.is(found[0]?.trigger, 'schedule');
  // Back to a quiet schedule so nothing fires while the controller stops.
  t.is((await tc.request('PUT', '/api/v1/monitoring/schedule', { cron: FAR_CRON }, admin)).status, 200);
});
