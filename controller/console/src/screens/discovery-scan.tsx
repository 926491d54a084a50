import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import {
  cancelScan,
  getScan,
  getScanReport,
  importScanFindings,
  scanReportUrls,
  type FindingRow,
  type ImportFindingsAnswer,
  type ScanReport,
  type ScanRow,
} from '../api';
import { ErrorText, Notice, StatusBadge } from '../components/messages';
import { ScreenHeading } from '../components/screen-heading';
import { formatDate, formatDateTime } from '../format';
import { Link } from '../router';
import { scanBadge } from './discovery';
import { importChunks } from '../import-chunks';

const FINISHED: ReadonlyArray<ScanRow['status']> = ['done', 'failed', 'cancelled', 'interrupted'];
const POLL_MS = 1000;

/**
 * One discovery scan (W8): live progress (polled every second until it finishes, with a cancel button), then the
 * report (links to JSON / CSV / HTML) and the bulk import of the selected findings as monitored-only or
 * lifecycle-managed definitions (SPEC S1–S3).
 */
export function DiscoveryScanScreen({ id }: { id: string }): JSX.Element {
  const [scan, setScan] = useState<ScanRow | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [cancelError, setCancelError] = useState<unknown>(null);
  const [report, setReport] = useState<ScanReport | null>(null);

  const finished = scan !== null && FINISHED.includes(scan.status);

  // Poll the scan every second until it has finished (bounded by the page's life; each poll waits for the last).
  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    const poll = async (): Promise<void> => {
      try {
        const s = await getScan(id);
        if (stopped) return;
        setScan(s);
        setError(null);
        if (FINISHED.includes(s.status)) return;
      } catch (err) {
        if (stopped) return;
        setError(err);
      }
      timer = window.setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      if (timer !== undefined) window.clearTimeout(timer);
    };
  }, [id]);

  useEffect(() => {
    if (!finished) return;
    getScanReport(id).then(setReport).catch(setError);
  }, [finished, id]);

  const cancel = async (): Promise<void> => {
    setCancelError(null);
    try {
      setScan(await cancelScan(id));
    } catch (err) {
      setCancelError(err);
    }
  };

  const urls = scanReportUrls(id);
  return (
    <>
      <p class="breadcrumb">
        <Link href="/discovery">Discovery</Link> › scan
      </p>
      <ScreenHeading wid="W8">Discovery scan</ScreenHeading>
      <ErrorText error={error} />
      {scan ? (
        <section class="panel" aria-labelledby="scan-progress-heading">
          <h2 id="scan-progress-heading">Progress</h2>
          <dl class="facts">
            <dt>Status</dt>
            <dd id="scan-status">
              <StatusBadge state={scanBadge(scan.status)} label={scan.status} />
            </dd>
            <dt>Targets</dt>
            <dd>{scan.targets.join(', ')}</dd>
            <dt>Ports</dt>
            <dd>{scan.ports.join(', ')}</dd>
            <dt>Run by</dt>
            <dd>{scan.runBy.kind === 'agent' ? `agent ${scan.runBy.agentId}` : 'this controller'}</dd>
            <dt>Started</dt>
            <dd>{formatDateTime(scan.startedAt)}</dd>
            <dt>Finished</dt>
            <dd>{formatDateTime(scan.finishedAt)}</dd>
          </dl>
          <p>
            <progress
              id="scan-progressbar"
              max={Math.max(scan.total, 1)}
              value={scan.done}
              aria-label="Scan progress"
            />{' '}
            <span id="scan-counts" aria-live="polite">
              {scan.done} / {scan.total} pairs checked ({scan.percent}%), {scan.findings} finding(s)
            </span>
          </p>
          {scan.error ? <p class="error">{scan.error}</p> : null}
          {!finished ? (
            <div class="actions">
              <button type="button" class="danger" onClick={() => void cancel()}>
                Cancel scan
              </button>
            </div>
          ) : null}
          <ErrorText error={cancelError} />
        </section>
      ) : (
        <p role="status">Loading…</p>
      )}
      {report ? (
        <section class="panel" aria-labelledby="scan-report-heading">
          <h2 id="scan-report-heading">Report</h2>
          <p class="downloads">
            <a href={urls.html} target="_blank" rel="noopener">
              HTML report
            </a>{' '}
            · <a href={urls.csv}>CSV</a> ·{' '}
            <a href={urls.json} target="_blank" rel="noopener">
              JSON
            </a>
          </p>
          <p>
            {report.summary.findings ?? 0} finding(s), {report.summary.certificates ?? 0} distinct certificate(s):{' '}
            {report.summary.ok ?? 0} ok, {report.summary.warning ?? 0} warning, {report.summary.failing ?? 0} failing.
          </p>
          <FindingsImport scanId={id} findings={report.findings} />
        </section>
      ) : null}
    </>
  );
}

