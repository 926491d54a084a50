import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { caDownloadUrls, issueClientCertificate, listCas, type CaRow, type User } from '../api';
import { formatDate } from '../format';
import { ErrorText, Notice, StatusBadge } from '../components/messages';
import { downloadBlob, Field, formErrors, NO_ERRORS, type FormErrors } from '../components/form';
import { ScreenHeading } from '../components/screen-heading';

/**
 * W10 private CA (SPEC C1–C7): the CAs with certificate, CRL and trust-installer downloads, and (admin) a client
 * certificate for a console user as a password-protected PKCS#12 file.
 */
export function PrivateCaScreen(props: { user: User }): JSX.Element {
  const [cas, setCas] = useState<CaRow[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  // Loaded on entry and again after each client certificate issued here, so the issued / revoked counts stay current.
  const load = useCallback(() => {
    listCas()
      .then((r) => {
        setCas(r.items);
        setError(null);
      })
      .catch(setError);
  }, []);
  useEffect(load, [load]);
  return (
    <>
      <ScreenHeading wid="W10">Private CA</ScreenHeading>
      <ErrorText error={error} />
      {cas && cas.length === 0 ? <p class="empty">The private CA has not been created yet.</p> : null}
      {cas?.map((ca) => {
        const urls = caDownloadUrls(ca.id);
        return (
          <section class="panel" key={ca.id} aria-labelledby={`ca-${ca.id}`} data-ca={ca.id}>
            <h2 id={`ca-${ca.id}`}>
              {ca.name} <StatusBadge state={ca.status === 'active' ? 'ok' : 'pending'} label={ca.status} />
            </h2>
            <dl class="facts">
              <dt>Subject</dt>
              <dd>{ca.subject}</dd>
              <dt>Kind</dt>
              <dd>{ca.kind}</dd>
              <dt>Valid</dt>
              <dd>
                {formatDate(ca.notBefore)} – {formatDate(ca.notAfter)}
              </dd>
              <dt>Key</dt>
              <dd>{ca.keyAlgorithm ?? '—'}</dd>
              <dt>SHA-256</dt>
              <dd>
                <code class="hash">{ca.sha256 ?? '—'}</code>
              </dd>
              <dt>Issued / revoked</dt>
              <dd class="ca-counts">
                {ca.issued} / {ca.revoked} (CRL number {ca.crlNumber})
              </dd>
            </dl>
            {ca.status !== 'pending' ? (
              <ul class="downloads">
                <li>
                  <a href={urls.pem} download>
                    CA certificate (PEM)
                  </a>
                </li>
                <li>
                  <a href={urls.der} download>
                    CA certificate (DER)
                  </a>
                </li>
                <li>
                  <a href={urls.crl} download>
                    Certificate revocation list (CRL)
                  </a>
                </li>
                <li>
                  <a href={urls.installer} download>
                    Trust installer script (Debian/RHEL)
                  </a>
                </li>
              </ul>
            ) : null}
          </section>
        );
      })}
      {props.user.role === 'admin' ? <ClientCertificateForm defaultUser={props.user.username} onIssued={load} /> : null}
    </>
  );
}

function ClientCertificateForm(props: {
  defaultUser: string;
  /** Called after each issuance (the CA's counts changed). */
  onIssued: () => void;
}): JSX.Element {
  const [username, setUsername] = useState(props.defaultUser);
  const [password, setPassword] = useState('');
  const [days, setDays] = useState('365');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [issued, setIssued] = useState<{ fileName: string; serial: string; sha256: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    setIssued(null);
    try {
      const r = await issueClientCertificate({ username: username.trim(), password, validityDays: Number(days) });
      downloadBlob(r.blob, r.fileName);
      setIssued({ fileName: r.fileName, serial: r.serial, sha256: r.sha256 });
      setPassword('');
      props.onIssued();
    } catch (err) {
      setErrors(formErrors(err, ['username', 'password', 'validityDays'], { CF_NOT_FOUND: 'username' }));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form panel" noValidate onSubmit={(e) => void submit(e)} aria-labelledby="client-cert-title">
      <h2 id="client-cert-title">Client certificate for a console user</h2>
      <p class="hint">Issued by the active CA as a PKCS#12 (PFX) file, for client-certificate login.</p>
      <ErrorText error={errors.form} />
      <Field id="cc-user" label="Console user" error={errors.fields.username}>
        {(a) => <input {...a} value={username} onInput={(e) => setUsername(e.currentTarget.value)} />}
      </Field>
      <Field
        id="cc-password"
        label="Password for the PFX file"
        hint="At least 8 characters; needed to install the file."
        error={errors.fields.password}
      >
        {(a) => (
          <input
            {...a}
            type="password"
            autoComplete="new-password"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        )}
      </Field>
      <Field id="cc-days" label="Validity (days)" error={errors.fields.validityDays}>
        {(a) => (
          <input {...a} type="number" min={1} max={825} value={days} onInput={(e) => setDays(e.currentTarget.value)} />
        )}
      </Field>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Issue and download PFX
        </button>
      </div>
      {issued ? (
        <Notice>
          Issued {issued.fileName}: serial <code>{issued.serial}</code>, SHA-256{' '}
          <code class="hash">{issued.sha256}</code>
        </Notice>
      ) : null}
    </form>
  );
}
