import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, getDefinition, type CertificateRow, type DeployTarget } from '../api';
import {
  MANUAL_SERVER_TYPES,
  downloadManualPackage,
  downloadOfflineBundle,
  type OfflineBundleDownload,
} from '../api-deployments';
import { ConfirmDialog } from '../components/confirm-dialog';
import { Field, downloadBlob } from '../components/form';
import { ErrorText } from '../components/messages';
import { commonNameOf } from '../format';

/** Which download dialog is open, for which certificate. */
export type DownloadRequest = { kind: 'offline' | 'manual'; certificate: CertificateRow } | null;

/** Server types whose agent installer can take an offline bundle (what the controller accepts). */
const OFFLINE_TYPES = new Set(['nginx', 'apache', 'haproxy', 'postfix', 'dovecot', 'file-command', 'java-keystore']);

const MANUAL_TYPE_OF: Record<string, string> = { 'file-command': 'file', 'this-controller': 'iis-or-other' };

/**
 * The two downloads of W3 that carry the private key (SPEC D3 offline installer bundle, D4 manual package), both
 * needing the keys:export permission; a role without it sees the controller's typed 403 in the dialog. The
 * offline bundle's passphrase is handed to {@link PassphrasePanel} (shown once); files are saved via Blob URLs.
 */
