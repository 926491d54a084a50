/**
 * Monitoring runs (SPEC M1–M4, M6): probe every selected endpoint — from the controller with bounded concurrency,
 * or through probe jobs of the agent assigned to it — judge each observation with the shared check chain, and
 * write one monitoring-history row per endpoint plus a run row with counters and a JSON report.
 *
 * Judgement per definition (STYLE §7.5; the checks themselves live in shared/src/checks):
 * - Lifecycle-Managed (M2): the served leaf must be the definition's current certificate (SHA-256) and the
 *   intermediates of its stored chain must be served.
 * - Monitored-Only (M3): path validation against the definition's trust set (T2; the system set by default), the
 *   DN against the definition's subject (CN, O, C), expiry threshold 30 days.
 * - Both (M6): hostname coverage of the check name (the SNI name, else the host), weak keys and signatures.
 * - Controller-probed endpoints (M2, M3, M6): missing intermediates fetched via AIA caIssuers (Monitored-Only), then
 *   revocation status from the OCSP responder with the CRL as fallback (`fetchAia`, `checkRevocation`; both on).
 *
 * Failures that are not the server's (an agent that does not answer within the deadline, an agent that is gone,
 * no connected agent of a site) are verdicts too (`AgentDidNotReport`, `AgentUnavailable`, `NoSiteAgentConnected`),
 * so a run always writes one row per endpoint.
 *
 * Every run has an owner (`host:pid`) and a heartbeat with its progress (`done` of `endpoints`) while it executes;
 * run-recovery.ts marks runs whose process is gone as `interrupted`, and a run interrupted in-process (the
 * controller stops) closes itself as `interrupted`.
 */
import crypto, { X509Certificate } from 'node:crypto';
import type { Knex } from '@mikro-orm/postgresql';
import { z } from 'zod';
import {
  CertFleetError,
  type CheckContext,
  type CheckOutcome,
  type ProbeObservation,
  type AiaCache,
  type AiaEvidence,
  type RevocationInfo,
  type CrlCache,
  type OcspCache,
  completeChainViaAia,
  revocationStatus,
  evaluateChecks,
  probeEndpoint,
} from '@certfleet/shared';
import type { Certificate } from '../../domain/certificate';
import type { MonitoringRecord } from '../../domain/history';
import type { MonitorRun } from '../../domain/monitoring';
import { DefinitionEntity, MonitorRunEntity, MonitoringHistoryEntity } from '../../storage/entities';
import { pgJson } from '../../storage/pg-values';
import type { ServiceContext } from '../context';
import { parseInput } from '../definition-service';
import { DEFAULT_AGENT_DEADLINE_MS, observeViaAgents } from './agent-probing';
import { endpointLabel, type Observed, type ProbeTarget } from './observation';
import { HistoryWriter } from './history-writer';
import { RUN_OWNER, registerActiveRun } from './run-recovery';
import { type RunDefinition, type RunItem, selectRunItems } from './run-items';
import {
  DEFAULT_SWEEP_WORKER_THRESHOLD,
  type SweepJob,
  type SweepReply,
  type SweepTrust,
  defaultSweepWorkers,
  sweepOnWorkers,
  sweepTrustOf,
} from './sweep-workers';
import { resolveTrustSet, type ResolvedTrustSet, type TrustSetRef } from './trust-sets-service';

/** Controller probes in flight at once. */
export const DEFAULT_MONITOR_CONCURRENCY = 32;
/** Budget of one controller probe. */
export const DEFAULT_MONITOR_PROBE_TIMEOUT_MS = 10_000;
/** How often a running run writes its heartbeat and progress. */
export const DEFAULT_RUN_HEARTBEAT_MS = 5_000;
/** How long an interrupted run waits for its probes to wind down (agent jobs withdrawn) before it closes. */
const INTERRUPT_GRACE_MS = 2_000;
/** Progress reaches the run row at most this often (and with every heartbeat). */
const PROGRESS_FLUSH_MS = 500;
export { DEFAULT_AGENT_DEADLINE_MS };
export { endpointLabel, type ProbeTarget };
export const monitorRunInputSchema = z
  .object({
    trigger: z.enum(['schedule', 'manual', 'deploy-check']),
    definitionId: z.uuid().optional(),
    endpointIds: z.array(z.uuid()).min(1).max(100_000).optional(),
    controllerOnly: z
      .boolean()
      .optional()
      .describe('only endpoints the controller probes (a process without agent streams: `run-now --local`)'),
  })
  .strict();
export type MonitorRunInput = z.input<typeof monitorRunInputSchema>;

