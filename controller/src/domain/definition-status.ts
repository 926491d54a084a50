/**
 * The definitions overview's three status columns (SPEC W1, manual §4.2.1) and its monitor view, as pure functions
 * of what the repository holds for one definition: its current certificate, its open acquisition process, the latest
 * deployment record per deploy target of the current certificate, and the latest monitoring result per endpoint.
 * Each column has a machine `state` (filters, styling) and an English `label` the console shows as is.
 */
import { isRenewalDue } from './acquisition';
import { isTerminal, type RequestStatus } from './request';

const DAY_MS = 86_400_000;

export interface DefinitionStatusInput {
  operationMode: 'managed' | 'monitored';
  renewalLeadDays: number;
  /** Number of deploy targets configured on the definition. */
  deployTargets: number;
  current: { notAfter: Date } | null;
  /** The newest request of the definition (open or not). */
  latestRequest: {
    kind: 'new' | 'renewal';
    status: RequestStatus;
    waitingFor: string | null;
    awaitingConfirmation: boolean;
  } | null;
  /** Latest deployment-history status per deploy target, for the current certificate only. */
  deployments: Array<{ target: string; status: string }>;
  /** Latest monitoring result per enabled endpoint. */
  monitor: Array<{ endpoint: string; status: string; at: Date; leafNotAfter: Date | null }>;
  /** Enabled monitored endpoints (some may not have been checked yet). */
  endpoints: number;
}

export type CurrentState = 'none' | 'valid' | 'expiring' | 'expired';
export type NextState =
  'not-started' | 'overdue' | 'in-progress' | 'waiting' | 'awaiting-confirmation' | 'failed' | 'not-managed';
export type DeploymentState =
  'no-certificate' | 'no-targets' | 'not-deployed' | 'install-requested' | 'installed' | 'verified' | 'failed';
export type MonitorState = 'not-monitored' | 'not-checked' | 'ok' | 'warning' | 'failing';

export interface DefinitionStatus {
  /** Current certificate acquisition: days left on the current certificate. */
  current: { state: CurrentState; daysLeft: number | null; notAfter: Date | null; label: string };
  /** Next certificate acquisition: the renewal (or first acquisition) process. */
  next: { state: NextState; label: string };
  /** Current certificate deployment: how far the current certificate got on its deploy targets. */
  deployment: { state: DeploymentState; label: string; verified: number; targets: number };
  /** Monitor view: the latest check per endpoint. */
  monitor: { state: MonitorState; label: string; endpoints: number; lastCheckedAt: Date | null };
}

