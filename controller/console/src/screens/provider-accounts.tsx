import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import {
  createProviderAccount,
  listProviderAccounts,
  updateProviderAccount,
  type ProviderAccountInput,
  type ProviderAccountRow,
} from '../api';
import { formatDateTime } from '../format';
import { ErrorText, Notice } from '../components/messages';
import { Field, formErrors, NO_ERRORS, type FormErrors } from '../components/form';
import { ScreenHeading } from '../components/screen-heading';
import { DataTable } from '../components/data-table';

const FIELDS = ['name', 'vendor', 'url', 'username', 'email', 'password', 'notes'] as const;

interface FormState {
  name: string;
  vendor: string;
  url: string;
  username: string;
  email: string;
  password: string;
  notes: string;
}

const EMPTY: FormState = { name: '', vendor: '', url: '', username: '', email: '', password: '', notes: '' };
const orNull = (s: string): string | null => (s.trim() ? s.trim() : null);

/** W4 provider accounts (manual §4.2.4): vendor accounts used to order certificates. Passwords are write-only. */
export function ProviderAccountsScreen(): JSX.Element {
  const [items, setItems] = useState<ProviderAccountRow[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState<ProviderAccountRow | 'new' | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const load = useCallback(() => {
    listProviderAccounts()
      .then((r) => setItems(r.items))
      .catch(setError);
  }, []);
  useEffect(load, [load]);

  return (
    <>
      <ScreenHeading wid="W4">Provider accounts</ScreenHeading>
      <ErrorText error={error} />
      <Notice>{notice}</Notice>
      {editing === null ? (
        <div class="actions toolbar">
          <button type="button" class="primary" onClick={() => setEditing('new')}>
            New provider account
          </button>
        </div>
      ) : (
        <AccountForm
          key={editing === 'new' ? 'new' : editing.id}
          account={editing === 'new' ? null : editing}
          onCancel={() => setEditing(null)}
          onSaved={(a, created) => {
            setEditing(null);
            setNotice(`Provider account ${a.name} ${created ? 'created' : 'saved'}.`);
            load();
          }}
        />
      )}
      {items && items.length === 0 ? <p class="empty">No provider accounts yet.</p> : null}
      {items && items.length > 0 ? (
        <DataTable
          id="provider-accounts"
          caption={<>{items.length} provider account(s)</>}
          columns={['Name', 'Vendor', 'Login', 'Password', 'Updated', 'Action']}
        >
          {items.map((a) => (
            <tr key={a.id} data-account={a.name}>
              <th scope="row">
                {a.name}
                {a.url ? <span class="sub">{a.url}</span> : null}
              </th>
              <td>{a.vendor}</td>
              <td>
                {a.username ?? '—'}
                {a.email ? <span class="sub">{a.email}</span> : null}
              </td>
              <td>{a.hasPassword ? 'stored (hidden)' : 'none'}</td>
              <td>{formatDateTime(a.updatedAt)}</td>
              <td>
                <button type="button" onClick={() => setEditing(a)} aria-label={`Edit ${a.name}`}>
                  Edit
                </button>
              </td>
            </tr>
          ))}
        </DataTable>
      ) : null}
    </>
  );
}

function AccountForm(props: {
  account: ProviderAccountRow | null;
  onCancel: () => void;
  onSaved: (a: ProviderAccountRow, created: boolean) => void;
}): JSX.Element {
  const a = props.account;
  const [form, setForm] = useState<FormState>(
    a
      ? {
          name: a.name,
          vendor: a.vendor,
          url: a.url ?? '',
          username: a.username ?? '',
          email: a.email ?? '',
          password: '',
          notes: a.notes ?? '',
        }
      : EMPTY
  );
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<FormState>): void => setForm((f) => ({ ...f, ...patch }));
  const title = a ? `Edit provider account ${a.name}` : 'New provider account';

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    const input: ProviderAccountInput = {
      name: form.name.trim(),
      vendor: form.vendor.trim(),
      url: orNull(form.url),
      username: orNull(form.username),
      email: orNull(form.email),
      notes: orNull(form.notes),
      // Empty keeps the stored password when editing.
      ...(form.password ? { password: form.password } : a ? {} : { password: null }),
    };
    try {
      const saved = a ? await updateProviderAccount(a.id, input) : await createProviderAccount(input);
      props.onSaved(saved, !a);
    } catch (err) {
      setErrors(formErrors(err, FIELDS, { CF_CONFLICT: 'name' }));
    } finally {
      setBusy(false);
    }
  };
  const text = (
    k: keyof FormState,
    label: string,
    type: 'text' | 'url' | 'email' | 'password' = 'text',
    hint?: string
  ): JSX.Element => (
    <Field id={`pa-${k}`} label={label} error={errors.fields[k]} {...(hint ? { hint } : {})}>
      {(aria) => (
        <input
          {...aria}
          // Preact types `type` as a per-value union; the attribute is a plain string here.
          type={type as 'text'}
          autoComplete={type === 'password' ? 'new-password' : 'off'}
          value={form[k]}
          onInput={(e) => set({ [k]: e.currentTarget.value })}
        />
      )}
    </Field>
  );
  return (
    <form class="form panel" noValidate onSubmit={(e) => void submit(e)} aria-label={title}>
      <h2>{title}</h2>
      <ErrorText error={errors.form} />
      {text('name', 'Name')}
      {text('vendor', 'Vendor')}
      {text('url', 'Vendor portal URL (optional)', 'url')}
      {text('username', 'User name at the vendor (optional)')}
      {text('email', 'E-mail (optional)', 'email')}
      {text(
        'password',
        'Password (optional)',
        'password',
        a?.hasPassword ? 'A password is stored; leave empty to keep it.' : 'Stored encrypted; never shown again.'
      )}
      <Field id="pa-notes" label="Notes (optional)" error={errors.fields.notes}>
        {(aria) => (
          <textarea {...aria} rows={3} value={form.notes} onInput={(e) => set({ notes: e.currentTarget.value })} />
        )}
      </Field>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {a ? 'Save account' : 'Create account'}
        </button>
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
