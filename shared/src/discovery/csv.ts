/**
 * CSV of discovery reports (SPEC S2): RFC 4180 (CRLF line ends, a header line, fields holding a comma, a quote, a
 * CR or LF quoted with inner quotes doubled) and safe to open in a spreadsheet: a text cell that starts with
 * `=`, `+`, `-`, `@`, TAB or CR is prefixed with `'` so that it is not taken as a formula (OWASP "CSV injection").
 * Numbers and booleans that CertFleet computed itself are written as they are.
 */
import type { ScanFinding } from './analyse';

/** One CSV cell. */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = Array.isArray(value) ? value.map(String).join('; ') : String(value);
  if (typeof value === 'string' || Array.isArray(value)) {
    if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  }
  return /[",\r\n']/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * A CSV document: the header line then one line per row, each cell read by its column name.
 * @example csvTable(['host', 'port'], [{ host: 'a', port: 443 }]) // 'host,port\r\na,443\r\n'
 */
export function csvTable<C extends string>(columns: readonly C[], rows: Iterable<Partial<Record<C, unknown>>>): string {
  const lines = [columns.map(csvCell).join(',')];
  for (const row of rows) lines.push(columns.map((c) => csvCell(row[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** CSV columns of `certfleet scan --csv` (SPEC S2). */
export const FINDING_CSV_COLUMNS = [
  'host',
  'port',
  'starttls',
  'sha256',
  'sha1',
  'subject',
  'issuer',
  'notAfter',
  'status',
  'reason',
] as const;

/** RFC 4180 CSV of findings with a header line; formula-leading cells are quoted and prefixed (CSV injection). */
export function findingsToCsv(findings: readonly ScanFinding[]): string {
  return csvTable(FINDING_CSV_COLUMNS, findings);
}
