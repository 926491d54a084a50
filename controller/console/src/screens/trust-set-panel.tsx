import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { TrustSetRow } from '../api';
import { addTrustSetRoots, deleteTrustSet, removeTrustSetRoot } from '../api-trust-sets';
import { ConfirmDialog } from '../components/confirm-dialog';
import { DataTable } from '../components/data-table';
import { Field } from '../components/form';
import { ErrorText, errorText } from '../components/messages';
import { formatDate } from '../format';

/** "AB:CD:…" — the SHA-256 fingerprint as operators compare it with `openssl x509 -fingerprint -sha256`. */
export function colonHex(hex: string): string {
  return (hex.toUpperCase().match(/../g) ?? []).join(':');
}

type Pending = { kind: 'root'; sha256: string; subject: string } | { kind: 'set' };

/**
 * One trusted CA set (SPEC T1, T2): its roots (subject, expiry, SHA-256 fingerprint). For a user-defined set an
 * admin can add roots (PEM file or pasted), remove a root, or delete the set; each refusal of the controller
 * (e.g. CF_TRUST_SET_IN_USE) is shown next to the control that caused it.
 */
export function TrustSetPanel(props: {
  set: TrustSetRow;
  canEdit: boolean;
  onChanged: (message: string) => void;
  /** Called when an action starts (the screen clears its last notice). */
  onAction?: () => void;
}): JSX.Element {
  const s = props.set;
  const editable = props.canEdit && s.source === 'user';
  const slug = s.id.replace(/[^A-Za-z0-9-]/g, '');
  const [pem, setPem] = useState('');
  const [addError, setAddError] = useState<string | undefined>(undefined);
  const [rowError, setRowError] = useState<{ sha256: string; error: unknown } | null>(null);
  const [deleteError, setDeleteError] = useState<unknown>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  const [busy, setBusy] = useState(false);
  // Bumped after a successful upload so the file picker forgets the file it showed.
  const [fileKey, setFileKey] = useState(0);

  const add = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setAddError(undefined);
    props.onAction?.();
    try {
      const r = await addTrustSetRoots(s.id, pem);
      setPem('');
      setFileKey((k) => k + 1);
      props.onChanged(
        `${r.added} root(s) added to ${s.name}` +
          (r.added === 0 ? ' (the set already holds them).' : `; it now holds ${r.roots.length}.`)
      );
    } catch (err) {
      setAddError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const confirm = async (): Promise<void> => {
    const p = pending;
    setPending(null);
    if (!p) return;
    setRowError(null);
    setDeleteError(null);
    props.onAction?.();
    try {
      if (p.kind === 'root') {
        await removeTrustSetRoot(s.id, p.sha256);
        props.onChanged(`Root ${p.subject} removed from ${s.name}.`);
      } else {
        await deleteTrustSet(s.id);
        props.onChanged(`Trusted CA set ${s.name} deleted.`);
      }
    } catch (err) {
      if (p.kind === 'root') setRowError({ sha256: p.sha256, error: err });
      else setDeleteError(err);
    }
  };

  const columns = editable
    ? ['Subject', 'Expires', 'SHA-256 fingerprint', 'Action']
    : ['Subject', 'Expires', 'SHA-256 fingerprint'];
  return (
    <details class="panel trust-set" data-set={s.name} open={s.source === 'user'}>
      <summary>
        <strong>{s.name}</strong> — {s.roots.length} root(s),{' '}
        {s.source === 'system' ? `system set (default), version ${s.version}` : 'user-defined'}
      </summary>
      {s.description ? <p>{s.description}</p> : null}
      {s.roots.length === 0 ? <p class="empty">This set holds no roots yet: every check against it fails.</p> : null}
      {s.roots.length > 0 ? (
        <DataTable caption={<>Roots of {s.name}</>} columns={columns}>
          {s.roots.map((r) => (
            <tr key={r.sha256} data-root={r.sha256}>
              <th scope="row">{r.subject}</th>
              <td class="nowrap">{formatDate(r.notAfter)}</td>
              <td>
                <code class="hash fingerprint">{colonHex(r.sha256)}</code>
              </td>
              {editable ? (
                <td>
                  <button
                    type="button"
                    class="danger"
                    onClick={() => setPending({ kind: 'root', sha256: r.sha256, subject: r.subject })}
                  >
                    Remove
                    <span class="visually-hidden">
                      {' '}
                      root {r.subject} from {s.name}
                    </span>
                  </button>
                  {rowError?.sha256 === r.sha256 ? <ErrorText error={rowError.error} /> : null}
                </td>
              ) : null}
            </tr>
          ))}
        </DataTable>
      ) : null}
      {editable ? (
        <>
          <form class="form add-roots" noValidate onSubmit={(e) => void add(e)} aria-label={`Add roots to ${s.name}`}>
            <h3>Add roots to {s.name}</h3>
            <Field id={`add-file-${slug}`} label={`PEM file with roots for ${s.name}`} hint="Or paste the PEM below.">
              {(a) => (
                <input
                  {...a}
                  key={fileKey}
                  type="file"
                  accept=".pem,.crt,.cer,text/plain"
                  onChange={(e) => {
                    const f = e.currentTarget.files?.[0];
                    if (f) void f.text().then(setPem);
                  }}
                />
              )}
            </Field>
            <Field id={`add-pem-${slug}`} label={`Roots to add to ${s.name} (PEM text)`} error={addError}>
              {(a) => (
                <textarea {...a} class="pem" rows={4} value={pem} onInput={(e) => setPem(e.currentTarget.value)} />
              )}
            </Field>
            <div class="actions">
              <button type="submit" class="primary" disabled={busy || pem.trim() === ''}>
                Add roots<span class="visually-hidden"> to {s.name}</span>
              </button>
            </div>
          </form>
          <div class="actions delete-set">
            <button type="button" class="danger" onClick={() => setPending({ kind: 'set' })}>
              Delete set {s.name}
            </button>
          </div>
          <ErrorText error={deleteError} id={`delete-error-${slug}`} />
          {pending ? (
            <ConfirmDialog
              open
              title={pending?.kind === 'set' ? `Delete trusted CA set ${s.name}?` : `Remove this root from ${s.name}?`}
              confirmLabel={pending?.kind === 'set' ? 'Delete set' : 'Remove root'}
              onConfirm={() => void confirm()}
              onCancel={() => setPending(null)}
            >
              {pending?.kind === 'root' ? (
                <p>
                  {pending.subject} is removed from {s.name}. Definitions checked against this set no longer trust it.
                </p>
              ) : (
                <p>
                  The set and its {s.roots.length} root(s) are deleted. The controller refuses while a definition still
                  names the set.
                </p>
              )}
            </ConfirmDialog>
          ) : null}
        </>
      ) : null}
    </details>
  );
}
