import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { deployNow, listCertificates, type CertificateRow, type Page } from '../api';
import type { OfflineBundleDownload } from '../api-deployments';
import { commonNameOf, formatDate, plural } from '../format';
import { ErrorText, StatusBadge } from '../components/messages';
import { Pager } from '../components/pager';
import { SearchField } from '../components/search-field';
import { ScreenHeading } from '../components/screen-heading';
import { DataTable } from '../components/data-table';
import { DownloadDialog, PassphrasePanel, type DownloadRequest } from './certificate-downloads';
import { DeploymentsSection } from './deployments-section';

const PAGE_SIZE = 50;
const DAY_MS = 86_400_000;

function daysLeft(notAfter: string): number {
  return Math.floor((new Date(notAfter).getTime() - Date.now()) / DAY_MS);
}

/** Outcome of "deploy now" for one certificate, shown in its row. */
type DeployOutcome = { ok: true; text: string } | { ok: false; error: unknown };

/**
 * W3 certificates and deployment processes (manual §4.2.3): the certificates (current ones by default) with
 * "deploy now" and the downloads that carry the key (offline installer bundle, manual package), and the deployment
 * processes with their status, latest check result and actions (screens/deployments-section.tsx).
 */
export function CertificatesScreen(): JSX.Element {
  const [currentOnly, setCurrentOnly] = useState(true);
  const [q, setQ] = useState('');
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<Page<CertificateRow> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [outcomes, setOutcomes] = useState<Record<string, DeployOutcome>>({});
  const [busy, setBusy] = useState<string | null>(null);
  const [reloadKey, setReloadKey] = useState(0);
  const [download, setDownload] = useState<DownloadRequest>(null);
  const [bundle, setBundle] = useState<(Omit<OfflineBundleDownload, 'blob'> & { commonName: string }) | null>(null);

  const loadDeployments = useCallback(() => setReloadKey((k) => k + 1), []);
  useEffect(() => {
    listCertificates({
      ...(currentOnly ? { current: 'true' as const } : {}),
      ...(q ? { q } : {}),
      limit: PAGE_SIZE,
      offset,
    })
      .then((p) => {
        setPage(p);
        setError(null);
      })
      .catch((err: unknown) => setError(err));
  }, [currentOnly, q, offset]);

  const deploy = async (c: CertificateRow): Promise<void> => {
    setBusy(c.id);
    try {
      const rows = await deployNow(c.id);
      const text = rows.length
        ? `Deployment requested: ${plural(rows.length, 'agent deployment')} queued.`
        : 'Deployment requested: no agent targets; manual and offline targets are waiting for delivery.';
      setOutcomes((o) => ({ ...o, [c.id]: { ok: true, text } }));
      loadDeployments();
    } catch (err) {
      setOutcomes((o) => ({ ...o, [c.id]: { ok: false, error: err } }));
    } finally {
      setBusy(null);
    }
  };

  return (
    <>
      <ScreenHeading wid="W3">Certificates and deployments</ScreenHeading>
      <PassphrasePanel bundle={bundle} onDone={() => setBundle(null)} />
      <section aria-labelledby="certs-heading">
        <h2 id="certs-heading">Certificates</h2>
        <div class="filters">
          <SearchField
            id="certs-search"
            label="Search"
            placeholder="common name or SAN"
            value={q}
            onSearch={(value) => {
              setOffset(0);
              setQ(value);
            }}
          />
          <div class="field field-check">
            <input
              id="certs-current"
              type="checkbox"
              checked={currentOnly}
              onChange={(e) => {
                setOffset(0);
                setCurrentOnly(e.currentTarget.checked);
              }}
            />
            <label for="certs-current">Current certificates only</label>
          </div>
        </div>
        <ErrorText error={error} />
        {page && page.total === 0 ? <p class="empty">No certificates.</p> : null}
        {page && page.total > 0 ? (
          <DataTable
            id="certificates-table"
            caption={<>{plural(page.total, 'certificate')}</>}
            columns={['Common name', 'Issuer', 'Expires', 'Private key', 'Source', 'Deployment']}
          >
            {page.items.map((c) => {
              const left = daysLeft(c.notAfter);
              const outcome = outcomes[c.id];
              const cn = commonNameOf(c.subject);
              return (
                <tr key={c.id} data-certificate={cn}>
                  <th scope="row">
                    <span class="name">{cn}</span>
                    <span class="sub">{c.sans.slice(0, 3).join(', ')}</span>
                  </th>
                  <td>{commonNameOf(c.issuer)}</td>
                  <td class="nowrap">
                    {formatDate(c.notAfter)}
                    <span class="sub">
                      <StatusBadge
                        state={left < 0 ? 'expired' : left < 30 ? 'expiring' : 'valid'}
                        label={left < 0 ? 'expired' : `${plural(left, 'day')} left`}
                      />
                    </span>
                  </td>
                  <td>{c.privateKeyId ? 'in repository' : 'none'}</td>
                  <td>
                    {c.source}
                    {c.isCurrent ? <span class="sub">current</span> : null}
                  </td>
                  <td class="row-action">
                    <button
                      type="button"
                      disabled={busy === c.id}
                      aria-describedby={outcome ? `deploy-outcome-${c.id}` : undefined}
                      onClick={() => void deploy(c)}
                    >
                      Deploy now<span class="visually-hidden"> {cn}</span>
                    </button>
                    <button type="button" onClick={() => setDownload({ kind: 'offline', certificate: c })}>
                      Offline installer…<span class="visually-hidden"> {cn}</span>
                    </button>
                    <button type="button" onClick={() => setDownload({ kind: 'manual', certificate: c })}>
                      Manual package…<span class="visually-hidden"> {cn}</span>
                    </button>
                    {outcome ? (
                      outcome.ok ? (
                        <p class="notice" role="status" id={`deploy-outcome-${c.id}`}>
                          {outcome.text}
                        </p>
                      ) : (
                        <ErrorText error={outcome.error} id={`deploy-outcome-${c.id}`} />
                      )
                    ) : null}
                  </td>
                </tr>
              );
            })}
          </DataTable>
        ) : null}
        {page ? (
          <Pager label="Certificates" offset={offset} limit={PAGE_SIZE} total={page.total} onOffset={setOffset} />
        ) : null}
      </section>
      <DeploymentsSection certificates={page?.items ?? []} reloadKey={reloadKey} />
      <DownloadDialog
        request={download}
        onClose={() => setDownload(null)}
        onOfflineBundle={(b) => {
          setBundle(b);
          loadDeployments();
        }}
      />
    </>
  );
}
