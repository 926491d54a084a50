import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { CertificateRow, Page } from '../api';
import {
  checkDeployment,
  completeCheckManually,
  listDeploymentPage,
  uploadReceipt,
  type DeploymentListRow,
} from '../api-deployments';
import { ConfirmDialog } from '../components/confirm-dialog';
import { DataTable } from '../components/data-table';
import { ErrorText, Notice, StatusBadge } from '../components/messages';
import { Pager } from '../components/pager';
import { commonNameOf, formatDateTime, plural } from '../format';
import { Link } from '../router';

const PAGE_SIZE = 20;
/** Messages longer than this are clamped to a few lines in the row, with a toggle to show them in full. */
const LONG_MESSAGE = 100;

/** What the last action on a row did: in progress, done (text), or the controller's typed error. */
type RowOutcome =
  { state: 'busy'; text: string } | { state: 'done'; text: string } | { state: 'error'; error: unknown };

type ManualAction = { deployment: DeploymentListRow; withoutCheck: boolean } | null;

function targetName(d: DeploymentListRow): string {
  return `${d.target.serverName ?? '—'} v${d.version}`;
}

/**
 * W3 deployment processes (SPEC D2, D3, D6): paged on the server, filterable by certificate; each row shows the
 * latest monitor/deploy-check result of the endpoint its deploy check probes, and offers "check now", manual
 * completion with a note, "continue without check", and (offline deployments) the receipt upload.
 */
