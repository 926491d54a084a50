import type { JSX } from 'preact';
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { importCertificate, type ImportInput } from '../api';
import { ErrorText } from '../components/messages';
import { Field, fileToBase64, formErrors, NO_ERRORS, type FormErrors } from '../components/form';
import { ScreenHeading } from '../components/screen-heading';
import { Link, navigate } from '../router';

const FIELDS = ['file', 'key', 'chain', 'password', 'keyPassword', 'name', 'mode'] as const;
/** Typed import errors and the field each belongs to. */
const CODE_FIELDS: Record<string, string> = {
  CF_IMPORT_PASSWORD_REQUIRED: 'password',
  CF_IMPORT_WRONG_PASSWORD: 'password',
  CF_IMPORT_KEY_MISMATCH: 'key',
  CF_IMPORT_CHAIN_TOO_LONG: 'chain',
  CF_CONFLICT: 'name',
  CF_IMPORT_: 'file',
};
const MAX_BYTES = 1024 * 1024;

/**
 * W1 import from the console (SPEC I1–I3): upload a certificate file (PEM, DER, PKCS#7, PKCS#12/PFX or JKS), with an
 * optional separate key and chain, as lifecycle-managed or monitoring-only. A protected file asks for its password;
 * the controller's typed errors appear next to the field they concern.
 */
export function ImportScreen(): JSX.Element {
  const [file, setFile] = useState<File | null>(null);
  const [key, setKey] = useState<File | null>(null);
  const [chain, setChain] = useState<File | null>(null);
  const [mode, setMode] = useState<'managed' | 'monitored'>('managed');
  const [password, setPassword] = useState('');
  const [keyPassword, setKeyPassword] = useState('');
  const [name, setName] = useState('');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [busy, setBusy] = useState(false);
  const passwordRef = useRef<HTMLInputElement>(null);
  const needsPassword = /\.(p12|pfx|jks|keystore)$/i.test(file?.name ?? '') || Boolean(errors.fields.password);

  // A password prompt from the controller moves focus to the password field (in the same commit as the error).
  useLayoutEffect(() => {
    if (errors.fields.password) passwordRef.current?.focus();
  }, [errors]);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setErrors(NO_ERRORS);
    if (!file) {
      setErrors({ fields: { file: 'Choose the certificate file to import.' }, form: null });
      return;
    }
    for (const [field, f] of [
      ['file', file],
      ['key', key],
      ['chain', chain],
    ] as const) {
      if (f && f.size > MAX_BYTES) {
        setErrors({ fields: { [field]: `${f.name} is larger than 1 MiB.` }, form: null });
        return;
      }
    }
    setBusy(true);
    try {
      const input: ImportInput = {
        mode,
        file: await fileToBase64(file),
        fileName: file.name,
        ...(key ? { key: await fileToBase64(key) } : {}),
        ...(chain ? { chain: await fileToBase64(chain) } : {}),
        ...(password ? { password } : {}),
        ...(keyPassword ? { keyPassword } : {}),
        ...(name.trim() ? { name: name.trim() } : {}),
      };
      const r = await importCertificate(input);
      navigate(`/definitions/${r.definition.id}?saved=imported`);
    } catch (err) {
      setErrors(formErrors(err, FIELDS, CODE_FIELDS));
    } finally {
      setBusy(false);
    }
  };

  const fileField = (
    id: string,
    field: 'file' | 'key' | 'chain',
    label: string,
    set: (f: File | null) => void,
    hint?: string
  ): JSX.Element => (
    <Field id={id} label={label} error={errors.fields[field]} {...(hint ? { hint } : {})}>
      {(a) => <input {...a} type="file" onChange={(e) => set(e.currentTarget.files?.[0] ?? null)} />}
    </Field>
  );

  return (
    <>
      <p class="breadcrumb">
        <Link href="/definitions">Certificate definitions</Link>
      </p>
      <ScreenHeading wid="W1">Import a certificate</ScreenHeading>
      <form class="form" noValidate onSubmit={(e) => void submit(e)} aria-label="Import a certificate">
        <ErrorText error={errors.form} />
        {fileField(
          'import-file',
          'file',
          'Certificate file',
          setFile,
          'PEM, DER, PKCS#7 (.p7b), PKCS#12 (.p12/.pfx) or Java keystore (.jks); at most 1 MiB.'
        )}
        <Field
          id="import-password"
          label={needsPassword ? 'File password (passphrase)' : 'File password (if the file is protected)'}
          error={errors.fields.password}
        >
          {(a) => (
            <input
              {...a}
              ref={passwordRef}
              type="password"
              autoComplete="off"
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          )}
        </Field>
        <Field id="import-mode" label="Operation mode" error={errors.fields.mode}>
          {(a) => (
            <select {...a} value={mode} onChange={(e) => setMode(e.currentTarget.value as typeof mode)}>
              <option value="managed">Lifecycle managed (renewed and deployed)</option>
              <option value="monitored">Monitoring only</option>
            </select>
          )}
        </Field>
        <Field
          id="import-name"
          label="Definition name (optional)"
          hint="Defaults to the certificate's common name."
          error={errors.fields.name}
        >
          {(a) => <input {...a} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <fieldset>
          <legend>Separate files (optional)</legend>
          {fileField('import-key', 'key', 'Private key file', setKey)}
          <Field id="import-key-password" label="Private key password" error={errors.fields.keyPassword}>
            {(a) => (
              <input
                {...a}
                type="password"
                autoComplete="off"
                value={keyPassword}
                onInput={(e) => setKeyPassword(e.currentTarget.value)}
              />
            )}
          </Field>
          {fileField('import-chain', 'chain', 'Chain file', setChain)}
        </fieldset>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Importing…' : 'Import'}
          </button>
          <Link href="/definitions">Cancel</Link>
        </div>
      </form>
    </>
  );
}
