/**
 * The simulated agents of the fleet benchmark (bench/fleet.ts), run in a child process so that the controller's
 * event loop is measured alone. Spoken to over the IPC channel:
 *
 *   parent → child  { type: 'keys', n }                        → { type: 'csrs', csrs }   (one P-256 key each)
 *   parent → child  { type: 'start', address, caPem, agents }  : every agent holds one mutual-TLS Connect stream
 *   parent → child  { type: 'stop' }                           : close everything and exit
 *   child → parent  { type: 'stats', … } every 200 ms and on request ({ type: 'stats?' })
 *
 * Each agent does what agent/src/agent.ts does on the wire: its own client (own credentials, hence its own
 * subchannel and TCP connection), a new client per session, reconnect with exponential backoff and full jitter
 * (backoffDelayMs, attempt reset after a session of 30 s), and a JobResult JOB_STATUS_SUCCEEDED for every job it
 * receives. A job id received a second time is counted as a duplicate (and answered again, as the real agent
 * answers from its stored result).
 */
import type * as grpc from '@grpc/grpc-js';
import { JobStatus, type AgentMessage, type AgentServiceClient, type ControllerMessage } from '@certfleet/proto';
import { backoffDelayMs } from '../agent/src/client/backoff';
import { agentClient } from '../agent/src/client/controller-client';
import { generateAgentKeyAndCsr } from '../agent/src/client/csr';

export interface FleetAgentIdentity {
  agentId: string;
  certPem: string;
}

export type ParentMessage =
  | { type: 'keys'; n: number }
  | {
      type: 'start';
      address: string;
      caPem: string;
      agents: FleetAgentIdentity[];
      backoffBaseMs: number;
      backoffCapMs: number;
    }
  | { type: 'stats?' }
  | { type: 'stop' };

export interface FleetAgentStats {
  type: 'stats';
  /** Agents whose current stream has received the controller's first heartbeat. */
  connected: number;
  /** Streams opened in total (successful or not). */
  attempts: number;
  /** Streams that failed or ended. */
  streamEnds: number;
  /** Distinct job ids received (summed over agents). */
  received: number;
  /** Job ids received again by the same agent. */
  duplicates: number;
  acksSent: number;
  /** Largest backoff attempt number any agent reached. */
  maxAttempt: number;
  /** The first duplicates (at most 20): on which of the agent's streams the job came, and how far apart. */
  duplicateSamples: DuplicateSample[];
  rssBytes: number;
}

export interface DuplicateSample {
  agentId: string;
  jobId: string;
  /** The agent's stream numbers (1 = its first stream) of the first and the second delivery. */
  firstStream: number;
  secondStream: number;
  msApart: number;
}

export type ChildMessage = { type: 'csrs'; csrs: string[] } | FleetAgentStats;

interface SimAgent {
  id: string;
  keyPem: string;
  certPem: string;
  client: AgentServiceClient | null;
  call: grpc.ClientDuplexStream<AgentMessage, ControllerMessage> | null;
  connected: boolean;
  /** Job id → [stream number, time] of its first delivery. */
  jobs: Map<string, [number, number]>;
  streams: number;
  wake: (() => void) | null;
}

const keys: string[] = [];
const agents: SimAgent[] = [];
let stopping = false;
const stats: Omit<FleetAgentStats, 'type' | 'connected' | 'rssBytes'> = {
  duplicateSamples: [],
  attempts: 0,
  streamEnds: 0,
  received: 0,
  duplicates: 0,
  acksSent: 0,
  maxAttempt: 0,
};

function send(msg: ChildMessage): void {
  if (process.connected) process.send?.(msg);
}

function snapshot(): FleetAgentStats {
  let connected = 0;
  for (const a of agents) if (a.connected) connected++;
  return {
    type: 'stats',
    connected,
    ...stats,
    duplicateSamples: [...stats.duplicateSamples],
    rssBytes: process.memoryUsage.rss(),
  };
}