/** Tuning and test seams of a run. */
export interface MonitorOptions {
  /** @default 32 */
  concurrency?: number;
  /** Budget of each controller probe. @default 10000 */
  probeTimeoutMs?: number;
  /** How long to wait for agents' probe reports. @default 60000 */
  agentDeadlineMs?: number;
  /** First attempt of a site endpoint before it is re-assigned to another agent of the site. @default half the agent deadline */
  siteAttemptMs?: number;
  /** Heartbeat and progress period of the run row. @default 5000 */
  heartbeatMs?: number;
  /** Interrupts the run: it closes as `interrupted` with its progress. */
  signal?: AbortSignal;
  /** Progress: called with the number of endpoints observed so far, at most once per endpoint. */
  onProgress?: (done: number, total: number) => void;
  /** Poll interval for agent job rows. @default 250 */
  pollMs?: number;
  /** The probe engine (tests may substitute one; a substitute keeps the run on the main thread). @default probeEndpoint */
  probe?: (o: Parameters<typeof probeEndpoint>[0]) => Promise<ProbeObservation>;
  /**
   * Worker threads for controller probes + checks (sweep-workers.ts); 0 keeps everything on the main thread.
   * @default one per core
   */
  workers?: number;
  /** Controller targets from which worker threads are used. @default 200 */
  workerThreshold?: number;
  /** Probes in flight per worker thread. @default 48 */
  workerConcurrency?: number;
  /**
   * Revocation status (SPEC M6) of controller-probed leaves: their OCSP responder (AIA, http://) is asked first,
   * their CRL (http:// CDP) is the fallback; answers are verified, bounded and cached (until nextUpdate, at most
   * 1 h) before the checks run, on the main thread or in the worker. `false` skips it (`NotRevoked` is then
   * skipped). @default true
   */
  checkRevocation?: boolean;
  /** The CRL cache of main-thread lookups. @default the process-wide cache */
  revocationCache?: CrlCache;
  /** The OCSP answer cache of main-thread lookups. @default the process-wide cache */
  ocspCache?: OcspCache;
  /** Budget of one OCSP request or CRL download. @default 5000 */
  revocationTimeoutMs?: number;
  /**
   * AIA chain completion (SPEC M2, M3) for controller-probed Monitored-Only endpoints: when the served chain lacks
   * an issuer that the trust set does not have either, it is fetched from the AIA caIssuers URL (bounded, depth
   * ≤ 3, cached 1 h), so the verdict tells `IntermediateMissingAiaCompletable` from an untrusted chain. Costs a
   * Name lookup when nothing is missing. `false` skips it. @default true
   */
  fetchAia?: boolean;
  /** The caIssuers cache of main-thread lookups. @default the process-wide cache */
  aiaCache?: AiaCache;
  /** Budget of one caIssuers download. @default 5000 */
  aiaTimeoutMs?: number;
}

/** One line of the run report (JSON; the HTML report is rendered from these). */
export interface RunReportEntry {
  endpointId: string | null;
  endpoint: string;
  serverName: string | null;
  definition: { id: string; name: string; operationMode: string };
  status: 'ok' | 'warning' | 'failing';
  reason: string;
  message: string;
  leaf: { sha1: string; sha256: string; subject: string; issuer: string; notAfter: string } | null;
  expiry: CheckOutcome['expiry'];
  probedBy: string;
  /** The site of an endpoint probed by "any agent of a site". */
  site?: string;
  trustSet: TrustSetRef | null;
  protocol: string | null;
  cipher: string | null;
}

/** The run report stored on the run row. */
export interface RunReport {
  results: RunReportEntry[];
  durationMs: number;
  error?: string;
}

/** A judged endpoint. */
export interface RunResult {
  item: RunItem;
  outcome: CheckOutcome;
  probedBy: string;
  entry: RunReportEntry;
}

async function pool<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal
) {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !signal?.aborted) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}

/**
 * Observes every target: controller targets with bounded concurrency, agent and site targets through probe jobs
 * (agent-probing.ts). Never throws for a target. `onObserved` is called once per target index when it is known.
 */
