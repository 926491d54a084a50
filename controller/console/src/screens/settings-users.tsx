import type { JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { changeUserRole, createUser, deleteUser, listUsers, resetUserPassword, type UserRow } from '../api';
import { ConfirmDialog } from '../components/confirm-dialog';
import { Field, formErrors, NO_ERRORS, type FormErrors } from '../components/form';
import { ErrorText, Notice } from '../components/messages';
import { formatDateTime } from '../format';
import { DataTable } from '../components/data-table';

type Role = UserRow['role'];

/** A generated password, shown once (after create or reset). */
interface Shown {
  username: string;
  password: string;
  why: 'created' | 'reset';
}

/**
 * W11 / SPEC U1: users and roles. New users and password resets get a generated password that the controller
 * returns once; it is shown here once and must be changed at the user's first login.
 */
export function UsersPanel({ me }: { me: string }): JSX.Element {
  const [users, setUsers] = useState<UserRow[] | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [shown, setShown] = useState<Shown | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [rowError, setRowError] = useState<{ username: string; error: unknown } | null>(null);
  const [roles, setRoles] = useState<Record<string, Role>>({});
  const [deleting, setDeleting] = useState<string | null>(null);
  const secretRef = useRef<HTMLElement>(null);

  const load = useCallback(() => {
    listUsers()
      .then((r) => {
        setUsers(r.items);
        setRoles(Object.fromEntries(r.items.map((u) => [u.username, u.role])));
      })
      .catch(setLoadError);
  }, []);
  useEffect(load, [load]);
  useEffect(() => {
    if (shown) secretRef.current?.focus();
  }, [shown]);

  const act = async (username: string, what: () => Promise<void>): Promise<void> => {
    setRowError(null);
    setNotice(null);
    try {
      await what();
      load();
    } catch (err) {
      setRowError({ username, error: err });
    }
  };

  const applyRole = (u: UserRow): Promise<void> =>
    act(u.username, async () => {
      const role = roles[u.username] ?? u.role;
      await changeUserRole(u.username, role);
      setNotice(`${u.username} is now ${role === 'admin' ? 'an admin' : 'a user'}.`);
    });
  const reset = (u: UserRow): Promise<void> =>
    act(u.username, async () => {
      const r = await resetUserPassword(u.username);
      setShown({ username: u.username, password: r.password, why: 'reset' });
    });
  const remove = (username: string): Promise<void> =>
    act(username, async () => {
      await deleteUser(username);
      setNotice(`User ${username} deleted; their sessions have ended.`);
    });

  return (
    <section class="panel" aria-labelledby="settings-users">
      <h2 id="settings-users">Users</h2>
      <ErrorText error={loadError} />
      <Notice>{notice}</Notice>
      {shown ? (
        <div class="secret" role="region" aria-labelledby="user-secret-heading" id="generated-password">
          <h3 id="user-secret-heading">
            {shown.why === 'created' ? 'New user' : 'Password reset for'} {shown.username} — copy the password now, it
            is shown only once
          </h3>
          <code class="token" tabIndex={0} ref={secretRef} aria-label={`Generated password of ${shown.username}`}>
            {shown.password}
          </code>
          <p class="hint">The user must change it at the first login.</p>
          <button type="button" onClick={() => setShown(null)}>
            Done, hide the password
          </button>
        </div>
      ) : null}
      {users ? (
        <DataTable
          id="users"
          caption={<>{users.length} user(s)</>}
          columns={['Username', 'Role', 'Password', 'Created', 'Actions']}
        >
          {users.map((u) => (
            <tr key={u.username} data-user={u.username}>
              <th scope="row">
                {u.username}
                {u.username === me ? <span class="sub">you</span> : null}
              </th>
              <td>
                <div class="row-action">
                  <label class="visually-hidden" for={`role-${u.username}`}>
                    Role of {u.username}
                  </label>
                  <select
                    id={`role-${u.username}`}
                    value={roles[u.username] ?? u.role}
                    onChange={(e) => setRoles((r) => ({ ...r, [u.username]: e.currentTarget.value as Role }))}
                  >
                    <option value="admin">Admin</option>
                    <option value="user">User</option>
                  </select>{' '}
                  <button
                    type="button"
                    disabled={(roles[u.username] ?? u.role) === u.role}
                    onClick={() => void applyRole(u)}
                    aria-label={`Apply role of ${u.username}`}
                  >
                    Apply
                  </button>
                </div>
              </td>
              <td>{u.mustChangePassword ? 'must be changed at next login' : 'set by the user'}</td>
              <td>{formatDateTime(u.createdAt)}</td>
              <td class="row-action">
                <div class="actions">
                  <button type="button" onClick={() => void reset(u)} aria-label={`Reset password of ${u.username}`}>
                    Reset password
                  </button>
                  <button
                    type="button"
                    class="danger"
                    disabled={u.username === me}
                    onClick={() => setDeleting(u.username)}
                    aria-label={`Delete ${u.username}`}
                  >
                    Delete
                  </button>
                </div>
                {rowError?.username === u.username ? <ErrorText error={rowError.error} /> : null}
              </td>
            </tr>
          ))}
        </DataTable>
      ) : null}
      <CreateUserForm
        onCreated={(username, password) => {
          setNotice(null);
          setShown({ username, password, why: 'created' });
          load();
        }}
      />
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete user ${deleting ?? ''}?`}
        confirmLabel="Delete user"
        onCancel={() => setDeleting(null)}
        onConfirm={() => {
          const u = deleting;
          setDeleting(null);
          if (u) void remove(u);
        }}
      >
        <p>The account and its sessions end at once. This cannot be undone.</p>
      </ConfirmDialog>
    </section>
  );
}

function CreateUserForm(props: { onCreated: (username: string, password: string) => void }): JSX.Element {
  const [username, setUsername] = useState('');
  const [role, setRole] = useState<Role>('user');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setErrors(NO_ERRORS);
    setBusy(true);
    try {
      const r = await createUser({ username: username.trim(), role });
      setUsername('');
      setRole('user');
      props.onCreated(r.user.username, r.password);
    } catch (err) {
      setErrors(formErrors(err, ['username', 'role'], { CF_CONFLICT: 'username' }));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form" id="create-user-form" onSubmit={(e) => void submit(e)}>
      <h3>New user</h3>
      <Field id="new-user-name" label="Username" error={errors.fields.username} hint="Letters, digits and . _ @ -">
        {(a) => (
          <input
            {...a}
            required
            autocomplete="off"
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        )}
      </Field>
      <Field id="new-user-role" label="Role" error={errors.fields.role}>
        {(a) => (
          <select {...a} value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
            <option value="user">User</option>
            <option value="admin">Admin</option>
          </select>
        )}
      </Field>
      <ErrorText error={errors.form} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create user'}
        </button>
      </div>
    </form>
  );
}