export function DownloadDialog(props: {
  request: DownloadRequest;
  onClose: () => void;
  onOfflineBundle: (bundle: Omit<OfflineBundleDownload, 'blob'> & { commonName: string }) => void;
}): JSX.Element | null {
  const { request } = props;
  const cert = request?.certificate ?? null;
  const [targets, setTargets] = useState<DeployTarget[] | null>(null);
  const [targetIndex, setTargetIndex] = useState('');
  const [serverType, setServerType] = useState<string>('nginx');
  const [passphrase, setPassphrase] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});

  useEffect(() => {
    setError(null);
    setFieldErrors({});
    setPassphrase('');
    setPassword('');
    setTargets(null);
    if (!request) return;
    getDefinition(request.certificate.definitionId)
      .then((d) => {
        setTargets(d.deployTargets);
        const firstOffline = d.deployTargets.findIndex(
          (t) => t.method === 'offline' && OFFLINE_TYPES.has(t.serverType)
        );
        const first =
          firstOffline >= 0 ? firstOffline : d.deployTargets.findIndex((t) => OFFLINE_TYPES.has(t.serverType));
        setTargetIndex(first >= 0 ? String(first) : '');
        const t0 = d.deployTargets[0];
        if (t0) setServerType(MANUAL_TYPE_OF[t0.serverType] ?? t0.serverType);
      })
      .catch((err: unknown) => setError(err));
  }, [request]);

  // Rendered only while open: the dialog's heading id is fixed, so two closed dialogs would duplicate it.
  if (!request || !cert) return null;
  const cn = commonNameOf(cert.subject);
  const offline = request.kind === 'offline';

  const confirm = async (): Promise<void> => {
    if (busy) return;
    setError(null);
    setFieldErrors({});
    if (offline) {
      if (targetIndex === '') {
        setFieldErrors({ target: 'Choose the deploy target the bundle is for.' });
        return;
      }
      setBusy(true);
      try {
        const b = await downloadOfflineBundle(cert.id, Number(targetIndex));
        downloadBlob(b.blob, b.fileName);
        const { blob: _blob, ...shown } = b;
        props.onOfflineBundle({ ...shown, commonName: cn });
        props.onClose();
      } catch (err) {
        setError(err);
      } finally {
        setBusy(false);
      }
      return;
    }
    const problems: Record<string, string> = {};
    if (passphrase.length < 12) problems.passphrase = 'The package password needs at least 12 characters.';
    if (!password) problems.password = 'Enter your own login password.';
    if (Object.keys(problems).length) {
      setFieldErrors(problems);
      return;
    }
    setBusy(true);
    try {
      const pkg = await downloadManualPackage(cert.id, { serverType, passphrase, password });
      downloadBlob(pkg.blob, pkg.fileName);
      props.onClose();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'CF_UNAUTHORIZED') {
        setFieldErrors({ password: `${err.message} (${err.code})` });
      } else setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <ConfirmDialog
      open
      title={offline ? `Offline installer bundle for ${cn}` : `Manual package for ${cn}`}
      confirmLabel={busy ? 'Preparing…' : offline ? 'Create bundle and download' : 'Download package'}
      onConfirm={() => void confirm()}
      onCancel={props.onClose}
    >
      {offline ? (
        <>
          <p>
            The archive holds the agent executable and the certificate with its private key, sealed with a generated
            passphrase. The passphrase is shown once after the download.
          </p>
          {targets === null && !error ? <p role="status">Loading deploy targets…</p> : null}
          {targets && targets.length === 0 ? <p class="empty">The definition has no deploy targets.</p> : null}
          {targets && targets.length > 0 ? (
            <Field id="offline-target" label="Deploy target" error={fieldErrors.target}>
              {(aria) => (
                <select {...aria} value={targetIndex} onChange={(e) => setTargetIndex(e.currentTarget.value)}>
                  <option value="">Choose a target</option>
                  {targets.map((t, i) => (
                    <option key={i} value={String(i)} disabled={!OFFLINE_TYPES.has(t.serverType)}>
                      {t.serverName} ({t.serverType}, {t.method ?? (t.agentId ? 'agent' : 'manual')})
                    </option>
                  ))}
                </select>
              )}
            </Field>
          ) : null}
        </>
      ) : (
        <>
          <p>
            A ZIP with the certificate, its chain, the private key encrypted with the package password, and install
            steps. Every download is audited as a key export.
          </p>
          <Field id="manual-server-type" label="Server type">
            {(aria) => (
              <select {...aria} value={serverType} onChange={(e) => setServerType(e.currentTarget.value)}>
                {MANUAL_SERVER_TYPES.map((t) => (
                  <option key={t} value={t}>
                    {t}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field
            id="manual-passphrase"
            label="Package password"
            hint="At least 12 characters; protects key.pem and certificate.p12. Not stored."
            error={fieldErrors.passphrase}
          >
            {(aria) => (
              <input
                {...aria}
                type="password"
                autoComplete="new-password"
                value={passphrase}
                onInput={(e) => setPassphrase(e.currentTarget.value)}
              />
            )}
          </Field>
          <Field id="manual-password" label="Your login password" error={fieldErrors.password}>
            {(aria) => (
              <input
                {...aria}
                type="password"
                autoComplete="current-password"
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            )}
          </Field>
        </>
      )}
      {busy ? <p role="status">Preparing the download…</p> : null}
      <ErrorText error={error} id="download-error" />
    </ConfirmDialog>
  );
}

/** The offline bundle's passphrase, shown once with a warning; hidden for good when the operator confirms. */
export function PassphrasePanel(props: {
  bundle: (Omit<OfflineBundleDownload, 'blob'> & { commonName: string }) | null;
  onDone: () => void;
}): JSX.Element | null {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    if (props.bundle) ref.current?.focus();
  }, [props.bundle]);
  const b = props.bundle;
  if (!b) return null;
  return (
    <div class="secret" role="region" aria-labelledby="passphrase-heading" id="offline-passphrase">
      <h3 id="passphrase-heading">
        Offline bundle for {b.commonName} — copy the passphrase now, it is shown only once
      </h3>
      <p>
        <strong>Warning:</strong> the controller keeps no copy. Without this passphrase the bundle cannot be opened;
        anyone with the bundle and the passphrase has the private key. Carry them separately.
      </p>
      <code class="token" tabIndex={0} ref={ref} aria-label="Offline bundle passphrase">
        {b.passphrase}
      </code>
      <dl class="facts">
        <dt>File</dt>
        <dd>{b.fileName}</dd>
        <dt>Deployment</dt>
        <dd>
          <code>{b.deploymentId}</code>
        </dd>
        <dt>Signing key SHA-256</dt>
        <dd>
          <code class="hash">{b.signingKeySha256}</code>
        </dd>
      </dl>
      <button type="button" onClick={props.onDone}>
        Done, hide the passphrase
      </button>
    </div>
  );
}