export async function observeTargets(
  ctx: ServiceContext,
  targets: readonly ProbeTarget[],
  opts: MonitorOptions & { onObserved?: (index: number) => void } = {}
): Promise<Observed[]> {
  const out = new Array<Observed>(targets.length);
  const probe = opts.probe ?? probeEndpoint;
  const controllerIdx: number[] = [];
  const agentIdx: number[] = [];
  targets.forEach((t, i) => (t.probeFrom === 'controller' ? controllerIdx : agentIdx).push(i));

  const viaController = pool(
    controllerIdx,
    opts.concurrency ?? DEFAULT_MONITOR_CONCURRENCY,
    async (i) => {
      const t = targets[i] as ProbeTarget;
      const observation = await probe({
        host: t.host,
        port: t.port,
        ...(t.serverName ? { serverName: t.serverName } : {}),
        ...(t.starttls ? { starttls: t.starttls } : {}),
        timeoutMs: opts.probeTimeoutMs ?? DEFAULT_MONITOR_PROBE_TIMEOUT_MS,
      });
      out[i] = { kind: 'observed', observation, probedBy: 'controller' };
      opts.onObserved?.(i);
    },
    opts.signal
  );
  const viaAgents = observeViaAgents(ctx, targets, agentIdx, out, {
    ...(opts.agentDeadlineMs !== undefined ? { agentDeadlineMs: opts.agentDeadlineMs } : {}),
    ...(opts.siteAttemptMs !== undefined ? { siteAttemptMs: opts.siteAttemptMs } : {}),
    ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onObserved ? { onObserved: opts.onObserved } : {}),
  });

  await Promise.all([viaController, viaAgents]);
  for (const i of controllerIdx) {
    // only when interrupted: the pool stopped before these
    out[i] ??= {
      kind: 'missing',
      reason: 'RunInterrupted',
      message: 'the run was interrupted before this endpoint was probed',
      probedBy: 'controller',
    };
  }
  return out;
}

function failingOutcome(reason: string, message: string): CheckOutcome {
  return { status: 'failing', reason, message, checks: [], chain: [], expiry: { intermediates: [] } };
}

/** SHA-256 of the certificates a managed server must send after its leaf: the stored chain without roots. */
export function expectedIntermediates(cert: Pick<Certificate, 'chainPem'>): string[] {
  const out: string[] = [];
  for (const pem of cert.chainPem) {
    try {
      const c = new X509Certificate(pem);
      if (c.subject === c.issuer && c.checkIssued(c)) continue; // a root: trusted by the client, not served
      out.push(crypto.createHash('sha256').update(c.raw).digest('hex'));
    } catch {
      /* an undecodable stored chain entry cannot be required */
    }
  }
  return out;
}

/** The check context of one endpoint (pure): managed or monitored rules per SPEC M2/M3. */
export function checkContextFor(item: RunItem, now: Date, trust: ResolvedTrustSet | undefined): CheckContext {
  const checkName = item.target.serverName ?? item.target.host;
  if (item.definition.operationMode === 'managed') {
    const cert = item.expected;
    return {
      now,
      mode: 'managed',
      checkName,
      ...(cert ? { expectedSha256: cert.sha256, expectedChainSha256: expectedIntermediates(cert) } : {}),
    };
  }
  const s = item.definition.subject;
  return {
    now,
    mode: 'monitored',
    checkName,
    ...(trust ? { trustSet: trust.set } : {}),
    expectedSubject: {
      commonName: s.commonName,
      ...(s.organization ? { organization: s.organization } : {}),
      ...(s.country ? { country: s.country } : {}),
    },
  };
}

function reportEntry(
  item: RunItem,
  outcome: CheckOutcome,
  observed: Observed,
  trust: TrustSetRef | null
): RunReportEntry {
  const obs = observed.kind === 'observed' ? observed.observation : undefined;
  return {
    endpointId: item.endpointId,
    endpoint: endpointLabel(item.target.host, item.target.port),
    serverName: item.target.serverName,
    definition: { id: item.definition.id, name: item.definition.name, operationMode: item.definition.operationMode },
    status: outcome.status,
    reason: outcome.reason,
    message: outcome.message,
    leaf: outcome.leaf
      ? {
          sha1: outcome.leaf.sha1,
          sha256: outcome.leaf.sha256,
          subject: outcome.leaf.subject,
          issuer: outcome.leaf.issuer,
          notAfter: outcome.leaf.notAfter,
        }
      : null,
    expiry: outcome.expiry,
    probedBy: observed.probedBy,
    ...(item.target.probeFrom === 'site' && item.target.site ? { site: item.target.site } : {}),
    trustSet: trust,
    protocol: obs?.protocol ?? null,
    cipher: obs?.cipher ?? null,
  };
}

/** Creates the run row (status `running`, owned by this process) with its total. */
async function openRun(ctx: ServiceContext, trigger: string, id: string, total: number): Promise<MonitorRun> {
  const now = ctx.clock.now();
  const run: MonitorRun = {
    id,
    trigger,
    status: 'running',
    startedAt: now,
    finishedAt: null,
    endpoints: total,
    ok: 0,
    warning: 0,
    failing: 0,
    report: null,
    done: 0,
    requestedBy: null,
    request: null,
    owner: RUN_OWNER,
    heartbeatAt: now,
  };
  const em = ctx.db.em().fork();
  em.persist(em.create(MonitorRunEntity, run));
  await em.flush();
  return run;
}

