import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { login, type User } from '../api';
import { ErrorText, Notice } from '../components/messages';
import { ScreenHeading } from '../components/screen-heading';

/** Login (SPEC U1): username and password; errors next to the form. */
export function LoginScreen(props: { notice?: string | null; onLoggedIn: (user: User) => void }): JSX.Element {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      props.onLoggedIn(await login(username.trim(), password));
    } catch (err) {
      setError(err);
      setPassword('');
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="auth-card">
      <p class="brand-large" aria-hidden="true">
        CertFleet
      </p>
      <ScreenHeading>Log in to CertFleet</ScreenHeading>
      <Notice>{props.notice}</Notice>
      <form onSubmit={(e) => void submit(e)} aria-describedby={error ? 'login-error' : undefined}>
        <label for="login-username">Username</label>
        <input
          id="login-username"
          name="username"
          autocomplete="username"
          required
          value={username}
          onInput={(e) => setUsername(e.currentTarget.value)}
        />
        <label for="login-password">Password</label>
        <input
          id="login-password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <ErrorText error={error} id="login-error" />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </div>
  );
}
