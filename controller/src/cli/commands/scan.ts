/**
 * `certfleet scan TARGETS... [--ports LIST] [--concurrency N] [--timeout-ms N] [--handshake-timeout-ms N]
 *  [--json | --csv] [--progress | --no-progress]` (SPEC S1, S2; issue 5 items 6 and 7)
 *
 * Scans CIDR blocks (at most /16), IPv4 ranges, IPv6 literals and host names × ports for TLS services, and judges
 * every certificate found (Monitored-Only checks against the shipped trust set). Needs no database and no
 * configuration. stderr carries a first line (targets × ports) and a summary line; with `--progress` also a
 * progress line at most once a second (pairs done/total, percent, pairs per second, findings, elapsed time);
 * `--no-progress` silences stderr. stdout carries only the report:
 * - `--json`: one JSON array of findings (`host, port, address, serverName, starttls, sha256, sha1, subject,
 *   issuer, notBefore, notAfter, serial, sans, selfSigned, trusted, status, reason, message, checks, pem,
 *   chainPem, …`), as `POST /api/v1/discovery/import` accepts them;
 * - `--csv`: a header and one line per finding: host, port, starttls, sha256, sha1, subject, issuer, notAfter,
 *   status, reason;
 * - neither: a human-readable table.
 * Ports: `443,8443`, `8000-8010`, `587/smtp`, `25/tls`; default 443, 465, 636, 993, 995, 8443 and STARTTLS on 25,
 * 110, 143, 587. `--timeout-ms` is the TCP connect timeout (default 1500).
 * Exit codes: 0 scanned (whatever was found), 2 usage error, 70 unexpected.
 */
import { Command, CommanderError } from 'commander';
import {
  CertFleetError,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_PORTS,
  DEFAULT_SCAN_CONCURRENCY,
  MAX_SCAN_CONCURRENCY,
  type PortSpec,
  type ScanFinding,
  type ScanResult,
  expandTargets,
  findingsToCsv,
  parsePorts,
  scan,
} from '@certfleet/shared';

/** Where `scan` writes. `process.stdout`/`process.stderr` qualify. */
export interface ScanIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

export const SCAN_EXIT_CODES = { ok: 0, usage: 2, internal: 70 } as const;

interface ScanCliOptions {
  ports?: string | boolean;
  concurrency?: string | boolean;
  timeoutMs?: string | boolean;
  handshakeTimeoutMs?: string | boolean;
  json?: boolean;
  csv?: boolean;
  progress?: boolean;
}

class UsageError extends Error {}

/** The `scan` command for the `certfleet` program; its action sets `process.exitCode`. */
export function scanCommand(io: ScanIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  return createScanCommand(io, (code) => {
    process.exitCode = code;
  });
}

