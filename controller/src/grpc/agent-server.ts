/**
 * The controller's agent listener (SPEC G1–G3): gRPC over TLS on its own port (default 8444). TLS asks every
 * client for a certificate and verifies it against the agent CA; `Enroll` is the only call allowed without one
 * (the join token is its credential), every other call requires a verified agent certificate whose serial is pinned
 * for that agent. Connections are admitted at a bounded rate (admission.ts). Live streams are tracked per agent so
 * that new jobs are pushed at once and a ban closes the stream immediately (and within 5 s when another process
 * banned the agent: a periodic check).
 */
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import {
  AgentServiceService,
  type AgentMessage,
  type AgentServiceServer,
  type ControllerMessage,
  type Job,
  type JobResult,
} from '@certfleet/proto';
import { CertFleetError, MAX_AGENT_MESSAGE_BYTES, MAX_CONTROLLER_MESSAGE_BYTES } from '@certfleet/shared';
import type { Agent, AgentJob } from '../domain/agent';
import type { AgentHub } from '../services/agents/agent-hub';
import type { AgentPki, GrpcServerIdentity } from '../services/agents/agent-pki';
import { authenticateAgent, enrollAgent, renewAgentIdentity, type EnrollOptions } from '../services/agents/enrollment';
import { claimJobsForDelivery } from '../services/agents/jobs';
import { recordProbeReport } from '../services/agents/probe-jobs';
import { isStaleScanRefusal, recordScanProgress, recordScanResult } from '../services/discovery/agent-scan-jobs';
import type { ScanJobPayload } from '../services/discovery/scan-service';
import type { Notifier } from '../services/acquisition/notifier';
import type { ServiceContext } from '../services/context';
import { materializeDeployments, recordJobResult } from '../services/deployment/deployment-service';
import { AgentEntity } from '../storage/entities';
import { ConnectionAdmission, type AdmissionStats } from './admission';
import { installResultFromProto, probeReportFromProto, scanProgressFromProto, scanResultFromProto } from './from-proto';
import { toServiceError } from './status';

export interface AgentServerOptions {
  host: string;
  port: number;
  handshakeRatePerSecond: number;
  /** Heartbeat period announced to and expected from agents. @default 20 */
  heartbeatSeconds?: number;
  /** How often live streams are checked against bans made by other processes. @default 2000 */
  banCheckMs?: number;
  /** How often pending deployments are sealed and queued (besides on demand). @default 5000 */
  materializeMs?: number;
  enroll?: EnrollOptions;
  /** Sends `install-notification` mails when deployments finish (SPEC D5). */
  notifier?: Notifier;
  /**
   * On close, how long live streams get to answer the jobs already delivered on them before they are closed, so a
   * restart does not make agents receive them again. @default 5000
   */
  drainMs?: number;
}

export interface AgentServer {
  port: number;
  hub: AgentHub;
  admission: AdmissionStats;
  /** Agents holding a stream right now. */
  connectedCount(): number;
  close(): Promise<void>;
}

type AuthenticatedCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext'>;

interface Session {
  agentId: string;
  call: grpc.ServerDuplexStream<AgentMessage, ControllerMessage>;
  delivering: Promise<void>;
  again: boolean;
  closed: boolean;
  /** Jobs written on this stream and not answered yet (drained on close). */
  unanswered: Set<string>;
  firstClaim: boolean;
  /** Messages from the agent are handled one after the other (a scan's last progress before its result). */
  inbox: Promise<void>;
}

function peerIdentity(call: AuthenticatedCall): { agentId: string; serial: string; notAfter: Date } {
  const cert = call.getAuthContext()?.sslPeerCertificate as PeerCertificate | undefined;
  if (!cert || !cert.raw) {
    throw new CertFleetError(
      'CF_AGENT_UNAUTHENTICATED',
      'grpc: this call needs a valid agent certificate (none, expired or from another CA)'
    );
  }
  const cn = Array.isArray(cert.subject?.CN) ? cert.subject.CN[0] : cert.subject?.CN;
  return { agentId: String(cn ?? ''), serial: cert.serialNumber, notAfter: new Date(cert.valid_to) };
}

