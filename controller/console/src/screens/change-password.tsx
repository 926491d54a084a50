import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { changePassword, type User } from '../api';
import { ErrorText } from '../components/messages';
import { ScreenHeading } from '../components/screen-heading';

const MIN_LENGTH = 12;

/**
 * Change the password (SPEC U1). Forced while the account still has its generated password; the controller then
 * ends every session, so the operator logs in again with the new password.
 */
export function ChangePasswordScreen(props: {
  user: User;
  forced: boolean;
  onChanged: () => void;
  onLogout: () => void;
}): JSX.Element {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    if (next.length < MIN_LENGTH)
      return setError(new Error(`The new password needs at least ${MIN_LENGTH} characters.`));
    if (next !== repeat) return setError(new Error('The two new passwords differ.'));
    if (next === current) return setError(new Error('The new password must differ from the current one.'));
    setBusy(true);
    try {
      await changePassword(current, next);
      props.onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="auth-card">
      <ScreenHeading>{props.forced ? 'Change the generated password' : 'Change your password'}</ScreenHeading>
      {props.forced ? (
        <p>
          The account <strong>{props.user.username}</strong> still has the password generated at the first start. Choose
          your own before using the console. You will then log in again.
        </p>
      ) : null}
      <form onSubmit={(e) => void submit(e)}>
        <label for="pw-current">Current password</label>
        <input
          id="pw-current"
          type="password"
          autocomplete="current-password"
          required
          value={current}
          onInput={(e) => setCurrent(e.currentTarget.value)}
        />
        <label for="pw-new">New password</label>
        <input
          id="pw-new"
          type="password"
          autocomplete="new-password"
          required
          minLength={MIN_LENGTH}
          aria-describedby="pw-new-hint"
          value={next}
          onInput={(e) => setNext(e.currentTarget.value)}
        />
        <p class="hint" id="pw-new-hint">
          At least {MIN_LENGTH} characters.
        </p>
        <label for="pw-repeat">Repeat the new password</label>
        <input
          id="pw-repeat"
          type="password"
          autocomplete="new-password"
          required
          value={repeat}
          onInput={(e) => setRepeat(e.currentTarget.value)}
        />
        <ErrorText error={error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Changing…' : 'Change password'}
          </button>
          <button type="button" onClick={props.onLogout}>
            Log out
          </button>
        </div>
      </form>
    </div>
  );
}