/**
 * Closes a run that is still `running` (a run marked `interrupted` meanwhile, by recovery, stays so); returns the
 * row as closed, or as it was found.
 */
async function closeRun(ctx: ServiceContext, run: MonitorRun, patch: Partial<MonitorRun>): Promise<MonitorRun> {
  const next: MonitorRun = { ...run, ...patch, finishedAt: ctx.clock.now() };
  const em = ctx.db.em().fork();
  // Plain SQL with the report as one JSON parameter: through the ORM's update, a 1,000-endpoint report (≈ 1 MB of
  // JSON) costs ≈ 30 MB of transient heap.
  const updated = await em
    .getKnex()
    .raw(CLOSE_RUN, [
      next.status,
      next.finishedAt,
      next.endpoints,
      next.ok,
      next.warning,
      next.failing,
      next.report === null ? null : pgJson(next.report),
      next.done ?? 0,
      next.finishedAt,
      run.id,
    ] as Knex.RawBinding[]);
  if ((updated as { rowCount?: number }).rowCount === 1) return next;
  return (await em.findOne(MonitorRunEntity, { id: run.id })) ?? next;
}

const CLOSE_RUN = `update monitor_runs set status = ?, finished_at = ?, endpoints = ?, ok = ?, warning = ?, failing = ?,
  report = ?::jsonb, done = ?, heartbeat_at = ? where id = ? and status = 'running'`;

type TrustFor = (def: RunDefinition) => Promise<ResolvedTrustSet | Error> | undefined;

/** What was fetched for one observation before the checks ran. */
interface Fetched {
  aia?: AiaEvidence;
  revocation?: RevocationInfo;
}

/**
 * AIA chain completion (Monitored-Only, with its trust set) and then revocation status (OCSP, CRL fallback; SPEC
 * M2, M3, M6) of each controller-probed leaf, with the served chain, the trust roots and the AIA-fetched
 * certificates as issuer candidates; empty where not asked. Neither step throws.
 */
async function fetchedFor(
  items: readonly RunItem[],
  observed: readonly Observed[],
  opts: MonitorOptions,
  now: Date,
  trustFor: TrustFor
): Promise<Fetched[]> {
  const out = items.map((): Fetched => ({}));
  if (opts.checkRevocation === false && opts.fetchAia === false) return out;
  await pool(items, opts.concurrency ?? DEFAULT_MONITOR_CONCURRENCY, async (item, k) => {
    const o = observed[k];
    if (item.target.probeFrom !== 'controller' || o?.kind !== 'observed' || !o.observation.ok) return;
    const trust = await trustFor(item.definition);
    const set = trust && !(trust instanceof Error) ? trust.set : undefined;
    const chain = o.observation.chain;
    const aia =
      opts.fetchAia !== false && set
        ? await completeChainViaAia(chain, {
            now,
            trustSet: set,
            ...(opts.aiaCache ? { cache: opts.aiaCache } : {}),
            ...(opts.aiaTimeoutMs ? { timeoutMs: opts.aiaTimeoutMs } : {}),
          })
        : undefined;
    const revocation =
      opts.checkRevocation === false
        ? undefined
        : await revocationStatus(chain, {
            now,
            issuers: [...(set?.roots ?? []), ...(aia?.certificates ?? []).map((der) => new X509Certificate(der))],
            ...(opts.revocationCache ? { crlCache: opts.revocationCache } : {}),
            ...(opts.ocspCache ? { ocspCache: opts.ocspCache } : {}),
            ...(opts.revocationTimeoutMs ? { timeoutMs: opts.revocationTimeoutMs } : {}),
          });
    out[k] = { ...(aia ? { aia } : {}), ...(revocation ? { revocation } : {}) };
  });
  return out;
}

/**
 * Run options inside a run: `onObserved` counts progress; `onResult` receives each judged endpoint as soon as it is
 * judged (at most once per item index, in any order).
 */
type RunOpts = MonitorOptions & {
  onObserved?: (index: number) => void;
  onResult?: (index: number, result: RunResult) => void;
};

/** Observes on the main thread (and through agents), then judges on the main thread. */
async function judgeHere(
  ctx: ServiceContext,
  items: readonly RunItem[],
  opts: RunOpts,
  trustFor: TrustFor
): Promise<RunResult[]> {
  const observed = await observeTargets(
    ctx,
    items.map((i) => i.target),
    opts
  );
  const now = ctx.clock.now();
  const fetched = await fetchedFor(items, observed, opts, now, trustFor);
  const results: RunResult[] = [];
  for (const [k, item] of items.entries()) {
    const o = observed[k] as Observed;
    const trust = await trustFor(item.definition);
    let outcome: CheckOutcome;
    if (trust instanceof Error) outcome = failingOutcome('TrustSetNotFound', trust.message);
    else if (o.kind === 'missing') outcome = failingOutcome(o.reason, o.message);
    else {
      outcome = evaluateChecks(o.observation, { ...checkContextFor(item, now, trust), ...fetched[k] });
    }
    const ref = trust && !(trust instanceof Error) ? trust.ref : null;
    const result: RunResult = { item, outcome, probedBy: o.probedBy, entry: reportEntry(item, outcome, o, ref) };
    results.push(result);
    opts.onResult?.(k, result);
  }
  return results;
}

