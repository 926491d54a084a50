/**
 * Child process for bit-flips.test.ts: opens a share of the corrupted variants of one sealed bundle and reports
 * how each was refused. Runs as `node --import=tsx _bit-flip-worker.ts` (forked), so the variants can be spread
 * over all cores; the parent sends one {@link WorkerTask} and receives one {@link WorkerResult}.
 */
import { isCertFleetError, openBundle, type OpenBundleOptions } from '@certfleet/shared';

/** `flip`: bit `index % 8` of byte `floor(index / 8)`; `truncate`: the first `index` bytes. */
export type VariantKind = 'flip' | 'truncate';

export interface WorkerTask {
  bundle: string; // base64
  opts: Omit<OpenBundleOptions, 'now'> & { now: string };
  kind: VariantKind;
  /** Variant indexes to try. */
  indexes: number[];
}

export interface WorkerResult {
  tested: number;
  /** Count per CF_* code of the CertFleetErrors thrown. */
  codes: Record<string, number>;
  /** Variants that opened, or failed with something other than a CF_BUNDLE_* CertFleetError (first 20). */
  bad: { index: number; outcome: string }[];
  badCount: number;
  ms: number;
}

export function variant(bundle: Buffer, kind: VariantKind, index: number): Buffer {
  if (kind === 'truncate') return bundle.subarray(0, index);
  const copy = Buffer.from(bundle);
  const byte = index >> 3;
  copy[byte] = (copy[byte] ?? 0) ^ (1 << (index & 7));
  return copy;
}

export async function runTask(task: WorkerTask): Promise<WorkerResult> {
  const started = Date.now();
  const bundle = Buffer.from(task.bundle, 'base64');
  const opts = { ...task.opts, now: new Date(task.opts.now) } as OpenBundleOptions;
  const result: WorkerResult = { tested: 0, codes: {}, bad: [], badCount: 0, ms: 0 };
  for (const index of task.indexes) {
    let outcome: string;
    try {
      await openBundle(variant(bundle, task.kind, index), opts);
      outcome = 'OPENED';
    } catch (err) {
      outcome = isCertFleetError(err) ? err.code : `non-CertFleetError: ${String(err)}`;
    }
    result.tested++;
    if (outcome.startsWith('CF_BUNDLE_')) {
      result.codes[outcome] = (result.codes[outcome] ?? 0) + 1;
    } else {
      result.badCount++;
      if (result.bad.length < 20) result.bad.push({ index, outcome });
    }
  }
  result.ms = Date.now() - started;
  return result;
}

if (require.main === module && process.send) {
  process.once('message', (task: WorkerTask) => {
    runTask(task).then(
      (result) => process.send?.(result, undefined, {}, () => process.exit(0)),
      (err: unknown) => {
        process.send?.({ error: String(err) }, undefined, {}, () => process.exit(1));
      }
    );
  });
}
