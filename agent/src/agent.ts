/**
 * The agent's lifecycle (SPEC G2, G3): hold the Connect stream, answer heartbeats, run jobs one at a time, renew
 * the identity at about half its life, reconnect with exponential backoff and jitter, and wipe the identity when
 * the controller says the agent was banned.
 */
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import {
  JobStatus,
  type AgentMessage,
  type AgentServiceClient,
  type ControllerMessage,
  type Job,
} from '@certfleet/proto';
import { isCertFleetError } from '@certfleet/shared';
import { agentClient, errorFromStatus, unary } from './client/controller-client';
import { backoffDelayMs, renewAt } from './client/backoff';
import { generateAgentKeyAndCsr } from './client/csr';
import type { AgentConfig } from './config';
import type { InstallOptions } from './installers/apply-plan';
import { runInstallJob } from './jobs/install-job';
import { runProbeJob } from './jobs/probe-job';
import { ScanJobs, type ScanSink } from './jobs/scan-job';
import type { StateStore, StoredResult } from './state/state-store';

export type AgentLifecycle = 'INITIALIZED' | 'RUNNING' | 'STOPPING' | 'STOPPED' | 'FAILED';

export interface AgentLog {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

export const consoleLog: AgentLog = {
  info: (fields, msg) => process.stderr.write(`${JSON.stringify({ level: 'info', msg, ...fields })}\n`),
  warn: (fields, msg) => process.stderr.write(`${JSON.stringify({ level: 'warn', msg, ...fields })}\n`),
};

export interface AgentRuntimeOptions {
  store: StateStore;
  config: AgentConfig;
  log?: AgentLog;
  random?: () => number;
  installOptions?: InstallOptions;
  /** Backoff base and cap (tests shorten them). */
  backoff?: { baseMs: number; capMs: number };
}

/** Events: 'connected', 'disconnected' (error?), 'job-finished' (jobId, result), 'renewed' (serial), 'revoked'. */
export class AgentRuntime extends EventEmitter {
  lifecycle: AgentLifecycle = 'INITIALIZED';
  private stopping = false;
  private wake: (() => void) | null = null;
  private current: {
    client: AgentServiceClient;
    call: grpc.ClientDuplexStream<AgentMessage, ControllerMessage>;
  } | null = null;
  private loop: Promise<void> | null = null;
  private readonly log: AgentLog;
  private readonly random: () => number;
  /** Discovery scans run beside the job queue (scan-job.ts). */
  private readonly scans = new ScanJobs();

  constructor(private readonly opts: AgentRuntimeOptions) {
    super();
    this.log = opts.log ?? consoleLog;
    this.random = opts.random ?? Math.random;
  }

