/**
 * Agent-side observation of a monitoring run (SPEC M4): endpoints assigned to a named agent, and endpoints that
 * "any agent of a site" may probe. Each agent gets probe jobs (chunks of at most 500 endpoints) over its stream;
 * the job rows are polled until answered.
 *
 * Site endpoints: each goes to a connected, non-banned agent of its site (the least loaded in this run). When that
 * agent has not answered within the attempt deadline (half the agent deadline by default) or its stream is gone,
 * its job is withdrawn and the endpoints are re-assigned once, to another connected agent of the site. With no
 * connected agent the verdict is `NoSiteAgentConnected`. A withdrawn job is `superseded`: a late report for it is
 * refused (probe-jobs.ts), so only the agent an endpoint is assigned to in this run can report for it.
 */
import { AgentEntity, AgentJobEntity } from '../../storage/entities';
import { SiteAssigner } from '../../domain/site-assignment';
import { enqueueProbeJob, type ProbeObservationRecord } from '../agents/probe-jobs';
import type { ServiceContext } from '../context';
import { endpointLabel, fromAgentRecord, type Observed, type ProbeTarget } from './observation';

/** How long a run waits for agents to answer their probe jobs. */
export const DEFAULT_AGENT_DEADLINE_MS = 60_000;
/** Endpoints per agent probe job (the job schema's limit). */
const AGENT_JOB_CHUNK = 500;

export interface AgentProbeOptions {
  /** Overall wait for agents' reports. @default 60000 */
  agentDeadlineMs?: number;
  /** First attempt of a site endpoint; then it is re-assigned once. @default agentDeadlineMs / 2 */
  siteAttemptMs?: number;
  /** Poll interval of the job rows (and of the site agents' connection state). @default 250 */
  pollMs?: number;
  /** Stops waiting (the run is being interrupted). */
  signal?: AbortSignal;
  /** Called once per target index as soon as its observation (or its failure) is known. */
  onObserved?: (index: number) => void;
}