function FindingsImport({ scanId, findings }: { scanId: string; findings: FindingRow[] }): JSX.Element {
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [mode, setMode] = useState<'monitored' | 'managed'>('monitored');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<ImportFindingsAnswer | null>(null);
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);

  if (findings.length === 0) return <p class="empty">The scan found no TLS certificates.</p>;
  const all = selected.size === findings.length;
  const toggle = (fid: string, on: boolean): void =>
    setSelected((s) => {
      const n = new Set(s);
      if (on) n.add(fid);
      else n.delete(fid);
      return n;
    });

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    setResult(null);
    if (selected.size === 0) {
      setError(new Error('Select at least one finding to import.'));
      return;
    }
    setBusy(true);
    const chunks = importChunks(findings, selected);
    const total = chunks.reduce((n, c) => n + c.length, 0);
    let sum: ImportFindingsAnswer = { scanId, mode, imported: [], duplicates: [], rejected: [] };
    setProgress({ done: 0, total });
    try {
      // In chunks (each one request, all-or-nothing on the server) so a large import shows its progress.
      for (const chunk of chunks) {
        const answer = await importScanFindings(scanId, chunk, mode);
        sum = {
          ...sum,
          imported: [...sum.imported, ...answer.imported],
          duplicates: [...sum.duplicates, ...answer.duplicates],
          rejected: [...sum.rejected, ...answer.rejected],
        };
        setProgress((p) => (p ? { ...p, done: p.done + chunk.length } : p));
        setResult(sum);
      }
      setSelected(new Set());
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
      setProgress(null);
    }
  };

  return (
    <form id="import-form" onSubmit={(e) => void submit(e)}>
      <div class="table-wrap">
        <table class="data" id="findings">
          <caption>Findings</caption>
          <thead>
            <tr>
              <th scope="col">
                <input
                  type="checkbox"
                  id="select-all-findings"
                  aria-label="Select all findings"
                  checked={all}
                  onChange={(e) =>
                    setSelected(e.currentTarget.checked ? new Set(findings.map((f) => f.id)) : new Set())
                  }
                />
              </th>
              <th scope="col">Endpoint</th>
              <th scope="col">Common name</th>
              <th scope="col">Issuer</th>
              <th scope="col">Expires</th>
              <th scope="col">Result</th>
            </tr>
          </thead>
          <tbody>
            {findings.map((f) => {
              const endpoint = `${f.host}:${f.port}${f.starttls ? ` (${f.starttls})` : ''}`;
              return (
                <tr key={f.id} data-finding={`${f.host}:${f.port}`}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select ${endpoint}`}
                      checked={selected.has(f.id)}
                      onChange={(e) => toggle(f.id, e.currentTarget.checked)}
                    />
                  </td>
                  <th scope="row">{endpoint}</th>
                  <td>{f.commonName ?? '—'}</td>
                  <td>
                    {f.selfSigned ? 'self-signed' : f.issuer}
                    {f.trusted ? null : <span class="sub">not trusted</span>}
                  </td>
                  <td>
                    {formatDate(f.notAfter)}
                    {f.daysToExpiry !== null ? <span class="sub">{f.daysToExpiry} days</span> : null}
                  </td>
                  <td>
                    <StatusBadge state={f.status} label={f.status} />
                    <span class="sub">{f.message}</span>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <fieldset class="inline-choice">
        <legend>Import the selected findings as</legend>
        <label>
          <input
            type="radio"
            name="import-mode"
            value="monitored"
            checked={mode === 'monitored'}
            onChange={() => setMode('monitored')}
          />{' '}
          Monitored only
        </label>{' '}
        <label>
          <input
            type="radio"
            name="import-mode"
            value="managed"
            checked={mode === 'managed'}
            onChange={() => setMode('managed')}
          />{' '}
          Lifecycle-managed
        </label>
      </fieldset>
      <ErrorText error={error} id="import-error" />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Importing…' : `Import ${selected.size} selected`}
        </button>
      </div>
      {progress ? (
        <div class="run-progress">
          <progress
            id="import-progressbar"
            max={Math.max(1, progress.total)}
            value={progress.done}
            aria-label="Import progress"
          />
          <p role="status">
            {progress.done} / {progress.total} findings imported
          </p>
        </div>
      ) : null}
      {result ? <ImportResult result={result} /> : null}
    </form>
  );
}

function ImportResult({ result }: { result: ImportFindingsAnswer }): JSX.Element {
  return (
    <div id="import-result">
      <Notice>
        Imported {result.imported.length} certificate(s) as{' '}
        {result.mode === 'managed' ? 'lifecycle-managed' : 'monitored-only'} definitions; {result.duplicates.length}{' '}
        already known, {result.rejected.length} refused.
      </Notice>
      {result.imported.length ? (
        <ul>
          {result.imported.map((i) => (
            <li key={i.definitionId}>
              <Link href={`/definitions/${i.definitionId}`}>{i.definitionName}</Link>
            </li>
          ))}
        </ul>
      ) : null}
      {result.rejected.length ? (
        <ul class="error">
          {result.rejected.map((r) => (
            <li key={r.sha256}>
              {r.endpoints.map((e) => `${e.host}:${e.port}`).join(', ')}: {r.problems.join('; ')}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
