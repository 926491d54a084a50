/**
 * The monitoring schedule (SPEC M1, W6) as a value: a 5-field cron expression evaluated in UTC, the way pg-boss
 * evaluates it. Validation uses the very parser pg-boss uses (cron-parser 4.9), so an expression accepted here is
 * one pg-boss accepts, and next run times are computed the same way. Pure: no storage, no transport.
 */
import cronParser from 'cron-parser';
import cronstrue from 'cronstrue';
import { z } from 'zod';

/** Default schedule: daily at 06:00 UTC, before the administrator's morning. */
export const DEFAULT_MONITOR_CRON = '0 6 * * *';
/** pg-boss evaluates schedules in this time zone; the console says so next to every time. */
export const MONITOR_SCHEDULE_TZ = 'UTC';

const FIELD_NAMES = ['minute', 'hour', 'day of month', 'month', 'day of week'] as const;
const FIELD_CHARS = /^[\d*/,\-A-Za-z]+$/;

/** Why `expr` is not a usable schedule, or null when it is. Precise enough to show next to the input field. */
export function cronProblem(expr: string): string | null {
  const fields = expr.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5) {
    return `needs 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`;
  }
  const bad = fields.findIndex((f) => !FIELD_CHARS.test(f));
  if (bad >= 0) return `the ${FIELD_NAMES[bad]} field "${fields[bad]}" has characters cron does not use`;
  const whole = parseError(fields.join(' '));
  if (whole === null) return null;
  // Name the field when one field alone is wrong (the parser's own message does not say which).
  for (let i = 0; i < fields.length; i++) {
    const alone = parseError(fields.map((f, j) => (j === i ? f : '*')).join(' '));
    if (alone !== null) return `the ${FIELD_NAMES[i]} field "${fields[i]}": ${alone}`;
  }
  return whole;
}

function parseError(expr: string): string | null {
  try {
    cronParser.parseExpression(expr, { tz: MONITOR_SCHEDULE_TZ });
    return null;
  } catch (err) {
    const msg = (err as Error).message;
    return msg && msg !== 'undefined' ? msg : 'not a cron expression';
  }
}

/** The expression in canonical spacing (single spaces, trimmed). */
export function normalizeCron(expr: string): string {
  return expr.trim().split(/\s+/).join(' ');
}

/** True for an expression `cronProblem` accepts. */
export function isValidCron(value: unknown): value is string {
  return typeof value === 'string' && cronProblem(value) === null;
}

/** zod schema of a schedule expression: 5 fields, parsed by cron-parser; the message says what is wrong. */
export const cronExpressionSchema = z
  .string()
  .max(200)
  .superRefine((v, ctx) => {
    const problem = cronProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: `invalid cron expression "${v}": ${problem}` });
  })
  .transform(normalizeCron);

/** The next `count` run times after `from` (UTC). */
export function nextRuns(expr: string, from: Date, count = 5): Date[] {
  const it = cronParser.parseExpression(normalizeCron(expr), { tz: MONITOR_SCHEDULE_TZ, currentDate: from });
  const out: Date[] = [];
  for (let i = 0; i < count; i++) out.push(it.next().toDate());
  return out;
}

/** A human description such as "At 06:00" or "Every 4 hours", with the time zone. */
export function describeCron(expr: string): string {
  try {
    return `${cronstrue.toString(normalizeCron(expr), { use24HourTimeFormat: true, verbose: false })} (UTC)`;
  } catch {
    return `cron "${expr}" (UTC)`;
  }
}
