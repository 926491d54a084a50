/**
 * Monitoring sweeps on worker threads (issue 5, Performance): one Node thread saturates near 500 TLS handshakes
 * per second, so large controller-side runs spread probe + check work over worker threads, one per core by default.
 * Each worker runs the shared probe engine and the shared check chain (the same `probeEndpoint` and
 * `evaluateChecks` as the main thread) and returns plain verdicts; the main thread keeps every database write.
 *
 * - Trust sets cross as DER roots once per set (keyed by name + version) and are rebuilt per worker and cached.
 * - Work is handed out in small batches and topped up as results return, so a slow worker gets less.
 * - The pool is kept between runs and shut down after {@link POOL_IDLE_MS} without work; idle threads are unref'd
 *   and never keep the process alive. A worker that dies fails only its own outstanding jobs (as `ProbeFailed`).
 */
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { CheckContext, CheckOutcome, ProbeOptions, TrustSet } from '@certfleet/shared';

/** Controller targets from which a run uses worker threads (below it the main thread is fast enough). */
export const DEFAULT_SWEEP_WORKER_THRESHOLD = 200;
/** Probes in flight per worker. */
export const DEFAULT_SWEEP_WORKER_CONCURRENCY = 48;
/** Idle time after which the pool's threads are stopped. */
export const POOL_IDLE_MS = 60_000;

export const WORKER_TAG = 'certfleet-sweep-worker';

/** A trust set in transferable form. */
export interface SweepTrust {
  key: string;
  name: string;
  version: string;
  source: TrustSet['source'];
  origin: string;
  /** DER of each root; empty for the system set (each worker loads it itself). */
  roots: Uint8Array[];
}

/** One endpoint to probe and judge. */
export interface SweepJob {
  probe: Omit<ProbeOptions, 'socket'>;
  /** The check context without its trust set; `trustKey` names the set (see {@link SweepTrust}). */
  check: Omit<CheckContext, 'trustSet'>;
  trustKey?: string;
  /**
   * Ask the leaf's OCSP responder, falling back to its CRL (http only), before judging; the worker keeps its own
   * OCSP and CRL caches.
   */
  revocation?: { timeoutMs?: number };
  /** Fetch missing intermediates from AIA caIssuers URLs (needs `trustKey`); the worker keeps its own cache. */
  aia?: { timeoutMs?: number };
}

/** What came back for one job. */
export interface SweepReply {
  outcome: CheckOutcome;
  ok: boolean;
  serverName: string | null;
  protocol?: string;
  cipher?: string;
}

/** The transferable form of a trust set (system sets travel by name only). */
export function sweepTrustOf(set: TrustSet): SweepTrust {
  return {
    key: `${set.source}\u0000${set.name}\u0000${set.version}\u0000${set.origin}`,
    name: set.name,
    version: set.version,
    source: set.source,
    origin: set.origin,
    roots: set.source === 'system' ? [] : set.roots.map((r) => new Uint8Array(r.raw)),
  };
}

export type ToWorker =
  { type: 'trust'; trust: SweepTrust } | { type: 'jobs'; jobs: Array<{ id: number; job: SweepJob }> };
export type FromWorker = { type: 'ready' } | { type: 'results'; results: Array<{ id: number; reply: SweepReply }> };

export interface WorkerInit {
  tag: typeof WORKER_TAG;
  entry: string;
  tsx: string | null;
  concurrency: number;
}

/** The worker bootstrap: registers tsx when we run from TypeScript sources, then loads this module. */
const WORKER_BOOT = `
const { workerData } = require('node:worker_threads');
if (workerData.tsx) require(workerData.tsx).register();
require(workerData.entry);
`;

interface PoolWorker {
  worker: Worker;
  outstanding: Set<number>;
  trusts: Set<string>;
  dead: boolean;
}

interface Pool {
  size: number;
  concurrency: number;
  workers: PoolWorker[];
  idle?: NodeJS.Timeout;
  onResults: Map<Worker, (results: Array<{ id: number; reply: SweepReply }>) => void>;
  onDeath: Map<Worker, (err: Error) => void>;
}

let shared: Promise<Pool> | undefined;

async function startPool(size: number, concurrency: number): Promise<Pool> {
  const init: WorkerInit = {
    tag: WORKER_TAG,
    // the worker side lives in its own module, which loads only the probe engine and the check chain
    entry: path.join(__dirname, `sweep-worker-thread${path.extname(__filename)}`),
    tsx: __filename.endsWith('.ts') ? require.resolve('tsx/cjs/api') : null,
    concurrency,
  };
  const pool: Pool = { size, concurrency, workers: [], onResults: new Map(), onDeath: new Map() };
  try {
    await Promise.all(
      Array.from({ length: size }, async () => {
        // Small heaps: a sweep's garbage is short-lived, and V8's defaults (young generation up to 3 × 16 MB, old
        // generation collected lazily) let every thread grow by tens of MB. A job holds a few kB; 96 MB is far above
        // what a worker needs (a worker that exceeds it dies and fails only its own outstanding jobs).
        const worker = new Worker(WORKER_BOOT, {
          eval: true,
          workerData: init,
          resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 96 },
        });
        const pw: PoolWorker = { worker, outstanding: new Set(), trusts: new Set(), dead: false };
        pool.workers.push(pw);
        await new Promise<void>((resolve, reject) => {
          const onExit = (code: number): void =>
            reject(new Error(`sweep worker exited with code ${code} while starting`));
          const onReady = (): void => {
            worker.off('error', reject);
            worker.off('exit', onExit);
            resolve();
          };
          worker.once('error', reject);
          worker.once('exit', onExit);
          worker.once('message', onReady);
        });
        worker.on('message', (msg: FromWorker) => {
          if (msg.type === 'results') pool.onResults.get(worker)?.(msg.results);
        });
        const die = (err: Error): void => {
          pw.dead = true;
          pool.onDeath.get(worker)?.(err);
          if (shared) void shared.then((p) => (p === pool ? (shared = undefined) : undefined));
        };
        worker.on('error', die);
        worker.on('exit', (code) => die(new Error(`sweep worker exited with code ${code}`)));
        worker.unref();
      })
    );
  } catch (err) {
    await Promise.all(pool.workers.map((w) => w.worker.terminate()));
    throw err;
  }
  return pool;
}