function jobToProto(job: AgentJob, bundleId: string): Job {
  if (job.kind === 'install') {
    return { jobId: job.id, kind: { $case: 'installBundle', value: { bundleId, sealed: job.payload } } };
  }
  if (job.kind === 'scan') {
    const scan = JSON.parse(job.payload.toString('utf8')) as ScanJobPayload;
    return {
      jobId: job.id,
      kind: {
        $case: 'scanNetwork',
        value: {
          targets: scan.targets,
          ports: scan.ports,
          concurrency: scan.concurrency,
          connectTimeoutMs: scan.connectTimeoutMs,
          handshakeTimeoutMs: scan.handshakeTimeoutMs,
          maxDurationMs: scan.maxDurationMs,
        },
      },
    };
  }
  const parsed = JSON.parse(job.payload.toString('utf8')) as { endpoints?: []; paths?: string[] };
  return job.kind === 'probe'
    ? { jobId: job.id, kind: { $case: 'probeEndpoints', value: { endpoints: parsed.endpoints ?? [] } } }
    : { jobId: job.id, kind: { $case: 'reportInventory', value: { paths: parsed.paths ?? [] } } };
}

function nowTimestamp(): { seconds: string; nanos: number } {
  const ms = Date.now();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

export async function startAgentServer(
  ctx: ServiceContext,
  pki: AgentPki,
  identity: GrpcServerIdentity,
  options: AgentServerOptions
): Promise<AgentServer> {
  const sessions = new Map<string, Session>();
  const heartbeatSeconds = options.heartbeatSeconds ?? 20;
  const log = ctx.log.child({ component: 'agent-grpc' });

  let draining = false;
  const deliver = (session: Session): void => {
    if (draining) return;
    session.again = true;
    session.delivering = session.delivering.then(async () => {
      while (session.again && !session.closed) {
        session.again = false;
        // Unanswered jobs of earlier streams are sent again once, when the stream opens (at-least-once); later
        // claims on the same stream take only new jobs, so a live stream never gets a job twice.
        const jobs = await claimJobsForDelivery(ctx, session.agentId, { includeDelivered: session.firstClaim });
        session.firstClaim = false;
        for (const job of jobs) {
          if (session.closed) return;
          // A scan runs for minutes and answers with progress; the drain on close waits only for short jobs.
          if (job.kind !== 'scan') session.unanswered.add(job.id);
          session.call.write({ payload: { $case: 'job', value: jobToProto(job, job.bundleId) } });
        }
      }
    });
    session.delivering = session.delivering.catch((err: unknown) => {
      log.warn({ agentId: session.agentId, err: (err as Error).message }, 'job delivery failed; retried on reconnect');
    });
  };

  const endSession = (session: Session, err?: CertFleetError): void => {
    if (session.closed) return;
    session.closed = true;
    if (sessions.get(session.agentId) === session) sessions.delete(session.agentId);
    try {
      if (err) session.call.emit('error', toServiceError(err));
      else session.call.end();
    } catch {
      /* the stream is already gone */
    }
  };

  /** Routes a JobResult by the kind of the job it answers (looked up, never taken from the agent's word). */
  const handleResult = async (agentId: string, value: JobResult): Promise<void> => {
    const kind = await jobKindOf(value.jobId);
    if (kind === 'probe') {
      await recordProbeReport(ctx, agentId, probeReportFromProto(value));
      return;
    }
    if (kind === 'scan') {
      await recordScanResult(ctx, agentId, scanResultFromProto(value));
      return;
    }
    const notice = await recordJobResult(ctx, agentId, installResultFromProto(value));
    if (notice && options.notifier) await options.notifier.notify('install-notification', notice);
  };

  const jobKindOf = async (jobId: string): Promise<string | null> => {
    if (!/^[0-9a-f-]{36}$/i.test(jobId)) return null;
    const rows = await ctx.db
      .em()
      .getConnection()
      .execute<{ kind: string }[]>(`select kind from agent_jobs where id = ?`, [jobId]);
    return rows[0]?.kind ?? null;
  };

  const hub: AgentHub = {
    jobsAvailable: (agentId) => {
      const s = sessions.get(agentId);
      if (s) deliver(s);
    },
    revoked: (agentId) => {
      const s = sessions.get(agentId);
      if (s) endSession(s, new CertFleetError('CF_AGENT_REVOKED', 'agents: this agent was banned'));
    },
    isConnected: (agentId) => sessions.has(agentId),
    cancelJob: (agentId, jobId) => {
      const s = sessions.get(agentId);
      if (s && !s.closed) s.call.write({ payload: { $case: 'cancelJob', value: { jobId } } });
    },
  };

  const authenticated = async (call: AuthenticatedCall): Promise<Agent> => authenticateAgent(ctx, peerIdentity(call));

  const service: AgentServiceServer = {
    enroll: (call, callback) => {
      enrollAgent(ctx, pki, call.request, options.enroll)
        .then((r) => {
          log.info({ agentId: r.agentId, hostname: call.request.hostname }, 'agent enrolled');
          callback(null, {
            agentId: r.agentId,
            agentCertificatePem: r.certificatePem,
            controllerCaPem: r.controllerCaPem,
            bundleSigningPublicKey: r.signingPublicKeyPem,
          });
        })
        .catch((err: unknown) => {
          log.info({ peer: call.getPeer(), code: (err as CertFleetError).code }, 'enrollment refused');
          callback(toServiceError(err));
        });
    },
    renewIdentity: (call, callback) => {
      authenticated(call)
        .then((agent) => renewAgentIdentity(ctx, pki, agent, call.request.csrPem, options.enroll))
        .then((r) => callback(null, { agentCertificatePem: r.certificatePem, controllerCaPem: pki.caCertificatePem }))
        .catch((err: unknown) => callback(toServiceError(err)));
    },
    connect: (call) => {
      let session: Session | null = null;
      call.on('error', () => undefined);
      authenticated(call)
        .then(async (agent) => {
          if (call.cancelled) return;
          const previous = sessions.get(agent.id);
          if (previous) endSession(previous);
          const s: Session = {
            agentId: agent.id,
            call,
            delivering: Promise.resolve(),
            again: false,
            closed: false,
            unanswered: new Set(),
            firstClaim: true,
            inbox: Promise.resolve(),
          };
          session = s;
          sessions.set(agent.id, s);
          // Not awaited: the first heartbeat and the jobs need not wait for the bookkeeping.
          ctx.db
            .em()
            .getConnection()
            .execute(`update agents set last_seen_at = ? where id = ?`, [ctx.clock.now(), agent.id])
            .catch(() => undefined);
          call.write({
            payload: { $case: 'heartbeat', value: { sentAt: nowTimestamp(), intervalSeconds: heartbeatSeconds } },
          });
          deliver(s);
        })
        .catch((err: unknown) => {
          try {
            call.emit('error', toServiceError(err));
          } catch {
            /* gone */
          }
        });
      call.on('data', (msg: AgentMessage) => {
        const s = session;
        if (!s || s.closed) return;
        if (msg.payload?.$case === 'jobResult') {
          const value = msg.payload.value;
          s.inbox = s.inbox.then(() =>
            handleResult(s.agentId, value)
              .catch((err: unknown) =>
                log.warn({ agentId: s.agentId, jobId: value.jobId, err: (err as Error).message }, 'job result refused')
              )
              .finally(() => s.unanswered.delete(value.jobId))
          );
        } else if (msg.payload?.$case === 'scanProgress') {
          const value = msg.payload.value;
          s.inbox = s.inbox.then(() =>
            recordScanProgress(ctx, s.agentId, scanProgressFromProto(value)).then(
              () => undefined,
              (err: unknown) => {
                log.warn(
                  { agentId: s.agentId, jobId: value.jobId, err: (err as Error).message },
                  'scan progress refused'
                );
                // A scan that was cancelled (or finished) meanwhile: tell the agent to stop it.
                if (isStaleScanRefusal(err)) hub.cancelJob(s.agentId, value.jobId);
              }
            )
          );
        }
      });
      const finish = () => {
        if (session && !session.closed) {
          session.closed = true;
          if (sessions.get(session.agentId) === session) sessions.delete(session.agentId);
        }
      };
      call.on('end', () => {
        finish();
        try {
          call.end();
        } catch {
          /* gone */
        }
      });
      call.on('cancelled', finish);
      call.on('close', finish);
    },
  };

  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_AGENT_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_CONTROLLER_MESSAGE_BYTES,
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
  });
  server.addService(AgentServiceService, service);
  const credentials = grpc.ServerCredentials.createSsl(
    Buffer.from(pki.caCertificatePem),
    [{ private_key: Buffer.from(identity.keyPem), cert_chain: Buffer.from(identity.certChainPem) }],
    true
  );
  // Ask for a client certificate and verify it against the agent CA, but let TLS complete without one so that
  // Enroll works; every other call checks the verified peer certificate itself (peerIdentity).
  Object.assign((credentials as unknown as { serverConstructorOptions: object }).serverConstructorOptions, {
    rejectUnauthorized: false,
  });
  const injector = server.createConnectionInjector(credentials);
  const admission = new ConnectionAdmission({ ratePerSecond: options.handshakeRatePerSecond }, (socket) =>
    injector.injectConnection(socket)
  );
  const listener = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => undefined);
    admission.offer(socket);
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(options.port, options.host, () => resolve());
  });
  const addr = listener.address();
  const port = typeof addr === 'object' && addr ? addr.port : options.port;

  let banCheckRunning = false;
  const banTimer = setInterval(() => {
    if (banCheckRunning || sessions.size === 0) return;
    banCheckRunning = true;
    ctx.db
      .em()
      .fork()
      .find(AgentEntity, { id: { $in: [...sessions.keys()] }, status: 'banned' }, { fields: ['id'] })
      .then((banned) => banned.forEach((a) => hub.revoked(a.id)))
      .catch(() => undefined)
      .finally(() => (banCheckRunning = false));
  }, options.banCheckMs ?? 2000);
  banTimer.unref();

  let materializing = false;
  const materializeTimer = setInterval(() => {
    if (materializing) return;
    materializing = true;
    materializeDeployments({ ...ctx, agentHub: hub }, pki)
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'deployment sealing failed'))
      .finally(() => (materializing = false));
  }, options.materializeMs ?? 5000);
  materializeTimer.unref();

  log.info({ port }, 'agent gRPC listener ready');
  return {
    port,
    hub,
    admission: admission.stats,
    connectedCount: () => sessions.size,
    close: async () => {
      clearInterval(banTimer);
      clearInterval(materializeTimer);
      // Stop accepting first: agents whose stream ends below must not reconnect to this closing listener (they
      // would be handed jobs whose answers this process can no longer record).
      const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
      admission.close();
      // Drain: no new claims; claims in flight finish, and the jobs they delivered get up to drainMs to be answered
      // and recorded here — otherwise every agent would receive them again from the next controller.
      draining = true;
      const live = [...sessions.values()];
      const deadline = Date.now() + (options.drainMs ?? 5000);
      const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)).unref());
      await Promise.race([Promise.all(live.map((s) => s.delivering)), pause(deadline - Date.now())]);
      while (Date.now() < deadline && live.some((s) => !s.closed && s.unanswered.size > 0)) await pause(20);
      await Promise.race([Promise.all(live.map((s) => s.inbox)), pause(deadline - Date.now())]);
      for (const s of [...sessions.values()]) endSession(s);
      injector.destroy();
      server.forceShutdown();
      await closed;
    },
  };
}
