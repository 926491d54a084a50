/**
 * The monitoring schedule (SPEC M1, W6): the `monitoring.cron` setting is the truth; pg-boss's schedule of the
 * `monitor-run` queue (one row in the database, shared by every replica) follows it. A change writes the setting
 * and re-schedules pg-boss in one step, serialised by an advisory lock and inside the setting's transaction, so
 * two replicas changing it at once cannot leave pg-boss on the older value, and a failed re-schedule writes
 * nothing. Every controller start re-applies the setting as well (startScheduler), which repairs any drift.
 */
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import {
  cronExpressionSchema,
  DEFAULT_MONITOR_CRON,
  describeCron,
  isValidCron,
  MONITOR_SCHEDULE_TZ,
  nextRuns,
  normalizeCron,
} from '../../domain/monitor-schedule';
import { SettingEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import type { Actor, JobSchedule, ServiceContext } from '../context';

/** pg-boss queue of the scheduled monitoring run. */
export const MONITOR_RUN_QUEUE = 'monitor-run';
/** Setting that holds the schedule (a 5-field cron expression, UTC). Absent: the default. */
export const MONITOR_CRON_SETTING = 'monitoring.cron';

/** `{cron}` sets the schedule; `{cron: null}` goes back to the default (daily 06:00 UTC). */
export const monitorScheduleInputSchema = z
  .object({ cron: cronExpressionSchema.nullable().describe('5-field cron expression in UTC; null = the default') })
  .strict();

export interface MonitorScheduleView {
  /** The schedule in force (the setting, or the default). */
  cron: string;
  description: string;
  timezone: string;
  isDefault: boolean;
  defaultCron: string;
  /** The next five run times (UTC, ISO 8601). */
  nextRuns: string[];
  updatedAt: string | null;
  /** What pg-boss holds for the queue (null: not scheduled, e.g. no controller has started on this database). */
  scheduled: { cron: string; timezone: string } | null;
  /** True when pg-boss fires on exactly `cron`. */
  inEffect: boolean;
}

/** The stored schedule: the setting when it is a usable expression, else the default (with a warning). */
export async function monitorCron(ctx: ServiceContext): Promise<string> {
  const row = await ctx.db.em().fork().findOne(SettingEntity, { key: MONITOR_CRON_SETTING });
  if (row && !isValidCron(row.value)) {
    ctx.log.warn(
      { setting: MONITOR_CRON_SETTING },
      'monitoring.cron is not a valid cron expression; using the default'
    );
  }
  return row && isValidCron(row.value) ? normalizeCron(row.value) : DEFAULT_MONITOR_CRON;
}

function view(
  ctx: ServiceContext,
  cron: string,
  isDefault: boolean,
  updatedAt: Date | null,
  scheduled: JobSchedule | null
): MonitorScheduleView {
  return {
    cron,
    description: describeCron(cron),
    timezone: MONITOR_SCHEDULE_TZ,
    isDefault,
    defaultCron: DEFAULT_MONITOR_CRON,
    nextRuns: nextRuns(cron, ctx.clock.now(), 5).map((d) => d.toISOString()),
    updatedAt: updatedAt ? updatedAt.toISOString() : null,
    scheduled: scheduled ? { cron: scheduled.cron, timezone: scheduled.timezone } : null,
    inEffect: scheduled !== null && normalizeCron(scheduled.cron) === cron && scheduled.timezone === 'UTC',
  };
}

/** The schedule in force, its next runs and what pg-boss holds. */
export async function getMonitorSchedule(ctx: ServiceContext): Promise<MonitorScheduleView> {
  const row = await ctx.db.em().fork().findOne(SettingEntity, { key: MONITOR_CRON_SETTING });
  const usable = row !== null && isValidCron(row.value);
  const cron = usable ? normalizeCron(row.value as string) : DEFAULT_MONITOR_CRON;
  const scheduled = ctx.jobSchedules ? await ctx.jobSchedules.get(MONITOR_RUN_QUEUE) : null;
  return view(ctx, cron, !usable, usable ? row.updatedAt : null, scheduled);
}

/**
 * Replaces the schedule (Admin, audited). Invalid input is refused with CF_VALIDATION naming the cron problem and
 * nothing is written. In a controller the running pg-boss is re-scheduled before the setting commits.
 */
export async function setMonitorSchedule(
  ctx: ServiceContext,
  raw: unknown,
  actor: Actor
): Promise<MonitorScheduleView> {
  const parsed = monitorScheduleInputSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`);
    throw new CertFleetError('CF_VALIDATION', `monitoring: ${problems.join('; ')}`, { details: { problems } });
  }
  const cron = parsed.data.cron ?? DEFAULT_MONITOR_CRON;
  const now = ctx.clock.now();
  await ctx.db.em().transactional(async (em) => {
    await em
      .getConnection()
      .execute(
        `select pg_advisory_xact_lock(hashtext('certfleet.monitor-schedule'))`,
        [],
        'all',
        em.getTransactionContext()
      );
    const row = await em.findOne(SettingEntity, { key: MONITOR_CRON_SETTING });
    const before = row && isValidCron(row.value) ? normalizeCron(row.value) : DEFAULT_MONITOR_CRON;
    if (parsed.data.cron === null) {
      if (row) em.remove(row);
    } else if (row) {
      row.value = cron;
      row.updatedAt = now;
    } else {
      em.persist(em.create(SettingEntity, { key: MONITOR_CRON_SETTING, value: cron, updatedAt: now }));
    }
    await appendAudit(
      em,
      {
        actor,
        action: 'monitoring.schedule-changed',
        targetType: 'setting',
        targetId: MONITOR_CRON_SETTING,
        details: { from: before, to: cron, default: parsed.data.cron === null },
      },
      now
    );
    await em.flush();
    // Still inside the transaction and the lock: a failure here rolls the setting back.
    await ctx.jobSchedules?.set(MONITOR_RUN_QUEUE, cron);
  });
  ctx.log.info({ cron, actor }, 'monitoring schedule changed');
  return getMonitorSchedule(ctx);
}
