/**
 * Scan jobs (SPEC S1, G4): the controller asks the agent to run a discovery scan from inside its network. The agent
 * runs the shared sweep (the same engine as the controller and `certfleet scan`) and reports what it finds while it
 * runs: a ScanProgress at most about once a second, or sooner when the endpoints found since the last one would
 * fill a message (MAX_SCAN_CHUNK_BYTES, under the channel's message limit); the last one carries the summary and
 * is followed by the JobResult. Verdicts are computed by the controller, which accepts endpoints only for this
 * agent's scan job and only of that job's targets and ports.
 *
 * Delivery (at least once, as for every job): a redelivered job that is still running or finished in this process
 * is not run again: the new stream gets everything found so far (and the end, if any) replayed, then the rest.
 * A job redelivered after the agent restarted runs again (a scan only observes). The controller stores each
 * host:port of a scan once, so replays are harmless. `CancelJob` stops a running scan; nothing more is sent for it.
 *
 * Scans run beside the one-at-a-time job queue (a long scan must not hold back an install), at most
 * {@link MAX_CONCURRENT_SCANS} at once; further scan jobs wait for a slot.
 */
import {
  type AgentMessage,
  DiscoveredEndpoint,
  JobStatus,
  type JobResult,
  type ScanNetwork,
  type ScanProgress,
  type ScanSummary,
} from '@certfleet/proto';
import {
  MAX_SCAN_CHUNK_BYTES,
  MAX_SCAN_CHUNK_ENDPOINTS,
  MAX_SCAN_PAIRS,
  STARTTLS_PROTOCOLS,
  type PortSpec,
  type ScanHit,
  type StartTlsProtocol,
  expandTargets,
  isCertFleetError,
  sweep,
} from '@certfleet/shared';

/** Scans one agent runs at once. */
export const MAX_CONCURRENT_SCANS = 2;
/** Most pairs in flight in one agent scan (each holds a socket). */
export const MAX_AGENT_SCAN_CONCURRENCY = 2_048;
/** Endpoints kept per scan for replays to a new stream (beyond that, only what was sent stays sent). */
export const MAX_RETAINED_ENDPOINTS = 20_000;
/** Certificates kept per endpoint, and the largest certificate reported. */
const MAX_CHAIN = 10;
const MAX_CERT_BYTES = 64 * 1024;
/** Finished scans kept for replays. */
const MAX_FINISHED = 8;
const PROGRESS_EVERY_MS = 1_000;

/** Where a scan's messages go: the live stream's write. */
export type ScanSink = (message: AgentMessage) => void;

interface ValidScan {
  targets: string[];
  ports: PortSpec[];
  concurrency: number;
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  maxDurationMs: number;
}

/** Checks a scan job at the boundary (the controller validated it too). */
function validate(job: ScanNetwork): ValidScan | string {
  try {
    if (job.targets.length === 0 || job.targets.length > 4_096) return 'targets: 1-4096 entries';
    const targets = expandTargets(job.targets);
    if (job.ports.length === 0 || job.ports.length > 1_024) return 'ports: 1-1024 entries';
    const seen = new Set<number>();
    const ports: PortSpec[] = [];
    for (const p of job.ports) {
      if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) return `port ${p.port}: ports are 1-65535`;
      if (p.starttls !== '' && !(STARTTLS_PROTOCOLS as readonly string[]).includes(p.starttls))
        return `port ${p.port}: unknown STARTTLS protocol ${JSON.stringify(p.starttls).slice(0, 40)}`;
      if (seen.has(p.port)) return `port ${p.port} listed twice`;
      seen.add(p.port);
      ports.push({ port: p.port, starttls: p.starttls === '' ? null : (p.starttls as StartTlsProtocol) });
    }
    if (targets.length * ports.length > MAX_SCAN_PAIRS)
      return `${targets.length} targets × ${ports.length} ports: at most ${MAX_SCAN_PAIRS} pairs`;
    const within = (v: number, min: number, max: number, fallback: number): number =>
      Number.isInteger(v) && v >= min && v <= max ? v : fallback;
    return {
      targets: job.targets,
      ports,
      concurrency: within(job.concurrency, 1, MAX_AGENT_SCAN_CONCURRENCY, 256),
      connectTimeoutMs: within(job.connectTimeoutMs, 1, 60_000, 1_500),
      handshakeTimeoutMs: within(job.handshakeTimeoutMs, 1, 120_000, 5_000),
      maxDurationMs: within(job.maxDurationMs, 1, 86_400_000, 15 * 60_000),
    };
  } catch (err) {
    return isCertFleetError(err) ? err.message : String(err);
  }
}

