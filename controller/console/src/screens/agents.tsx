import type { JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import {
  banAgent,
  createJoinToken,
  listAgents,
  listJoinTokens,
  type AgentRow,
  type CreatedJoinToken,
  type JoinTokenRow,
} from '../api';
import { formatAge, formatDateTime, plural } from '../format';
import { ConfirmDialog } from '../components/confirm-dialog';
import { ErrorText, Notice, StatusBadge } from '../components/messages';
import { ScreenHeading } from '../components/screen-heading';
import { DataTable } from '../components/data-table';

function tokenState(t: JoinTokenRow, now = Date.now()): { state: string; label: string } {
  if (t.usedAt) return { state: 'used', label: `used ${formatDateTime(t.usedAt)}` };
  if (new Date(t.expiresAt).getTime() <= now) return { state: 'expired', label: 'expired' };
  return { state: 'ok', label: `valid until ${formatDateTime(t.expiresAt)}` };
}

/**
 * W12 agents (SPEC G1, G3): enrolled agents with status, last contact and version; one-time join tokens (the token
 * is shown once, right after it is made); banning an agent after a confirmation.
 */
export function AgentsScreen(): JSX.Element {
  const [agents, setAgents] = useState<AgentRow[] | null>(null);
  const [tokens, setTokens] = useState<JoinTokenRow[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [tokensError, setTokensError] = useState<unknown>(null);
  const [label, setLabel] = useState('');
  const [ttl, setTtl] = useState('60');
  const [created, setCreated] = useState<CreatedJoinToken | null>(null);
  const [createError, setCreateError] = useState<unknown>(null);
  const [banning, setBanning] = useState<AgentRow | null>(null);
  const [banOutcome, setBanOutcome] = useState<{ ok: boolean; text?: string; error?: unknown } | null>(null);
  const tokenRef = useRef<HTMLElement>(null);

  const load = useCallback(() => {
    listAgents()
      .then((a) => {
        setAgents(a);
        setError(null);
      })
      .catch((err: unknown) => setError(err));
    // Join tokens need the agents:manage permission; a User sees the agents without them.
    listJoinTokens()
      .then((t) => {
        setTokens(t);
        setTokensError(null);
      })
      .catch((err: unknown) => setTokensError(err));
  }, []);
  useEffect(load, [load]);
  useEffect(() => {
    if (created) tokenRef.current?.focus();
  }, [created]);

  const create = async (e: Event): Promise<void> => {
    e.preventDefault();
    setCreateError(null);
    setCreated(null);
    const minutes = Number(ttl);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) {
      setCreateError(new Error('Valid for: enter whole minutes from 1 to 1440.'));
      return;
    }
    try {
      setCreated(await createJoinToken({ ...(label.trim() ? { label: label.trim() } : {}), ttlMinutes: minutes }));
      setLabel('');
      load();
    } catch (err) {
      setCreateError(err);
    }
  };

  const confirmBan = async (): Promise<void> => {
    const agent = banning;
    setBanning(null);
    if (!agent) return;
    try {
      await banAgent(agent.id);
      setBanOutcome({ ok: true, text: `Agent ${agent.name} is banned; its connection was closed.` });
      load();
    } catch (err) {
      setBanOutcome({ ok: false, error: err });
    }
  };

  return (
    <>
      <ScreenHeading wid="W12">Agents</ScreenHeading>
      <section aria-labelledby="agents-heading">
        <h2 id="agents-heading">Enrolled agents</h2>
        <ErrorText error={error} />
        {banOutcome?.ok ? <Notice>{banOutcome.text}</Notice> : <ErrorText error={banOutcome?.error} />}
        {agents && agents.length === 0 ? (
          <p class="empty">No agents yet. Create a join token below and enroll an agent with it.</p>
        ) : null}
        {agents && agents.length > 0 ? (
          <DataTable
            id="agents-table"
            caption={<>{plural(agents.length, 'agent')}</>}
            columns={['Host', 'Status', 'Last seen', 'Version', 'Enrolled', 'Action']}
          >
            {agents.map((a) => (
              <tr key={a.id}>
                <th scope="row">{a.name}</th>
                <td>
                  {a.status === 'banned' ? (
                    <StatusBadge state="failed" label="banned" />
                  ) : (
                    <StatusBadge
                      state={a.connected ? 'ok' : 'offline'}
                      label={a.connected ? 'connected' : 'not connected'}
                    />
                  )}
                </td>
                <td>{formatAge(a.lastSeenAt)}</td>
                <td>{a.agentVersion}</td>
                <td>{formatDateTime(a.enrolledAt)}</td>
                <td>
                  {a.status === 'active' ? (
                    <button type="button" class="danger" onClick={() => setBanning(a)}>
                      Ban<span class="visually-hidden"> agent {a.name}</span>
                    </button>
                  ) : (
                    '—'
                  )}
                </td>
              </tr>
            ))}
          </DataTable>
        ) : null}
      </section>

      <section aria-labelledby="tokens-heading" class="panel">
        <h2 id="tokens-heading">Join tokens</h2>
        <p>A join token lets one host enroll its agent once. It is shown only once, right after you create it.</p>
        <form class="filters" onSubmit={(e) => void create(e)}>
          <div class="field">
            <label for="token-label">Label (optional)</label>
            <input
              id="token-label"
              value={label}
              maxLength={200}
              placeholder="e.g. the host name"
              onInput={(e) => setLabel(e.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="token-ttl">Valid for (minutes)</label>
            <input
              id="token-ttl"
              type="number"
              min={1}
              max={1440}
              required
              value={ttl}
              onInput={(e) => setTtl(e.currentTarget.value)}
            />
          </div>
          <div class="field field-toggle">
            <button type="submit" class="primary">
              Create join token
            </button>
          </div>
        </form>
        <ErrorText error={createError} />
        {created ? (
          <div class="secret" role="region" aria-labelledby="secret-heading" id="created-token">
            <h3 id="secret-heading">New join token — copy it now, it is shown only once</h3>
            <code class="token" tabIndex={0} ref={tokenRef} aria-label="Join token">
              {created.token}
            </code>
            {created.enrollCommand ? (
              <>
                <p>On the host, run:</p>
                <pre class="command">{created.enrollCommand}</pre>
              </>
            ) : null}
            <p class="hint">Expires {formatDateTime(created.expiresAt)}.</p>
            <button type="button" onClick={() => setCreated(null)}>
              Done, hide the token
            </button>
          </div>
        ) : null}
        <ErrorText error={tokensError} />
        {tokens && tokens.length > 0 ? (
          <DataTable
            id="tokens-table"
            caption={<>{plural(tokens.length, 'join token')} (the tokens themselves are never shown again)</>}
            columns={['Label', 'Created', 'State']}
          >
            {tokens.map((t) => {
              const s = tokenState(t);
              return (
                <tr key={t.id}>
                  <th scope="row">{t.label ?? '(no label)'}</th>
                  <td>{formatDateTime(t.createdAt)}</td>
                  <td>
                    <StatusBadge state={s.state} label={s.label} />
                  </td>
                </tr>
              );
            })}
          </DataTable>
        ) : null}
      </section>

      <ConfirmDialog
        open={banning !== null}
        title={`Ban agent ${banning?.name ?? ''}?`}
        confirmLabel="Ban agent"
        onCancel={() => setBanning(null)}
        onConfirm={() => void confirmBan()}
      >
        <p>
          Its connection closes at once and the controller refuses it from now on. To use the host again, enroll a new
          agent with a new join token.
        </p>
      </ConfirmDialog>
    </>
  );
}
