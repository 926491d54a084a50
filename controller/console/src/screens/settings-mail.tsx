import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getSmtpSettings, saveSmtpSettings, sendTestMail, type SmtpSettingsInput, type SmtpSettingsView } from '../api';
import { Field, formErrors, NO_ERRORS, type FormErrors } from '../components/form';
import { ErrorText, Notice } from '../components/messages';
import { formatDateTime } from '../format';

const FIELDS = [
  'adminEmail',
  'fromAddress',
  'fromName',
  'host',
  'port',
  'security',
  'username',
  'password',
  'rejectUnauthorized',
  'caPem',
] as const;

interface FormState {
  adminEmail: string;
  fromAddress: string;
  fromName: string;
  host: string;
  port: string;
  security: 'none' | 'starttls' | 'tls';
  username: string;
  password: string;
  removePassword: boolean;
  rejectUnauthorized: boolean;
  caPem: string;
}

function formOf(s: SmtpSettingsView | null): FormState {
  return {
    adminEmail: s?.adminEmail ?? '',
    fromAddress: s?.fromAddress ?? '',
    fromName: s?.fromName ?? 'CertFleet',
    host: s?.host ?? '',
    port: String(s?.port ?? 587),
    security: s?.security ?? 'starttls',
    username: s?.username ?? '',
    password: '',
    removePassword: false,
    rejectUnauthorized: s?.rejectUnauthorized ?? true,
    caPem: s?.caPem ?? '',
  };
}