function ack(call: grpc.ClientDuplexStream<AgentMessage, ControllerMessage>, jobId: string): void {
  const ms = Date.now();
  call.write({
    payload: {
      $case: 'jobResult',
      value: {
        jobId,
        status: JobStatus.JOB_STATUS_SUCCEEDED,
        reason: 'Installed',
        message: 'fleet bench: acknowledged',
        finishedAt: { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 },
        servedSha256: '',
        stderrTail: '',
        idempotent: false,
        rolledBack: false,
        observations: [],
      },
    },
  });
  stats.acksSent++;
}

/** One session: a new client, one Connect stream, until it ends. */
function session(a: SimAgent, address: string, caPem: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const client = agentClient(address, { controllerCaPem: caPem, keyPem: a.keyPem, certPem: a.certPem });
    const call = client.connect();
    a.client = client;
    a.call = call;
    stats.attempts++;
    const stream = ++a.streams;
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      a.connected = false;
      a.call = null;
      a.client = null;
      stats.streamEnds++;
      client.close();
      resolve();
    };
    call.on('data', (msg: ControllerMessage) => {
      if (msg.payload?.$case === 'heartbeat') {
        a.connected = true;
      } else if (msg.payload?.$case === 'job') {
        const jobId = msg.payload.value.jobId;
        const first = a.jobs.get(jobId);
        if (first) {
          stats.duplicates++;
          if (stats.duplicateSamples.length < 20) {
            stats.duplicateSamples.push({
              agentId: a.id,
              jobId,
              firstStream: first[0],
              secondStream: stream,
              msApart: Date.now() - first[1],
            });
          }
        } else {
          a.jobs.set(jobId, [stream, Date.now()]);
          stats.received++;
        }
        ack(call, jobId);
      }
    });
    call.on('error', done);
    call.on('end', done);
    call.on('close', done);
  });
}

async function runAgent(a: SimAgent, address: string, caPem: string, baseMs: number, capMs: number): Promise<void> {
  let attempt = 0;
  // Bounded: at most 10,000 sessions per agent (the parent's hard timeout ends the run long before).
  for (let i = 0; i < 10_000 && !stopping; i++) {
    const started = Date.now();
    await session(a, address, caPem);
    if (stopping) break;
    attempt = Date.now() - started > 30_000 ? 0 : attempt + 1;
    stats.maxAttempt = Math.max(stats.maxAttempt, attempt);
    const delay = backoffDelayMs(attempt, Math.random, baseMs, capMs);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, delay);
      a.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    a.wake = null;
  }
}

let statsTimer: NodeJS.Timeout | null = null;

process.on('message', (msg: ParentMessage) => {
  switch (msg.type) {
    case 'keys':
      void (async () => {
        const csrs: string[] = [];
        for (let i = 0; i < msg.n; i++) {
          const k = await generateAgentKeyAndCsr(`fleet-${i}.bench.test`);
          keys.push(k.keyPem);
          csrs.push(k.csrPem);
        }
        send({ type: 'csrs', csrs });
      })();
      break;
    case 'start': {
      msg.agents.forEach((identity, i) => {
        const a: SimAgent = {
          id: identity.agentId,
          keyPem: keys[i] ?? '',
          certPem: identity.certPem,
          client: null,
          call: null,
          connected: false,
          jobs: new Map(),
          streams: 0,
          wake: null,
        };
        agents.push(a);
        void runAgent(a, msg.address, msg.caPem, msg.backoffBaseMs, msg.backoffCapMs);
      });
      statsTimer ??= setInterval(() => send(snapshot()), 200);
      break;
    }
    case 'stats?':
      send(snapshot());
      break;
    case 'stop':
      stopping = true;
      if (statsTimer) clearInterval(statsTimer);
      for (const a of agents) {
        a.wake?.();
        try {
          a.call?.cancel();
          a.client?.close();
        } catch {
          /* gone */
        }
      }
      send(snapshot());
      setTimeout(() => process.exit(0), 200).unref();
      break;
  }
});

process.on('disconnect', () => process.exit(0));