  start(): Promise<void> {
    this.lifecycle = 'RUNNING';
    this.loop = this.run();
    return this.loop;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.lifecycle = 'STOPPING';
    this.current?.call.cancel();
    this.wake?.();
    await this.loop?.catch(() => undefined);
    await this.scans.stop();
    if (this.lifecycle === 'STOPPING') this.lifecycle = 'STOPPED';
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopping) {
      const started = Date.now();
      try {
        await this.session();
      } catch (err) {
        if (isCertFleetError(err) && err.code === 'CF_AGENT_REVOKED') {
          this.log.warn({ reason: err.message }, 'agent revoked by the controller: identity wiped, enroll again');
          this.opts.store.wipeIdentity();
          this.lifecycle = 'FAILED';
          this.emit('revoked');
          throw err;
        }
        this.log.warn({ err: (err as Error).message }, 'controller stream ended');
        this.emit('disconnected', err);
      }
      if (this.stopping) break;
      attempt = Date.now() - started > 30_000 ? 0 : attempt + 1;
      const delay = backoffDelayMs(attempt, this.random, this.opts.backoff?.baseMs, this.opts.backoff?.capMs);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** One connection: renew if due, open the stream, serve it until it ends. */
  private async session(): Promise<void> {
    const store = this.opts.store;
    let identity = store.readIdentity();
    const state = store.read();
    let client = agentClient(state.controller, identity);
    try {
      const cert = new crypto.X509Certificate(identity.certPem);
      let due = renewAt(new Date(cert.validFrom), new Date(cert.validTo), this.random);
      if (Date.now() >= due.getTime()) {
        identity = await this.renew(client, state.agentId);
        client.close();
        client = agentClient(state.controller, identity);
        // The stream's renewal timer must follow the renewed certificate, not the one just replaced (whose due
        // time has passed: the stream would be dropped a second later only to reconnect without renewing).
        const renewed = new crypto.X509Certificate(identity.certPem);
        due = renewAt(new Date(renewed.validFrom), new Date(renewed.validTo), this.random);
      }
      await this.stream(client, state.agentId, due);
    } finally {
      client.close();
    }
  }

  private async renew(client: AgentServiceClient, agentId: string) {
    const { keyPem, csrPem } = await generateAgentKeyAndCsr(agentId);
    const res = await unary(client.renewIdentity.bind(client), { csrPem });
    this.opts.store.writeIdentity({
      keyPem,
      certPem: res.agentCertificatePem,
      ...(res.controllerCaPem ? { controllerCaPem: res.controllerCaPem } : {}),
    });
    const serial = new crypto.X509Certificate(res.agentCertificatePem).serialNumber;
    this.log.info({ serial }, 'agent certificate renewed');
    this.emit('renewed', serial);
    return this.opts.store.readIdentity();
  }

  private stream(client: AgentServiceClient, agentId: string, renewDue: Date): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const call = client.connect();
      this.current = { client, call };
      let heartbeat: NodeJS.Timeout | null = null;
      let queue: Promise<void> = Promise.resolve();
      const renewIn = Math.max(1000, Math.min(renewDue.getTime() - Date.now(), 2 ** 31 - 1));
      const renewTimer = setTimeout(() => call.cancel(), renewIn); // reconnect renews first
      const scanSink: ScanSink = (message) => {
        try {
          call.write(message);
        } catch {
          /* the stream is gone: the next one gets a replay on redelivery */
        }
      };
      const done = (err?: unknown) => {
        if (heartbeat) clearInterval(heartbeat);
        clearTimeout(renewTimer);
        this.scans.detach(scanSink);
        this.current = null;
        if (err) reject(err);
        else resolve();
      };
      call.on('data', (msg: ControllerMessage) => {
        if (msg.payload?.$case === 'heartbeat') {
          if (!heartbeat) {
            this.emit('connected');
            this.log.info({ agentId }, 'connected to the controller');
            const every = Math.max(5, msg.payload.value.intervalSeconds || 20) * 1000;
            heartbeat = setInterval(() => {
              call.write({
                payload: { $case: 'heartbeat', value: { sentAt: undefined, intervalSeconds: every / 1000 } },
              });
            }, every);
            heartbeat.unref();
          }
        } else if (msg.payload?.$case === 'cancelJob') {
          const { jobId } = msg.payload.value;
          if (this.scans.cancel(jobId)) this.log.info({ jobId }, 'scan cancelled by the controller');
        } else if (msg.payload?.$case === 'job' && msg.payload.value.kind?.$case === 'scanNetwork') {
          // Beside the queue: a scan may run for minutes and must not hold back installs.
          const job = msg.payload.value;
          const scanJob = msg.payload.value.kind.value;
          this.scans
            .handle(job.jobId, scanJob, scanSink)
            .then(() => this.emit('job-finished', job.jobId, { status: 'scanned' }))
            .catch((err: unknown) => {
              this.log.warn({ jobId: job.jobId, err: (err as Error).message }, 'scan job failed unexpectedly');
            });
        } else if (msg.payload?.$case === 'job') {
          const job = msg.payload.value;
          queue = queue
            .then(() => this.handleJob(job, agentId, call))
            .catch((err: unknown) => {
              this.log.warn({ jobId: job.jobId, err: (err as Error).message }, 'job failed unexpectedly');
            });
        }
      });
      call.on('error', (err: grpc.ServiceError) => {
        const typed = errorFromStatus(err);
        done(err.code === 1 /* CANCELLED by us */ ? undefined : typed);
      });
      call.on('end', () => done());
    });
  }

  private async handleJob(
    job: Job,
    agentId: string,
    call: grpc.ClientDuplexStream<AgentMessage, ControllerMessage>
  ): Promise<void> {
    if (job.kind?.$case === 'probeEndpoints') {
      // Probes observe and change nothing: a redelivered probe job simply runs again.
      const observations = await runProbeJob(job.kind.value);
      const ms = Date.now();
      call.write({
        payload: {
          $case: 'jobResult',
          value: {
            jobId: job.jobId,
            status: JobStatus.JOB_STATUS_SUCCEEDED,
            reason: 'Probed',
            message: `${observations.length} endpoint(s) probed`,
            finishedAt: { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 },
            servedSha256: '',
            stderrTail: '',
            idempotent: false,
            rolledBack: false,
            observations,
          },
        },
      });
      this.emit('job-finished', job.jobId, { status: 'succeeded', reason: 'Probed' });
      return;
    }
    const store = this.opts.store;
    const state = store.read();
    let result: StoredResult | undefined = state.results[job.jobId];
    if (!result) {
      if (job.kind?.$case === 'installBundle') {
        result = await runInstallJob(job.kind.value.sealed, {
          agentId,
          identity: store.readIdentity(),
          state,
          config: this.opts.config,
          now: new Date(),
          ...(this.opts.installOptions ? { installOptions: this.opts.installOptions } : {}),
        });
      } else {
        result = {
          status: 'rejected',
          reason: 'UnsupportedJob',
          message: `agent: job kind ${job.kind?.$case ?? 'unknown'} is not supported by this agent version`,
          servedSha256: '',
          stderrTail: '',
          idempotent: false,
          rolledBack: false,
          finishedAt: new Date().toISOString(),
        };
      }
      state.results[job.jobId] = result;
      store.write(state);
      this.log.info({ jobId: job.jobId, status: result.status, reason: result.reason }, 'job finished');
    }
    const ms = Date.parse(result.finishedAt);
    call.write({
      payload: {
        $case: 'jobResult',
        value: {
          jobId: job.jobId,
          status:
            result.status === 'succeeded'
              ? JobStatus.JOB_STATUS_SUCCEEDED
              : result.status === 'failed'
                ? JobStatus.JOB_STATUS_FAILED
                : JobStatus.JOB_STATUS_REJECTED,
          reason: result.reason,
          message: result.message.slice(0, 8000),
          finishedAt: { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 },
          servedSha256: result.servedSha256,
          stderrTail: result.stderrTail.slice(-4096),
          idempotent: result.idempotent,
          rolledBack: result.rolledBack,
          observations: [],
        },
      },
    });
    this.emit('job-finished', job.jobId, result);
  }
}
