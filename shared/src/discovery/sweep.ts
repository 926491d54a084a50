/**
 * The discovery sweep (SPEC S1): every target × port, a plain TCP connect with a short timeout first (so ranges
 * where most hosts silently drop packets cost one short timeout per pair), then the shared probe engine (TLS, or
 * STARTTLS then TLS) only on ports that accepted the connection, on the very socket that connected (one
 * connection per open port). It observes and judges nothing: every endpoint that completed a handshake is handed
 * to `onHit` as a raw observation (the served DER chain), and `analyseHit` (analyse.ts) judges it — on the same
 * process (controller, CLI) or on the controller after an agent sent the observation over its stream.
 *
 * Bounds: at most `concurrency` pairs in flight (one socket each: the probe reuses it), each connect within
 * `connectTimeoutMs`, each probe within `handshakeTimeoutMs`, the whole sweep within `maxDurationMs` (then it stops
 * dispatching and returns, `stopped = 'deadline'`), and `signal` stops it the same way (`stopped = 'aborted'`).
 * Host names are resolved once, before sweeping; only the given targets (and the one address each name resolves
 * to) are ever contacted. Asynchronous I/O only: the event loop is never held for longer than one pair's
 * bookkeeping.
 */
import dns from 'node:dns';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { type ProbeObservation, probeEndpoint } from '../probe';
import { CertFleetError } from '../errors';
import type { PortSpec, Target } from './targets';

/** Defaults (SPEC S1). */
export const DEFAULT_SCAN_CONCURRENCY = 256;
export const DEFAULT_CONNECT_TIMEOUT_MS = 1_500;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_SCAN_DURATION_MS = 15 * 60_000;
/** Most in-flight pairs one scan may use (each holds a file descriptor, two while probing). */
export const MAX_SCAN_CONCURRENCY = 8_192;
/** Most target × port pairs one scan accepts (callers such as the HTTP route may bound it lower). */
export const MAX_SCAN_PAIRS = 1_048_576;

/** Counters reported while a scan runs. */
export interface ScanProgress {
  /** Pairs finished. */
  done: number;
  /** Pairs in the scan (targets × ports). */
  total: number;
  /** Endpoints that completed a TLS handshake so far. */
  found: number;
}

export interface SweepOptions {
  /** Pairs in flight. @default 256 */
  concurrency?: number;
  /** Budget of the plain TCP connect. @default 1500 */
  connectTimeoutMs?: number;
  /** Budget of the probe on an open port (STARTTLS dialogue and handshake). @default 5000 */
  handshakeTimeoutMs?: number;
  /** Budget of the whole scan; it then stops dispatching and returns. @default 15 min */
  maxDurationMs?: number;
  /** Refuse scans with more pairs than this. @default MAX_SCAN_PAIRS */
  maxPairs?: number;
  /** Called at most every `progressIntervalMs`, and once at the end. */
  onProgress?: (progress: ScanProgress) => void;
  /** @default 500 */
  progressIntervalMs?: number;
  signal?: AbortSignal;
}

/** One endpoint that completed a TLS handshake and served at least one certificate. */
export interface ScanHit {
  /** Positions in the inputs (findings are ordered by target, then port). */
  targetIndex: number;
  portIndex: number;
  target: Target;
  spec: PortSpec;
  /** The IP address connected to. */
  address: string;
  /** `ok` is true and `chain` holds at least the leaf. */
  observation: ProbeObservation;
}

export interface SweepStats {
  targets: number;
  ports: number;
  pairs: number;
  /** Pairs finished (all of them unless `stopped`). */
  done: number;
  /** Accepted the TCP connection. */
  open: number;
  /** Refused (RST). */
  closed: number;
  /** No answer within the connect timeout. */
  filtered: number;
  /** ICMP unreachable, no route, and other connect errors. */
  unreachable: number;
  /** Host names that did not resolve (their pairs count as done). */
  unresolved: string[];
  /** Open ports where the probe did not complete (not TLS, STARTTLS refused, handshake failure). */
  tlsFailed: number;
  found: number;
  concurrency: number;
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  durationMs: number;
  pairsPerSecond: number;
  /** Why the scan ended early, or null when every pair was scanned. */
  stopped: 'aborted' | 'deadline' | null;
}

type ConnectOutcome = 'open' | 'closed' | 'filtered' | 'unreachable';

function intOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max)
    throw new CertFleetError('CF_VALIDATION', `discovery: ${name} must be an integer in ${min}-${max}`);
  return v;
}

/**
 * Sweeps `targets` × `ports` (SPEC S1) and hands every TLS endpoint to `onHit` as soon as its handshake completes.
 * Never throws for network failures; throws CF_VALIDATION for out-of-bounds options or too many pairs (before
 * any packet is sent). `onHit` must not throw.
 * @example const stats = await sweep(expandTargets(['192.0.2.0/28']), DEFAULT_PORTS, { onHit: (h) => hits.push(h) });
 */