/**
 * Controller targets are probed and judged on worker threads (sweep-workers.ts) with the same engine and check
 * chain; agent targets take the usual path. Trust sets are resolved here first and sent once per worker.
 */
async function judgeOnWorkers(
  ctx: ServiceContext,
  items: readonly RunItem[],
  opts: RunOpts,
  workers: number,
  trustFor: TrustFor
): Promise<RunResult[]> {
  const now = ctx.clock.now();
  const trusts = new Map<string, SweepTrust>();
  const results = new Array<RunResult>(items.length);
  const jobs: SweepJob[] = [];
  const jobItems: Array<{ k: number; ref: TrustSetRef | null }> = [];
  const agentIdx: number[] = [];
  for (const [k, item] of items.entries()) {
    if (item.target.probeFrom !== 'controller') {
      agentIdx.push(k);
      continue;
    }
    const trust = await trustFor(item.definition);
    if (trust instanceof Error) {
      const outcome = failingOutcome('TrustSetNotFound', trust.message);
      const o: Observed = { kind: 'missing', reason: outcome.reason, message: outcome.message, probedBy: 'controller' };
      results[k] = { item, outcome, probedBy: 'controller', entry: reportEntry(item, outcome, o, null) };
      opts.onObserved?.(k);
      opts.onResult?.(k, results[k]);
      continue;
    }
    const { trustSet, ...check } = checkContextFor(item, now, trust);
    let trustKey: string | undefined;
    if (trustSet) {
      const t = sweepTrustOf(trustSet);
      trusts.set(t.key, t);
      trustKey = t.key;
    }
    const t = item.target;
    jobs.push({
      probe: {
        host: t.host,
        port: t.port,
        ...(t.serverName ? { serverName: t.serverName } : {}),
        ...(t.starttls ? { starttls: t.starttls } : {}),
        timeoutMs: opts.probeTimeoutMs ?? DEFAULT_MONITOR_PROBE_TIMEOUT_MS,
      },
      check,
      ...(trustKey === undefined ? {} : { trustKey }),
      ...(opts.checkRevocation === false
        ? {}
        : { revocation: { ...(opts.revocationTimeoutMs ? { timeoutMs: opts.revocationTimeoutMs } : {}) } }),
      ...(opts.fetchAia === false || trustKey === undefined
        ? {}
        : { aia: { ...(opts.aiaTimeoutMs ? { timeoutMs: opts.aiaTimeoutMs } : {}) } }),
    });
    jobItems.push({ k, ref: trust?.ref ?? null });
  }
  // Each reply becomes its result as soon as it arrives, so history rows stream while the sweep goes on.
  const judged = (j: number, reply: SweepReply): void => {
    const { k, ref } = jobItems[j] as { k: number; ref: TrustSetRef | null };
    const item = items[k] as RunItem;
    const t = item.target;
    const o: Observed = {
      kind: 'observed',
      observation: {
        host: t.host,
        port: t.port,
        serverName: reply.serverName,
        ok: reply.ok,
        chain: [],
        ...(reply.protocol ? { protocol: reply.protocol } : {}),
        ...(reply.cipher ? { cipher: reply.cipher } : {}),
      },
      probedBy: 'controller',
    };
    const result: RunResult = {
      item,
      outcome: reply.outcome,
      probedBy: 'controller',
      entry: reportEntry(item, reply.outcome, o, ref),
    };
    results[k] = result;
    opts.onObserved?.(k);
    opts.onResult?.(k, result);
  };
  const [, viaAgents] = await Promise.all([
    sweepOnWorkers(jobs, [...trusts.values()], {
      workers,
      ...(opts.workerConcurrency ? { concurrency: opts.workerConcurrency } : {}),
      onSettled: judged,
    }),
    agentIdx.length > 0
      ? judgeHere(
          ctx,
          agentIdx.map((k) => items[k] as RunItem),
          {
            ...opts,
            ...(opts.onResult
              ? { onResult: (j: number, r: RunResult) => opts.onResult?.(agentIdx[j] as number, r) }
              : {}),
          },
          trustFor
        )
      : Promise.resolve([]),
  ]);
  agentIdx.forEach((k, j) => {
    results[k] = viaAgents[j] as RunResult;
  });
  return results;
}

