import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { listRuns, runNow, runReportUrl, type MonitorRunRow, type User } from '../api';
import { MonitorSchedulePanel } from '../components/monitor-schedule';
import { formatDateTime, plural } from '../format';
import { ErrorText, Notice, StatusBadge } from '../components/messages';
import { ScreenHeading } from '../components/screen-heading';
import { Link } from '../router';
import { DataTable } from '../components/data-table';

/** Counters of a run as text: "3 ok, 1 warning, 0 failing". */
export function runSummary(r: Pick<MonitorRunRow, 'ok' | 'warning' | 'failing'>): string {
  return `${r.ok} ok, ${r.warning} warning, ${r.failing} failing`;
}

/**
 * W6 monitor control (manual §4.2.6): the schedule (admins change it), run the monitor now, and the history of
 * runs, each with its report.
 */
export function MonitoringScreen({ user }: { user: User }): JSX.Element {
  const [runs, setRuns] = useState<MonitorRunRow[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [runError, setRunError] = useState<unknown>(null);
  const [running, setRunning] = useState(false);
  const [last, setLast] = useState<MonitorRunRow | null>(null);

  const load = useCallback(() => {
    listRuns(50)
      .then((r) => {
        setRuns(r);
        setError(null);
      })
      .catch((err: unknown) => setError(err));
  }, []);
  useEffect(load, [load]);

  const [progress, setProgress] = useState<MonitorRunRow | null>(null);
  // While "run now" waits for its run, the run row's progress (done of endpoints, written with its heartbeat).
  useEffect(() => {
    if (!running) return undefined;
    const since = Date.now() - 5_000;
    const timer = setInterval(() => {
      listRuns(5)
        .then((rows) =>
          setProgress(
            rows.find(
              (r) => r.status === 'running' && r.trigger === 'manual' && new Date(r.startedAt).getTime() >= since
            ) ?? null
          )
        )
        .catch(() => undefined);
    }, 1_000);
    return () => {
      clearInterval(timer);
      setProgress(null);
    };
  }, [running]);

  const run = async (): Promise<void> => {
    setRunning(true);
    setRunError(null);
    setLast(null);
    try {
      setLast(await runNow());
      load();
    } catch (err) {
      setRunError(err);
    } finally {
      setRunning(false);
    }
  };

  return (
    <>
      <ScreenHeading wid="W6">Monitor control</ScreenHeading>
      <MonitorSchedulePanel canEdit={user.role === 'admin'} />
      <section aria-labelledby="run-now-heading" class="panel">
        <h2 id="run-now-heading">Run now</h2>
        <p>Probe every enabled endpoint now and judge what it serves, outside the schedule.</p>
        <button type="button" class="primary" disabled={running} onClick={() => void run()}>
          {running ? 'Running…' : 'Run monitor now'}
        </button>
        {running && !progress ? <Notice>Probing endpoints; this can take a while for many endpoints.</Notice> : null}
        {running && progress ? (
          <div class="run-progress">
            <progress
              id="run-progressbar"
              max={Math.max(1, progress.endpoints)}
              value={progress.done ?? 0}
              aria-label="Run progress"
            />
            <p role="status">
              {progress.done ?? 0} / {plural(progress.endpoints, 'endpoint')} observed
            </p>
          </div>
        ) : null}
        {last ? (
          <Notice>
            Run finished: {plural(last.endpoints, 'endpoint')} checked — {runSummary(last)}.{' '}
            <Link href={`/monitoring/runs/${last.id}`}>Open its report</Link>
          </Notice>
        ) : null}
        <ErrorText error={runError} />
      </section>
      <section aria-labelledby="history-heading">
        <h2 id="history-heading">History</h2>
        <ErrorText error={error} />
        {runs === null && !error ? <p role="status">Loading runs…</p> : null}
        {runs && runs.length === 0 ? <p class="empty">No monitoring runs yet.</p> : null}
        {runs && runs.length > 0 ? (
          <DataTable
            id="runs-table"
            caption={<>Latest {plural(runs.length, 'run')}, newest first</>}
            columns={['Started', 'Trigger', 'Status', 'Endpoints', 'Result', 'Report']}
          >
            {runs.map((r) => (
              <tr key={r.id}>
                <th scope="row">{formatDateTime(r.startedAt)}</th>
                <td>{r.trigger}</td>
                <td>
                  <StatusBadge state={r.status} label={r.status} />
                </td>
                <td>{r.endpoints}</td>
                <td>
                  <StatusBadge state={r.failing ? 'failing' : r.warning ? 'warning' : 'ok'} label={runSummary(r)} />
                </td>
                <td>
                  <Link href={`/monitoring/runs/${r.id}`}>
                    Report<span class="visually-hidden"> of the run started {formatDateTime(r.startedAt)}</span>
                  </Link>
                  {' · '}
                  <a href={runReportUrl(r.id)} target="_blank" rel="noopener">
                    HTML
                    <span class="visually-hidden"> report of the run started {formatDateTime(r.startedAt)}</span>
                  </a>
                </td>
              </tr>
            ))}
          </DataTable>
        ) : null}
      </section>
    </>
  );
}