/** Whole days until `notAfter` (negative once expired). */
function daysUntil(notAfter: Date, now: Date): number {
  return Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function currentColumn(input: DefinitionStatusInput, now: Date): DefinitionStatus['current'] {
  if (!input.current) return { state: 'none', daysLeft: null, notAfter: null, label: 'no certificate' };
  const { notAfter } = input.current;
  const daysLeft = daysUntil(notAfter, now);
  if (notAfter.getTime() <= now.getTime()) {
    const ago = Math.max(0, -daysLeft - 1);
    return {
      state: 'expired',
      daysLeft,
      notAfter,
      label: ago === 0 ? 'expired today' : `expired ${plural(ago, 'day')} ago`,
    };
  }
  const state: CurrentState = isRenewalDue(notAfter, input.renewalLeadDays, now) ? 'expiring' : 'valid';
  return { state, daysLeft, notAfter, label: `${plural(daysLeft, 'day')} left` };
}

const STEP_LABEL: Partial<Record<RequestStatus, string>> = {
  created: 'started',
  'key-generated': 'key generated',
  'csr-created': 'CSR created',
  ordered: 'ordered, waiting for the CA',
  issued: 'issued',
  received: 'certificate received',
  verified: 'certificate verified',
};

export function nextColumn(input: DefinitionStatusInput, now: Date): DefinitionStatus['next'] {
  if (input.operationMode === 'monitored') return { state: 'not-managed', label: 'not managed (monitoring only)' };
  const r = input.latestRequest;
  const what = !input.current && (!r || r.kind === 'new') ? 'acquisition' : 'renewal';
  if (r && !isTerminal(r.status)) {
    if (r.status === 'waiting') return { state: 'waiting', label: `${what} waiting: ${r.waitingFor ?? 'operator'}` };
    const step = STEP_LABEL[r.status] ?? r.status;
    if (r.awaitingConfirmation)
      return { state: 'awaiting-confirmation', label: `${what} awaiting confirmation (${step})` };
    return { state: 'in-progress', label: `${what} in progress (${step})` };
  }
  if (!input.current) {
    if (r?.status === 'failed') return { state: 'failed', label: 'acquisition failed' };
    return { state: 'not-started', label: 'acquisition not started' };
  }
  const { notAfter } = input.current;
  if (isRenewalDue(notAfter, input.renewalLeadDays, now)) return { state: 'overdue', label: 'renewal overdue' };
  // Whole days, counted like "days left", so the two columns agree (29 days left, lead 10 → due in 19 days).
  const dueIn = Math.floor((notAfter.getTime() - input.renewalLeadDays * DAY_MS - now.getTime()) / DAY_MS);
  return {
    state: 'not-started',
    label: `renewal not started (due ${dueIn === 0 ? 'today' : `in ${plural(dueIn, 'day')}`})`,
  };
}

/** Worst first: the column shows the least advanced target. */
const DEPLOY_RANK: Record<string, number> = {
  failed: 0,
  'rolled-back': 0,
  pending: 1,
  installing: 1,
  installed: 2,
  verified: 3,
};

export function deploymentColumn(input: DefinitionStatusInput): DefinitionStatus['deployment'] {
  const targets = input.deployTargets;
  const verified = input.deployments.filter((d) => d.status === 'verified').length;
  const base = { verified, targets };
  if (!input.current) return { ...base, state: 'no-certificate', label: '—' };
  if (targets === 0) return { ...base, state: 'no-targets', label: 'no deploy targets' };
  if (input.deployments.length === 0) return { ...base, state: 'not-deployed', label: 'not deployed' };
  const worst = input.deployments.reduce((w, d) =>
    (DEPLOY_RANK[d.status] ?? 1) < (DEPLOY_RANK[w.status] ?? 1) ? d : w
  );
  const suffix = targets > 1 ? ` (${verified} of ${targets} verified)` : '';
  switch (worst.status) {
    case 'failed':
    case 'rolled-back':
      return { ...base, state: 'failed', label: `${worst.status === 'failed' ? 'failed' : 'rolled back'}${suffix}` };
    case 'installed':
      return { ...base, state: 'installed', label: `installed, not checked${suffix}` };
    case 'verified':
      // Targets never deployed for this certificate count as not yet verified.
      if (input.deployments.length < targets)
        return { ...base, state: 'install-requested', label: `install requested${suffix}` };
      return { ...base, state: 'verified', label: `verified${suffix}` };
    default:
      return { ...base, state: 'install-requested', label: `install requested${suffix}` };
  }
}

const MONITOR_RANK: Record<string, number> = { failing: 0, warning: 1, ok: 2 };

export function monitorColumn(input: DefinitionStatusInput): DefinitionStatus['monitor'] {
  const endpoints = input.endpoints;
  const lastCheckedAt = input.monitor.reduce<Date | null>((l, m) => (!l || m.at > l ? m.at : l), null);
  const base = { endpoints, lastCheckedAt };
  if (endpoints === 0) return { ...base, state: 'not-monitored', label: 'not monitored' };
  if (input.monitor.length === 0) return { ...base, state: 'not-checked', label: 'not checked yet' };
  const counts = { ok: 0, warning: 0, failing: 0 } as Record<string, number>;
  for (const m of input.monitor) counts[m.status] = (counts[m.status] ?? 0) + 1;
  const worst = input.monitor.reduce((w, m) => ((MONITOR_RANK[m.status] ?? 0) < (MONITOR_RANK[w.status] ?? 0) ? m : w));
  const state = (['failing', 'warning', 'ok'] as const).find((s) => s === worst.status) ?? 'failing';
  const parts = (['ok', 'warning', 'failing'] as const)
    .filter((s) => (counts[s] ?? 0) > 0)
    .map((s) => `${counts[s]} ${s}`);
  return { ...base, state, label: parts.join(', ') };
}

/** All columns of one definition's overview row. */
export function definitionStatus(input: DefinitionStatusInput, now: Date): DefinitionStatus {
  return {
    current: currentColumn(input, now),
    next: nextColumn(input, now),
    deployment: deploymentColumn(input),
    monitor: monitorColumn(input),
  };
}
