import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import {
  confirmStep,
  getDefinition,
  listDueRenewals,
  listRequests,
  resumeRequest,
  startAcquisition,
  type DueRenewalRow,
  type RequestRow,
} from '../api';
import { formatAge, formatDate, formatDateTime } from '../format';
import { ErrorText, Notice, StatusBadge } from '../components/messages';
import { ScreenHeading } from '../components/screen-heading';
import { Link } from '../router';
import { DataTable } from '../components/data-table';

const FINISHED = new Set(['completed', 'cancelled', 'failed']);

/** The step of a process in words: its status, and what it waits for. */
export function requestStep(r: RequestRow): string {
  if (r.status === 'waiting')
    return `waiting: ${r.waitingFor ?? 'input'}${r.resumeStatus ? ` (resumes at ${r.resumeStatus})` : ''}`;
  if (r.awaitingConfirmation) return `${r.status} — awaiting confirmation of the next step`;
  if (r.waitingFor) return `${r.status} — waits for ${r.waitingFor}`;
  return r.status;
}

/** Row actions for a process: confirm the next step (interactive mode) or resume a waiting one. */
export function RequestActions(props: { request: RequestRow; onDone: () => void }): JSX.Element | null {
  const r = props.request;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const act = async (what: 'confirm' | 'resume'): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const res = what === 'confirm' ? await confirmStep(r.id) : await resumeRequest(r.id);
      setDone(`Now ${requestStep(res.request)}.`);
      props.onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const errId = `req-${r.id}-error`;
  const poll = r.status === 'ordered' && !r.awaitingConfirmation;
  if (!r.awaitingConfirmation && r.status !== 'waiting' && !poll) return done ? <Notice>{done}</Notice> : null;
  return (
    <>
      {r.awaitingConfirmation || poll ? (
        <button
          type="button"
          class={poll ? '' : 'primary'}
          disabled={busy}
          onClick={() => void act('confirm')}
          aria-describedby={errId}
        >
          {poll ? 'Check for the certificate' : 'Confirm next step'}
        </button>
      ) : (
        <button type="button" disabled={busy} onClick={() => void act('resume')} aria-describedby={errId}>
          Resume
        </button>
      )}
      <ErrorText error={error} id={errId} />
      <Notice>{done}</Notice>
    </>
  );
}

/**
 * W2 requests and acquisition processes (manual §4.2.2): running processes with their step, stalled ones with what
 * they wait for, and the definitions overdue for renewal (lead time passed, nothing started).
 */