/**
 * Probes, judges and records `items` inside an open run; returns the judged results. Trust sets are resolved once
 * per distinct set; a definition naming a missing set gets `TrustSetNotFound` for its endpoints.
 */
async function judgeAndRecord(
  ctx: ServiceContext,
  run: MonitorRun,
  items: readonly RunItem[],
  opts: RunOpts
): Promise<RunResult[]> {
  const trustByRef = new Map<string, Promise<ResolvedTrustSet | Error>>();
  const trustFor = (def: RunDefinition): Promise<ResolvedTrustSet | Error> | undefined => {
    if (def.operationMode === 'managed') return undefined;
    const key = def.trustedCaSetId ?? '';
    let p = trustByRef.get(key);
    if (!p) {
      p = resolveTrustSet(ctx, def).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
      trustByRef.set(key, p);
    }
    return p;
  };
  const workers = opts.probe ? 0 : (opts.workers ?? defaultSweepWorkers());
  const onController = items.filter((i) => i.target.probeFrom === 'controller').length;
  // History rows stream into one transaction while the run goes on (history-writer.ts).
  const history = new HistoryWriter(ctx.db.em().getKnex(), run.id, () => ctx.clock.now());
  const recordingOpts: RunOpts = {
    ...opts,
    onResult: (k, r) => {
      opts.onResult?.(k, r);
      history.add({
        definitionId: r.item.definition.id,
        certificateId: r.item.expected?.id ?? null,
        endpointId: r.item.endpointId,
        endpoint: r.entry.endpoint,
        probedBy: r.probedBy,
        outcome: r.outcome,
      });
    },
  };
  try {
    const results =
      workers > 0 && onController >= (opts.workerThreshold ?? DEFAULT_SWEEP_WORKER_THRESHOLD)
        ? await judgeOnWorkers(ctx, items, recordingOpts, workers, trustFor)
        : await judgeHere(ctx, items, recordingOpts, trustFor);
    // An interrupted run writes no history: its verdicts would be partly made up of `RunInterrupted`.
    if (opts.signal?.aborted) throw interruptedError(opts.signal);
    await history.commit();
    return results;
  } finally {
    await history.discard(); // after a commit: nothing left to do
  }
}

function countersOf(results: readonly RunResult[]): Pick<MonitorRun, 'endpoints' | 'ok' | 'warning' | 'failing'> {
  return {
    endpoints: results.length,
    ok: results.filter((r) => r.outcome.status === 'ok').length,
    warning: results.filter((r) => r.outcome.status === 'warning').length,
    failing: results.filter((r) => r.outcome.status === 'failing').length,
  };
}

function interruptedError(signal: AbortSignal): CertFleetError {
  const why = typeof signal.reason === 'string' ? signal.reason : 'interrupted';
  return new CertFleetError('CF_MONITOR_RUN_INTERRUPTED', `monitoring: the run was interrupted: ${why}`);
}

/** Resolves with `work`, or rejects with CF_MONITOR_RUN_INTERRUPTED as soon as `signal` aborts. */
function unlessInterrupted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(interruptedError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(interruptedError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    );
  });
}

/**
 * Runs `items` as one run with `trigger`: opens the run row (or takes over `claimed`, a requested run this process
 * claimed), probes, judges, writes history, closes the run with counters and report. While it runs, the row's
 * heartbeat and progress (`done`) are written every `heartbeatMs`. Interrupted (`opts.signal`, the controller
 * stopping, or the row marked `interrupted` by recovery) it closes as `interrupted` with its progress and throws
 * CF_MONITOR_RUN_INTERRUPTED; an unexpected error closes it as `failed` with the message in its report and rethrows.
 */