export function DeploymentsSection(props: {
  certificates: CertificateRow[];
  /** Bumped by the screen after "deploy now" or an offline bundle, to reload the list. */
  reloadKey: number;
}): JSX.Element {
  const [certificateId, setCertificateId] = useState('');
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<Page<DeploymentListRow> | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [outcomes, setOutcomes] = useState<Record<string, RowOutcome>>({});
  const [expanded, setExpanded] = useState<Record<string, boolean>>({});
  const [receiptErrors, setReceiptErrors] = useState<Record<string, unknown>>({});
  const [manual, setManual] = useState<ManualAction>(null);
  const [note, setNote] = useState('');
  const [noteError, setNoteError] = useState<string | null>(null);
  const [manualError, setManualError] = useState<unknown>(null);
  const [manualBusy, setManualBusy] = useState(false);

  const load = useCallback(() => {
    setLoading(true);
    listDeploymentPage({ ...(certificateId ? { certificateId } : {}), limit: PAGE_SIZE, offset })
      .then((p) => {
        setPage(p);
        setError(null);
      })
      .catch((err: unknown) => setError(err))
      .finally(() => setLoading(false));
  }, [certificateId, offset]);
  useEffect(load, [load, props.reloadKey]);

  const cnById = new Map(props.certificates.map((c) => [c.id, commonNameOf(c.subject)]));
  const setOutcome = (id: string, o: RowOutcome): void => setOutcomes((all) => ({ ...all, [id]: o }));

  const clearReceiptError = (id: string): void =>
    setReceiptErrors((e) => {
      const { [id]: _gone, ...rest } = e;
      return rest;
    });

  const checkNow = async (d: DeploymentListRow): Promise<void> => {
    clearReceiptError(d.id);
    setOutcome(d.id, { state: 'busy', text: `Checking ${d.checkEndpoint}…` });
    try {
      const r = await checkDeployment(d.id);
      setOutcome(d.id, {
        state: 'done',
        text: `Check finished: ${r.deployment.status} (${r.deployment.reason ?? r.result.reason}).`,
      });
      load();
    } catch (err) {
      setOutcome(d.id, { state: 'error', error: err });
    }
  };

  const openManual = (deployment: DeploymentListRow, withoutCheck: boolean): void => {
    setNote('');
    setNoteError(null);
    setManualError(null);
    setManual({ deployment, withoutCheck });
  };

  const confirmManual = async (): Promise<void> => {
    if (!manual || manualBusy) return;
    if (!note.trim()) {
      setNoteError(
        manual.withoutCheck
          ? 'A note is required: say why the deployment continues without a check.'
          : 'A note is required: say what was checked, and how.'
      );
      return;
    }
    setManualBusy(true);
    setManualError(null);
    try {
      const d = await completeCheckManually(manual.deployment.id, note.trim(), manual.withoutCheck);
      clearReceiptError(manual.deployment.id);
      setOutcome(manual.deployment.id, {
        state: 'done',
        text: manual.withoutCheck
          ? `Continued without check: ${d.status}.`
          : `Deploy check completed by hand: ${d.status}.`,
      });
      setManual(null);
      load();
    } catch (err) {
      setManualError(err);
    } finally {
      setManualBusy(false);
    }
  };

  const receipt = async (d: DeploymentListRow, input: HTMLInputElement): Promise<void> => {
    const file = input.files?.[0];
    if (!file) return;
    clearReceiptError(d.id);
    setOutcome(d.id, { state: 'busy', text: `Uploading ${file.name}…` });
    try {
      const text = await file.text();
      const updated = await uploadReceipt(d.id, text);
      setOutcome(d.id, { state: 'done', text: `Receipt accepted: ${updated.status} (${updated.reason ?? ''}).` });
      load();
    } catch (err) {
      setOutcomes((all) => {
        const { [d.id]: _gone, ...rest } = all;
        return rest;
      });
      setReceiptErrors((e) => ({ ...e, [d.id]: err }));
    } finally {
      input.value = '';
    }
  };

  return (
    <section aria-labelledby="deployments-heading">
      <h2 id="deployments-heading">Deployment processes</h2>
      <div class="filters">
        <div class="field">
          <label for="deployments-certificate">Certificate</label>
          <select
            id="deployments-certificate"
            value={certificateId}
            onChange={(e) => {
              setOffset(0);
              setCertificateId(e.currentTarget.value);
            }}
          >
            <option value="">All certificates</option>
            {props.certificates.map((c) => (
              <option key={c.id} value={c.id}>
                {commonNameOf(c.subject)} (serial {c.serial.slice(0, 8)}…)
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorText error={error} />
      {page === null && !error ? <p role="status">Loading deployments…</p> : null}
      {page && page.total === 0 ? (
        <Notice>No deployment processes yet (agent and offline deployments appear here).</Notice>
      ) : null}
      {page && page.total > 0 ? (
        <DataTable
          id="deployments-table"
          caption={<>{plural(page.total, 'deployment')}, newest first</>}
          columns={['Server and certificate', 'Status', 'Latest check', 'Actions']}
        >
          {page.items.map((d) => {
            const o = outcomes[d.id];
            const name = targetName(d);
            const open = d.status !== 'superseded';
            const rErr = receiptErrors[d.id];
            return (
              <tr key={d.id} data-deployment={d.id}>
                <th scope="row">
                  {name}
                  <span class="sub">
                    {d.target.serverType ? `${d.target.serverType} · ` : ''}
                    {d.method}
                  </span>
                  <span class="deployment-certificate">
                    <span class="visually-hidden">Certificate </span>
                    {cnById.get(d.certificateId) ?? <code>{d.certificateId.slice(0, 8)}</code>}
                  </span>
                </th>
                <td class="deployment-status">
                  <StatusBadge state={d.status} label={d.status} />
                  {d.reason ? <span class="sub">{d.reason}</span> : null}
                  {d.message ? (
                    <DeploymentMessage
                      id={d.id}
                      name={name}
                      text={d.message}
                      expanded={expanded[d.id] === true}
                      onToggle={() => setExpanded((all) => ({ ...all, [d.id]: !all[d.id] }))}
                    />
                  ) : null}
                  <span class="sub">updated {formatDateTime(d.updatedAt)}</span>
                </td>
                <td class="latest-check">
                  {d.latestCheck ? (
                    <>
                      <StatusBadge state={d.latestCheck.status} label={d.latestCheck.status} />
                      <span class="sub">{d.latestCheck.reason}</span>
                      <span class="sub">
                        {formatDateTime(d.latestCheck.at)}
                        {d.latestCheck.probedBy ? ` by ${d.latestCheck.probedBy}` : ''}
                      </span>
                      {d.latestCheck.runId ? (
                        <Link class="sub" href={`/monitoring/runs/${d.latestCheck.runId}`}>
                          Report<span class="visually-hidden"> of the check of {name}</span>
                        </Link>
                      ) : null}
                    </>
                  ) : (
                    <span class="sub">not checked yet ({d.checkEndpoint})</span>
                  )}
                </td>
                <td class="row-action deployment-actions">
                  {open ? (
                    <div class="deployment-buttons">
                      <button type="button" disabled={o?.state === 'busy'} onClick={() => void checkNow(d)}>
                        Check now<span class="visually-hidden"> {name}</span>
                      </button>
                      <button type="button" disabled={o?.state === 'busy'} onClick={() => openManual(d, false)}>
                        Complete by hand…<span class="visually-hidden"> {name}</span>
                      </button>
                      <button type="button" disabled={o?.state === 'busy'} onClick={() => openManual(d, true)}>
                        Continue without check…<span class="visually-hidden"> {name}</span>
                      </button>
                    </div>
                  ) : (
                    <span class="sub">superseded by a newer deployment</span>
                  )}
                  {open && d.method === 'offline' && !d.receiptAt ? (
                    <div class="receipt-field">
                      {/* The file input is visually hidden but focusable; its label looks like the other buttons. */}
                      <input
                        id={`receipt-${d.id}`}
                        class="receipt-input"
                        type="file"
                        accept="application/json,.json"
                        disabled={o?.state === 'busy'}
                        aria-invalid={rErr ? 'true' : undefined}
                        aria-describedby={rErr ? `receipt-error-${d.id}` : undefined}
                        onChange={(e) => void receipt(d, e.currentTarget)}
                      />
                      <label for={`receipt-${d.id}`} class="receipt-button">
                        Upload receipt…<span class="visually-hidden"> of {name}</span>
                      </label>
                      <ErrorText error={rErr} id={`receipt-error-${d.id}`} />
                    </div>
                  ) : null}
                  {o?.state === 'busy' || o?.state === 'done' ? (
                    <p class="notice" role="status">
                      {o.text}
                    </p>
                  ) : null}
                  {o?.state === 'error' ? <ErrorText error={o.error} /> : null}
                </td>
              </tr>
            );
          })}
        </DataTable>
      ) : null}
      {page && page.total > 0 ? (
        <Pager label="Deployments" offset={offset} limit={PAGE_SIZE} total={page.total} onOffset={setOffset} />
      ) : null}
      {loading && page ? (
        <p class="visually-hidden" role="status">
          Loading deployments…
        </p>
      ) : null}
      {manual ? (
        <ConfirmDialog
          open
          title={manual.withoutCheck ? 'Continue without a deploy check' : 'Complete the deploy check by hand'}
          confirmLabel={manualBusy ? 'Saving…' : manual.withoutCheck ? 'Continue without check' : 'Mark as verified'}
          onConfirm={() => void confirmManual()}
          onCancel={() => setManual(null)}
        >
          <p>
            {manual.withoutCheck
              ? `${targetName(manual.deployment)} is marked installed, not verified; nothing claims a check that did not happen.`
              : `${targetName(manual.deployment)} is marked verified on your word.`}{' '}
            The note goes into the audit log and the deployment history.
          </p>
          <div class="field form-field">
            <label for="manual-check-note">Note (required)</label>
            <textarea
              id="manual-check-note"
              rows={3}
              maxLength={4000}
              value={note}
              aria-invalid={noteError ? 'true' : undefined}
              aria-describedby={noteError ? 'manual-check-note-error' : undefined}
              onInput={(e) => setNote(e.currentTarget.value)}
            />
            {noteError ? (
              <p class="error field-error" role="alert" id="manual-check-note-error">
                {noteError}
              </p>
            ) : null}
          </div>
          <ErrorText error={manualError} />
        </ConfirmDialog>
      ) : null}
    </section>
  );
}

/**
 * A deployment's message (agent id, install path, SHA-256 …): wraps anywhere inside its cell; a long one is clamped
 * to three lines (screen readers still read it whole) with a toggle to show it in full, so rows stay short.
 */
function DeploymentMessage(props: {
  id: string;
  name: string;
  text: string;
  expanded: boolean;
  onToggle: () => void;
}): JSX.Element {
  const long = props.text.length > LONG_MESSAGE;
  const clamped = long && !props.expanded;
  return (
    <>
      <span id={`deployment-message-${props.id}`} class={`sub deployment-message${clamped ? ' clamped' : ''}`}>
        {props.text}
      </span>
      {long ? (
        <button
          type="button"
          class="message-toggle"
          aria-expanded={props.expanded ? 'true' : 'false'}
          aria-controls={`deployment-message-${props.id}`}
          onClick={props.onToggle}
        >
          {props.expanded ? 'Show less' : 'Show full message'}
          <span class="visually-hidden"> of {props.name}</span>
        </button>
      ) : null}
    </>
  );
}
