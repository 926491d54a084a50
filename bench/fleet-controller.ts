/**
 * The controller of the fleet benchmark (bench/fleet.ts) in its own process, so that its RSS, CPU and event-loop
 * delay are the controller's alone — as in production, where a restart is a new process — and not mixed with the
 * benchmark driver or with the garbage of the controller that ran before it.
 *
 * Spoken to over the IPC channel with small request/response messages ({ id, op, … } → { id, ok, result | error }):
 *   start { env, handshakeRate? }  → { agentPort }        starts the controller (startController) on that config
 *   enroll { csrs, bundleRecipient } → { identities, caPem }  join token + enrollAgent per CSR (the Enroll RPC's path)
 *   stats                          → sessions, admission, rss, peak rss since the last `reset`, cpu
 *   reset                          → starts a measurement window (peak RSS, event-loop delay histogram)
 *   lag                            → event-loop delay of the window (ms late, p50/p99/max)
 *   announce { agentIds }          → hub.jobsAvailable for each (as the deployment service does after its commit)
 *   connected { agentIds }         → how many of them hold a stream
 *   stop                           → stops the controller; the process exits afterwards
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import pino from 'pino';
import { loadConfig } from '../controller/src/config/config';
import { startController, type RunningController } from '../controller/src/controller';
import { loadOrCreateAgentPki } from '../controller/src/services/agents/agent-pki';
import { enrollAgent } from '../controller/src/services/agents/enrollment';
import { createJoinToken } from '../controller/src/services/agents/join-tokens';

export const LAG_RESOLUTION_MS = 10;

export type ControllerRequest =
  | { id: number; op: 'start'; env: Record<string, string>; handshakeRate?: number }
  | { id: number; op: 'enroll'; csrs: string[]; bundleRecipient: string }
  | { id: number; op: 'stats' }
  | { id: number; op: 'reset' }
  | { id: number; op: 'lag' }
  | { id: number; op: 'announce'; agentIds: string[] }
  | { id: number; op: 'connected'; agentIds: string[] }
  | { id: number; op: 'gc' }
  | { id: number; op: 'stop' };

export type ControllerReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export interface ControllerStats {
  sessions: number;
  admission: { admitted: number; queuedPeak: number; dropped: number };
  rssBytes: number;
  rssPeakBytes: number;
  heapUsedBytes: number;
  cpuUs: number;
}

export interface Lag {
  p50: number;
  p99: number;
  max: number;
}

let controller: RunningController | null = null;
let rssPeak = 0;
let lag: IntervalHistogram | null = null;
const sampler = setInterval(() => {
  rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
}, 50);

function running(): RunningController {
  if (!controller) throw new Error('fleet-controller: not started');
  return controller;
}

/** Runs `fn` on every item, `concurrency` at a time. */
async function pool<T>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i] as T, i);
      }
    })
  );
}

/** Milliseconds timers fired late: the histogram records intervals, an idle loop reads ≈ the resolution. */
function lateMs(h: IntervalHistogram): Lag {
  const late = (ns: number) => +Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS).toFixed(2);
  return { p50: late(h.percentile(50)), p99: late(h.percentile(99)), max: late(h.max) };
}

async function handle(msg: ControllerRequest): Promise<unknown> {
  switch (msg.op) {
    case 'start': {
      const config = loadConfig(msg.env);
      controller = await startController(config, {
        log: pino({ level: 'silent' }),
        ...(msg.handshakeRate ? { agentServer: { handshakeRatePerSecond: msg.handshakeRate } } : {}),
      });
      return { agentPort: controller.agentServer.port };
    }
    case 'enroll': {
      const c = running();
      const pki = await loadOrCreateAgentPki(c.ctx);
      const identities = new Array<{ agentId: string; certPem: string }>(msg.csrs.length);
      await pool(msg.csrs, 4, async (csrPem, i) => {
        const token = await createJoinToken(c.ctx, { label: `fleet-${i}`, ttlMinutes: 60 }, 'bench');
        const r = await enrollAgent(c.ctx, pki, {
          joinToken: token.token,
          csrPem,
          hostname: `fleet-${i}.bench.test`,
          agentVersion: '0.0.0-bench',
          bundlePublicKey: msg.bundleRecipient,
        });
        identities[i] = { agentId: r.agentId, certPem: r.certificatePem };
      });
      return { identities, caPem: pki.caCertificatePem };
    }
    case 'stats': {
      const c = running();
      const cpu = process.cpuUsage();
      const stats: ControllerStats = {
        sessions: c.agentServer.connectedCount(),
        admission: { ...c.agentServer.admission },
        rssBytes: process.memoryUsage.rss(),
        rssPeakBytes: Math.max(rssPeak, process.memoryUsage.rss()),
        heapUsedBytes: process.memoryUsage().heapUsed,
        cpuUs: cpu.user + cpu.system,
      };
      return stats;
    }
    case 'reset':
      rssPeak = process.memoryUsage.rss();
      lag?.disable();
      lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
      lag.enable();
      return null;
    case 'lag':
      if (!lag) throw new Error('fleet-controller: no measurement window (reset first)');
      return lateMs(lag);
    case 'gc': {
      // Diagnostics (run with --expose-gc): the live heap after a full collection, to tell garbage from state.
      const gc = (globalThis as { gc?: () => void }).gc;
      if (!gc) return null;
      gc();
      return { heapUsedBytes: process.memoryUsage().heapUsed, rssBytes: process.memoryUsage.rss() };
    }
    case 'announce':
      for (const id of msg.agentIds) running().agentServer.hub.jobsAvailable(id);
      return null;
    case 'connected':
      return msg.agentIds.filter((id) => running().agentServer.hub.isConnected(id)).length;
    case 'stop':
      await controller?.stop();
      controller = null;
      clearInterval(sampler);
      setTimeout(() => process.exit(0), 50).unref();
      return null;
  }
}

process.on('message', (msg: ControllerRequest) => {
  handle(msg).then(
    (result) => process.send?.({ id: msg.id, ok: true, result } satisfies ControllerReply),
    (err: unknown) => process.send?.({ id: msg.id, ok: false, error: (err as Error).message } satisfies ControllerReply)
  );
});

// The parent gone means the benchmark is over (or crashed): never linger.
process.on('disconnect', () => {
  void (controller?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
});
