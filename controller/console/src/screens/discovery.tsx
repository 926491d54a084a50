import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { listAgents, listScans, startScan, type AgentRow, type ScanInput, type ScanRow } from '../api';
import { Field, formErrors, NO_ERRORS, type FormErrors } from '../components/form';
import { ErrorText, StatusBadge } from '../components/messages';
import { ScreenHeading } from '../components/screen-heading';
import { formatDateTime } from '../format';
import { Link, navigate } from '../router';
import { DataTable } from '../components/data-table';

/** Badge class of a scan status (the text carries the meaning). */
export function scanBadge(status: ScanRow['status']): string {
  if (status === 'done') return 'finished';
  if (status === 'queued' || status === 'running') return 'running';
  if (status === 'cancelled') return 'warning';
  return 'failed';
}

function split(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * W8 discovery (SPEC S1–S3, manual §3.2): start a scan of address ranges × ports, run by the controller or by an
 * agent inside its network; the scan then runs in the background (its page shows progress, report and import).
 */
export function DiscoveryScreen(): JSX.Element {
  const [scans, setScans] = useState<ScanRow[] | null>(null);
  const [agents, setAgents] = useState<AgentRow[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [targets, setTargets] = useState('');
  const [ports, setPorts] = useState('');
  const [runner, setRunner] = useState('controller');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    listScans(20).then(setScans).catch(setError);
    // Agents are optional here: without them (or without the right to list them) the controller scans.
    listAgents()
      .then((a) => setAgents(a.filter((x) => x.status === 'active')))
      .catch(() => setAgents([]));
  }, []);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setErrors(NO_ERRORS);
    const portList = split(ports).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    const input: ScanInput = {
      targets: split(targets),
      ...(portList.length ? { ports: portList } : {}),
      runBy: runner === 'controller' ? { kind: 'controller' } : { kind: 'agent', agentId: runner },
    };
    setBusy(true);
    try {
      const scan = await startScan(input);
      navigate(`/discovery/scans/${scan.id}`);
    } catch (err) {
      setErrors(formErrors(err, ['targets', 'ports', 'runBy']));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <ScreenHeading wid="W8">Discovery</ScreenHeading>
      <p>
        Scan address ranges for TLS services, read the certificates they serve, and import them as monitored-only or
        lifecycle-managed definitions.
      </p>
      <section class="panel" aria-labelledby="scan-form-heading">
        <h2 id="scan-form-heading">New scan</h2>
        <form class="form" id="scan-form" onSubmit={(e) => void submit(e)}>
          <Field
            id="scan-targets"
            label="Targets"
            error={errors.fields.targets}
            hint="One per line: addresses, CIDR blocks (/16 or narrower), ranges like 10.0.0.1-50, IPv6 addresses, host names."
          >
            {(a) => (
              <textarea
                {...a}
                class="pem"
                rows={4}
                required
                value={targets}
                onInput={(e) => setTargets(e.currentTarget.value)}
              />
            )}
          </Field>
          <Field
            id="scan-ports"
            label="Ports"
            error={errors.fields.ports}
            hint="Separated by commas or blanks: 443, 8000-8010, 587/smtp. Empty: 443, 465, 636, 993, 995, 8443 and STARTTLS on 25, 110, 143, 587."
          >
            {(a) => <input {...a} value={ports} onInput={(e) => setPorts(e.currentTarget.value)} />}
          </Field>
          <Field id="scan-runner" label="Run by" error={errors.fields.runBy}>
            {(a) => (
              <select {...a} value={runner} onChange={(e) => setRunner(e.currentTarget.value)}>
                <option value="controller">This controller</option>
                {agents.map((ag) => (
                  <option key={ag.id} value={ag.id}>
                    Agent {ag.name}
                    {ag.connected ? '' : ' (not connected)'}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <ErrorText error={errors.form} />
          <div class="actions">
            <button type="submit" class="primary" disabled={busy}>
              {busy ? 'Starting…' : 'Start scan'}
            </button>
          </div>
        </form>
      </section>
      <ErrorText error={error} />
      {scans && scans.length === 0 ? <p class="empty">No scans yet.</p> : null}
      {scans && scans.length > 0 ? (
        <DataTable
          id="scans"
          caption="Recent scans"
          columns={['Started', 'Targets', 'Status', 'Progress', 'Findings', 'Run by']}
        >
          {scans.map((s) => (
            <tr key={s.id}>
              <th scope="row">
                <Link href={`/discovery/scans/${s.id}`}>{formatDateTime(s.createdAt)}</Link>
              </th>
              <td>
                {s.targets.slice(0, 3).join(', ')}
                {s.targets.length > 3 ? ` … (+${s.targets.length - 3})` : ''}
                <span class="sub">ports {s.ports.join(', ')}</span>
              </td>
              <td>
                <StatusBadge state={scanBadge(s.status)} label={s.status} />
              </td>
              <td>
                {s.done} / {s.total}
              </td>
              <td>{s.findings}</td>
              <td>{s.runBy.kind === 'agent' ? 'agent' : 'controller'}</td>
            </tr>
          ))}
        </DataTable>
      ) : null}
    </>
  );
}
