import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import {
  getDefinition,
  listAgents,
  listDefinitionCertificates,
  listRequests,
  startAcquisition,
  type AgentRow,
  type CertificateRow,
  type Definition,
  type RequestRow,
} from '../api';
import { commonNameOf, formatDate, formatDateTime } from '../format';
import { ErrorText, Notice, StatusBadge } from '../components/messages';
import { ScreenHeading } from '../components/screen-heading';
import { Link, type Location } from '../router';
import { RequestActions, requestStep } from './requests';
import { DataTable } from '../components/data-table';

const SAVED: Record<string, string> = {
  created: 'Definition created.',
  updated: 'Changes saved.',
  cloned: 'Definition cloned. This is the copy.',
  imported: 'Certificate imported.',
};

/** W1 definition detail: the requirement, its certificates, its requests (processes) and its deployment targets. */
export function DefinitionDetailScreen(props: { id: string; loc: Location }): JSX.Element {
  const [def, setDef] = useState<Definition | null>(null);
  const [certs, setCerts] = useState<CertificateRow[] | null>(null);
  const [requests, setRequests] = useState<RequestRow[] | null>(null);
  const [agents, setAgents] = useState<AgentRow[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [startError, setStartError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(SAVED[props.loc.query.get('saved') ?? ''] ?? null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(() => {
    Promise.all([getDefinition(props.id), listDefinitionCertificates(props.id), listRequests(props.id)])
      .then(([d, c, r]) => {
        setDef(d);
        setCerts(c.items);
        setRequests(r.items);
      })
      .catch(setError);
  }, [props.id]);
  useEffect(load, [load]);
  useEffect(() => {
    listAgents()
      .then(setAgents)
      .catch(() => setAgents([]));
  }, []);

  const start = async (): Promise<void> => {
    setBusy(true);
    setStartError(null);
    try {
      const r = await startAcquisition(props.id);
      setNotice(`Acquisition started: ${requestStep(r.request)}.`);
      load();
    } catch (err) {
      setStartError(err);
    } finally {
      setBusy(false);
    }
  };

  if (!def) {
    return (
      <>
        <p class="breadcrumb">
          <Link href="/definitions">Certificate definitions</Link>
        </p>
        <ScreenHeading wid="W1">Certificate definition</ScreenHeading>
        {error ? <ErrorText error={error} /> : <p role="status">Loading…</p>}
      </>
    );
  }
  const sans = def.sans.map((s) => (s.type === 'dns' ? s.value : `${s.type}:${s.value}`)).join(', ');
  return (
    <>
      <p class="breadcrumb">
        <Link href="/definitions">Certificate definitions</Link>
      </p>
      <ScreenHeading wid="W1">Definition {def.name}</ScreenHeading>
      <Notice>{notice}</Notice>
      <ErrorText error={error} />
      <div class="actions toolbar">
        <Link class="button-link" href={`/definitions/${def.id}/edit`}>
          Edit
        </Link>
        <Link class="button-link" href={`/definitions/${def.id}/clone`}>
          Clone
        </Link>
        {def.operationMode === 'managed' ? (
          <button type="button" onClick={() => void start()} disabled={busy} aria-describedby="start-error">
            Start acquisition
          </button>
        ) : null}
      </div>
      <ErrorText error={startError} id="start-error" />
      <section class="panel" aria-labelledby="def-facts">
        <h2 id="def-facts">Requirement</h2>
        <dl class="facts">
          <dt>Common name</dt>
          <dd>{def.subject.commonName}</dd>
          <dt>Subject alternative names</dt>
          <dd>{sans || '—'}</dd>
          <dt>Organization</dt>
          <dd>{def.subject.organization ?? '—'}</dd>
          <dt>Key type</dt>
          <dd>{def.keySpec}</dd>
          <dt>Issuer</dt>
          <dd>{def.issuerType}</dd>
          <dt>Operation mode</dt>
          <dd>{def.operationMode === 'managed' ? 'lifecycle managed' : 'monitoring only'}</dd>
          <dt>Process mode</dt>
          <dd>{def.processMode}</dd>
          <dt>Renewal lead time</dt>
          <dd>{def.renewalLeadDays} days</dd>
          <dt>Trusted CA set</dt>
          <dd>{def.trustedCaSetId ?? 'system (default)'}</dd>
        </dl>
      </section>

      <section aria-labelledby="def-certs">
        <h2 id="def-certs">Certificates</h2>
        {certs && certs.length > 0 ? (
          <DataTable
            id="definition-certificates"
            caption={<>Certificates of {def.name}</>}
            columns={['Subject', 'Serial', 'Valid', 'Key', 'Source']}
          >
            {certs.map((c) => (
              <tr key={c.id}>
                <th scope="row">
                  {commonNameOf(c.subject)}
                  {c.isCurrent ? (
                    <>
                      {' '}
                      <StatusBadge state="valid" label="current" />
                    </>
                  ) : null}
                  <span class="sub">issuer {commonNameOf(c.issuer)}</span>
                </th>
                <td>
                  <code>{c.serial}</code>
                </td>
                <td class="nowrap">
                  {formatDate(c.notBefore)} – {formatDate(c.notAfter)}
                </td>
                <td>{c.privateKeyId ? 'stored' : 'none'}</td>
                <td>{c.source}</td>
              </tr>
            ))}
          </DataTable>
        ) : (
          <p class="empty">No certificates yet.</p>
        )}
      </section>

      <section aria-labelledby="def-requests">
        <h2 id="def-requests">Requests</h2>
        {requests && requests.length > 0 ? (
          <DataTable
            id="definition-requests"
            caption={<>Requests of {def.name}, newest first</>}
            columns={['Started', 'Kind', 'Step', 'Action']}
          >
            {requests.map((r) => (
              <tr key={r.id}>
                <th scope="row">{formatDateTime(r.createdAt)}</th>
                <td>{r.kind}</td>
                <td>
                  {requestStep(r)}
                  {r.lastError ? <span class="sub">last error: {r.lastError}</span> : null}
                </td>
                <td class="row-action">
                  <RequestActions request={r} onDone={load} />
                </td>
              </tr>
            ))}
          </DataTable>
        ) : (
          <p class="empty">No requests yet.</p>
        )}
      </section>

      <section aria-labelledby="def-targets">
        <h2 id="def-targets">Deployment targets</h2>
        {def.deployTargets.length > 0 ? (
          <DataTable
            id="definition-targets"
            caption={<>Where the certificate of {def.name} is deployed</>}
            columns={['Server', 'Type', 'Delivery', 'Agent', 'Live directory', 'Check']}
          >
            {def.deployTargets.map((t, i) => {
              const agentId = typeof t.agentId === 'string' ? t.agentId : null;
              const method = typeof t.method === 'string' ? t.method : agentId ? 'agent' : 'manual';
              const check =
                typeof t.checkHost === 'string'
                  ? `${t.checkHost}${typeof t.checkPort === 'number' ? `:${t.checkPort}` : ''}`
                  : typeof t.checkPort === 'number'
                    ? `port ${t.checkPort}`
                    : '—';
              return (
                <tr key={`${t.serverName}-${i}`}>
                  <th scope="row">{t.serverName}</th>
                  <td>{t.serverType}</td>
                  <td>{method}</td>
                  <td>{agentId ? (agents.find((a) => a.id === agentId)?.name ?? agentId) : '—'}</td>
                  <td>{typeof t.directory === 'string' ? <code>{t.directory}</code> : '—'}</td>
                  <td>
                    {check}
                    {typeof t.starttls === 'string' ? <span class="sub">STARTTLS {t.starttls}</span> : null}
                  </td>
                </tr>
              );
            })}
          </DataTable>
        ) : (
          <p class="empty">No deployment targets.</p>
        )}
      </section>
    </>
  );
}
