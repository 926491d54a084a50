import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { getMonitorSchedule, saveMonitorSchedule, type MonitorSchedule } from '../api-monitor-schedule';
import { formatDateTime } from '../format';
import { cronOf, HOUR_STEPS, presetOf, type Mode } from '../schedule-presets';
import { Field, formErrors, NO_ERRORS, type FormErrors } from './form';
import { ErrorText, Notice, StatusBadge } from './messages';

const pad = (n: number): string => String(n).padStart(2, '0');

/**
 * W6 schedule of the monitoring runs (SPEC M1): the schedule in force with its next run times, and (admins)
 * presets — daily at an hour, every N hours — or a raw 5-field cron expression, all in UTC. Saving re-schedules
 * the running controller at once; an invalid expression comes back as the controller's error next to the field.
 */
export function MonitorSchedulePanel({ canEdit }: { canEdit: boolean }): JSX.Element {
  const [current, setCurrent] = useState<MonitorSchedule | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [mode, setMode] = useState<Mode>('daily');
  const [hour, setHour] = useState(6);
  const [every, setEvery] = useState(4);
  const [raw, setRaw] = useState('');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  const show = useCallback((s: MonitorSchedule) => {
    setCurrent(s);
    const p = presetOf(s.cron);
    setMode(p.mode);
    setHour(p.hour);
    setEvery(p.every);
    setRaw(s.cron);
  }, []);
  useEffect(() => {
    getMonitorSchedule()
      .then(show)
      .catch((err: unknown) => setLoadError(err));
  }, [show]);

  const save = async (cron: string | null): Promise<void> => {
    setBusy(true);
    setErrors(NO_ERRORS);
    setNotice(null);
    try {
      const s = await saveMonitorSchedule(cron);
      show(s);
      setNotice(`Schedule saved: ${s.description}. Next run ${formatDateTime(s.nextRuns[0])}.`);
    } catch (err) {
      const fe = formErrors(err, ['cron']);
      // A preset cannot be wrong; a refused raw expression belongs to its field.
      setErrors(mode === 'cron' || cron === null ? fe : { fields: {}, form: err });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="panel" aria-labelledby="schedule-heading" id="monitor-schedule">
      <h2 id="schedule-heading">Schedule</h2>
      <ErrorText error={loadError} />
      {current === null && !loadError ? <p role="status">Loading the schedule…</p> : null}
      {current ? (
        <div class="schedule-now">
          <p>
            Scheduled runs: <strong id="schedule-description">{current.description}</strong> <code>{current.cron}</code>{' '}
            {current.isDefault ? <StatusBadge state="default" label="default" /> : null}
          </p>
          {current.inEffect ? null : (
            <p class="error" role="alert">
              The job scheduler holds {current.scheduled ? <code>{current.scheduled.cron}</code> : 'no schedule'} for
              this; it is applied again when a controller starts or the schedule is saved.
            </p>
          )}
          <h3 id="next-runs-heading">Next runs (UTC)</h3>
          <ol class="next-runs" aria-labelledby="next-runs-heading">
            {current.nextRuns.map((r) => (
              <li key={r}>
                <time dateTime={r}>{formatDateTime(r)}</time>
              </li>
            ))}
          </ol>
        </div>
      ) : null}
      {current && !canEdit ? <p class="hint">Only an administrator can change the schedule.</p> : null}
      {current && canEdit ? (
        <form
          class="form schedule-form"
          noValidate
          aria-labelledby="schedule-form-heading"
          onSubmit={(e) => {
            e.preventDefault();
            void save(cronOf(mode, hour, every, raw));
          }}
        >
          <h3 id="schedule-form-heading">Change the schedule</h3>
          <ErrorText error={errors.form} />
          <fieldset class="schedule-choice">
            <legend>Run the monitor</legend>
            <div class="choice-row">
              <label>
                <input
                  type="radio"
                  name="schedule-mode"
                  value="daily"
                  checked={mode === 'daily'}
                  onChange={() => setMode('daily')}
                />{' '}
                Daily at
              </label>
              <label for="schedule-hour" class="visually-hidden">
                Hour of the daily run (UTC)
              </label>
              <select
                id="schedule-hour"
                value={String(hour)}
                disabled={mode !== 'daily'}
                onChange={(e) => setHour(Number(e.currentTarget.value))}
              >
                {Array.from({ length: 24 }, (_, h) => (
                  <option key={h} value={String(h)}>
                    {pad(h)}:00 UTC
                  </option>
                ))}
              </select>
            </div>
            <div class="choice-row">
              <label>
                <input
                  type="radio"
                  name="schedule-mode"
                  value="hours"
                  checked={mode === 'hours'}
                  onChange={() => setMode('hours')}
                />{' '}
                Every
              </label>
              <label for="schedule-every" class="visually-hidden">
                Hours between runs
              </label>
              <select
                id="schedule-every"
                value={String(every)}
                disabled={mode !== 'hours'}
                onChange={(e) => setEvery(Number(e.currentTarget.value))}
              >
                {HOUR_STEPS.map((n) => (
                  <option key={n} value={String(n)}>
                    {n === 1 ? 'hour' : `${n} hours`}
                  </option>
                ))}
              </select>
            </div>
            <div class="choice-row">
              <label>
                <input
                  type="radio"
                  name="schedule-mode"
                  value="cron"
                  checked={mode === 'cron'}
                  onChange={() => setMode('cron')}
                />{' '}
                Cron expression
              </label>
            </div>
          </fieldset>
          {mode === 'cron' ? (
            <Field
              id="schedule-cron"
              label="Cron expression (5 fields, UTC)"
              hint="minute hour day-of-month month day-of-week, e.g. 30 5 * * 1-5 for 05:30 on weekdays"
              error={errors.fields.cron}
            >
              {(a) => (
                <input
                  {...a}
                  class="mono"
                  value={raw}
                  spellcheck={false}
                  onInput={(e) => setRaw(e.currentTarget.value)}
                />
              )}
            </Field>
          ) : (
            <p class="hint">
              Cron: <code id="schedule-preview">{cronOf(mode, hour, every, raw)}</code>
            </p>
          )}
          <div class="actions">
            <button type="submit" class="primary" disabled={busy}>
              {busy ? 'Saving…' : 'Save schedule'}
            </button>
            <button type="button" disabled={busy || current.isDefault} onClick={() => void save(null)}>
              Reset to the default ({current.defaultCron})
            </button>
          </div>
          <Notice>{notice}</Notice>
        </form>
      ) : null}
    </section>
  );
}
