/**
 * Reports of a discovery scan (SPEC S2): the scan's progress and counters, and one line per host:port that served
 * a certificate with its analysis (validity, trust against the scan's trust set, days to expiry, self-signed, weak
 * algorithms, SHA-1/SHA-256). Three renderings of the same rows: JSON, CSV (RFC 4180, formula-safe: shared
 * `csvTable`) and an HTML page (every text escaped, no script, no inline style: its stylesheet is
 * {@link DISCOVERY_REPORT_CSS}, served by the controller, so a `default-src 'self'` policy holds).
 */
import net from 'node:net';
import { csvTable } from '@certfleet/shared';
import type { DiscoveryFinding } from '../../domain/discovery';
import { DiscoveryFindingEntity } from '../../storage/entities';
import type { ServiceContext } from '../context';
import { findingView, type FindingView } from './findings-store';
import { getScanRow, scanView, type ScanView } from './scan-service';

/** Findings in one JSON report page at most. */
export const MAX_REPORT_PAGE = 100_000;
/** Rows the HTML page shows at most (CSV and JSON carry all of them). */
export const MAX_HTML_ROWS = 5_000;
/** Where the HTML report's stylesheet is served. */
export const DISCOVERY_REPORT_CSS_URL = '/api/v1/discovery/report.css';

/** Counters over the findings of a scan. */
export interface ReportSummary {
  findings: number;
  certificates: number;
  ok: number;
  warning: number;
  failing: number;
  trusted: number;
  untrusted: number;
  expired: number;
  notYetValid: number;
  /** Valid, expiring within 30 days. */
  expiringSoon: number;
  selfSigned: number;
  weak: number;
}

export interface ScanReport {
  scan: ScanView;
  summary: ReportSummary;
  findings: FindingView[];
}

const EXPIRING_SOON_DAYS = 30;

/** IPv4 before IPv6 before names; numerically within each; then port. */
function compareFindings(a: DiscoveryFinding, b: DiscoveryFinding): number {
  const rank = (f: DiscoveryFinding): [number, string] => {
    if (net.isIPv4(f.host))
      return [
        0,
        f.host
          .split('.')
          .map((o) => o.padStart(3, '0'))
          .join('.'),
      ];
    if (net.isIPv6(f.host)) return [1, f.host];
    return [2, f.host];
  };
  const [ra, ka] = rank(a);
  const [rb, kb] = rank(b);
  return ra - rb || (ka < kb ? -1 : ka > kb ? 1 : 0) || a.port - b.port;
}

/** Every finding of a scan, in report order. */
export async function scanFindings(ctx: ServiceContext, scanId: string): Promise<DiscoveryFinding[]> {
  const rows = await ctx.db
    .em()
    .fork()
    .find(DiscoveryFindingEntity, { scanId }, { disableIdentityMap: true, orderBy: { host: 'asc', port: 'asc' } });
  return rows.sort(compareFindings);
}

function summarize(rows: readonly DiscoveryFinding[]): ReportSummary {
  const count = (f: (r: DiscoveryFinding) => boolean): number => rows.reduce((n, r) => n + (f(r) ? 1 : 0), 0);
  return {
    findings: rows.length,
    certificates: new Set(rows.map((r) => r.sha256)).size,
    ok: count((r) => r.status === 'ok'),
    warning: count((r) => r.status === 'warning'),
    failing: count((r) => r.status === 'failing'),
    trusted: count((r) => r.trusted),
    untrusted: count((r) => !r.trusted),
    expired: count((r) => r.validity === 'expired'),
    notYetValid: count((r) => r.validity === 'not-yet-valid'),
    expiringSoon: count(
      (r) => r.validity === 'valid' && r.daysToExpiry !== null && r.daysToExpiry < EXPIRING_SOON_DAYS
    ),
    selfSigned: count((r) => r.selfSigned),
    weak: count((r) => r.weakAlgorithms.length > 0),
  };
}

/**
 * The JSON report: the scan, counters over all its findings, and a page of findings (PEM only with `pem`).
 * @throws CertFleetError CF_NOT_FOUND
 */
export async function scanReport(
  ctx: ServiceContext,
  scanId: string,
  query: { limit?: number; offset?: number; pem?: boolean } = {}
): Promise<ScanReport> {
  const scan = scanView(await getScanRow(ctx, scanId));
  const rows = await scanFindings(ctx, scanId);
  const offset = query.offset ?? 0;
  const page = rows.slice(offset, offset + Math.min(query.limit ?? MAX_REPORT_PAGE, MAX_REPORT_PAGE));
  return { scan, summary: summarize(rows), findings: page.map((r) => findingView(r, query.pem === true)) };
}

/** Columns of the CSV report, in order. */
export const SCAN_REPORT_CSV_COLUMNS = [
  'host',
  'port',
  'starttls',
  'address',
  'serverName',
  'commonName',
  'subject',
  'issuer',
  'sans',
  'notBefore',
  'notAfter',
  'daysToExpiry',
  'validity',
  'trusted',
  'selfSigned',
  'weakAlgorithms',
  'status',
  'reason',
  'message',
  'sha256',
  'sha1',
  'protocol',
  'cipher',
  'probedBy',
] as const;

