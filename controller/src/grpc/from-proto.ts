/**
 * Validation of decoded agent messages (STYLE §7.7): ts-proto gives types, proto3 has no `required`, so every
 * message from an agent passes a zod schema here before a service sees it.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { CertFleetError, MAX_SCAN_CHUNK_ENDPOINTS, MAX_SCAN_PAIRS } from '@certfleet/shared';
import { JobStatus, type JobResult, type ScanProgress } from '@certfleet/proto';
import type { InstallResult } from '../services/deployment/deployment-service';
import type { AgentScanProgress, AgentScanResult } from '../services/discovery/agent-scan-jobs';

const jobResultSchema = z.object({
  jobId: z.uuid(),
  status: z.union([
    z.literal(JobStatus.JOB_STATUS_SUCCEEDED),
    z.literal(JobStatus.JOB_STATUS_FAILED),
    z.literal(JobStatus.JOB_STATUS_REJECTED),
  ]),
  reason: z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,99}$/, 'a CamelCase reason'),
  message: z.string().max(8192),
  servedSha256: z.union([z.literal(''), z.string().regex(/^[0-9a-f]{64}$/)]),
  stderrTail: z.string().max(4096 * 4),
  idempotent: z.boolean(),
  rolledBack: z.boolean(),
});

const STATUS_NAMES = {
  [JobStatus.JOB_STATUS_SUCCEEDED]: 'succeeded',
  [JobStatus.JOB_STATUS_FAILED]: 'failed',
  [JobStatus.JOB_STATUS_REJECTED]: 'rejected',
} as const;

/** @throws CF_VALIDATION naming the first bad field */
export function installResultFromProto(msg: JobResult): InstallResult {
  const parsed = jobResultSchema.safeParse(msg);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CertFleetError(
      'CF_VALIDATION',
      `grpc: invalid JobResult: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`
    );
  }
  const r = parsed.data;
  return { ...r, status: STATUS_NAMES[r.status] };
}

const endpointSchema = z.object({
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535),
  serverName: z.string().max(253),
  starttls: z.enum(['', 'smtp', 'imap', 'pop3', 'ftp']),
});

const observationSchema = z.object({
  endpoint: endpointSchema,
  error: z.string().max(1000),
  certificateChain: z.array(z.instanceof(Uint8Array).refine((b) => b.length > 0 && b.length <= 65_536)).max(10),
  protocol: z.string().max(50),
  cipher: z.string().max(200),
  handshakeMs: z.number().int().min(0),
});

/** What an agent reports for a probe job, validated. */
export interface ProbeReport {
  jobId: string;
  observations: Array<{
    endpoint: { host: string; port: number; serverName: string; starttls: string };
    error: string;
    chain: Buffer[];
    protocol: string;
    cipher: string;
    handshakeMs: number;
  }>;
}

/** @throws CF_VALIDATION naming the first bad field */
export function probeReportFromProto(msg: JobResult): ProbeReport {
  const parsed = z
    .object({ jobId: z.uuid(), observations: z.array(observationSchema).max(500) })
    .safeParse({ jobId: msg.jobId, observations: msg.observations });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CertFleetError(
      'CF_VALIDATION',
      `grpc: invalid probe report: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`
    );
  }
  return {
    jobId: parsed.data.jobId,
    observations: parsed.data.observations.map((o) => ({
      endpoint: o.endpoint,
      error: o.error,
      chain: o.certificateChain.map((b) => Buffer.from(b)),
      protocol: o.protocol,
      cipher: o.cipher,
      handshakeMs: o.handshakeMs,
    })),
  };
}

const discoveredEndpointSchema = z.object({
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535),
  address: z.string().refine((a) => a.length <= 64 && isIP(a) !== 0, 'an IP address'),
  serverName: z.string().max(253),
  starttls: z.enum(['', 'smtp', 'imap', 'pop3', 'ftp']),
  certificateChain: z
    .array(z.instanceof(Uint8Array).refine((b) => b.length > 0 && b.length <= 65_536))
    .min(1)
    .max(10),
  protocol: z.string().max(50),
  cipher: z.string().max(200),
  handshakeMs: z.number().int().min(0),
});

const count = z.number().int().min(0).max(MAX_SCAN_PAIRS);

const scanProgressSchema = z.object({
  jobId: z.uuid(),
  done: count,
  total: count,
  found: count,
  endpoints: z.array(discoveredEndpointSchema).max(MAX_SCAN_CHUNK_ENDPOINTS),
  summary: z
    .object({
      done: count,
      total: count,
      found: count,
      open: count,
      closed: count,
      filtered: count,
      unreachable: count,
      tlsFailed: count,
      durationMs: z.number().int().min(0),
      stopped: z.enum(['', 'deadline', 'aborted']),
    })
    .optional(),
});

/** A ScanProgress from an agent, validated. @throws CF_VALIDATION naming the first bad field */
export function scanProgressFromProto(msg: ScanProgress): AgentScanProgress {
  const parsed = scanProgressSchema.safeParse(msg);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CertFleetError(
      'CF_VALIDATION',
      `grpc: invalid scan progress: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`
    );
  }
  const p = parsed.data;
  return {
    jobId: p.jobId,
    done: p.done,
    total: p.total,
    found: p.found,
    endpoints: p.endpoints.map((e) => ({
      host: e.host,
      port: e.port,
      address: e.address,
      serverName: e.serverName,
      starttls: e.starttls,
      chain: e.certificateChain.map((b) => Buffer.from(b)),
      protocol: e.protocol,
      cipher: e.cipher,
      handshakeMs: e.handshakeMs,
    })),
    summary: p.summary ?? null,
  };
}

/** The JobResult of a scan job, validated. @throws CF_VALIDATION naming the first bad field */
export function scanResultFromProto(msg: JobResult): AgentScanResult {
  const r = installResultFromProto(msg);
  return { jobId: r.jobId, status: r.status, reason: r.reason, message: r.message };
}