/** The wire form of one hit: at most 10 certificates of at most 64 KiB each, short strings. */
export function toEndpoint(hit: ScanHit): DiscoveredEndpoint {
  const o = hit.observation;
  return {
    host: hit.target.host,
    port: hit.spec.port,
    address: hit.address,
    serverName: o.serverName ?? '',
    starttls: hit.spec.starttls ?? '',
    certificateChain: o.chain.slice(0, MAX_CHAIN).filter((der) => der.length <= MAX_CERT_BYTES),
    protocol: (o.protocol ?? '').slice(0, 50),
    cipher: (o.cipher ?? '').slice(0, 200),
    handshakeMs: Math.max(0, Math.round(o.timings.handshakeMs ?? o.timings.totalMs)),
  };
}

/** Bytes one endpoint adds to a ScanProgress (its encoding plus the field's tag and length prefix). */
export function encodedSize(endpoint: DiscoveredEndpoint): number {
  return DiscoveredEndpoint.encode(endpoint).finish().length + 8;
}

/**
 * Where the chunk that starts at `from` ends (exclusive): at most MAX_SCAN_CHUNK_ENDPOINTS endpoints and
 * MAX_SCAN_CHUNK_BYTES bytes, and at least one endpoint (one endpoint alone always fits: its chain is bounded).
 */
export function chunkEnd(items: ReadonlyArray<{ bytes: number }>, from: number): number {
  let end = from;
  let bytes = 0;
  while (end < items.length && end - from < MAX_SCAN_CHUNK_ENDPOINTS) {
    const next = (items[end] as { bytes: number }).bytes;
    if (end > from && bytes + next > MAX_SCAN_CHUNK_BYTES) break;
    bytes += next;
    end++;
  }
  return end;
}

