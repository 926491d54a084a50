/**
 * Fleet benchmark (issue 4, "Reconnect storm"): N simulated agents, each with its own enrolled identity and ONE
 * mutual-TLS gRPC Connect stream to a real controller (startController on PostgreSQL, loopback only).
 *
 * - Setup: the agents' P-256 keys and CSRs are made in the agents' process; the controller enrolls each through
 *   the service layer (createJoinToken + enrollAgent, as the Enroll RPC does). All agents connect; the controller
 *   must count N sessions (`agentServer.connectedCount()`): one TCP connection per agent, not a shared subchannel.
 * - Phase 1 (reconnect storm): the controller is stopped, one install job per agent is queued (enqueueJob, a small
 *   unsealed payload) and a new controller started on the same database, master key, CERTFLEET_HOME and agent port.
 *   Agents reconnect with exponential backoff and full jitter (agent/src/client/backoff.ts). Measured: time until
 *   every agent has reconnected and until every job is acknowledged (agent_jobs.status = done), duplicates (a job
 *   id received twice by one agent, with samples saying on which streams), the controller's event-loop delay and its
 *   RSS peak.
 * - Phase 2 (push): one job each to M connected agents (default 1,000), announced through the agent hub as the
 *   deployment service does after its commit; time until all are acknowledged and the per-job latency
 *   (agent_jobs.finished_at − push time).
 *
 * Three processes: this driver (queues jobs and counts acknowledgements in PostgreSQL), the controller
 * (bench/fleet-controller.ts — stopped and replaced by a NEW process for the storm, as a production restart is) and the
 * simulated agents (bench/fleet-agents.ts). RSS, CPU and event-loop delay are the controller process's own.
 * Everything is bounded in count and time; everything listens on 127.0.0.1.
 */
import { fork, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { generateBundleKeyPair } from '@certfleet/shared';
import { CONTROLLER_NODE_FLAGS } from '../controller/src/config/node-flags';
import { enqueueJob } from '../controller/src/services/agents/jobs';
import { ensureDatabase, openDatabase, withDatabase, type Database } from '../controller/src/storage/database';
import { startEmbeddedPostgres, type RunningPostgres } from '../controller/src/storage/embedded-postgres';
import type { ControllerReply, ControllerRequest, ControllerStats, Lag } from './fleet-controller';
import type { ChildMessage, DuplicateSample, FleetAgentIdentity, FleetAgentStats, ParentMessage } from './fleet-agents';

export interface FleetRunOptions {
  /** PostgreSQL admin URL: a fresh database is created on it (and dropped at the end). */
  adminUrl: string;
  /** Simulated agents. @default 2000 */
  agents?: number;
  /** Agents that get a pushed job in phase 2 (at most `agents`). @default 1000 */
  push?: number;
  /** Controller admission rate (connections per second). @default the controller's own (200) */
  handshakeRate?: number;
  /** Agent reconnect backoff. @default 1000 / 60000 (the agent's defaults) */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Hard limit per phase. @default 180000 */
  phaseTimeoutMs?: number;
  /** Progress lines on stderr. */
  log?: (line: string) => void;
}

export interface Latency {
  p50: number;
  p99: number;
  max: number;
}

export interface FleetReport {
  agents: number;
  setup: {
    keysS: number;
    enrollS: number;
    initialConnectS: number;
    controllerSessions: number;
    agentSideConnected: number;
  };
  storm: {
    /** Stopping controller A until controller B's agent listener is ready (without the time spent queueing jobs). */
    restartS: number;
    /** From B ready until every agent holds a stream again (controller and agent side). */
    reconnectAllS: number | null;
    /** From B ready until every queued job is acknowledged (agent_jobs done). */
    ackAllS: number | null;
    /** Same, from the moment A began to stop. */
    ackAllFromStopS: number | null;
    acknowledged: number;
    reconnected: number;
    duplicates: number;
    /** Jobs delivered more than once (agent_jobs.attempts > 1), duplicates or not. */
    redelivered: number;
    /** Per job: finished_at − B ready, ms. */
    ackLatencyMs: Latency | null;
    maxBackoffAttempt: number;
    streamAttempts: number;
    admission: { admitted: number; queuedPeak: number; dropped: number };
    eventLoopDelayMs: Latency;
    controllerRssPeakMiB: number;
    controllerRssEndMiB: number;
    controllerHeapUsedEndMiB: number;
    controllerCpuS: number;
    /** The first duplicates seen by the agents: which streams delivered the job and how far apart. */
    duplicateSamples: DuplicateSample[];
    timedOut: boolean;
  };
  push: {
    agents: number;
    /** From the hub announcement until every job is acknowledged. */
    ackAllS: number | null;
    acknowledged: number;
    duplicates: number;
    /** Per job: finished_at − announcement, ms. */
    ackLatencyMs: Latency | null;
    eventLoopDelayMs: Latency;
    controllerRssPeakMiB: number;
    timedOut: boolean;
  };
  controllerRssPeakMiB: number;
  controllerRssBaselineMiB: number;
  agentProcessRssPeakMiB: number;
  notes: string[];
}

const mib = (bytes: number) => +(bytes / 2 ** 20).toFixed(1);
const secs = (ms: number) => +(ms / 1000).toFixed(3);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

function latency(values: number[]): Latency | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? 0 };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The simulated agents' process. */
class AgentProcess {
  readonly child: ChildProcess;
  latest: FleetAgentStats | null = null;
  rssPeak = 0;
  private waiters: ((m: ChildMessage) => boolean)[] = [];