interface Batch {
  agentId: string;
  indexes: number[];
  /** The site of site endpoints; null for endpoints of a named agent. */
  site: string | null;
  attempt: 1 | 2;
  tried: Set<string>;
  jobId: string | null;
  deadline: number;
  /** The agent of the first attempt, for messages of the second. */
  previous?: { agentId: string; why: string };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** Connected, active agents per site (ordered by id for a stable spread), as this process sees them. */
async function connectedSiteAgents(ctx: ServiceContext, sites: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (sites.length === 0) return out;
  const rows = await ctx.db
    .em()
    .fork()
    .find(
      AgentEntity,
      { site: { $in: [...sites] }, status: 'active' },
      { fields: ['id', 'site'], orderBy: { id: 'asc' } }
    );
  for (const a of rows) {
    if (!a.site || !ctx.agentHub?.isConnected(a.id)) continue;
    const list = out.get(a.site) ?? [];
    list.push(a.id);
    out.set(a.site, list);
  }
  return out;
}

/**
 * Observes `indexes` of `targets` (all `agent` or `site` targets) through agents, filling `out`. Never throws for
 * a target: an agent that cannot take or does not answer a job gives a failing verdict with its reason.
 */
export async function observeViaAgents(
  ctx: ServiceContext,
  targets: readonly ProbeTarget[],
  indexes: readonly number[],
  out: Observed[],
  opts: AgentProbeOptions = {}
): Promise<void> {
  if (indexes.length === 0) return;
  const start = Date.now();
  const deadlineMs = opts.agentDeadlineMs ?? DEFAULT_AGENT_DEADLINE_MS;
  const overall = start + deadlineMs;
  const firstAttempt = Math.min(overall, start + (opts.siteAttemptMs ?? Math.floor(deadlineMs / 2)));
  const label = (i: number) => {
    const t = targets[i] as ProbeTarget;
    return endpointLabel(t.host, t.port);
  };
  /** Records a target's observation (or failure); `observed: false` for targets a run gave up on (interrupted). */
  const settle = (i: number, o: Observed, observed = true) => {
    if (out[i] !== undefined) return;
    out[i] = o;
    if (observed) opts.onObserved?.(i);
  };

  // Who probes what: named agents as configured; site endpoints spread over the site's connected agents.
  const sites = [
    ...new Set(indexes.filter((i) => targets[i]?.probeFrom === 'site').map((i) => targets[i]?.site ?? '')),
  ].filter(Boolean);
  const assigner = new SiteAssigner(await connectedSiteAgents(ctx, sites));
  const grouped = new Map<string, Batch>();
  for (const i of indexes) {
    const t = targets[i] as ProbeTarget;
    if (t.probeFrom === 'site') {
      const site = t.site ?? '';
      const agentId = site ? assigner.pick(site) : null;
      if (!agentId) {
        settle(i, {
          kind: 'missing',
          reason: 'NoSiteAgentConnected',
          message: `${label(i)}: no agent of site ${site || '(none)'} is connected`,
          probedBy: `site:${site}`,
        });
        continue;
      }
      const key = `site\u0000${site}\u0000${agentId}`;
      const b = grouped.get(key) ?? {
        agentId,
        indexes: [],
        site,
        attempt: 1 as const,
        tried: new Set([agentId]),
        jobId: null,
        deadline: firstAttempt,
      };
      b.indexes.push(i);
      grouped.set(key, b);
    } else if (!t.agentId) {
      settle(i, {
        kind: 'missing',
        reason: 'AgentUnavailable',
        message: `${label(i)}: no agent is assigned to probe this endpoint`,
        probedBy: 'agent:?',
      });
    } else {
      const key = `agent\u0000${t.agentId}`;
      const b = grouped.get(key) ?? {
        agentId: t.agentId,
        indexes: [],
        site: null,
        attempt: 1 as const,
        tried: new Set([t.agentId]),
        jobId: null,
        deadline: overall,
      };
      b.indexes.push(i);
      grouped.set(key, b);
    }
  }
  const batches: Batch[] = [];
  for (const b of grouped.values()) {
    for (let s = 0; s < b.indexes.length; s += AGENT_JOB_CHUNK) {
      batches.push({ ...b, indexes: b.indexes.slice(s, s + AGENT_JOB_CHUNK), tried: new Set(b.tried) });
    }
  }

  const enqueue = async (b: Batch): Promise<string | null> => {
    try {
      const job = await enqueueProbeJob(
        ctx,
        b.agentId,
        b.indexes.map((i) => {
          const t = targets[i] as ProbeTarget;
          return {
            host: t.host,
            port: t.port,
            ...(t.serverName ? { serverName: t.serverName } : {}),
            ...(t.starttls ? { starttls: t.starttls } : {}),
          };
        })
      );
      b.jobId = job.id;
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  };

  /** Withdraws a batch's job; false when the agent answered meanwhile (the answer is then collected). */
  const withdraw = async (b: Batch): Promise<boolean> => {
    if (!b.jobId) return true;
    const n = await ctx.db
      .em()
      .fork()
      .nativeUpdate(
        AgentJobEntity,
        { id: b.jobId, status: { $in: ['pending', 'delivered'] } },
        { status: 'superseded', finishedAt: ctx.clock.now() }
      );
    return n > 0;
  };

  const fail = (b: Batch, reason: string, why: (i: number) => string) => {
    for (const i of b.indexes) {
      settle(i, { kind: 'missing', reason, message: why(i), probedBy: `agent:${b.agentId}` }, !opts.signal?.aborted);
    }
  };

  /** Moves a site batch to another connected agent of its site (once); fails it when there is none. */
  const reassign = async (b: Batch, why: string): Promise<Batch | null> => {
    const site = b.site as string;
    const next = assigner.pick(site, b.tried, b.indexes.length);
    if (!next) {
      fail(
        b,
        'AgentDidNotReport',
        (i) => `${label(i)}: agent ${b.agentId} of site ${site} ${why}, and no other agent of site ${site} is connected`
      );
      return null;
    }
    const moved: Batch = {
      agentId: next,
      indexes: b.indexes,
      site,
      attempt: 2,
      tried: new Set([...b.tried, next]),
      jobId: null,
      deadline: overall,
      previous: { agentId: b.agentId, why },
    };
    const refused = await enqueue(moved);
    if (refused) {
      fail(
        moved,
        'AgentUnavailable',
        (i) =>
          `${label(i)}: agent ${b.agentId} of site ${site} ${why}; agent ${next} cannot take probe jobs: ${refused}`
      );
      return null;
    }
    ctx.log.info({ site, from: b.agentId, to: next, endpoints: b.indexes.length }, 'site probe job re-assigned');
    return moved;
  };

  const waiting = new Map<string, Batch>(); // job id → batch
  for (const b of batches) {
    const refused = await enqueue(b);
    if (!refused) {
      waiting.set(b.jobId as string, b);
      continue;
    }
    if (b.site) {
      const moved = await reassign(b, `cannot take probe jobs (${refused})`);
      if (moved) waiting.set(moved.jobId as string, moved);
    } else {
      fail(b, 'AgentUnavailable', (i) => `${label(i)}: agent ${b.agentId} cannot take probe jobs: ${refused}`);
    }
  }

  while (waiting.size > 0 && !opts.signal?.aborted) {
    const rows = await ctx.db
      .em()
      .fork()
      .find(AgentJobEntity, { id: { $in: [...waiting.keys()] }, status: 'done' });
    for (const row of rows) {
      const b = waiting.get(row.id);
      if (!b) continue;
      waiting.delete(row.id);
      const records = ((row.result ?? {}) as { observations?: ProbeObservationRecord[] }).observations ?? [];
      b.indexes.forEach((i, k) => {
        const rec = records[k];
        settle(
          i,
          rec
            ? fromAgentRecord(rec, targets[i] as ProbeTarget, `agent:${b.agentId}`)
            : {
                kind: 'missing',
                reason: 'AgentDidNotReport',
                message: `${label(i)}: the agent's report has no observation for this endpoint`,
                probedBy: `agent:${b.agentId}`,
              }
        );
      });
    }
    const now = Date.now();
    for (const [jobId, b] of [...waiting]) {
      if (!b.site || b.attempt !== 1) continue;
      const gone = !(ctx.agentHub?.isConnected(b.agentId) ?? false);
      if (!gone && now < b.deadline) continue;
      if (!(await withdraw(b))) continue; // answered meanwhile: collected on the next round
      waiting.delete(jobId);
      const seconds = Math.round((b.deadline - start) / 100) / 10;
      const moved = await reassign(b, gone ? 'disconnected' : `did not report within ${seconds} s`);
      if (moved) waiting.set(moved.jobId as string, moved);
    }
    if (waiting.size === 0 || Date.now() >= overall) break;
    await sleep(Math.min(opts.pollMs ?? 250, Math.max(10, overall - Date.now())), opts.signal);
  }

  if (waiting.size > 0) {
    // Withdraw the unanswered jobs so a late reconnect does not probe for a run that has already judged them.
    await ctx.db
      .em()
      .fork()
      .nativeUpdate(
        AgentJobEntity,
        { id: { $in: [...waiting.keys()] }, status: { $in: ['pending', 'delivered'] } },
        { status: 'superseded', finishedAt: ctx.clock.now() }
      );
    const seconds = Math.round(deadlineMs / 100) / 10;
    for (const b of waiting.values()) {
      const before = b.previous ? ` (re-assigned from agent ${b.previous.agentId}, which ${b.previous.why})` : '';
      const site = b.site ? ` of site ${b.site}` : '';
      fail(b, opts.signal?.aborted ? 'RunInterrupted' : 'AgentDidNotReport', (i) =>
        opts.signal?.aborted
          ? `${label(i)}: the run was interrupted before agent ${b.agentId} reported`
          : `${label(i)}: agent ${b.agentId}${site} did not report within ${seconds} s${before}`
      );
    }
  }
}