/** W11 / SPEC N1: the administrator's e-mail, the SMTP server (password write-only) and a test mail. */
export function MailSettingsPanel(): JSX.Element {
  const [settings, setSettings] = useState<SmtpSettingsView | null>(null);
  const [form, setForm] = useState<FormState>(formOf(null));
  const [loadError, setLoadError] = useState<unknown>(null);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [testTo, setTestTo] = useState('');
  const [testError, setTestError] = useState<unknown>(null);
  const [testNotice, setTestNotice] = useState<string | null>(null);
  const [testing, setTesting] = useState(false);
  const set = (patch: Partial<FormState>): void => setForm((f) => ({ ...f, ...patch }));

  useEffect(() => {
    getSmtpSettings()
      .then((s) => {
        setSettings(s);
        setForm(formOf(s.configured ? s : null));
      })
      .catch(setLoadError);
  }, []);

  const save = async (e: Event): Promise<void> => {
    e.preventDefault();
    setErrors(NO_ERRORS);
    setNotice(null);
    const port = Number(form.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      setErrors({ fields: { port: 'A port is a whole number from 1 to 65535.' }, form: null });
      return;
    }
    const input: SmtpSettingsInput = {
      adminEmail: form.adminEmail.trim(),
      fromAddress: form.fromAddress.trim(),
      fromName: form.fromName.trim(),
      host: form.host.trim(),
      port,
      security: form.security,
      rejectUnauthorized: form.rejectUnauthorized,
      ...(form.username.trim() ? { username: form.username.trim() } : {}),
      // Empty keeps the stored password; the checkbox removes it.
      ...(form.removePassword ? { password: null } : form.password ? { password: form.password } : {}),
      ...(form.caPem.trim() ? { caPem: form.caPem.trim() } : {}),
    };
    setBusy(true);
    try {
      const saved = await saveSmtpSettings(input);
      setSettings(saved);
      setForm(formOf(saved));
      setNotice('Mail settings saved.');
    } catch (err) {
      setErrors(formErrors(err, FIELDS));
    } finally {
      setBusy(false);
    }
  };

  const test = async (e: Event): Promise<void> => {
    e.preventDefault();
    setTestError(null);
    setTestNotice(null);
    setTesting(true);
    try {
      const sent = await sendTestMail(testTo.trim() || undefined);
      setTestNotice(`Test mail sent to ${sent.to.join(', ')} (${sent.status}).`);
    } catch (err) {
      setTestError(err);
    } finally {
      setTesting(false);
    }
  };

  const f = errors.fields;
  return (
    <section class="panel" aria-labelledby="settings-mail">
      <h2 id="settings-mail">Administrator e-mail and SMTP</h2>
      <ErrorText error={loadError} />
      {settings ? (
        <p class="hint">
          {settings.configured
            ? `Saved ${formatDateTime(settings.updatedAt)}. Password: ${settings.hasPassword ? 'stored (hidden)' : 'none'}.`
            : 'Not configured yet: CertFleet sends no mail until these settings are saved.'}
        </p>
      ) : null}
      <form class="form" id="smtp-form" onSubmit={(e) => void save(e)}>
        <Field
          id="smtp-admin-email"
          label="Administrator e-mail"
          error={f.adminEmail}
          hint="Receives stalled-process mails and digests."
        >
          {(a) => (
            <input
              {...a}
              type="email"
              required
              value={form.adminEmail}
              onInput={(e) => set({ adminEmail: e.currentTarget.value })}
            />
          )}
        </Field>
        <fieldset>
          <legend>Sender</legend>
          <Field id="smtp-from-address" label="From address" error={f.fromAddress}>
            {(a) => (
              <input
                {...a}
                type="email"
                required
                value={form.fromAddress}
                onInput={(e) => set({ fromAddress: e.currentTarget.value })}
              />
            )}
          </Field>
          <Field id="smtp-from-name" label="From name" error={f.fromName}>
            {(a) => <input {...a} value={form.fromName} onInput={(e) => set({ fromName: e.currentTarget.value })} />}
          </Field>
        </fieldset>
        <fieldset>
          <legend>SMTP server</legend>
          <Field id="smtp-host" label="Host" error={f.host}>
            {(a) => <input {...a} required value={form.host} onInput={(e) => set({ host: e.currentTarget.value })} />}
          </Field>
          <Field
            id="smtp-port"
            label="Port"
            error={f.port}
            hint="587 for STARTTLS, 465 for implicit TLS, 25 for a relay."
          >
            {(a) => (
              <input
                {...a}
                inputMode="numeric"
                required
                value={form.port}
                onInput={(e) => set({ port: e.currentTarget.value })}
              />
            )}
          </Field>
          <Field id="smtp-security" label="Connection security" error={f.security}>
            {(a) => (
              <select
                {...a}
                value={form.security}
                onChange={(e) => set({ security: e.currentTarget.value as FormState['security'] })}
              >
                <option value="starttls">STARTTLS (required)</option>
                <option value="tls">Implicit TLS</option>
                <option value="none">None (no credentials)</option>
              </select>
            )}
          </Field>
          <Field
            id="smtp-username"
            label="SMTP username"
            error={f.username}
            hint="Leave empty for a server without AUTH."
          >
            {(a) => (
              <input
                {...a}
                autocomplete="off"
                value={form.username}
                onInput={(e) => set({ username: e.currentTarget.value })}
              />
            )}
          </Field>
          <Field
            id="smtp-password"
            label="SMTP password"
            error={f.password}
            hint={settings?.hasPassword ? 'A password is stored; leave empty to keep it.' : 'Write-only.'}
          >
            {(a) => (
              <input
                {...a}
                type="password"
                autocomplete="new-password"
                disabled={form.removePassword}
                value={form.password}
                onInput={(e) => set({ password: e.currentTarget.value })}
              />
            )}
          </Field>
          {settings?.hasPassword ? (
            <div class="field field-check">
              <input
                id="smtp-remove-password"
                type="checkbox"
                checked={form.removePassword}
                onChange={(e) => set({ removePassword: e.currentTarget.checked })}
              />
              <label for="smtp-remove-password">Remove the stored password</label>
            </div>
          ) : null}
          <div class="field field-check">
            <input
              id="smtp-verify"
              type="checkbox"
              checked={form.rejectUnauthorized}
              onChange={(e) => set({ rejectUnauthorized: e.currentTarget.checked })}
            />
            <label for="smtp-verify">Verify the mail server's certificate</label>
          </div>
          <Field
            id="smtp-ca"
            label="Extra trusted CA certificates (PEM, optional)"
            error={f.caPem}
            hint="For a mail server with a certificate from a private CA."
          >
            {(a) => (
              <textarea
                {...a}
                class="pem"
                rows={4}
                value={form.caPem}
                onInput={(e) => set({ caPem: e.currentTarget.value })}
              />
            )}
          </Field>
        </fieldset>
        <ErrorText error={errors.form} />
        <Notice>{notice}</Notice>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save mail settings'}
          </button>
        </div>
      </form>
      <form class="form" id="test-mail-form" onSubmit={(e) => void test(e)}>
        <h3>Test mail</h3>
        <Field id="test-mail-to" label="Recipient (optional)" hint="Empty: the administrator e-mail.">
          {(a) => <input {...a} type="email" value={testTo} onInput={(e) => setTestTo(e.currentTarget.value)} />}
        </Field>
        <ErrorText error={testError} id="test-mail-error" />
        <Notice>{testNotice}</Notice>
        <div class="actions">
          <button type="submit" disabled={testing || !settings?.configured}>
            {testing ? 'Sending…' : 'Send test mail'}
          </button>
        </div>
      </form>
    </section>
  );
}
