/**
 * The monitoring process of the monitor-sweep benchmark (forked by bench/monitor-sweep.ts): opens the controller
 * database like `certfleet monitor run-now` would and runs `runMonitor` on request, so that its RSS and CPU are
 * those of the process doing the sweep (the benchmark's own set-up — 1,000 imports, truth, verification — stays in
 * the parent). IPC:
 *   parent → { type: 'init', url, options }      child → { type: 'ready' }
 *   parent → { type: 'run' }                      child → { type: 'ran', runId, wallS, peakRssMb, cpuS, endMemMb, counters }
 *   parent → { type: 'close' }                    child exits (also when the parent disconnects)
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import pino from 'pino';
import { systemClock } from '@certfleet/shared';
import { masterKeyFromBytes } from '../controller/src/secrets/master-key';
import type { ServiceContext } from '../controller/src/services/context';
import { type MonitorOptions, runMonitor } from '../controller/src/services/monitoring/monitor-service';
import { stopSweepWorkers } from '../controller/src/services/monitoring/sweep-workers';
import { type Database, openDatabase } from '../controller/src/storage/database';

let ctx: ServiceContext | undefined;
let db: Database | undefined;
let options: MonitorOptions = {};

const mb = (bytes: number): string => (bytes / 1048576).toFixed(0);

/** RssAnon / RssFile / threads from /proc (Linux), for SWEEP_MEM_TRACE. */
function procStatus(): string {
  try {
    const text = fs.readFileSync('/proc/self/status', 'utf8');
    return ['RssAnon', 'RssFile', 'Threads']
      .map((k) => `${k} ${new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? '?'}`)
      .join(' ');
  } catch {
    return '';
  }
}

async function sweep(): Promise<Record<string, unknown>> {
  if (!ctx) throw new Error('not initialised');
  // diagnostics: SWEEP_HEAP_SNAPSHOT=DIR writes the main thread's heap before each run
  if (process.env.SWEEP_HEAP_SNAPSHOT)
    v8.writeHeapSnapshot(path.join(process.env.SWEEP_HEAP_SNAPSHOT, `sweep-${process.pid}-${Date.now()}.heapsnapshot`));
  const startRss = process.memoryUsage.rss();
  let peak = startRss;
  let peakHeap = process.memoryUsage().heapUsed;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  const heapTimer = setInterval(() => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    // diagnostics: SWEEP_MEM_TRACE=1 prints the main thread's memory every 50 ms
    if (process.env.SWEEP_MEM_TRACE === '1')
      process.stderr.write(
        `[mem] rss ${mb(m.rss)} heapTotal ${mb(m.heapTotal)} heapUsed ${mb(m.heapUsed)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)} ${procStatus()}\n`
      );
  }, 50);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    const run = await runMonitor(ctx, { trigger: 'manual' }, options);
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    peak = Math.max(peak, process.memoryUsage.rss());
    // diagnostics: SWEEP_SMAPS_DIR=DIR keeps /proc/self/smaps after each run
    if (process.env.SWEEP_SMAPS_DIR)
      fs.writeFileSync(
        path.join(process.env.SWEEP_SMAPS_DIR, `smaps-${process.pid}-${Date.now()}`),
        fs.readFileSync('/proc/self/smaps') // (copyFileSync reads /proc files as empty)
      );
    return {
      type: 'ran',
      runId: run.id,
      wallS,
      peakRssMb: +(peak / 1048576).toFixed(1),
      startRssMb: +(startRss / 1048576).toFixed(1),
      mainPeakHeapMb: +(peakHeap / 1048576).toFixed(1),
      cpuS: +((cpu.user + cpu.system) / 1e6).toFixed(2),
      endMemMb: Object.fromEntries(
        Object.entries(process.memoryUsage()).map(([k, v]) => [k, +(v / 1048576).toFixed(1)])
      ),
      counters: { endpoints: run.endpoints, ok: run.ok, warning: run.warning, failing: run.failing },
    };
  } finally {
    clearInterval(timer);
    clearInterval(heapTimer);
  }
}

async function close(): Promise<void> {
  await stopSweepWorkers();
  await db?.close();
  process.exit(0);
}

process.on('message', (msg: { type: string; url?: string; options?: MonitorOptions }) => {
  void (async () => {
    try {
      if (msg.type === 'init') {
        options = msg.options ?? {};
        db = await openDatabase(msg.url as string, { migrate: false });
        ctx = {
          db,
          masterKey: masterKeyFromBytes(crypto.randomBytes(32)),
          clock: systemClock,
          log: pino({ level: 'silent' }),
        };
        if (process.env.SWEEP_MEM_TRACE === '1')
          process.stderr.write(`[mem] ready rss ${mb(process.memoryUsage.rss())}\n`);
        process.send?.({ type: 'ready' });
      } else if (msg.type === 'run') process.send?.(await sweep());
      else if (msg.type === 'close') await close();
    } catch (err) {
      process.send?.({ type: 'error', message: (err as Error).stack ?? String(err) });
    }
  })();
});
process.on('disconnect', () => void close());