  constructor() {
    this.child = fork(path.join(__dirname, 'fleet-agents.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    this.child.on('message', (m: ChildMessage) => {
      if (m.type === 'stats') {
        this.latest = m;
        this.rssPeak = Math.max(this.rssPeak, m.rssBytes);
      }
      this.waiters = this.waiters.filter((w) => !w(m));
    });
  }

  send(m: ParentMessage): void {
    this.child.send(m);
  }

  wait<T extends ChildMessage>(pick: (m: ChildMessage) => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`fleet: timed out after ${timeoutMs} ms waiting for ${what}`)),
        timeoutMs
      );
      const onExit = () => reject(new Error(`fleet: the agents' process exited while waiting for ${what}`));
      this.child.once('exit', onExit);
      this.waiters.push((m) => {
        const v = pick(m);
        if (v === undefined) return false;
        clearTimeout(timer);
        this.child.off('exit', onExit);
        resolve(v);
        return true;
      });
    });
  }

  async fresh(timeoutMs = 5000): Promise<FleetAgentStats> {
    const p = this.wait((m) => (m.type === 'stats' ? m : undefined), timeoutMs, 'agent stats');
    this.send({ type: 'stats?' });
    return p;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || !this.child.connected) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send({ type: 'stop' });
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}

async function doneCounts(
  db: Database,
  jobIds: string[]
): Promise<{ done: number; redelivered: number; finished: Date[] }> {
  const rows = await db
    .em()
    .getConnection()
    .execute<{ status: string; attempts: number; finished_at: Date | null }[]>(
      `select status, attempts, finished_at from agent_jobs where id = any(?::uuid[])`,
      [`{${jobIds.join(',')}}`]
    );
  const finished = rows.filter((r) => r.status === 'done' && r.finished_at).map((r) => new Date(r.finished_at!));
  return { done: finished.length, redelivered: rows.filter((r) => r.attempts > 1).length, finished };
}

async function queueJobs(db: Database, agentIds: string[], tag: string): Promise<string[]> {
  const ids: string[] = [];
  const now = new Date();
  await db.em().transactional(async (em) => {
    for (const agentId of agentIds) {
      const payload = Buffer.from(JSON.stringify({ bench: tag, agentId, pad: crypto.randomBytes(48).toString('hex') }));
      const job = await enqueueJob(em, { agentId, kind: 'install', slot: null, deploymentId: null, payload }, now);
      ids.push(job.id);
    }
  });
  return ids;
}