export async function executeRun(
  ctx: ServiceContext,
  trigger: string,
  items: readonly RunItem[],
  opts: MonitorOptions = {},
  claimed?: MonitorRun
): Promise<{ run: MonitorRun; results: RunResult[] }> {
  const started = Date.now();
  const id = claimed?.id ?? crypto.randomUUID();
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(opts.signal?.reason);
  if (opts.signal?.aborted) onOuterAbort();
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const active = registerActiveRun(ctx.db, id, abort); // before the row exists: recovery never sees it unowned
  let done = 0;
  let run: MonitorRun | undefined;
  let beat: NodeJS.Timeout | undefined;
  let work: Promise<RunResult[]> | undefined;
  try {
    if (claimed) {
      run = { ...claimed, endpoints: items.length, done: 0 };
      await ctx.db
        .em()
        .fork()
        .nativeUpdate(
          MonitorRunEntity,
          { id, status: 'running' },
          { endpoints: items.length, done: 0, heartbeatAt: ctx.clock.now() }
        );
    } else {
      run = await openRun(ctx, trigger, id, items.length);
    }
    // Heartbeat with progress: every heartbeatMs, and soon after progress (at most every PROGRESS_FLUSH_MS).
    let beating = false;
    let written = 0;
    let lastBeat = Date.now();
    const heartbeatMs = opts.heartbeatMs ?? DEFAULT_RUN_HEARTBEAT_MS;
    beat = setInterval(
      () => {
        if (beating || (done === written && Date.now() - lastBeat < heartbeatMs)) return;
        beating = true;
        const at = done;
        ctx.db
          .em()
          .fork()
          .nativeUpdate(MonitorRunEntity, { id, status: 'running' }, { heartbeatAt: ctx.clock.now(), done: at })
          .then((n) => {
            written = at;
            lastBeat = Date.now();
            if (n === 0) abort.abort('the run was marked interrupted by another process');
          })
          .catch(() => undefined)
          .finally(() => (beating = false));
      },
      Math.min(heartbeatMs, PROGRESS_FLUSH_MS)
    );
    beat.unref();
    const runOpts: RunOpts = {
      ...opts,
      signal: abort.signal,
      onObserved: () => {
        if (done >= items.length) return;
        done++;
        opts.onProgress?.(done, items.length);
      },
    };
    work = judgeAndRecord(ctx, run, items, runOpts);
    const results = await unlessInterrupted(work, abort.signal);
    clearInterval(beat);
    const report: RunReport = { results: results.map((r) => r.entry), durationMs: Date.now() - started };
    const closed = await closeRun(ctx, run, {
      status: 'finished',
      ...countersOf(results),
      done: results.length,
      report: report as unknown as Record<string, unknown>,
    });
    if (closed.status !== 'finished') throw interruptedError(abort.signal);
    return { run: closed, results };
  } catch (err) {
    clearInterval(beat);
    const message = err instanceof Error ? err.message : String(err);
    if (run) {
      const interrupted = abort.signal.aborted;
      if (interrupted && work) {
        // A short grace: the agent side withdraws its unanswered jobs as soon as it sees the abort.
        let grace: NodeJS.Timeout | undefined;
        await Promise.race([
          work.catch(() => undefined),
          new Promise<void>((r) => (grace = setTimeout(r, INTERRUPT_GRACE_MS))),
        ]);
        clearTimeout(grace);
      }
      if (interrupted) ctx.log.warn({ runId: id, done, endpoints: items.length }, message);
      else ctx.log.error({ runId: id, err: { message } }, 'monitoring run failed');
      const report: RunReport = {
        results: [],
        durationMs: Date.now() - started,
        error: (interrupted ? `${message}; ${done} of ${items.length} endpoint(s) observed` : message).slice(0, 4000),
      };
      await closeRun(ctx, run, {
        status: interrupted ? 'interrupted' : 'failed',
        done,
        report: report as unknown as Record<string, unknown>,
      }).catch(() => undefined);
    }
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
    active.settle();
  }
}

/**
 * Runs the monitor (SPEC M1): scheduled (`schedule`), run-now (`manual`), optionally limited to one definition or
 * to named endpoints. Returns the closed run with its counters and report. `claimed`: a requested run this process
 * claimed (run-requests.ts); it is executed under its own id, and closed as `failed` when the input is refused.
 * @example await runMonitor(ctx, { trigger: 'manual', definitionId })
 */
export async function runMonitor(
  ctx: ServiceContext,
  raw: MonitorRunInput,
  opts: MonitorOptions = {},
  claimed?: MonitorRun
): Promise<MonitorRun> {
  let items: RunItem[];
  let input: z.output<typeof monitorRunInputSchema>;
  try {
    input = parseInput(monitorRunInputSchema, raw, 'monitoring.run');
    const em = ctx.db.em().fork();
    if (input.definitionId && !(await em.findOne(DefinitionEntity, { id: input.definitionId }, { fields: ['id'] }))) {
      throw new CertFleetError('CF_NOT_FOUND', `definition: ${input.definitionId} not found`);
    }
    items = await selectRunItems((sql, params) => em.getConnection().execute(sql, params), input);
  } catch (err) {
    if (claimed) {
      const report: RunReport = { results: [], durationMs: 0, error: (err as Error).message.slice(0, 4000) };
      await closeRun(ctx, claimed, { status: 'failed', report: report as unknown as Record<string, unknown> });
    }
    throw err;
  }
  return (await executeRun(ctx, input.trigger, items, opts, claimed)).run;
}

