/**
 * `certfleet probe HOST:PORT [--servername N | --no-sni] [--starttls smtp|imap|pop3|ftp] [--timeout-ms N]
 *  [--trust-set NAME|FILE] [--expect-sha256 HEX] [--check-revocation] [--fetch-aia] [--json]` (SPEC M2, M3, M6, S1;
 *  issue 5 item 7)
 *
 * Probes one endpoint with the shared probe engine and judges it with the shared check chain. Needs no database
 * and no configuration: it never opens the store.
 * - `--trust-set`: `system` (the shipped Mozilla store; the default) or a PEM file of user roots. Named
 *   user-defined sets live in the database, which this command does not open.
 * - `--expect-sha256`: judge as Lifecycle-Managed (SPEC M2: the served leaf must be this certificate); without it
 *   the endpoint is judged as Monitored-Only (SPEC M3).
 * - `--check-revocation` (SPEC M6): the leaf's OCSP responder first, its CRL as fallback (`NotRevoked`).
 * - `--fetch-aia` (SPEC M2, M3): fetch intermediates the server does not send from AIA caIssuers URLs; the verdict
 *   is then `IntermediateMissingAiaCompletable` instead of `IntermediateMissing` when the completed chain validates.
 *
 * With `--json`, stdout carries exactly one JSON object: `{ endpoint, status, reason, checks: [{code, status,
 * message}], leaf: {sha1, sha256, subject, issuer, notBefore, notAfter, serial, sans}, chain: [{sha256, subject,
 * issuer, notAfter}] (as served, leaf first), protocol, cipher, serverName, address, timings, error? }`, or for a
 * usage error `{ error: { code, message } }`. Fingerprints are lowercase hex without colons.
 * Exit codes: 0 ok (or only warnings), 1 failing (unreachable or a failing check), 2 usage error, 70 unexpected.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { Command, CommanderError } from 'commander';
import {
  CertFleetError,
  type CheckContext,
  type ProbeObservation,
  type StartTlsProtocol,
  type TrustSet,
  STARTTLS_PROTOCOLS,
  SYSTEM_TRUST_SET_NAME,
  completeChainViaAia,
  evaluateChecks,
  probeEndpoint,
  revocationStatus,
  sha1Fingerprint,
  sha256Fingerprint,
  summarizeCertificate,
  systemTrustSet,
  trustSetFromPems,
} from '@certfleet/shared';

/** Where `probe` writes. `process.stdout`/`process.stderr` qualify. */
export interface ProbeIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

/** Exit codes of `certfleet probe`. */
export const PROBE_EXIT_CODES = { ok: 0, failing: 1, usage: 2, internal: 70 } as const;

/** Most a probe may take from the command line (the engine's default is 10 s). */
const MAX_TIMEOUT_MS = 120_000;

/** The `--json` document. */
export interface ProbeJson {
  endpoint: string;
  status: 'ok' | 'warning' | 'failing';
  reason: string;
  checks: { code: string; status: string; message: string; reason?: string }[];
  leaf: {
    sha1: string;
    sha256: string;
    subject: string;
    issuer: string;
    notBefore: string;
    notAfter: string;
    serial: string;
    sans: string[];
  } | null;
  chain: { sha256: string; subject: string; issuer: string; notAfter: string }[];
  protocol: string | null;
  cipher: string | null;
  serverName: string | null;
  address: string | null;
  timings: ProbeObservation['timings'];
  trustSet: { name: string; version: string } | null;
  error?: { code: string; message: string };
}

interface ProbeCliOptions {
  servername?: string | boolean;
  sni?: boolean;
  starttls?: string | boolean;
  timeoutMs?: string | boolean;
  trustSet?: string | boolean;
  expectSha256?: string | boolean;
  checkRevocation?: boolean;
  fetchAia?: boolean;
  json?: boolean;
}

class UsageError extends Error {}