export function RequestsScreen(): JSX.Element {
  const [requests, setRequests] = useState<RequestRow[] | null>(null);
  const [due, setDue] = useState<DueRenewalRow[] | null>(null);
  const [names, setNames] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const [started, setStarted] = useState<Record<string, { ok: boolean; error?: unknown }>>({});
  const [notice, setNotice] = useState<string | null>(null);

  const load = useCallback(() => {
    (async () => {
      const [r, d] = await Promise.all([listRequests(), listDueRenewals()]);
      // Names of the definitions with open processes (bounded), shown with the rows in one render.
      const ids = [...new Set(r.items.filter((x) => !FINISHED.has(x.status)).map((x) => x.definitionId))].slice(0, 100);
      const found = await Promise.all(ids.map((id) => getDefinition(id).catch(() => null)));
      setNames((n) => ({ ...n, ...Object.fromEntries(found.filter((x) => x !== null).map((x) => [x.id, x.name])) }));
      setRequests(r.items);
      setDue(d.items);
      setError(null);
    })().catch(setError);
  }, []);
  useEffect(load, [load]);

  const start = async (row: DueRenewalRow): Promise<void> => {
    try {
      const res = await startAcquisition(row.definitionId);
      setNotice(`Renewal of ${row.definitionName} started: ${requestStep(res.request)}.`);
      load();
    } catch (err) {
      setStarted((s) => ({ ...s, [row.definitionId]: { ok: false, error: err } }));
    }
  };

  const open = (requests ?? []).filter((r) => !FINISHED.has(r.status));
  // Stalled: waiting for an operator or for data (a vendor certificate, a fixed configuration).
  const isStalled = (r: RequestRow): boolean => r.status === 'waiting' || r.waitingFor !== null;
  const running = open.filter((r) => !isStalled(r));
  const stalled = open.filter(isStalled);
  const nameOf = (r: RequestRow): JSX.Element => (
    <Link href={`/definitions/${r.definitionId}`}>{names[r.definitionId] ?? r.definitionId.slice(0, 8)}</Link>
  );

  return (
    <>
      <ScreenHeading wid="W2">Requests and acquisition processes</ScreenHeading>
      <ErrorText error={error} />
      <Notice>{notice}</Notice>
      {requests === null && !error ? <p role="status">Loading…</p> : null}

      <section aria-labelledby="running-heading">
        <h2 id="running-heading">Running processes</h2>
        {running.length === 0 ? (
          <p class="empty">No process is running.</p>
        ) : (
          <DataTable
            id="running-requests"
            caption={<>{running.length} running</>}
            columns={['Definition', 'Kind', 'Mode', 'Step', 'Updated', 'Action']}
          >
            {running.map((r) => (
              <tr key={r.id} data-request={r.id}>
                <th scope="row">{nameOf(r)}</th>
                <td>{r.kind}</td>
                <td>{r.processMode}</td>
                <td>
                  <StatusBadge state={r.awaitingConfirmation ? 'waiting' : 'running'} label={requestStep(r)} />
                  {r.lastError ? <span class="sub">last error: {r.lastError}</span> : null}
                </td>
                <td>{formatAge(r.updatedAt)}</td>
                <td class="row-action">
                  <RequestActions request={r} onDone={load} />
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </section>

      <section aria-labelledby="stalled-heading">
        <h2 id="stalled-heading">Stalled processes</h2>
        {stalled.length === 0 ? (
          <p class="empty">No process is waiting.</p>
        ) : (
          <DataTable
            id="stalled-requests"
            caption={<>{stalled.length} waiting for input</>}
            columns={['Definition', 'Waits for', 'Since', 'Action']}
          >
            {stalled.map((r) => (
              <tr key={r.id} data-request={r.id}>
                <th scope="row">{nameOf(r)}</th>
                <td>
                  {r.waitingFor ?? '—'}
                  <span class="sub">status {r.status}</span>
                  {r.lastError ? <span class="sub">last error: {r.lastError}</span> : null}
                </td>
                <td>{formatDateTime(r.updatedAt)}</td>
                <td class="row-action">
                  <RequestActions request={r} onDone={load} />
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </section>

      <section aria-labelledby="overdue-heading">
        <h2 id="overdue-heading">Overdue renewals</h2>
        <p class="hint">Definitions inside their renewal lead time with no renewal started.</p>
        {due && due.length === 0 ? (
          <p class="empty">No renewal is overdue.</p>
        ) : due ? (
          <DataTable
            id="overdue-renewals"
            caption={<>{due.length} overdue</>}
            columns={['Definition', 'Current certificate expires', 'Lead time', 'Mode', 'Action']}
          >
            {due.map((d) => {
              const s = started[d.definitionId];
              return (
                <tr key={d.definitionId} data-definition={d.definitionName}>
                  <th scope="row">
                    <Link href={`/definitions/${d.definitionId}`}>{d.definitionName}</Link>
                  </th>
                  <td>
                    {formatDate(d.notAfter)}{' '}
                    <span class="sub">
                      {d.daysLeft < 0 ? `expired ${-d.daysLeft} days ago` : `${d.daysLeft} days left`}
                    </span>
                  </td>
                  <td>{d.renewalLeadDays} days</td>
                  <td>{d.processMode}</td>
                  <td class="row-action">
                    <button
                      type="button"
                      onClick={() => void start(d)}
                      aria-label={`Start renewal of ${d.definitionName}`}
                    >
                      Start renewal
                    </button>
                    <ErrorText error={s?.error} />
                  </td>
                </tr>
              );
            })}
          </DataTable>
        ) : null}
      </section>
    </>
  );
}