export const runListQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(50),
    trigger: z.enum(['schedule', 'manual', 'deploy-check']).optional(),
    status: z.enum(['requested', 'running', 'finished', 'failed', 'interrupted', 'cancelled']).optional(),
  })
  .strict();

/** Recent runs, newest first, without their reports. */
export async function listRuns(ctx: ServiceContext, raw: unknown): Promise<Array<Omit<MonitorRun, 'report'>>> {
  const q = parseInput(runListQuerySchema, raw, 'monitoring.runs');
  const rows = await ctx.db
    .em()
    .fork()
    .find(
      MonitorRunEntity,
      { ...(q.trigger ? { trigger: q.trigger } : {}), ...(q.status ? { status: q.status } : {}) },
      {
        orderBy: { startedAt: 'desc', id: 'asc' },
        limit: q.limit,
        exclude: ['report'],
      }
    );
  return rows.map((r) => ({
    id: r.id,
    trigger: r.trigger,
    status: r.status,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    endpoints: r.endpoints,
    ok: r.ok,
    warning: r.warning,
    failing: r.failing,
    done: r.done ?? 0,
    requestedBy: r.requestedBy ?? null,
    owner: r.owner ?? null,
    heartbeatAt: r.heartbeatAt ?? null,
  }));
}

/** One run with its history rows. CF_NOT_FOUND for an unknown id. */
export async function getRun(ctx: ServiceContext, id: string): Promise<MonitorRun & { results: MonitoringRecord[] }> {
  const em = ctx.db.em().fork();
  const run = z.uuid().safeParse(id).success ? await em.findOne(MonitorRunEntity, { id }) : null;
  if (!run) throw new CertFleetError('CF_NOT_FOUND', `monitoring: run ${id} not found`);
  const results = await em.find(MonitoringHistoryEntity, { runId: id }, { orderBy: { endpoint: 'asc', id: 'asc' } });
  return { ...run, results };
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/** A self-contained HTML page of a run's report (SPEC M1): every value escaped, inline CSS, no external assets. */
export function renderRunReportHtml(run: MonitorRun): string {
  const report = (run.report ?? {}) as Partial<RunReport>;
  const results = Array.isArray(report.results) ? report.results : [];
  const order = { failing: 0, warning: 1, ok: 2 } as const;
  const rows = [...results]
    .sort((a, b) => (order[a.status] ?? 3) - (order[b.status] ?? 3) || a.endpoint.localeCompare(b.endpoint))
    .map(
      (r) =>
        `<tr class="${esc(r.status)}"><td>${esc(r.status)}</td><td>${esc(r.endpoint)}${
          r.serverName ? `<br><small>SNI ${esc(r.serverName)}</small>` : ''
        }</td><td>${esc(r.definition?.name)}<br><small>${esc(r.definition?.operationMode)}</small></td><td>${esc(
          r.reason
        )}<br><small>${esc(r.message)}</small></td><td>${
          r.leaf
            ? `${esc(r.leaf.subject)}<br><small>SHA-256 ${esc(r.leaf.sha256)}<br>SHA-1 ${esc(r.leaf.sha1)}</small>`
            : ''
        }</td><td>${esc(r.expiry?.leaf ?? '')}</td><td>${esc(r.probedBy)}${
          r.site ? `<br><small>site ${esc(r.site)}</small>` : ''
        }${
          r.trustSet ? `<br><small>trust set ${esc(r.trustSet.name)} ${esc(r.trustSet.version)}</small>` : ''
        }</td></tr>`
    )
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CertFleet monitoring run ${esc(run.id)}</title>
<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top;font-size:13px}small{color:#555;word-break:break-all}tr.failing td:first-child{background:#f8d7da}tr.warning td:first-child{background:#fff3cd}tr.ok td:first-child{background:#d4edda}</style>
</head><body>
<h1>Monitoring run</h1>
<p>Run ${esc(run.id)} (${esc(run.trigger)}), ${esc(run.status)}; started ${esc(run.startedAt instanceof Date ? run.startedAt.toISOString() : run.startedAt)}${
    run.finishedAt
      ? `, finished ${esc(run.finishedAt instanceof Date ? run.finishedAt.toISOString() : run.finishedAt)}`
      : ''
  }.</p>
<p>${esc(run.endpoints)} endpoint(s)${
    run.status === 'finished' ? '' : `, ${esc(run.done ?? 0)} observed`
  }: ${esc(run.ok)} ok, ${esc(run.warning)} warning, ${esc(run.failing)} failing.${
    report.error ? ` Error: ${esc(report.error)}` : ''
  }</p>
<table><thead><tr><th>Status</th><th>Endpoint</th><th>Definition</th><th>Reason</th><th>Served leaf</th><th>Leaf expires</th><th>Probed by</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`;
}
