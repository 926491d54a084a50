import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getRun, runReportUrl, type MonitorResult, type MonitorRunRow } from '../api';
import { formatDate, formatDateTime } from '../format';
import { ErrorText, StatusBadge } from '../components/messages';
import { ScreenHeading } from '../components/screen-heading';
import { Link } from '../router';
import { runSummary } from './monitoring';
import { DataTable } from '../components/data-table';

/** W6 per-run report: one row per endpoint with its verdict and reason. */
export function MonitorRunScreen({ id }: { id: string }): JSX.Element {
  const [run, setRun] = useState<(MonitorRunRow & { results: MonitorResult[] }) | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    getRun(id)
      .then(setRun)
      .catch((err: unknown) => setError(err));
  }, [id]);
  return (
    <>
      <p class="breadcrumb">
        <Link href="/monitoring">Monitor control</Link>
      </p>
      <ScreenHeading wid="W6">Monitoring run report</ScreenHeading>
      <ErrorText error={error} />
      {run ? (
        <>
          <dl class="facts">
            <dt>Started</dt>
            <dd>{formatDateTime(run.startedAt)}</dd>
            <dt>Finished</dt>
            <dd>{formatDateTime(run.finishedAt)}</dd>
            <dt>Trigger</dt>
            <dd>{run.trigger}</dd>
            <dt>Result</dt>
            <dd>{runSummary(run)}</dd>
          </dl>
          <p>
            <a href={runReportUrl(run.id)} target="_blank" rel="noopener">
              Open the self-contained HTML report
            </a>
          </p>
          {run.results.length === 0 ? (
            <p class="empty">This run checked no endpoints.</p>
          ) : (
            <DataTable
              id="run-results-table"
              caption="Results per endpoint"
              columns={['Endpoint', 'Status', 'Reason', 'Served certificate expires', 'Probed by']}
            >
              {run.results.map((r) => (
                <tr key={r.id}>
                  <th scope="row">{r.endpoint}</th>
                  <td>
                    <StatusBadge state={r.status} label={r.status} />
                  </td>
                  <td>
                    {r.reason}
                    {r.message ? <span class="sub">{r.message}</span> : null}
                  </td>
                  <td>{formatDate(r.leafNotAfter)}</td>
                  <td>{r.probedBy ?? '—'}</td>
                </tr>
              ))}
            </DataTable>
          )}
        </>
      ) : null}
    </>
  );
}
