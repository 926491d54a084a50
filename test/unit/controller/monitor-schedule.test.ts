import test from 'ava';
import {
  cronExpressionSchema,
  cronProblem,
  describeCron,
  isValidCron,
  nextRuns,
  normalizeCron,
} from '../../../controller/src/domain/monitor-schedule';
import { cronOf, presetOf } from '../../../controller/console/src/schedule-presets';

test('M1 cron validation: 5 fields, parsed by the parser pg-boss uses, precise problems', (t) => {
  t.is(cronProblem('0 6 * * *'), null);
  t.is(cronProblem('*/15 8-18 * * mon-fri'), null);
  t.regex(cronProblem('0 6 * *') ?? '', /needs 5 fields .* got 4/);
  t.regex(cronProblem('0 0 6 * * *') ?? '', /got 6/);
  t.is(cronProblem('0 24 * * *'), 'the hour field "24": Constraint error, got value 24 expected range 0-23');
  t.regex(cronProblem('0 6 31 2 *') ?? '', /^Invalid explicit day of month definition/, 'a combination: no one field');
  t.regex(cronProblem('0 6 * * 8') ?? '', /expected range 0-7/);
  t.regex(cronProblem('0 6 * * $(id)') ?? '', /day of week field "\$\(id\)"/);
  t.false(isValidCron(42));
  t.is(normalizeCron('  0   6 * *  * '), '0 6 * * *');
  const parsed = cronExpressionSchema.safeParse(' 0  6 * * * ');
  t.true(parsed.success);
  t.is(parsed.data, '0 6 * * *');
  const refused = cronExpressionSchema.safeParse('61 * * * *');
  t.false(refused.success);
  t.regex(refused.error?.issues[0]?.message ?? '', /^invalid cron expression "61 \* \* \* \*": .*0-59/);
});

test('M1 next runs are UTC and ascending; descriptions name the time zone', (t) => {
  const from = new Date('2026-11-26T05:59:30Z');
  t.deepEqual(
    nextRuns('0 */6 * * *', from, 3).map((d) => d.toISOString()),
    ['2026-11-26T06:00:00.000Z', '2026-11-26T12:00:00.000Z', '2026-11-26T18:00:00.000Z']
  );
  t.deepEqual(
    nextRuns('30 5 * * 1-5', new Date('2026-11-27T06:00:00Z'), 2).map((d) => d.toISOString()),
    ['2026-11-30T05:30:00.000Z', '2026-12-01T05:30:00.000Z'],
    'Friday after the run → Monday'
  );
  t.is(describeCron('0 6 * * *'), 'At 06:00 (UTC)');
  t.is(describeCron('0 * * * *'), 'Every hour (UTC)');
});

test('W6 the console recognises its presets and falls back to the raw field', (t) => {
  t.like(presetOf('0 6 * * *'), { mode: 'daily', hour: 6 });
  t.like(presetOf('0 23 * * *'), { mode: 'daily', hour: 23 });
  t.like(presetOf('0 * * * *'), { mode: 'hours', every: 1 });
  t.like(presetOf('0 */6 * * *'), { mode: 'hours', every: 6 });
  t.like(presetOf('0 */5 * * *'), { mode: 'cron' });
  t.like(presetOf('30 6 * * *'), { mode: 'cron' });
  t.like(presetOf('0 24 * * *'), { mode: 'cron' });
  t.is(cronOf('daily', 22, 4, ''), '0 22 * * *');
  t.is(cronOf('hours', 6, 1, ''), '0 * * * *');
  t.is(cronOf('hours', 6, 8, ''), '0 */8 * * *');
  t.is(cronOf('cron', 6, 4, ' 30 5 * * 1-5 '), '30 5 * * 1-5');
  for (const every of [1, 2, 3, 4, 6, 8, 12]) t.like(presetOf(cronOf('hours', 0, every, '')), { mode: 'hours', every });
});
