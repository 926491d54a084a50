/**
 * Discovery scan (SPEC S1, S2): the sweep (sweep.ts: connect check, then the shared probe engine on open ports)
 * with every endpoint found judged at once (analyse.ts: the shared check chain in Monitored-Only mode against the
 * default trust set — validity, trust, expiry, self-signed, weak keys and signatures).
 *
 * Bounds are the sweep's: at most `concurrency` pairs in flight, each connect within `connectTimeoutMs`, each probe
 * within `handshakeTimeoutMs`, the whole scan within `maxDurationMs` (then it returns what it found,
 * `stats.stopped = 'deadline'`), and `signal` stops it the same way (`stopped = 'aborted'`).
 */
import { type TrustSet, systemTrustSet } from '../trust';
import { type ScanFinding, analyseHit } from './analyse';
import { type SweepOptions, type SweepStats, sweep } from './sweep';
import type { PortSpec, Target } from './targets';

export interface ScanOptions extends SweepOptions {
  /** The analysis's clock. @default () => new Date() */
  now?: () => Date;
  /** Trust anchors for the analysis. @default systemTrustSet() */
  trustSet?: TrustSet;
  /** @default 30 */
  expiryThresholdDays?: number;
  /** Called with every finding as soon as it is analysed (before the scan ends); must not throw. */
  onFinding?: (finding: ScanFinding) => void;
  /** Keep the findings for the result; `false` returns none (long scans that stream them through `onFinding`). @default true */
  collect?: boolean;
}

export interface ScanStats extends SweepStats {
  trustSet: { name: string; version: string };
}

export interface ScanResult {
  /** Ordered by target (input order), then port (input order). */
  findings: ScanFinding[];
  stats: ScanStats;
}

/**
 * Scans `targets` × `ports` (SPEC S1) and analyses every certificate found (SPEC S2). Never throws for network
 * failures; throws CF_VALIDATION for out-of-bounds options.
 * @example const { findings } = await scan(expandTargets(['192.0.2.0/28']), DEFAULT_PORTS, { concurrency: 512 });
 */
export async function scan(
  targets: readonly Target[],
  ports: readonly PortSpec[],
  options: ScanOptions = {}
): Promise<ScanResult> {
  const trustSet = options.trustSet ?? systemTrustSet();
  const now = options.now ?? (() => new Date());
  const collect = options.collect !== false;
  const found: Array<{ key: number; finding: ScanFinding }> = [];
  const stats = await sweep(targets, ports, {
    ...options,
    onHit: (hit) => {
      const finding = analyseHit(hit, {
        now: now(),
        trustSet,
        ...(options.expiryThresholdDays === undefined ? {} : { expiryThresholdDays: options.expiryThresholdDays }),
      });
      if (collect) found.push({ key: hit.targetIndex * ports.length + hit.portIndex, finding });
      options.onFinding?.(finding);
    },
  });
  return {
    findings: found.sort((a, b) => a.key - b.key).map((f) => f.finding),
    stats: { ...stats, trustSet: { name: trustSet.name, version: trustSet.version } },
  };
}
