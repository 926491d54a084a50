/**
 * Discovery over HTTP (SPEC S1–S3): a synchronous scan from the controller (bounded to 65,536 target × port pairs)
 * and the bulk import of its findings as Monitored-Only or Lifecycle-Managed definitions.
 */
import { z } from 'zod';
import {
  CertFleetError,
  DEFAULT_PORTS,
  MAX_SCAN_CONCURRENCY,
  expandTargets,
  parsePorts,
  scan,
} from '@certfleet/shared';
import {
  MAX_IMPORT_FINDINGS,
  importFindings,
  importFindingsOptionsSchema,
} from '../../services/discovery/import-findings';
import { actorOf, type RouteModule } from './types';

/** Most target × port pairs one HTTP scan may cover. */
export const MAX_HTTP_SCAN_PAIRS = 65_536;
/** Most connections one HTTP scan may hold in flight. */
export const MAX_HTTP_SCAN_CONCURRENCY = 2_048;
/** Budget of one HTTP scan (then it returns what it found with `stats.stopped = 'deadline'`). */
const HTTP_SCAN_MAX_DURATION_MS = 10 * 60_000;

export const discoveryScanBodySchema = z
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
      .describe(
        '443, "8000-8010", "587/smtp", "25/tls"; default 443, 465, 636, 993, 995, 8443 + STARTTLS 25, 110, 143, 587'
      ),
    concurrency: z.number().int().min(1).max(Math.min(MAX_HTTP_SCAN_CONCURRENCY, MAX_SCAN_CONCURRENCY)).optional(),
    connectTimeoutMs: z.number().int().min(50).max(10_000).optional(),
  })
  .strict();

export const discoveryImportBodySchema = importFindingsOptionsSchema.extend({
  findings: z.array(z.unknown()).min(1).max(MAX_IMPORT_FINDINGS).describe('findings as the scan returned them'),
});

export const discoveryRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'POST',
    url: '/api/v1/discovery/scans',
    summary: 'Scan address ranges and host lists × ports for TLS services and analyse each certificate — SPEC S1, S2',
    tags: ['discovery'],
    permission: 'repository:write',
    body: discoveryScanBodySchema,
    handler: async ({ body, user, raw }) => {
      const targets = expandTargets(body.targets);
      const ports = body.ports === undefined ? [...DEFAULT_PORTS] : parsePorts(body.ports);
      if (targets.length * ports.length > MAX_HTTP_SCAN_PAIRS)
        throw new CertFleetError(
          'CF_VALIDATION',
          `discovery: ${targets.length} targets × ${ports.length} ports = ${targets.length * ports.length} pairs; at most ${MAX_HTTP_SCAN_PAIRS} per scan`
        );
      // A client that goes away stops the scan (it returns early; nobody reads the answer).
      const abort = new AbortController();
      const socket = raw.raw.socket;
      const onClose = (): void => abort.abort();
      socket?.once('close', onClose);
      ctx.log.info({ actor: actorOf(user), targets: targets.length, ports: ports.length }, 'discovery scan started');
      const result = await scan(targets, ports, {
        maxPairs: MAX_HTTP_SCAN_PAIRS,
        maxDurationMs: HTTP_SCAN_MAX_DURATION_MS,
        signal: abort.signal,
        now: () => ctx.clock.now(),
        ...(body.concurrency === undefined ? {} : { concurrency: body.concurrency }),
        ...(body.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: body.connectTimeoutMs }),
      }).finally(() => socket?.removeListener('close', onClose));
      ctx.log.info({ actor: actorOf(user), stats: result.stats }, 'discovery scan finished');
      return result;
    },
  });
  add({
    method: 'POST',
    url: '/api/v1/discovery/import',
    summary: 'Import discovery findings as definitions with monitored endpoints, de-duplicated by SHA-256 — SPEC S3',
    tags: ['discovery'],
    permission: 'repository:write',
    body: discoveryImportBodySchema,
    bodyLimit: 32 * 1024 * 1024,
    handler: async ({ body, user }) => importFindings(ctx, body.findings, { mode: body.mode }, actorOf(user)),
  });
};