/** The controller in its own process (bench/fleet-controller.ts), driven by small request/response messages. */
class ControllerProcess {
  readonly child: ChildProcess;
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor() {
    this.child = fork(path.join(__dirname, 'fleet-controller.ts'), [], {
      execArgv: [
        // the flags `npm start` runs the controller with
        ...CONTROLLER_NODE_FLAGS,
        '--import',
        'tsx',
        ...(process.env.FLEET_CONTROLLER_NODE_FLAGS ? process.env.FLEET_CONTROLLER_NODE_FLAGS.split(' ') : []),
        ...(process.env.FLEET_HEAP_SNAPSHOT
          ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${process.env.FLEET_HEAP_SNAPSHOT}`]
          : []),
      ],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    this.child.on('message', (m: ControllerReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`fleet-controller: ${m.error}`));
    });
    this.child.on('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error('fleet: the controller process exited'));
      this.pending.clear();
    });
  }

  call<T>(req: DistributiveOmit<ControllerRequest, 'id'>, timeoutMs = 60_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`fleet: controller did not answer ${req.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ ...req, id });
    });
  }

  stats(): Promise<ControllerStats> {
    return this.call<ControllerStats>({ op: 'stats' });
  }

  /** Stops the controller and waits for the process to exit (SIGKILL after 20 s). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const t = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await this.call({ op: 'stop' }, 20_000).catch(() => undefined);
    await exited;
    clearTimeout(t);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Runs the setup and both phases; returns the figures (asserts nothing). */
export async function runFleet(options: FleetRunOptions): Promise<FleetReport> {
  const n = options.agents ?? 2000;
  const m = Math.min(options.push ?? 1000, n);
  const phaseTimeoutMs = options.phaseTimeoutMs ?? 180_000;
  const log = options.log ?? (() => undefined);
  const notes: string[] = [];
  const dbName = `fleet_${crypto.randomBytes(5).toString('hex')}`;
  await ensureDatabase(options.adminUrl, dbName);
  const dbUrl = withDatabase(options.adminUrl, dbName);
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-fleet-home-'));
  const agentPort = await freePort();
  const env = {
    CERTFLEET_HOME: home,
    DATABASE_URL: dbUrl,
    CERTFLEET_HTTPS_PORT: '0',
    CERTFLEET_HTTPS_HOST: '127.0.0.1',
    CERTFLEET_AGENT_PORT: String(agentPort),
    CERTFLEET_AGENT_HOST: '127.0.0.1',
    CERTFLEET_LOG_LEVEL: 'silent',
  };
  const startController = async (): Promise<ControllerProcess> => {
    const c = new ControllerProcess();
    await c.call({ op: 'start', env, ...(options.handshakeRate ? { handshakeRate: options.handshakeRate } : {}) });
    return c;
  };

  let controller: ControllerProcess | null = null;
  let agents: AgentProcess | null = null;
  let benchDb: Database | null = null;
  let controllerRssPeak = 0;
  let baselineRss = 0;
  try {
    controller = await startController();
    baselineRss = (await controller.stats()).rssBytes;
    benchDb = await openDatabase(dbUrl, { migrate: false });

    // -- setup: keys in the agents' process, enrollment through the service layer --------------------------------
    agents = new AgentProcess();
    let t = performance.now();
    const csrsP = agents.wait(
      (msg) => (msg.type === 'csrs' ? msg : undefined),
      60_000 + n * 100,
      'agent keys and CSRs'
    );
    agents.send({ type: 'keys', n });
    const { csrs } = await csrsP;
    const keysS = secs(performance.now() - t);
    log(`${n} agent keys and CSRs in ${keysS} s`);

    t = performance.now();
    const { recipient } = await generateBundleKeyPair();
    const { identities, caPem } = await controller.call<{ identities: FleetAgentIdentity[]; caPem: string }>(
      { op: 'enroll', csrs, bundleRecipient: recipient },
      phaseTimeoutMs
    );
    const enrollS = secs(performance.now() - t);
    log(`${n} agents enrolled in ${enrollS} s`);

    // -- all agents connect -----------------------------------------------------------------------------------------
    t = performance.now();
    agents.send({
      type: 'start',
      address: `127.0.0.1:${agentPort}`,
      caPem,
      agents: identities,
      backoffBaseMs: options.backoffBaseMs ?? 1000,
      backoffCapMs: options.backoffCapMs ?? 60_000,
    });
    const connectDeadline = Date.now() + phaseTimeoutMs;
    let lastConnectLog = Date.now();
    let sessions = 0;
    while (Date.now() < connectDeadline) {
      const st = await controller.stats();
      sessions = st.sessions;
      if (sessions >= n && (agents.latest?.connected ?? 0) >= n) break;
      if (Date.now() - lastConnectLog > 5000) {
        lastConnectLog = Date.now();
        log(
          `  ${sessions} sessions, ${agents.latest?.connected ?? 0} agents connected, admission ${JSON.stringify(st.admission)}`
        );
      }
      await sleep(100);
    }
    const initialConnectS = secs(performance.now() - t);
    const controllerSessions = sessions;
    const agentSideConnected = (await agents.fresh()).connected;
    if (process.env.FLEET_HEAP_SNAPSHOT) process.kill(controller.child.pid!, 'SIGUSR2');
    const connectedStats = await controller.stats();
    controllerRssPeak = Math.max(controllerRssPeak, connectedStats.rssPeakBytes);
    log(
      `initial connect: ${controllerSessions} controller sessions, ${agentSideConnected} agents connected in ${initialConnectS} s (controller RSS ${mib(connectedStats.rssBytes)} MiB)`
    );
    if (controllerSessions < n) throw new Error(`fleet: only ${controllerSessions} of ${n} agents connected`);

    // -- phase 1: reconnect storm -----------------------------------------------------------------------------------
    const agentIds = identities.map((x) => x.agentId);
    const before = await agents.fresh();
    const tDown = performance.now();
    log('stopping the controller (its process exits; a new process starts on the same database and port)');
    await controller.stop();
    controller = null;
    // One deployment job per agent is queued while no controller runs (as deployments made from the CLI or by a
    // peer controller during the restart would be); the new controller finds them when the agents come back.
    const tQueue = performance.now();
    const stormJobs = await queueJobs(benchDb, agentIds, 'storm');
    const queueS = secs(performance.now() - tQueue);
    controller = await startController();
    await controller.call({ op: 'reset' });
    const cpu0 = (await controller.stats()).cpuUs;
    const tUp = performance.now();
    const upAt = Date.now();
    const second = controller;
    log(`new controller up after ${secs(tUp - tDown)} s (of which ${queueS} s queueing ${n} jobs)`);
    let reconnectAt: number | null = null;
    let ackAt: number | null = null;
    let counts = { done: 0, redelivered: 0, finished: [] as Date[] };
    const stormDeadline = tUp + phaseTimeoutMs;
    let lastLog = 0;
    let st = await second.stats();
    while (performance.now() < stormDeadline) {
      const now = performance.now();
      st = await second.stats();
      if (reconnectAt === null && st.sessions >= n && (agents.latest?.connected ?? 0) >= n) reconnectAt = now;
      counts = await doneCounts(benchDb, stormJobs);
      if (ackAt === null && counts.done >= n) ackAt = performance.now();
      if (reconnectAt !== null && ackAt !== null) break;
      if (now - lastLog > 5000) {
        lastLog = now;
        log(
          `  +${secs(now - tUp)} s: ${st.sessions} sessions, ${counts.done} acknowledged, RSS ${mib(st.rssBytes)} MiB, admission ${JSON.stringify(st.admission)}`
        );
      }
      await sleep(100);
    }
    const stormLag = await second.call<Lag>({ op: 'lag' });
    st = await second.stats();
    const afterGc = await second.call<{ heapUsedBytes: number; rssBytes: number } | null>({ op: 'gc' });
    if (afterGc) {
      log(
        `after a full GC (--expose-gc): heap used ${mib(afterGc.heapUsedBytes)} MiB, RSS ${mib(afterGc.rssBytes)} MiB`
      );
    }
    controllerRssPeak = Math.max(controllerRssPeak, st.rssPeakBytes);
    const afterStorm = await agents.fresh();
    const storm: FleetReport['storm'] = {
      restartS: secs(tUp - tDown - queueS * 1000),
      reconnectAllS: reconnectAt === null ? null : secs(reconnectAt - tUp),
      ackAllS: ackAt === null ? null : secs(ackAt - tUp),
      ackAllFromStopS: ackAt === null ? null : secs(ackAt - tDown),
      acknowledged: counts.done,
      reconnected: st.sessions,
      duplicates: afterStorm.duplicates - before.duplicates,
      redelivered: counts.redelivered,
      ackLatencyMs: latency(counts.finished.map((d) => Math.max(0, d.getTime() - upAt))),
      maxBackoffAttempt: afterStorm.maxAttempt,
      streamAttempts: afterStorm.attempts - before.attempts,
      admission: { ...st.admission },
      eventLoopDelayMs: stormLag,
      controllerRssPeakMiB: mib(st.rssPeakBytes),
      controllerRssEndMiB: mib(st.rssBytes),
      controllerHeapUsedEndMiB: mib(st.heapUsedBytes),
      controllerCpuS: +((st.cpuUs - cpu0) / 1e6).toFixed(2),
      duplicateSamples: afterStorm.duplicateSamples.slice(before.duplicateSamples.length),
      timedOut: reconnectAt === null || ackAt === null,
    };
    log(`storm: ${JSON.stringify(storm)}`);

    // -- phase 2: push one job to M connected agents ------------------------------------------------------------------
    const pushIds = agentIds.slice(0, m);
    // Settle first: every pushed agent must hold a stream on the new controller.
    const settle = Date.now() + 30_000;
    while (Date.now() < settle && (await second.call<number>({ op: 'connected', agentIds: pushIds })) < m) {
      await sleep(100);
    }
    const beforePush = await agents.fresh();
    const pushJobs = await queueJobs(benchDb, pushIds, 'push');
    await second.call({ op: 'reset' });
    const tPush = performance.now();
    const pushAt = Date.now();
    await second.call({ op: 'announce', agentIds: pushIds });
    let pushAck: number | null = null;
    let pushCounts = { done: 0, redelivered: 0, finished: [] as Date[] };
    while (performance.now() < tPush + phaseTimeoutMs) {
      pushCounts = await doneCounts(benchDb, pushJobs);
      if (pushCounts.done >= m) {
        pushAck = performance.now();
        break;
      }
      await sleep(50);
    }
    const pushLag = await second.call<Lag>({ op: 'lag' });
    const pst = await second.stats();
    controllerRssPeak = Math.max(controllerRssPeak, pst.rssPeakBytes);
    const afterPush = await agents.fresh();
    const push: FleetReport['push'] = {
      agents: m,
      ackAllS: pushAck === null ? null : secs(pushAck - tPush),
      acknowledged: pushCounts.done,
      duplicates: afterPush.duplicates - beforePush.duplicates,
      ackLatencyMs: latency(pushCounts.finished.map((d) => Math.max(0, d.getTime() - pushAt))),
      eventLoopDelayMs: pushLag,
      controllerRssPeakMiB: mib(pst.rssPeakBytes),
      timedOut: pushAck === null,
    };
    log(`push: ${JSON.stringify(push)}`);

    notes.push(
      'Three processes: the benchmark driver (this one: PostgreSQL queries for queueing and counting), the controller (bench/fleet-controller.ts; a restart is a new process, as in production) and the simulated agents (bench/fleet-agents.ts); they share the 2 cores with PostgreSQL.',
      'Event-loop delay, RSS and CPU are of the controller process alone (sampled in it every 50 ms).',
      'Job payloads are small and unsealed (enqueueJob directly); the agents acknowledge without installing anything.',
      'Acknowledged = agent_jobs.status done (recordJobResult committed); latencies use finished_at (set just before the commit).',
      'Duplicates = a job id received a second time by the same simulated agent (the real agent answers those from its stored result without reapplying).'
    );
    return {
      agents: n,
      setup: { keysS, enrollS, initialConnectS, controllerSessions, agentSideConnected },
      storm,
      push,
      controllerRssPeakMiB: mib(controllerRssPeak),
      controllerRssBaselineMiB: mib(baselineRss),
      agentProcessRssPeakMiB: mib(agents.rssPeak),
      notes,
    };
  } finally {
    await agents?.stop().catch(() => undefined);
    await controller?.stop().catch(() => undefined);
    await benchDb?.close().catch(() => undefined);
    const c = new Client({ connectionString: options.adminUrl });
    await c
      .connect()
      .then(() => c.query(`drop database if exists "${dbName}" with (force)`))
      .catch(() => undefined)
      .finally(() => c.end().catch(() => undefined));
    fs.rmSync(home, { recursive: true, force: true });
  }
}

export interface FleetBenchOptions {
  agents?: number;
  push?: number;
  handshakeRate?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  phaseTimeoutMs?: number;
  out?: string;
}

function table(r: FleetReport): string {
  const lat = (l: Latency | null) => (l ? `p50 ${l.p50} / p99 ${l.p99} / max ${l.max} ms` : 'n/a');
  const rows: [string, string, string][] = [
    ['agents (controller sessions after setup)', `${r.agents} (${r.setup.controllerSessions})`, ''],
    [
      'setup: keys / enroll / initial connect',
      `${r.setup.keysS} s / ${r.setup.enrollS} s / ${r.setup.initialConnectS} s`,
      '',
    ],
    ['storm: controller restart', `${r.storm.restartS} s`, ''],
    ['storm: all agents reconnected (from new listener)', `${r.storm.reconnectAllS ?? 'timeout'} s`, ''],
    ['storm: all jobs acknowledged (from new listener)', `${r.storm.ackAllS ?? 'timeout'} s`, '≤ 60 s'],
    ['storm: all jobs acknowledged (from stop)', `${r.storm.ackAllFromStopS ?? 'timeout'} s`, ''],
    [
      'storm: acknowledged / duplicates / redelivered',
      `${r.storm.acknowledged} / ${r.storm.duplicates} / ${r.storm.redelivered}`,
      '0 duplicates',
    ],
    ['storm: per-job ack latency', lat(r.storm.ackLatencyMs), ''],
    [
      'storm: admission admitted / queued peak / dropped',
      `${r.storm.admission.admitted} / ${r.storm.admission.queuedPeak} / ${r.storm.admission.dropped}`,
      '',
    ],
    ['storm: stream attempts / max backoff attempt', `${r.storm.streamAttempts} / ${r.storm.maxBackoffAttempt}`, ''],
    ['storm: controller event-loop delay', lat(r.storm.eventLoopDelayMs), ''],
    [
      'storm: controller RSS peak / CPU',
      `${r.storm.controllerRssPeakMiB} MiB / ${r.storm.controllerCpuS} s`,
      '< 512 MB',
    ],
    [`push: ${r.push.agents} agents, all acknowledged`, `${r.push.ackAllS ?? 'timeout'} s`, ''],
    ['push: per-job ack latency', lat(r.push.ackLatencyMs), 'p99 ≤ 10 s'],
    ['push: acknowledged / duplicates', `${r.push.acknowledged} / ${r.push.duplicates}`, ''],
    ['push: controller event-loop delay', lat(r.push.eventLoopDelayMs), ''],
    [
      'controller RSS peak (whole run) / agents process',
      `${r.controllerRssPeakMiB} MiB / ${r.agentProcessRssPeakMiB} MiB`,
      '',
    ],
  ];
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  return rows.map(([a, b, c]) => `${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`.trimEnd()).join('\n');
}

/** `npm run bench -- fleet`: embedded PostgreSQL (or DATABASE_URL), the run, a table and a JSON result file. */
export async function runFleetBench(options: FleetBenchOptions): Promise<void> {
  const started = new Date();
  const log = (line: string) => process.stderr.write(`# ${line}\n`);
  let pg: RunningPostgres | undefined;
  let tmp: string | undefined;
  let adminUrl = process.env.DATABASE_URL;
  try {
    if (!adminUrl) {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-fleet-pg-'));
      fs.chmodSync(tmp, 0o755);
      pg = await startEmbeddedPostgres({
        dataDir: path.join(tmp, 'pgdata'),
        passwordFile: path.join(tmp, 'pg-password'),
        locationFile: path.join(tmp, 'pgdata.location'),
      });
      adminUrl = pg.adminUrl;
      log(`embedded PostgreSQL on port ${pg.port}`);
    }
    const report = await runFleet({
      adminUrl,
      ...(options.agents ? { agents: options.agents } : {}),
      ...(options.push ? { push: options.push } : {}),
      ...(options.handshakeRate ? { handshakeRate: options.handshakeRate } : {}),
      ...(options.backoffBaseMs ? { backoffBaseMs: options.backoffBaseMs } : {}),
      ...(options.backoffCapMs ? { backoffCapMs: options.backoffCapMs } : {}),
      ...(options.phaseTimeoutMs ? { phaseTimeoutMs: options.phaseTimeoutMs } : {}),
      log,
    });
    process.stdout.write(
      `\nReconnect storm: ${report.agents} agents, ${os.availableParallelism()} cores, Node ${process.versions.node}\n${table(report)}\n`
    );
    const result = {
      benchmark: 'fleet',
      startedAt: started.toISOString(),
      machine: {
        cores: os.availableParallelism(),
        cpu: os.cpus()[0]?.model ?? 'unknown',
        memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
        loadAverageAtStart: os.loadavg(),
        node: process.versions.node,
      },
      parameters: {
        agents: report.agents,
        push: report.push.agents,
        handshakeRate: options.handshakeRate ?? 'controller default (200/s)',
        backoffBaseMs: options.backoffBaseMs ?? 1000,
        backoffCapMs: options.backoffCapMs ?? 60_000,
        phaseTimeoutMs: options.phaseTimeoutMs ?? 180_000,
      },
      results: report,
    };
    const root = path.resolve(__dirname, '..');
    const out =
      options.out ??
      path.join(
        root,
        'bench',
        'results',
        `fleet-${started
          .toISOString()
          .replace(/[:.]/g, '-')
          .replace(/-\d{3}Z$/, 'Z')}.json`
      );
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const prettier = await import('prettier');
    const config = (await prettier.resolveConfig(out)) ?? {};
    fs.writeFileSync(out, await prettier.format(JSON.stringify(result), { ...config, parser: 'json' }));
    process.stdout.write(`\nresults written to ${path.relative(process.cwd(), out)}\n`);
  } finally {
    await pg?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}
