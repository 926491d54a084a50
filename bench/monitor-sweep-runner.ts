/**
 * The monitoring process of the monitor-sweep benchmark (forked by bench/monitor-sweep.ts): opens the controller
 * database like `certfleet monitor run-now` would and runs `runMonitor` on request, so that its RSS and CPU are
 * those of the process doing the sweep (the benchmark's own set-up — 1,000 imports, truth, verification — stays in
 * the parent). IPC:
 *   parent → { type: 'init', url, options }      child → { type: 'ready' }
 *   parent → { type: 'run' }                      child → { type: 'ran', runId, wallS, peakRssMb, cpuS, counters }
 *   parent → { type: 'close' }                    child exits (also when the parent disconnects)
 */
import crypto from 'node:crypto';
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

async function sweep(): Promise<Record<string, unknown>> {
  if (!ctx) throw new Error('not initialised');
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    const run = await runMonitor(ctx, { trigger: 'manual' }, options);
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    peak = Math.max(peak, process.memoryUsage.rss());
    return {
      type: 'ran',
      runId: run.id,
      wallS,
      peakRssMb: +(peak / 1048576).toFixed(1),
      cpuS: +((cpu.user + cpu.system) / 1e6).toFixed(2),
      counters: { endpoints: run.endpoints, ok: run.ok, warning: run.warning, failing: run.failing },
    };
  } finally {
    clearInterval(timer);
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
        process.send?.({ type: 'ready' });
      } else if (msg.type === 'run') process.send?.(await sweep());
      else if (msg.type === 'close') await close();
    } catch (err) {
      process.send?.({ type: 'error', message: (err as Error).stack ?? String(err) });
    }
  })();
});
process.on('disconnect', () => void close());