/** The `probe` command for the `certfleet` program; its action sets `process.exitCode`. */
export function probeCommand(io: ProbeIo = { stdout: process.stdout, stderr: process.stderr }): Command {
  return createProbeCommand(io, (code) => {
    process.exitCode = code;
  });
}

/** Runs `probe` with `args` (what follows `certfleet probe`) and returns the exit code (tests, embedding). */
export async function runProbe(args: readonly string[], io: ProbeIo): Promise<number> {
  let exitCode: number = PROBE_EXIT_CODES.ok;
  const command = createProbeCommand(io, (code) => {
    exitCode = code;
  }).exitOverride();
  try {
    await command.parseAsync([...args], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? PROBE_EXIT_CODES.ok : PROBE_EXIT_CODES.usage;
    throw err;
  }
  return exitCode;
}

function createProbeCommand(io: ProbeIo, report: (code: number) => void): Command {
  // As in `inspect`: values optional and unknown options allowed, so usage errors are ours (exit 2, JSON error)
  // instead of commander's process.exit.
  return new Command('probe')
    .description('probe a TLS endpoint and judge its certificate (no database needed)')
    .usage(
      'HOST:PORT [--servername N | --no-sni] [--starttls smtp|imap|pop3|ftp] [--timeout-ms N] [--trust-set NAME|FILE] [--expect-sha256 HEX] [--check-revocation] [--fetch-aia] [--json]'
    )
    .argument('[endpoint]', 'HOST:PORT, [IPv6]:PORT')
    .option('--servername [name]', 'SNI to send (default: the host, none for an IP address)')
    .option('--no-sni', 'send no SNI')
    .option('--starttls [protocol]', `plain-text dialogue first: ${STARTTLS_PROTOCOLS.join('|')}`)
    .option('--timeout-ms [ms]', 'budget for the whole probe (default 10000)')
    .option('--trust-set [name]', `trusted CA set: '${SYSTEM_TRUST_SET_NAME}' (default) or a PEM file of roots`)
    .option('--expect-sha256 [hex]', 'SHA-256 of the certificate that should be served (Lifecycle-Managed check)')
    .option(
      '--check-revocation',
      "ask the leaf's OCSP responder (AIA, http://; 5 s, 64 KiB), falling back to its CRL (http:// CDP; 5 s, 10 MiB)"
    )
    .option(
      '--fetch-aia',
      'fetch intermediates the server does not send from AIA caIssuers URLs (http://; 5 s, 128 KiB, depth 3) to tell an incomplete chain from an untrusted one'
    )
    .option('--json', 'print exactly one JSON object on stdout')
    .allowUnknownOption()
    .allowExcessArguments()
    .configureOutput({ writeOut: (text) => void io.stdout.write(text), writeErr: (text) => void io.stderr.write(text) })
    .action(async (_endpoint: string | undefined, options: ProbeCliOptions, command: Command) => {
      report(await probe(command.args, options, io));
    });
}

interface ProbeRequest {
  host: string;
  port: number;
  serverName?: string | null;
  starttls?: StartTlsProtocol;
  timeoutMs?: number;
  trustSet: string;
  expectSha256?: string;
}

async function probe(args: readonly string[], options: ProbeCliOptions, io: ProbeIo): Promise<number> {
  const json = options.json === true || args.includes('--json');
  try {
    const request = validate(args, options);
    const trustSet = await loadTrustSet(request.trustSet);
    const observation = await probeEndpoint({
      host: request.host,
      port: request.port,
      ...(request.serverName === undefined ? {} : { serverName: request.serverName }),
      ...(request.starttls ? { starttls: request.starttls } : {}),
      ...(request.timeoutMs === undefined ? {} : { timeoutMs: request.timeoutMs }),
    });
    const now = new Date();
    const aia =
      options.fetchAia === true && observation.ok
        ? await completeChainViaAia(observation.chain, { now, trustSet })
        : undefined;
    const revocation =
      options.checkRevocation === true && observation.ok
        ? await revocationStatus(observation.chain, {
            now,
            issuers: [...trustSet.roots, ...(aia?.certificates ?? []).map((der) => new X509Certificate(der))],
          })
        : undefined;
    const ctx: CheckContext = {
      now,
      mode: request.expectSha256 ? 'managed' : 'monitored',
      trustSet,
      ...(request.expectSha256 ? { expectedSha256: request.expectSha256 } : {}),
      ...(revocation ? { revocation } : {}),
      ...(aia ? { aia } : {}),
    };
    const result = toProbeJson(observation, ctx);
    io.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : formatHuman(result));
    return result.status === 'failing' ? PROBE_EXIT_CODES.failing : PROBE_EXIT_CODES.ok;
  } catch (err) {
    const usage = err instanceof UsageError;
    const error = usage
      ? new CertFleetError('CF_VALIDATION', `probe: ${err.message}`)
      : new CertFleetError('CF_INTERNAL', 'probe: unexpected failure', { cause: err });
    if (json) io.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message } })}\n`);
    else io.stderr.write(`certfleet probe: ${error.code}: ${error.message}${usage ? ' (see --help)' : ''}\n`);
    if (!usage) io.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return usage ? PROBE_EXIT_CODES.usage : PROBE_EXIT_CODES.internal;
  }
}

/** Splits `host:port`, `[v6]:port`; a bare IPv6 literal is ambiguous and refused. */
export function parseEndpoint(text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (!m) throw new UsageError(`expected HOST:PORT or [IPv6]:PORT, got ${JSON.stringify(text)}`);
  const host = m[1] as string;
  const port = Number(m[2]);
  if (text.startsWith('[') && isIP(host) !== 6) throw new UsageError(`${host} is not an IPv6 address`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`port ${m[2]} is not in 1-65535`);
  return { host, port };
}

function validate(args: readonly string[], options: ProbeCliOptions): ProbeRequest {
  const unknown = args.find((arg) => arg.startsWith('-') && arg !== '--json');
  if (unknown !== undefined) throw new UsageError(`unknown option ${unknown.split('=')[0] as string}`);
  const positional = args.filter((arg) => arg !== '--json');
  if (positional.length === 0) throw new UsageError('missing HOST:PORT');
  if (positional.length > 1) throw new UsageError(`expected one HOST:PORT, got ${positional.length}`);
  const value = (name: string, raw: string | boolean | undefined): string | undefined => {
    if (raw === true || raw === '') throw new UsageError(`--${name} needs a value`);
    return raw === false ? undefined : raw;
  };
  const request: ProbeRequest = { ...parseEndpoint(positional[0] as string), trustSet: SYSTEM_TRUST_SET_NAME };
  const servername = value('servername', options.servername);
  if (options.sni === false) {
    if (servername !== undefined) throw new UsageError('use --servername or --no-sni, not both');
    request.serverName = null;
  } else if (servername !== undefined) {
    if (isIP(servername) !== 0) throw new UsageError('--servername cannot be an IP address (RFC 6066)');
    request.serverName = servername;
  }
  const starttls = value('starttls', options.starttls);
  if (starttls !== undefined) {
    if (!(STARTTLS_PROTOCOLS as readonly string[]).includes(starttls))
      throw new UsageError(`--starttls must be one of ${STARTTLS_PROTOCOLS.join(', ')}`);
    request.starttls = starttls as StartTlsProtocol;
  }
  const timeout = value('timeout-ms', options.timeoutMs);
  if (timeout !== undefined) {
    const ms = Number(timeout);
    if (!/^\d+$/.test(timeout) || ms < 1 || ms > MAX_TIMEOUT_MS)
      throw new UsageError(`--timeout-ms must be an integer in 1-${MAX_TIMEOUT_MS}`);
    request.timeoutMs = ms;
  }
  const trust = value('trust-set', options.trustSet);
  if (trust !== undefined) request.trustSet = trust;
  const expect = value('expect-sha256', options.expectSha256);
  if (expect !== undefined) {
    const hex = expect.replace(/:/g, '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new UsageError('--expect-sha256 must be 64 hex digits (colons allowed)');
    request.expectSha256 = hex;
  }
  return request;
}

async function loadTrustSet(name: string): Promise<TrustSet> {
  if (name === SYSTEM_TRUST_SET_NAME) return systemTrustSet();
  let text: string;
  try {
    text = await readFile(name, 'utf8');
  } catch (err) {
    throw new UsageError(
      `--trust-set ${name}: not '${SYSTEM_TRUST_SET_NAME}' and not a readable PEM file (${(err as NodeJS.ErrnoException).code ?? 'error'}); named user-defined sets need the database, which probe does not open`
    );
  }
  try {
    return trustSetFromPems(name, [text], { origin: name });
  } catch (err) {
    throw new UsageError(`--trust-set ${name}: ${(err as Error).message}`);
  }
}

/** The `--json` document for one observation judged in `ctx`. */
export function toProbeJson(observation: ProbeObservation, ctx: CheckContext): ProbeJson {
  const outcome = evaluateChecks(observation, ctx);
  const endpoint = `${isIP(observation.host) === 6 ? `[${observation.host}]` : observation.host}:${observation.port}`;
  const leafDer = observation.chain[0];
  const leaf = outcome.leaf
    ? { ...outcome.leaf, sans: [...outcome.leaf.sans] }
    : leafDer
      ? { ...describe(leafDer), sha1: sha1Fingerprint(leafDer), notBefore: '', serial: '', sans: [] }
      : null;
  return {
    endpoint,
    status: outcome.status,
    reason: outcome.reason,
    checks: outcome.checks.map((c) => ({
      code: c.code,
      status: c.status,
      message: c.message,
      ...(c.reason ? { reason: c.reason } : {}),
    })),
    leaf,
    chain: observation.chain.map(describe),
    protocol: observation.protocol ?? null,
    cipher: observation.cipher ?? null,
    serverName: observation.serverName,
    address: observation.address ?? null,
    timings: observation.timings,
    trustSet: ctx.trustSet ? { name: ctx.trustSet.name, version: ctx.trustSet.version } : null,
    ...(observation.error ? { error: observation.error } : {}),
  };
}

/** sha256/subject/issuer/notAfter of a served DER; never throws (an undecodable certificate keeps its hash). */
function describe(der: Buffer): ProbeJson['chain'][number] {
  const sha256 = sha256Fingerprint(der);
  try {
    const s = summarizeCertificate(der);
    return { sha256, subject: s.subject, issuer: s.issuer, notAfter: s.notAfter };
  } catch {
    try {
      const x = new X509Certificate(der);
      return { sha256, subject: x.subject, issuer: x.issuer, notAfter: new Date(x.validTo).toISOString() };
    } catch {
      return { sha256, subject: '', issuer: '', notAfter: '' };
    }
  }
}

function formatHuman(r: ProbeJson): string {
  const lines = [`${r.endpoint}: ${r.status.toUpperCase()} (${r.reason})`];
  if (r.error) lines.push(`  error     ${r.error.code}: ${r.error.message}`);
  if (r.protocol) lines.push(`  tls       ${r.protocol} ${r.cipher ?? ''}`.trimEnd());
  if (r.leaf) {
    lines.push(
      `  leaf      ${r.leaf.subject}`,
      `  issuer    ${r.leaf.issuer}`,
      `  valid     ${r.leaf.notBefore} to ${r.leaf.notAfter}`,
      `  SHA-256   ${r.leaf.sha256}`,
      `  SHA-1     ${r.leaf.sha1}`
    );
  }
  r.chain.slice(1).forEach((c, i) => lines.push(`  chain[${i + 1}]  ${c.subject} (until ${c.notAfter})`));
  lines.push('', 'checks:');
  for (const c of r.checks) lines.push(`  ${c.status.padEnd(8)} ${c.code}: ${c.message}`);
  lines.push(`  timings   total ${r.timings.totalMs} ms`);
  return `${lines.join('\n')}\n`;
}
