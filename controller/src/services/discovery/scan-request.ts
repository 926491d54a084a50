/**
 * What a discovery scan request may ask for (SPEC S1), validated before anything is stored: target entries as the
 * shared parser reads them (CIDR /16 or narrower, ranges, IPv4/IPv6 literals, host names), ports and STARTTLS
 * ports, tuning within bounds, who runs it, the trust set of the analysis. At most {@link MAX_SCAN_PAIRS}
 * target × port pairs per scan.
 *
 * Ports: `ports` lists implicit-TLS ports (`443`, `"8000-8010"`; `"587/smtp"` and a bare 25/110/143/587 get their
 * STARTTLS dialogue as `certfleet scan` does, `"25/tls"` none); `starttlsPorts` lists ports that need a STARTTLS
 * dialogue, `{ port, protocol }`. Without either, the default list (443, 465, 636, 993, 995, 8443 and STARTTLS on
 * 25, 110, 143, 587); with one or both, exactly what they list.
 */
import { z } from 'zod';
import {
  CertFleetError,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_PORTS,
  MAX_SCAN_PAIRS,
  STARTTLS_PROTOCOLS,
  type PortSpec,
  type Target,
  expandTargets,
  parsePorts,
} from '@certfleet/shared';
import type { DiscoveryScanOptions, ScanRunner } from '../../domain/discovery';

/** Most pairs one scan holds in flight when run by the controller or an agent. */
export const MAX_JOB_SCAN_CONCURRENCY = 2_048;
/** Default pairs in flight of a scan job. */
export const DEFAULT_JOB_SCAN_CONCURRENCY = 256;
/** Default budget of a whole scan job (then it ends with what it found). */
export const DEFAULT_JOB_SCAN_DURATION_MS = 60 * 60_000;

export const scanRequestSchema = z
  .object({
    targets: z
      .array(z.string().min(1).max(300))
      .min(1)
      .max(4_096)
      .describe('IPv4 addresses, CIDR blocks (/16 or narrower), ranges a.b.c.d-e, IPv6 addresses, host names'),
    ports: z
      .array(z.union([z.number().int().min(1).max(65535), z.string().min(1).max(100)]))
      .min(1)
      .max(1_024)
      .optional()
      .describe('implicit-TLS ports: 443, "8000-8010" ("587/smtp" and "25/tls" as for certfleet scan)'),
    starttlsPorts: z
      .array(z.object({ port: z.number().int().min(1).max(65535), protocol: z.enum(STARTTLS_PROTOCOLS) }).strict())
      .min(1)
      .max(1_024)
      .optional()
      .describe('ports that need a STARTTLS dialogue first: { port: 587, protocol: "smtp" }'),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(MAX_JOB_SCAN_CONCURRENCY)
      .optional()
      .describe(`pairs in flight (default ${DEFAULT_JOB_SCAN_CONCURRENCY})`),
    timeoutMs: z
      .number()
      .int()
      .min(50)
      .max(60_000)
      .optional()
      .describe(`TCP connect timeout per pair (default ${DEFAULT_CONNECT_TIMEOUT_MS})`),
    handshakeTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(120_000)
      .optional()
      .describe(`STARTTLS + TLS handshake budget on an open port (default ${DEFAULT_HANDSHAKE_TIMEOUT_MS})`),
    maxDurationMs: z
      .number()
      .int()
      .min(1_000)
      .max(86_400_000)
      .optional()
      .describe(`budget of the whole scan (default ${DEFAULT_JOB_SCAN_DURATION_MS}); it then ends with its findings`),
    runBy: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('controller') }).strict(),
        z.object({ kind: z.literal('agent'), agentId: z.uuid() }).strict(),
      ])
      .default({ kind: 'controller' })
      .describe('who scans: the controller, or an agent from inside its network'),
    trustSet: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe('trust set of the analysis (id or name); default the system set'),
  })
  .strict();
export type ScanRequestInput = z.input<typeof scanRequestSchema>;

/** A request after validation and expansion. */
export interface NormalizedScanRequest {
  targets: string[];
  expanded: Target[];
  ports: PortSpec[];
  options: DiscoveryScanOptions;
  runner: ScanRunner;
}

/** `587/smtp`, `443`: how ports are shown and stored in reports. */
export function portLabel(p: PortSpec): string {
  return p.starttls ? `${p.port}/${p.starttls}` : String(p.port);
}

/**
 * Validates and expands a scan request.
 * @throws CertFleetError CF_VALIDATION naming the first problem (nothing is stored)
 */
export function normalizeScanRequest(raw: unknown): NormalizedScanRequest {
  const parsed = scanRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 10)
      .map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`);
    throw new CertFleetError('CF_VALIDATION', `discovery: ${problems.join('; ')}`, { details: { problems } });
  }
  const body = parsed.data;
  const expanded = expandTargets(body.targets);
  let ports: PortSpec[];
  if (body.ports === undefined && body.starttlsPorts === undefined) ports = [...DEFAULT_PORTS];
  else {
    ports = body.ports === undefined ? [] : parsePorts(body.ports);
    for (const s of body.starttlsPorts ?? []) {
      if (ports.some((p) => p.port === s.port))
        throw new CertFleetError(
          'CF_VALIDATION',
          `discovery: port ${s.port} is listed in both ports and starttlsPorts; list it once`
        );
      ports.push({ port: s.port, starttls: s.protocol });
    }
    if (ports.length > 1_024) throw new CertFleetError('CF_VALIDATION', 'discovery: more than 1024 ports');
  }
  const pairs = expanded.length * ports.length;
  if (pairs > MAX_SCAN_PAIRS)
    throw new CertFleetError(
      'CF_VALIDATION',
      `discovery: ${expanded.length} targets × ${ports.length} ports = ${pairs} pairs; at most ${MAX_SCAN_PAIRS} per scan (split the range or list fewer ports)`
    );
  return {
    targets: body.targets,
    expanded,
    ports,
    options: {
      concurrency: body.concurrency ?? DEFAULT_JOB_SCAN_CONCURRENCY,
      connectTimeoutMs: body.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      handshakeTimeoutMs: body.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      maxDurationMs: body.maxDurationMs ?? DEFAULT_JOB_SCAN_DURATION_MS,
      trustSet: body.trustSet ?? null,
    },
    runner: body.runBy,
  };
}