function timestamp(ms: number): { seconds: string; nanos: number } {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

function result(jobId: string, status: JobStatus, reason: string, message: string): JobResult {
  return {
    jobId,
    status,
    reason,
    message: message.slice(0, 8000),
    finishedAt: timestamp(Date.now()),
    servedSha256: '',
    stderrTail: '',
    idempotent: false,
    rolledBack: false,
    observations: [],
  };
}

/** One scan job in this process: its counters, what it found, where its messages go. */
class ScanRun {
  private sink: ScanSink | null = null;
  private readonly abort = new AbortController();
  /** Everything found (bounded), for replays; `sentUpTo` of them went to the current sink. */
  private readonly found: Array<{ endpoint: DiscoveredEndpoint; bytes: number }> = [];
  private sentUpTo = 0;
  private retainedAll = true;
  private counters = { done: 0, total: 0, found: 0 };
  private timer: NodeJS.Timeout | null = null;
  /** The last ScanProgress (with the summary) and the JobResult, once finished. */
  private end: { summary: ScanSummary | undefined; result: JobResult } | null = null;
  cancelled = false;
  readonly finished: Promise<void>;
  private markFinished: () => void = () => undefined;

  constructor(readonly jobId: string) {
    this.finished = new Promise<void>((resolve) => (this.markFinished = resolve));
  }

  get isFinished(): boolean {
    return this.end !== null || this.cancelled;
  }

  /** Sends to a new stream: everything found so far (replayed in chunks), then the end if there is one. */
  attach(sink: ScanSink): void {
    this.sink = sink;
    this.sentUpTo = 0;
    this.flush(this.counters.total > 0);
    if (this.end) this.sendEnd();
  }

  detach(sink: ScanSink): void {
    if (this.sink === sink) this.sink = null;
  }

  cancel(): void {
    if (this.isFinished) return;
    this.cancelled = true;
    this.abort.abort();
  }

  async run(job: ScanNetwork, waitForSlot: () => Promise<() => void>): Promise<void> {
    const valid = validate(job);
    if (typeof valid === 'string') {
      this.finish(undefined, result(this.jobId, JobStatus.JOB_STATUS_REJECTED, 'InvalidScan', `agent: scan: ${valid}`));
      this.markFinished();
      return;
    }
    const release = await waitForSlot();
    try {
      if (this.cancelled) return;
      const targets = expandTargets(valid.targets);
      this.counters.total = targets.length * valid.ports.length;
      this.flush(true); // the controller sees the scan start
      this.timer = setInterval(() => this.flush(true), PROGRESS_EVERY_MS);
      const stats = await sweep(targets, valid.ports, {
        concurrency: valid.concurrency,
        connectTimeoutMs: valid.connectTimeoutMs,
        handshakeTimeoutMs: valid.handshakeTimeoutMs,
        maxDurationMs: valid.maxDurationMs,
        maxPairs: MAX_SCAN_PAIRS,
        signal: this.abort.signal,
        progressIntervalMs: 100,
        onProgress: (p) => {
          this.counters.done = p.done;
        },
        onHit: (hit) => this.add(toEndpoint(hit)),
      });
      this.counters.done = stats.done;
      if (this.cancelled) return;
      const summary: ScanSummary = {
        done: stats.done,
        total: stats.pairs,
        found: stats.found,
        open: stats.open,
        closed: stats.closed,
        filtered: stats.filtered,
        unreachable: stats.unreachable,
        tlsFailed: stats.tlsFailed,
        durationMs: stats.durationMs,
        stopped: stats.stopped ?? '',
      };
      const message =
        `${stats.found} TLS endpoint(s) in ${stats.done}/${stats.pairs} pairs, ${stats.durationMs} ms` +
        (stats.stopped ? ` (stopped: ${stats.stopped})` : '') +
        (this.retainedAll ? '' : `; only the first ${MAX_RETAINED_ENDPOINTS} are kept for replays`);
      this.finish(
        summary,
        result(
          this.jobId,
          JobStatus.JOB_STATUS_SUCCEEDED,
          stats.stopped === 'deadline' ? 'ScanDeadlineReached' : 'Scanned',
          message
        )
      );
    } catch (err) {
      if (!this.cancelled)
        this.finish(
          undefined,
          result(this.jobId, JobStatus.JOB_STATUS_FAILED, 'ScanFailed', `agent: scan: ${(err as Error).message}`)
        );
    } finally {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      release();
      this.markFinished();
    }
  }

  private add(endpoint: DiscoveredEndpoint): void {
    this.counters.found++;
    const bytes = encodedSize(endpoint);
    if (this.found.length < MAX_RETAINED_ENDPOINTS) this.found.push({ endpoint, bytes });
    else {
      this.retainedAll = false;
      // Not retained: sent once, now, in its own chunk.
      if (this.sink && !this.cancelled) this.send([endpoint]);
      return;
    }
    if (this.found.length - this.sentUpTo >= MAX_SCAN_CHUNK_ENDPOINTS || this.pendingBytes() >= MAX_SCAN_CHUNK_BYTES)
      this.flush(false);
  }

  private pendingBytes(): number {
    let bytes = 0;
    for (let i = this.sentUpTo; i < this.found.length; i++) bytes += (this.found[i] as { bytes: number }).bytes;
    return bytes;
  }

  /**
   * Sends the endpoints not yet sent to the current sink, in chunks within the message limits. With `always`, a
   * message goes out even when nothing new was found (the counters advance).
   */
  private flush(always: boolean): void {
    if (!this.sink || this.cancelled) return;
    let sentSomething = false;
    while (this.sentUpTo < this.found.length) {
      const end = chunkEnd(this.found, this.sentUpTo);
      this.send(this.found.slice(this.sentUpTo, end).map((f) => f.endpoint));
      this.sentUpTo = end;
      sentSomething = true;
    }
    if (always && !sentSomething) this.send([]);
  }

  private send(endpoints: DiscoveredEndpoint[], summary?: ScanSummary): void {
    const progress: ScanProgress = {
      jobId: this.jobId,
      done: this.counters.done,
      total: this.counters.total,
      found: this.counters.found,
      endpoints,
      summary,
    };
    this.sink?.({ payload: { $case: 'scanProgress', value: progress } });
  }

  private finish(summary: ScanSummary | undefined, jobResult: JobResult): void {
    this.flush(false);
    this.end = { summary, result: jobResult };
    this.sendEnd();
  }

  private sendEnd(): void {
    if (!this.end || !this.sink) return;
    if (this.end.summary) this.send([], this.end.summary);
    this.sink({ payload: { $case: 'jobResult', value: this.end.result } });
  }
}

/** The scan jobs of one agent process. */
export class ScanJobs {
  private readonly runs = new Map<string, ScanRun>();
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  /**
   * Starts a scan job, or re-attaches a known one to the new stream (a redelivery). Returns when the scan ends
   * (at once for a re-attached job).
   */
  async handle(jobId: string, job: ScanNetwork, sink: ScanSink): Promise<void> {
    const known = this.runs.get(jobId);
    if (known) {
      if (!known.cancelled) known.attach(sink);
      return;
    }
    const run = new ScanRun(jobId);
    this.runs.set(jobId, run);
    this.evict();
    run.attach(sink);
    await run.run(job, () => this.slot());
  }

  /** Stops a running scan (CancelJob); unknown or finished jobs are ignored. */
  cancel(jobId: string): boolean {
    const run = this.runs.get(jobId);
    if (!run || run.isFinished) return false;
    run.cancel();
    return true;
  }

  /** The stream ended: its sink receives nothing more (the next stream re-attaches on redelivery). */
  detach(sink: ScanSink): void {
    for (const run of this.runs.values()) run.detach(sink);
  }

  /** Cancels every scan (the agent is stopping) and waits for them to end. */
  async stop(): Promise<void> {
    for (const run of this.runs.values()) run.cancel();
    await Promise.all([...this.runs.values()].map((r) => r.finished));
  }

  private slot(): Promise<() => void> {
    const release = (): void => {
      this.running--;
      this.waiting.shift()?.();
    };
    if (this.running < MAX_CONCURRENT_SCANS) {
      this.running++;
      return Promise.resolve(release);
    }
    return new Promise((resolve) =>
      this.waiting.push(() => {
        this.running++;
        resolve(release);
      })
    );
  }

  private evict(): void {
    const finished = [...this.runs.values()].filter((r) => r.isFinished);
    for (const r of finished.slice(0, Math.max(0, finished.length - MAX_FINISHED))) this.runs.delete(r.jobId);
  }
}
