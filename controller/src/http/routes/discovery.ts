/**
 * Discovery over HTTP (SPEC S1–S3): scans are persisted jobs — `POST /api/v1/discovery/scans` answers 202 with the
 * queued scan at once; the controller (or the named agent) runs it in the background while `GET …/scans/:id` shows
 * its progress — with reports as JSON, CSV and an HTML page, cancellation, and the import of findings (from a scan,
 * or posted by a client as `certfleet scan --json` prints them) as Monitored-Only or Lifecycle-Managed definitions.
 */
import { z } from 'zod';
import {
  importFindings,
  importFindingsOptionsSchema,
  MAX_IMPORT_FINDINGS,
} from '../../services/discovery/import-findings';
import { importScanFindings, importScanFindingsSchema } from '../../services/discovery/import-scan-findings';
import {
  DISCOVERY_REPORT_CSS,
  DISCOVERY_REPORT_CSS_URL,
  MAX_REPORT_PAGE,
  scanReport,
  scanReportCsv,
  scanReportHtml,
} from '../../services/discovery/scan-report';
import { scanRequestSchema } from '../../services/discovery/scan-request';
import { cancelScan, createScan, getScan, listScans } from '../../services/discovery/scan-service';
import { actorOf, type RouteModule } from './types';

export const discoveryImportBodySchema = importFindingsOptionsSchema.extend({
  findings: z
    .array(z.unknown())
    .min(1)
    .max(MAX_IMPORT_FINDINGS)
    .describe('findings as `certfleet scan --json` prints them'),
});

const scanParams = z.object({ id: z.uuid() }).strict();
const listQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).optional(),
    offset: z.coerce.number().int().min(0).max(1_000_000).optional(),
  })
  .strict();
const reportQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(MAX_REPORT_PAGE).optional(),
    offset: z.coerce.number().int().min(0).max(10_000_000).optional(),
    pem: z.enum(['true', 'false']).optional().describe('include each leaf and served chain as PEM'),
  })
  .strict();

export const discoveryRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'POST',
    url: '/api/v1/discovery/scans',
    summary:
      'Queue a scan of address ranges and host lists × ports, run by the controller or an agent; answers 202 at once — SPEC S1',
    tags: ['discovery'],
    permission: 'repository:write',
    body: scanRequestSchema,
    responseStatus: 202,
    handler: async ({ body, user }) => createScan(ctx, body, actorOf(user)),
  });
  add({
    method: 'GET',
    url: '/api/v1/discovery/scans',
    summary: 'Discovery scans, newest first, with their progress — SPEC S1',
    tags: ['discovery'],
    permission: 'repository:read',
    query: listQuery,
    handler: async ({ query }) => listScans(ctx, query),
  });
  add({
    method: 'GET',
    url: '/api/v1/discovery/scans/:id',
    summary: 'One scan: status, pairs done of total, findings stored, started/finished, error — SPEC S1',
    tags: ['discovery'],
    permission: 'repository:read',
    params: scanParams,
    handler: async ({ params }) => getScan(ctx, params.id),
  });
  add({
    method: 'POST',
    url: '/api/v1/discovery/scans/:id/cancel',
    summary: 'Cancel a queued or running scan (what it found so far stays) — SPEC S1',
    tags: ['discovery'],
    permission: 'repository:write',
    params: scanParams,
    handler: async ({ params, user }) => cancelScan(ctx, params.id, actorOf(user)),
  });
  add({
    method: 'GET',
    url: '/api/v1/discovery/scans/:id/report',
    summary: 'The scan report as JSON: the scan, counters, and every finding with its analysis — SPEC S2',
    tags: ['discovery'],
    permission: 'repository:read',
    params: scanParams,
    query: reportQuery,
    handler: async ({ params, query }) =>
      scanReport(ctx, params.id, {
        ...(query.limit === undefined ? {} : { limit: query.limit }),
        ...(query.offset === undefined ? {} : { offset: query.offset }),
        pem: query.pem === 'true',
      }),
  });
  add({
    method: 'GET',
    url: '/api/v1/discovery/scans/:id/report.csv',
    summary: 'The scan report as CSV (RFC 4180, header line, formula-safe cells) — SPEC S2',
    tags: ['discovery'],
    permission: 'repository:read',
    params: scanParams,
    contentType: 'text/csv',
    handler: async ({ params }, reply) =>
      reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="discovery-scan-${params.id}.csv"`)
        .send(await scanReportCsv(ctx, params.id)),
  });
  add({
    method: 'GET',
    url: '/api/v1/discovery/scans/:id/report.html',
    summary: 'The scan report as an HTML page (no script; its stylesheet is served by the controller) — SPEC S2',
    tags: ['discovery'],
    permission: 'repository:read',
    params: scanParams,
    contentType: 'text/html',
    handler: async ({ params }, reply) =>
      reply
        .header('content-type', 'text/html; charset=utf-8')
        .header('content-security-policy', "default-src 'self'")
        .send(await scanReportHtml(ctx, params.id)),
  });
  add({
    method: 'GET',
    url: DISCOVERY_REPORT_CSS_URL,
    summary: 'Stylesheet of the HTML scan reports (static, no data) — SPEC S2',
    tags: ['discovery'],
    permission: 'public',
    contentType: 'text/css',
    handler: async (_req, reply) =>
      reply
        .header('content-type', 'text/css; charset=utf-8')
        .header('cache-control', 'public, max-age=3600')
        .send(DISCOVERY_REPORT_CSS),
  });
  add({
    method: 'POST',
    url: '/api/v1/discovery/scans/:id/import',
    summary:
      'Import findings of a scan ("all" or by id) as definitions with monitored endpoints, de-duplicated by SHA-256 — SPEC S3',
    tags: ['discovery'],
    permission: 'repository:write',
    params: scanParams,
    body: importScanFindingsSchema,
    handler: async ({ params, body, user }) => importScanFindings(ctx, params.id, body, actorOf(user)),
  });
  add({
    method: 'POST',
    url: '/api/v1/discovery/import',
    summary: 'Import posted findings as definitions with monitored endpoints, de-duplicated by SHA-256 — SPEC S3',
    tags: ['discovery'],
    permission: 'repository:write',
    body: discoveryImportBodySchema,
    bodyLimit: 32 * 1024 * 1024,
    handler: async ({ body, user }) =>
      importFindings(
        ctx,
        body.findings,
        { mode: body.mode, ...(body.agentId ? { agentId: body.agentId } : {}) },
        actorOf(user)
      ),
  });
};