export async function sweep(
  targets: readonly Target[],
  ports: readonly PortSpec[],
  options: SweepOptions & { onHit: (hit: ScanHit) => void }
): Promise<SweepStats> {
  const concurrency = intOption('concurrency', options.concurrency, DEFAULT_SCAN_CONCURRENCY, 1, MAX_SCAN_CONCURRENCY);
  const connectTimeoutMs = intOption(
    'connectTimeoutMs',
    options.connectTimeoutMs,
    DEFAULT_CONNECT_TIMEOUT_MS,
    1,
    60_000
  );
  const handshakeTimeoutMs = intOption(
    'handshakeTimeoutMs',
    options.handshakeTimeoutMs,
    DEFAULT_HANDSHAKE_TIMEOUT_MS,
    1,
    120_000
  );
  const maxDurationMs = intOption('maxDurationMs', options.maxDurationMs, DEFAULT_MAX_SCAN_DURATION_MS, 1, 86_400_000);
  const maxPairs = intOption('maxPairs', options.maxPairs, MAX_SCAN_PAIRS, 1, MAX_SCAN_PAIRS);
  const total = targets.length * ports.length;
  if (total > maxPairs)
    throw new CertFleetError(
      'CF_VALIDATION',
      `discovery: ${targets.length} targets × ${ports.length} ports = ${total} pairs; at most ${maxPairs} per scan`
    );
  const started = performance.now();
  const stats: SweepStats = {
    targets: targets.length,
    ports: ports.length,
    pairs: total,
    done: 0,
    open: 0,
    closed: 0,
    filtered: 0,
    unreachable: 0,
    unresolved: [],
    tlsFailed: 0,
    found: 0,
    concurrency,
    connectTimeoutMs,
    handshakeTimeoutMs,
    durationMs: 0,
    pairsPerSecond: 0,
    stopped: null,
  };
  const pending = new Set<net.Socket>();
  let stopped: SweepStats['stopped'] = null;
  const stop = (why: 'aborted' | 'deadline'): void => {
    if (stopped) return;
    stopped = why;
    for (const socket of pending) socket.destroy();
    pending.clear();
  };
  const onAbort = (): void => stop('aborted');
  if (options.signal?.aborted) stopped = 'aborted';
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const deadline = setTimeout(() => stop('deadline'), maxDurationMs);

  let lastProgress = 0;
  const progressEvery = options.progressIntervalMs ?? 500;
  const progress = (force = false): void => {
    if (!options.onProgress) return;
    const t = performance.now();
    if (!force && t - lastProgress < progressEvery) return;
    lastProgress = t;
    options.onProgress({ done: stats.done, total, found: stats.found });
  };

  try {
    // Names are resolved once (bounded), so every pair of a name connects to the same address.
    const addresses = await resolveAll(targets, Math.max(connectTimeoutMs, 2_000), concurrency, () => stopped !== null);
    for (const t of targets)
      if (addresses.get(t.host) === undefined && t.kind === 'name') stats.unresolved.push(t.host);

    // Port-major order spreads the load over hosts; callers order findings by target then port.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (stopped === null && next < total) {
        const pair = next++;
        const portIndex = Math.floor(pair / targets.length);
        const targetIndex = pair % targets.length;
        const target = targets[targetIndex] as Target;
        const spec = ports[portIndex] as PortSpec;
        const address = addresses.get(target.host);
        if (address !== undefined) {
          const { outcome, socket } = await connectCheck(address, spec.port, connectTimeoutMs, pending);
          if (stopped !== null && outcome !== 'open') break;
          stats[outcome]++;
          if (outcome === 'open') {
            // The handshake runs on the socket the connect check opened: one connection per open port.
            const observation = await probeEndpoint({
              host: address,
              port: spec.port,
              ...(socket ? { socket } : {}),
              serverName: target.kind === 'name' ? target.host : null,
              ...(spec.starttls ? { starttls: spec.starttls } : {}),
              timeoutMs: handshakeTimeoutMs,
            });
            if (observation.ok && observation.chain.length > 0) {
              stats.found++;
              options.onHit({ targetIndex, portIndex, target, spec, address, observation });
            } else stats.tlsFailed++;
          }
        }
        stats.done++;
        progress();
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  } finally {
    clearTimeout(deadline);
    options.signal?.removeEventListener('abort', onAbort);
    for (const socket of pending) socket.destroy();
  }
  stats.stopped = stopped;
  stats.durationMs = Math.round(performance.now() - started);
  stats.pairsPerSecond = stats.durationMs > 0 ? Math.round((stats.done * 1000) / stats.durationMs) : stats.done;
  progress(true);
  return stats;
}

/** Resolves every name target to one address (IPv4 preferred, as the OS orders them); literals map to themselves. */
async function resolveAll(
  targets: readonly Target[],
  timeoutMs: number,
  concurrency: number,
  isStopped: () => boolean
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const names: string[] = [];
  for (const t of targets) {
    if (t.kind === 'name') names.push(t.host);
    else out.set(t.host, t.host);
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length && !isStopped()) {
      const name = names[next++] as string;
      let timer: NodeJS.Timeout | undefined;
      try {
        const found = await Promise.race([
          dns.promises.lookup(name),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
          }),
        ]);
        out.set(name, found.address);
      } catch {
        /* unresolved: reported in stats */
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(names.length, Math.min(concurrency, 64)) }, worker));
  return out;
}

/**
 * A plain TCP connect. A refused, unanswered or unreachable socket is destroyed; an open one is handed back (the
 * probe then runs its handshake on it and destroys it), so an open port is connected to once.
 */
function connectCheck(
  address: string,
  port: number,
  timeoutMs: number,
  pending: Set<net.Socket>
): Promise<{ outcome: ConnectOutcome; socket?: net.Socket }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port });
    pending.add(socket);
    let settled = false;
    const done = (outcome: ConnectOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      pending.delete(socket);
      socket.off('close', onClose);
      if (outcome === 'open') return resolve({ outcome, socket });
      socket.destroy();
      resolve({ outcome });
    };
    const timer = setTimeout(() => done('filtered'), timeoutMs);
    // Destroyed by stop(): counted by nobody (the scan is ending).
    const onClose = (): void => done('filtered');
    socket.once('connect', () => done('open'));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' ? 'closed' : 'unreachable')
    );
    socket.once('close', onClose);
    socket.on('error', () => undefined);
  });
}
