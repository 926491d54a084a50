import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { User } from '../api';
import { listAudit, verifyAudit, type AuditChainCheck, type AuditEventRow, type AuditQuery } from '../api-audit';
import { DataTable } from '../components/data-table';
import { Field, formErrors, NO_ERRORS, type FormErrors } from '../components/form';
import { ErrorText, Notice, StatusBadge } from '../components/messages';
import { Pager } from '../components/pager';
import { ScreenHeading } from '../components/screen-heading';
import { formatDateTime, plural } from '../format';
import { Link } from '../router';

const PAGE = 50;

interface Filters {
  action: string;
  actor: string;
  from: string;
  to: string;
}
const NO_FILTERS: Filters = { action: '', actor: '', from: '', to: '' };

/** A datetime-local value ("2026-11-26T04:00") read as UTC, as ISO 8601; undefined when empty. */
function utcIso(v: string): string | undefined {
  return v ? `${v.length === 16 ? `${v}:00` : v}Z` : undefined;
}

function target(e: AuditEventRow): string {
  return e.targetType ? `${e.targetType}${e.targetId ? ` ${e.targetId}` : ''}` : '—';
}

/**
 * W11 audit log (SPEC U5, R8): every change recorded in the hash-chained audit log, newest first, paged by the
 * controller and filtered by action (prefix), actor (part of it) and time (UTC); "Verify chain" walks the whole
 * chain on the controller (as `certfleet audit verify`) and names the first broken event. Admins only.
 */
export function AuditLogScreen({ user }: { user: User }): JSX.Element {
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<{ items: AuditEventRow[]; total: number } | null>(null);
  const [loadErrors, setLoadErrors] = useState<FormErrors>(NO_ERRORS);
  const [check, setCheck] = useState<AuditChainCheck | null>(null);
  const [checkError, setCheckError] = useState<unknown>(null);
  const [checking, setChecking] = useState(false);
  const admin = user.role === 'admin';

  const load = useCallback(() => {
    if (!admin) return;
    const q: AuditQuery = {
      limit: PAGE,
      offset,
      ...(filters.action.trim() ? { action: filters.action.trim() } : {}),
      ...(filters.actor.trim() ? { actor: filters.actor.trim() } : {}),
      ...(utcIso(filters.from) ? { from: utcIso(filters.from) } : {}),
      ...(utcIso(filters.to) ? { to: utcIso(filters.to) } : {}),
    };
    listAudit(q)
      .then((p) => {
        setPage(p);
        setLoadErrors(NO_ERRORS);
      })
      .catch((err: unknown) => {
        setPage(null);
        setLoadErrors(formErrors(err, ['action', 'actor', 'from', 'to']));
      });
  }, [admin, filters, offset]);
  useEffect(load, [load]);

  const verify = async (): Promise<void> => {
    setChecking(true);
    setCheckError(null);
    setCheck(null);
    try {
      setCheck(await verifyAudit());
    } catch (err) {
      setCheckError(err);
    } finally {
      setChecking(false);
    }
  };

  if (!admin) {
    return (
      <>
        <ScreenHeading wid="W11">Audit log</ScreenHeading>
        <p class="panel">Only an administrator can read the audit log.</p>
      </>
    );
  }
  const set = (k: keyof Filters) => (e: { currentTarget: HTMLInputElement }) =>
    setDraft({ ...draft, [k]: e.currentTarget.value });
  return (
    <>
      <ScreenHeading wid="W11">Audit log</ScreenHeading>
      <p>
        <Link href="/settings">Back to the settings</Link>
      </p>
      <section class="panel" aria-labelledby="audit-verify-heading">
        <h2 id="audit-verify-heading">Chain check</h2>
        <p>Every event carries the hash of the one before it; an edited, removed or inserted event breaks the chain.</p>
        <button type="button" class="primary" disabled={checking} onClick={() => void verify()}>
          {checking ? 'Verifying…' : 'Verify chain'}
        </button>
        {checking ? <Notice>Walking the whole chain on the controller…</Notice> : null}
        {check?.ok ? (
          <p class="notice" role="status" id="audit-verify-result">
            <StatusBadge state="ok" label="Chain intact" /> {plural(check.rows, 'event')} verified at{' '}
            {formatDateTime(check.checkedAt)}.
          </p>
        ) : null}
        {check && !check.ok ? (
          <p class="error" role="alert" id="audit-verify-result">
            <StatusBadge state="failing" label="Chain broken" /> {check.reason ?? 'the chain does not verify'}
            {check.firstBrokenId ? (
              <>
                {' '}
                — first broken event <code>{check.firstBrokenId}</code>
              </>
            ) : null}
            ; {plural(check.rows, 'event')} verified before it.
          </p>
        ) : null}
        <ErrorText error={checkError} />
      </section>
      <section aria-labelledby="audit-events-heading">
        <h2 id="audit-events-heading">Events</h2>
        <form
          class="form filters audit-filters"
          noValidate
          aria-label="Filter the audit log"
          onSubmit={(e) => {
            e.preventDefault();
            setOffset(0);
            setFilters(draft);
          }}
        >
          <Field id="audit-action" label="Action starts with" error={loadErrors.fields.action}>
            {(a) => <input {...a} value={draft.action} placeholder="trust-set." onInput={set('action')} />}
          </Field>
          <Field id="audit-actor" label="Actor contains" error={loadErrors.fields.actor}>
            {(a) => <input {...a} value={draft.actor} placeholder="user:admin" onInput={set('actor')} />}
          </Field>
          <Field id="audit-from" label="From (UTC)" error={loadErrors.fields.from}>
            {(a) => <input {...a} type="datetime-local" value={draft.from} onInput={set('from')} />}
          </Field>
          <Field id="audit-to" label="Before (UTC)" error={loadErrors.fields.to}>
            {(a) => <input {...a} type="datetime-local" value={draft.to} onInput={set('to')} />}
          </Field>
          <div class="actions">
            <button type="submit" class="primary">
              Apply filters
            </button>
            <button
              type="button"
              onClick={() => {
                setDraft(NO_FILTERS);
                setFilters(NO_FILTERS);
                setOffset(0);
              }}
            >
              Clear
            </button>
          </div>
        </form>
        <ErrorText error={loadErrors.form} />
        {page && page.total === 0 ? <p class="empty">No audit events match.</p> : null}
        {page && page.items.length > 0 ? (
          <>
            <DataTable
              id="audit-table"
              caption={<>{plural(page.total, 'audit event')}, newest first</>}
              columns={['Time', 'Actor', 'Action', 'Target', 'Details']}
            >
              {page.items.map((e) => (
                <tr key={e.id} data-event={e.id}>
                  <th scope="row">
                    <time dateTime={e.at}>{`${e.at.slice(0, 19).replace('T', ' ')} UTC`}</time>
                  </th>
                  <td>{e.actor}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td class="audit-target">{target(e)}</td>
                  <td>
                    <code class="audit-details">{JSON.stringify(e.details)}</code>
                  </td>
                </tr>
              ))}
            </DataTable>
            <Pager offset={offset} limit={PAGE} total={page.total} label="Audit log" onOffset={setOffset} />
          </>
        ) : null}
        {page === null && !loadErrors.form && Object.keys(loadErrors.fields).length === 0 ? (
          <p role="status">Loading the audit log…</p>
        ) : null}
      </section>
    </>
  );
}