/** Runs `scan` with `args` (what follows `certfleet scan`) and returns the exit code (tests, embedding). */
export async function runScan(args: readonly string[], io: ScanIo): Promise<number> {
  let exitCode: number = SCAN_EXIT_CODES.ok;
  const command = createScanCommand(io, (code) => {
    exitCode = code;
  }).exitOverride();
  try {
    await command.parseAsync([...args], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? SCAN_EXIT_CODES.ok : SCAN_EXIT_CODES.usage;
    throw err;
  }
  return exitCode;
}

function createScanCommand(io: ScanIo, report: (code: number) => void): Command {
  return new Command('scan')
    .description('discover TLS services in address ranges and host lists and judge their certificates (no database)')
    .usage(
      'TARGETS... [--ports LIST] [--concurrency N] [--timeout-ms N] [--handshake-timeout-ms N] [--json | --csv] [--progress]'
    )
    .argument(
      '[targets...]',
      'IPv4 addresses, CIDR blocks (/16 or narrower), ranges a.b.c.d-e, IPv6 addresses, host names'
    )
    .option(
      '--ports [list]',
      'ports: 443,8443 8000-8010 587/smtp 25/tls (default: 443,465,636,993,995,8443 + STARTTLS 25,110,143,587)'
    )
    .option(
      '--concurrency [n]',
      `connections in flight (default ${DEFAULT_SCAN_CONCURRENCY}, at most ${MAX_SCAN_CONCURRENCY})`
    )
    .option('--timeout-ms [ms]', `TCP connect timeout (default ${DEFAULT_CONNECT_TIMEOUT_MS})`)
    .option(
      '--handshake-timeout-ms [ms]',
      `STARTTLS + TLS handshake budget on open ports (default ${DEFAULT_HANDSHAKE_TIMEOUT_MS})`
    )
    .option('--json', 'print the findings as one JSON array on stdout')
    .option('--csv', 'print the findings as CSV on stdout')
    .option('--progress', 'a progress line on stderr at most once a second (done/total, rate, findings)')
    .option('--no-progress', 'nothing on stderr (no first and summary lines either)')
    .allowUnknownOption()
    .configureOutput({ writeOut: (text) => void io.stdout.write(text), writeErr: (text) => void io.stderr.write(text) })
    .action(async (targets: string[], options: ScanCliOptions, command: Command) => {
      report(await runAction(targets, command.args, options, io));
    });
}

interface ScanRequest {
  targets: string[];
  ports: PortSpec[];
  concurrency?: number;
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  format: 'json' | 'csv' | 'text';
}

async function runAction(
  targets: readonly string[],
  args: readonly string[],
  options: ScanCliOptions,
  io: ScanIo
): Promise<number> {
  const json = options.json === true;
  try {
    const request = validate(targets, args, options);
    const expanded = expandTargets(request.targets);
    const progress = options.progress !== false;
    const live = options.progress === true;
    const started = Date.now();
    let printedAt = 0;
    if (progress)
      io.stderr.write(
        `scan: ${expanded.length} targets × ${request.ports.length} ports = ${expanded.length * request.ports.length} pairs\n`
      );
    const result = await scan(expanded, request.ports, {
      ...(request.concurrency === undefined ? {} : { concurrency: request.concurrency }),
      ...(request.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: request.connectTimeoutMs }),
      ...(request.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: request.handshakeTimeoutMs }),
      progressIntervalMs: 1_000,
      ...(live
        ? {
            onProgress: ({ done, total, found }) => {
              const now = Date.now();
              // The scan also reports once at its very end; the summary line follows then anyway.
              if (now - printedAt < 1_000 || done === total) return;
              printedAt = now;
              io.stderr.write(`${progressLine(done, total, found, now - started)}\n`);
            },
          }
        : {}),
    });
    if (progress) io.stderr.write(`${summaryLine(result)}\n`);
    if (request.format === 'json') io.stdout.write(`${JSON.stringify(result.findings, null, 2)}\n`);
    else if (request.format === 'csv') io.stdout.write(findingsToCsv(result.findings));
    else io.stdout.write(formatHuman(result.findings));
    return SCAN_EXIT_CODES.ok;
  } catch (err) {
    const usage = err instanceof UsageError || (err instanceof CertFleetError && err.code === 'CF_VALIDATION');
    const error =
      err instanceof CertFleetError
        ? err
        : usage
          ? new CertFleetError('CF_VALIDATION', `scan: ${(err as Error).message}`)
          : new CertFleetError('CF_INTERNAL', 'scan: unexpected failure', { cause: err });
    if (json) io.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message } })}\n`);
    else io.stderr.write(`certfleet scan: ${error.code}: ${error.message}${usage ? ' (see --help)' : ''}\n`);
    if (!usage) io.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return usage ? SCAN_EXIT_CODES.usage : SCAN_EXIT_CODES.internal;
  }
}

function validate(targets: readonly string[], args: readonly string[], options: ScanCliOptions): ScanRequest {
  const unknown = [...targets, ...args].find((arg) => arg.startsWith('-'));
  if (unknown !== undefined) throw new UsageError(`unknown option ${unknown.split('=')[0] as string}`);
  if (targets.length === 0) throw new UsageError('missing TARGETS');
  if (options.json === true && options.csv === true) throw new UsageError('use --json or --csv, not both');
  const value = (name: string, raw: string | boolean | undefined): string | undefined => {
    if (raw === true || raw === '') throw new UsageError(`--${name} needs a value`);
    return raw === false ? undefined : raw;
  };
  const integer = (name: string, raw: string | boolean | undefined, max: number): number | undefined => {
    const text = value(name, raw);
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < 1 || n > max) throw new UsageError(`--${name} must be an integer in 1-${max}`);
    return n;
  };
  const ports = value('ports', options.ports);
  const request: ScanRequest = {
    targets: [...targets],
    ports: ports === undefined ? [...DEFAULT_PORTS] : parsePorts([ports]),
    format: options.json === true ? 'json' : options.csv === true ? 'csv' : 'text',
  };
  const concurrency = integer('concurrency', options.concurrency, MAX_SCAN_CONCURRENCY);
  if (concurrency !== undefined) request.concurrency = concurrency;
  const timeout = integer('timeout-ms', options.timeoutMs, 60_000);
  if (timeout !== undefined) request.connectTimeoutMs = timeout;
  const handshake = integer('handshake-timeout-ms', options.handshakeTimeoutMs, 120_000);
  if (handshake !== undefined) request.handshakeTimeoutMs = handshake;
  return request;
}

/** `scan: 1200/5120 pairs (23.4%), 812 pairs/s, 3 found, 1.5 s elapsed`. */
export function progressLine(done: number, total: number, found: number, elapsedMs: number): string {
  const pct = total === 0 ? 100 : Math.floor((done * 1000) / total) / 10;
  const rate = elapsedMs > 0 ? Math.round((done * 1000) / elapsedMs) : done;
  return `scan: ${done}/${total} pairs (${pct}%), ${rate} pairs/s, ${found} found, ${(elapsedMs / 1000).toFixed(1)} s elapsed`;
}

function summaryLine(r: ScanResult): string {
  const s = r.stats;
  return (
    `scan: ${s.done}/${s.pairs} pairs in ${s.durationMs} ms (${s.pairsPerSecond}/s): ${s.found} TLS, ` +
    `${s.open} open, ${s.closed} closed, ${s.filtered} filtered, ${s.unreachable} unreachable` +
    (s.unresolved.length ? `, unresolved: ${s.unresolved.join(' ')}` : '') +
    (s.stopped ? ` (stopped: ${s.stopped})` : '')
  );
}

function formatHuman(findings: readonly ScanFinding[]): string {
  if (findings.length === 0) return 'no TLS services found\n';
  const lines = findings.map((f) => {
    const where = `${f.host.includes(':') ? `[${f.host}]` : f.host}:${f.port}${f.starttls ? `/${f.starttls}` : ''}`;
    return `${where.padEnd(28)} ${f.status.padEnd(8)} ${f.reason.padEnd(24)} ${f.notAfter.slice(0, 10)}  ${f.subject}\n  sha256 ${f.sha256}`;
  });
  return `${lines.join('\n')}\n`;
}
