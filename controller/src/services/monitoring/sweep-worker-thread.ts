/**
 * The worker-thread side of monitoring sweeps (sweep-workers.ts starts it): probes and judges jobs with bounded
 * concurrency and replies in small batches. It imports only the probe engine, the check chain, revocation, AIA and
 * trust sets (`@certfleet/shared/src/monitor-engine`) — not the whole shared package — so each thread's heap starts
 * ≈ 6 MB smaller.
 */
import { X509Certificate } from 'node:crypto';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import {
  type CheckOutcome,
  type TrustSet,
  completeChainViaAia,
  evaluateChecks,
  probeEndpoint,
  revocationStatus,
  systemTrustSet,
  trustSetFromCertificates,
} from '@certfleet/shared/src/monitor-engine';
import {
  type FromWorker,
  type SweepJob,
  type SweepReply,
  type ToWorker,
  WORKER_TAG,
  type WorkerInit,
} from './sweep-workers';

/** Worker side: probes and judges jobs with bounded concurrency, replies in small batches. */
export function runWorker(init: WorkerInit): void {
  const port = parentPort;
  if (!port) return;
  const trusts = new Map<string, TrustSet>();
  const queue: Array<{ id: number; job: SweepJob }> = [];
  let active = 0;
  let outbox: Array<{ id: number; reply: SweepReply }> = [];
  let flushTimer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    if (outbox.length === 0) return;
    const msg: FromWorker = { type: 'results', results: outbox };
    outbox = [];
    port.postMessage(msg);
  };
  const one = async (id: number, job: SweepJob): Promise<void> => {
    const observation = await probeEndpoint(job.probe);
    const trustSet = job.trustKey === undefined ? undefined : trusts.get(job.trustKey);
    let outcome: CheckOutcome;
    if (job.trustKey !== undefined && !trustSet)
      outcome = {
        status: 'failing',
        reason: 'TrustSetNotFound',
        message: `trust set ${job.trustKey} not loaded in the sweep worker`,
        checks: [],
        chain: [],
        expiry: { intermediates: [] },
      };
    else {
      const now = new Date(job.check.now);
      const aia =
        job.aia && trustSet && observation.ok
          ? await completeChainViaAia(observation.chain, {
              now,
              trustSet,
              ...(job.aia.timeoutMs ? { timeoutMs: job.aia.timeoutMs } : {}),
            })
          : undefined;
      const revocation =
        job.revocation && observation.ok
          ? await revocationStatus(observation.chain, {
              now,
              issuers: [
                ...(trustSet?.roots ?? []),
                ...(aia?.certificates ?? []).map((der) => new X509Certificate(der)),
              ],
              ...(job.revocation.timeoutMs ? { timeoutMs: job.revocation.timeoutMs } : {}),
            })
          : undefined;
      outcome = evaluateChecks(observation, {
        ...job.check,
        ...(trustSet ? { trustSet } : {}),
        ...(revocation ? { revocation } : {}),
        ...(aia ? { aia } : {}),
      });
    }
    outbox.push({
      id,
      reply: {
        outcome,
        ok: observation.ok,
        serverName: observation.serverName,
        ...(observation.protocol ? { protocol: observation.protocol } : {}),
        ...(observation.cipher ? { cipher: observation.cipher } : {}),
      },
    });
    if (outbox.length >= 32) flush();
    else flushTimer ??= setTimeout(flush, 5);
  };
  const pump = (): void => {
    while (active < init.concurrency && queue.length > 0) {
      const next = queue.shift() as { id: number; job: SweepJob };
      active++;
      void one(next.id, next.job)
        .catch((err: unknown) => {
          outbox.push({
            id: next.id,
            reply: {
              ok: false,
              serverName: null,
              outcome: {
                status: 'failing',
                reason: 'ProbeFailed',
                message: `sweep worker: ${(err as Error).message}`,
                checks: [],
                chain: [],
                expiry: { intermediates: [] },
              },
            },
          });
          flush();
        })
        .finally(() => {
          active--;
          pump();
        });
    }
  };
  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'trust') {
      const t = msg.trust;
      trusts.set(
        t.key,
        t.source === 'system'
          ? systemTrustSet()
          : trustSetFromCertificates(
              t.name,
              t.roots.map((der) => new X509Certificate(der)),
              { version: t.version, source: t.source, origin: t.origin }
            )
      );
    } else {
      queue.push(...msg.jobs);
      pump();
    }
  });
  port.postMessage({ type: 'ready' } satisfies FromWorker);
}

if (!isMainThread && (workerData as Partial<WorkerInit> | null)?.tag === WORKER_TAG)
  runWorker(workerData as WorkerInit);