/** Stops the shared pool now (tests, shutdown). */
export async function stopSweepWorkers(): Promise<void> {
  const p = shared;
  shared = undefined;
  if (!p) return;
  const pool = await p.catch(() => undefined);
  if (!pool) return;
  clearTimeout(pool.idle);
  await Promise.all(pool.workers.map((w) => w.worker.terminate()));
}

async function getPool(size: number, concurrency: number): Promise<Pool> {
  if (shared) {
    const pool = await shared.catch(() => undefined);
    if (pool && pool.size === size && pool.concurrency === concurrency && pool.workers.every((w) => !w.dead))
      return pool;
    await stopSweepWorkers();
  }
  shared = startPool(size, concurrency);
  shared.catch(() => (shared = undefined));
  return shared;
}

/** Worker threads for a sweep: one per core (at least 1). */
export function defaultSweepWorkers(cores = os.availableParallelism()): number {
  return Math.max(1, cores);
}

/**
 * Probes and judges `jobs` on worker threads; replies in job order. Never throws for a job: a worker that dies
 * answers its outstanding jobs with `ProbeFailed`. Throws only when no worker can be started.
 */
export async function sweepOnWorkers(
  jobs: readonly SweepJob[],
  trusts: readonly SweepTrust[],
  opts: { workers?: number; concurrency?: number; onSettled?: (index: number, reply: SweepReply) => void } = {}
): Promise<SweepReply[]> {
  const out = new Array<SweepReply>(jobs.length);
  if (jobs.length === 0) return out;
  const size = Math.max(1, Math.min(opts.workers ?? defaultSweepWorkers(), 16));
  const concurrency = Math.max(1, Math.min(opts.concurrency ?? DEFAULT_SWEEP_WORKER_CONCURRENCY, 1024));
  const pool = await getPool(size, concurrency);
  clearTimeout(pool.idle);
  // Busy threads keep the process alive; idle ones do not.
  for (const w of pool.workers) w.worker.ref();
  const batch = Math.max(1, Math.ceil(concurrency / 4));
  const highWater = concurrency * 2;
  let next = 0;
  let left = jobs.length;
  return new Promise<SweepReply[]>((resolve) => {
    const finish = (): void => {
      for (const w of pool.workers) {
        pool.onResults.delete(w.worker);
        pool.onDeath.delete(w.worker);
        w.worker.unref();
      }
      pool.idle = setTimeout(() => void stopSweepWorkers(), POOL_IDLE_MS);
      pool.idle.unref();
      resolve(out);
    };
    const feed = (pw: PoolWorker): void => {
      if (pw.dead) return;
      while (next < jobs.length && pw.outstanding.size < highWater) {
        const chunk: Array<{ id: number; job: SweepJob }> = [];
        while (next < jobs.length && chunk.length < batch && pw.outstanding.size < highWater) {
          const job = jobs[next] as SweepJob;
          if (job.trustKey !== undefined && !pw.trusts.has(job.trustKey)) {
            const trust = trusts.find((t) => t.key === job.trustKey);
            if (trust) pw.worker.postMessage({ type: 'trust', trust } satisfies ToWorker);
            pw.trusts.add(job.trustKey);
          }
          pw.outstanding.add(next);
          chunk.push({ id: next, job });
          next++;
        }
        pw.worker.postMessage({ type: 'jobs', jobs: chunk } satisfies ToWorker);
      }
    };
    const settle = (id: number, reply: SweepReply): void => {
      if (out[id] !== undefined) return;
      out[id] = reply;
      left--;
      opts.onSettled?.(id, reply);
    };
    for (const pw of pool.workers) {
      pool.onResults.set(pw.worker, (results) => {
        for (const r of results) {
          pw.outstanding.delete(r.id);
          settle(r.id, r.reply);
        }
        if (left === 0) finish();
        else feed(pw);
      });
      pool.onDeath.set(pw.worker, (err) => {
        for (const id of pw.outstanding) {
          settle(id, {
            ok: false,
            serverName: null,
            outcome: {
              status: 'failing',
              reason: 'ProbeFailed',
              message: `sweep worker failed: ${err.message}`,
              checks: [],
              chain: [],
              expiry: { intermediates: [] },
            },
          });
        }
        pw.outstanding.clear();
        const alive = pool.workers.filter((w) => !w.dead);
        if (left === 0) finish();
        else if (alive.length === 0) {
          for (let i = next; i < jobs.length; i++)
            settle(i, {
              ok: false,
              serverName: null,
              outcome: {
                status: 'failing',
                reason: 'ProbeFailed',
                message: `sweep worker failed: ${err.message}`,
                checks: [],
                chain: [],
                expiry: { intermediates: [] },
              },
            });
          next = jobs.length;
          finish();
        } else for (const w of alive) feed(w);
      });
    }
    for (const pw of pool.workers) feed(pw);
  });
}
