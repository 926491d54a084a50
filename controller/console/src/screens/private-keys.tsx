import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { exportPrivateKey, listPrivateKeys, type Page, type PrivateKeyRow, type User } from '../api';
import { formatDateTime } from '../format';
import { ErrorText, Notice } from '../components/messages';
import { Field, formErrors, NO_ERRORS, type FormErrors } from '../components/form';
import { Pager } from '../components/pager';
import { ScreenHeading } from '../components/screen-heading';
import { DataTable } from '../components/data-table';

const PAGE_SIZE = 50;

/**
 * W5 private keys (SPEC R4): metadata only. An admin may export an exportable key after re-entering the login
 * password and giving a reason; the controller audits every export (key-export event).
 */
export function PrivateKeysScreen(props: { user: User }): JSX.Element {
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<Page<PrivateKeyRow> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [exporting, setExporting] = useState<PrivateKeyRow | null>(null);
  const isAdmin = props.user.role === 'admin';
  useEffect(() => {
    listPrivateKeys({ limit: PAGE_SIZE, offset }).then(setPage).catch(setError);
  }, [offset]);
  return (
    <>
      <ScreenHeading wid="W5">Private keys</ScreenHeading>
      <p class="hint">
        Keys are stored encrypted and never shown here.{' '}
        {isAdmin
          ? 'Exporting a key needs your password again and is recorded in the audit log.'
          : 'Only an administrator can export a key.'}
      </p>
      <ErrorText error={error} />
      {exporting ? <ExportForm key={exporting.id} pk={exporting} onClose={() => setExporting(null)} /> : null}
      {page && page.total === 0 ? <p class="empty">No private keys stored.</p> : null}
      {page && page.total > 0 ? (
        <>
          <DataTable
            id="private-keys"
            caption={<>{page.total} private key(s)</>}
            columns={['Key', 'Algorithm', 'Public key SHA-256', 'Created', 'Export']}
          >
            {page.items.map((k) => (
              <tr key={k.id} data-key={k.id}>
                <th scope="row">
                  {k.label ?? k.id.slice(0, 8)}
                  <span class="sub">{k.id}</span>
                </th>
                <td>{k.algorithm}</td>
                <td>
                  <code class="hash">{k.publicKeySha256.slice(0, 16)}…</code>
                </td>
                <td>{formatDateTime(k.createdAt)}</td>
                <td>
                  {!k.exportable ? (
                    'not exportable'
                  ) : isAdmin ? (
                    <button type="button" onClick={() => setExporting(k)} aria-label={`Export key ${k.label ?? k.id}`}>
                      Export…
                    </button>
                  ) : (
                    'admin only'
                  )}
                </td>
              </tr>
            ))}
          </DataTable>
          <Pager label="Private keys" offset={offset} limit={PAGE_SIZE} total={page.total} onOffset={setOffset} />
        </>
      ) : null}
    </>
  );
}

function ExportForm(props: { pk: PrivateKeyRow; onClose: () => void }): JSX.Element {
  const [password, setPassword] = useState('');
  const [reason, setReason] = useState('');
  const [encrypt, setEncrypt] = useState(false);
  const [passphrase, setPassphrase] = useState('');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [pem, setPem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    try {
      const r = await exportPrivateKey(props.pk.id, {
        password,
        reason: reason.trim(),
        format: encrypt ? 'pkcs8-encrypted-pem' : 'pkcs8-pem',
        ...(encrypt ? { passphrase } : {}),
      });
      setPem(r.pem);
      setPassword('');
    } catch (err) {
      setErrors(formErrors(err, ['password', 'reason', 'passphrase', 'format'], { CF_UNAUTHORIZED: 'password' }));
    } finally {
      setBusy(false);
    }
  };
  const title = `Export key ${props.pk.label ?? props.pk.id}`;
  return (
    <section class="panel" aria-labelledby="export-title">
      <h2 id="export-title">{title}</h2>
      {pem ? (
        <>
          <Notice>Key exported. The export is recorded in the audit log.</Notice>
          <label for="export-pem">Private key (PEM)</label>
          <textarea id="export-pem" class="pem" readOnly rows={8} value={pem} />
          <div class="actions">
            <button type="button" onClick={props.onClose}>
              Close and forget the key
            </button>
          </div>
        </>
      ) : (
        <form class="form" noValidate onSubmit={(e) => void submit(e)} aria-label={title}>
          <ErrorText error={errors.form} />
          <Field id="export-password" label="Your password" error={errors.fields.password}>
            {(a) => (
              <input
                {...a}
                ref={first}
                type="password"
                autoComplete="current-password"
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            )}
          </Field>
          <Field id="export-reason" label="Reason (recorded in the audit log)" error={errors.fields.reason}>
            {(a) => <input {...a} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />}
          </Field>
          <div class="field field-check">
            <input
              id="export-encrypt"
              type="checkbox"
              checked={encrypt}
              onChange={(e) => setEncrypt(e.currentTarget.checked)}
            />
            <label for="export-encrypt">Encrypt the exported key with a passphrase</label>
          </div>
          {encrypt ? (
            <Field
              id="export-passphrase"
              label="Passphrase for the exported key"
              hint="At least 12 characters."
              error={errors.fields.passphrase}
            >
              {(a) => (
                <input
                  {...a}
                  type="password"
                  autoComplete="new-password"
                  value={passphrase}
                  onInput={(e) => setPassphrase(e.currentTarget.value)}
                />
              )}
            </Field>
          ) : null}
          <div class="actions">
            <button type="submit" class="primary" disabled={busy}>
              Export key
            </button>
            <button type="button" onClick={props.onClose}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