/** The CSV report: a header line and one line per finding. @throws CertFleetError CF_NOT_FOUND */
export async function scanReportCsv(ctx: ServiceContext, scanId: string): Promise<string> {
  await getScanRow(ctx, scanId);
  const rows = await scanFindings(ctx, scanId);
  return csvTable(
    SCAN_REPORT_CSV_COLUMNS,
    rows.map((r) => findingView(r))
  );
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

function endpointLabel(f: FindingView): string {
  const host = f.host.includes(':') ? `[${f.host}]` : f.host;
  return `${host}:${f.port}${f.starttls ? ` (STARTTLS ${f.starttls})` : ''}`;
}

function findingRowHtml(f: FindingView): string {
  const cells = [
    `<td class="status">${escapeHtml(f.status)}</td>`,
    `<td>${escapeHtml(endpointLabel(f))}${f.address !== f.host ? `<br><small>${escapeHtml(f.address)}</small>` : ''}${
      f.serverName ? `<br><small>SNI ${escapeHtml(f.serverName)}</small>` : ''
    }</td>`,
    `<td>${escapeHtml(f.commonName ?? '')}<br><small>${escapeHtml(f.subject)}</small>${
      f.sans.length ? `<br><small>SAN ${escapeHtml(f.sans.join(', '))}</small>` : ''
    }</td>`,
    `<td>${escapeHtml(f.issuer)}</td>`,
    `<td>${escapeHtml(f.validity)}<br><small>${escapeHtml(f.notBefore ?? '')} – ${escapeHtml(f.notAfter ?? '')}</small></td>`,
    `<td class="num">${escapeHtml(f.daysToExpiry ?? '')}</td>`,
    `<td>${yesNo(f.trusted)}</td>`,
    `<td>${yesNo(f.selfSigned)}</td>`,
    `<td>${f.weakAlgorithms.length ? escapeHtml(f.weakAlgorithms.join('; ')) : 'none'}</td>`,
    `<td>${escapeHtml(f.reason)}<br><small>${escapeHtml(f.message)}</small></td>`,
    `<td><small>SHA-256 ${escapeHtml(f.sha256)}<br>SHA-1 ${escapeHtml(f.sha1)}</small></td>`,
  ];
  return `<tr class="${escapeHtml(f.status)}">${cells.join('')}</tr>`;
}

/** The HTML report page. @throws CertFleetError CF_NOT_FOUND */
export async function scanReportHtml(ctx: ServiceContext, scanId: string): Promise<string> {
  return renderScanReportHtml(await scanReport(ctx, scanId, { limit: MAX_HTML_ROWS }));
}

/** Renders a (page of a) JSON report as the HTML page: every text escaped, no script, no inline style. */
export function renderScanReportHtml({ scan, summary, findings }: ScanReport): string {
  const s = summary;
  const runner = scan.runBy.kind === 'agent' ? `agent ${scan.runBy.agentId}` : 'the controller';
  const rows = findings.map(findingRowHtml).join('\n');
  const more =
    s.findings > findings.length
      ? `<p class="note">Showing the first ${findings.length} of ${s.findings} findings; the CSV and JSON reports hold all of them.</p>`
      : '';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CertFleet discovery scan ${escapeHtml(scan.id)}</title>
<link rel="stylesheet" href="${DISCOVERY_REPORT_CSS_URL}">
</head><body>
<h1>Discovery scan</h1>
<p>Scan ${escapeHtml(scan.id)} by ${escapeHtml(runner)}: <strong class="scan-${escapeHtml(scan.status)}">${escapeHtml(
    scan.status
  )}</strong>, ${escapeHtml(scan.done)} of ${escapeHtml(scan.total)} target×port pairs scanned (${escapeHtml(
    scan.percent
  )}%); started ${escapeHtml(scan.startedAt ?? '—')}, finished ${escapeHtml(scan.finishedAt ?? '—')}.${
    scan.error ? ` <span class="error">${escapeHtml(scan.error)}</span>` : ''
  }</p>
<p>Targets: ${escapeHtml(scan.targets.join(', '))}; ports: ${escapeHtml(scan.ports.join(', '))}.</p>
<p>${s.findings} TLS endpoint(s), ${s.certificates} distinct certificate(s): ${s.ok} ok, ${s.warning} warning, ${
    s.failing
  } failing; ${s.trusted} trusted, ${s.untrusted} not trusted; ${s.expired} expired, ${s.expiringSoon} expiring within ${EXPIRING_SOON_DAYS} days; ${
    s.selfSigned
  } self-signed; ${s.weak} with weak algorithms.</p>
${more}
<table><thead><tr><th>Status</th><th>Endpoint</th><th>Subject</th><th>Issuer</th><th>Validity</th><th>Days left</th><th>Trusted</th><th>Self-signed</th><th>Weak algorithms</th><th>Reason</th><th>Fingerprints</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`;
}

/** The stylesheet of the HTML report (served at {@link DISCOVERY_REPORT_CSS_URL}). */
export const DISCOVERY_REPORT_CSS = `body{font-family:sans-serif;margin:1.5em}
table{border-collapse:collapse;width:100%}
td,th{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top;font-size:13px}
td.num{text-align:right}
small{color:#555;word-break:break-all}
tr.failing td.status{background:#f8d7da}
tr.warning td.status{background:#fff3cd}
tr.ok td.status{background:#d4edda}
.error{color:#a00}
.note{font-style:italic}
`;
