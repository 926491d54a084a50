/**
 * Command-line flags of `npm run bench -- <name>`: one table per benchmark instead of one hand-written switch each.
 * A flag is an integer in a range (optionally scaled, e.g. seconds → ms), one of a few words, a string, or a switch.
 */
export type FlagSpec =
  | { key: string; int: [min: number, max: number]; scale?: number }
  | { key: string; oneOf: readonly string[] }
  | { key: string; text: string }
  | { key: string; flag: true };

/** Thrown for bad command lines (answered with the usage text and exit code 2). */
export class UsageError extends Error {}

export function parseFlags(
  argv: readonly string[],
  specs: Readonly<Record<string, FlagSpec>>
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i] as string;
    const spec = specs[name];
    if (!spec) throw new UsageError(`unknown option ${name}`);
    if ('flag' in spec) {
      out[spec.key] = true;
      continue;
    }
    const value = argv[++i];
    if ('int' in spec) {
      const [min, max] = spec.int;
      const n = Number(value);
      if (value === undefined || !Number.isInteger(n) || n < min || n > max) {
        throw new UsageError(`${name} must be an integer in ${min}..${max}`);
      }
      out[spec.key] = n * (spec.scale ?? 1);
    } else if ('oneOf' in spec) {
      if (value === undefined || !spec.oneOf.includes(value))
        throw new UsageError(`${name}: ${spec.oneOf.join(' | ')}`);
      out[spec.key] = value;
    } else {
      if (!value) throw new UsageError(`${name} needs ${spec.text}`);
      out[spec.key] = value;
    }
  }
  return out;
}

const phaseTimeout: FlagSpec = { key: 'phaseTimeoutMs', int: [1, 3600], scale: 1000 };
const out: FlagSpec = { key: 'out', text: 'a file' };
const only: FlagSpec = { key: 'only', oneOf: ['certfleet', 'peers'] };
const runs: FlagSpec = { key: 'runs', int: [1, 15] };

/** The flags of each benchmark (see USAGE in bench/run.ts and bench/README.md). */
export const BENCH_FLAGS = {
  issuance: {
    '--count': { key: 'count', int: [1, 1_000_000] },
    '--concurrency': { key: 'concurrency', int: [1, 64] },
    '--runs': runs,
    '--baseline-count': { key: 'baselineCount', int: [1, 100_000] },
    '--batch-size': { key: 'batchSize', int: [1, 1000] },
    '--workers': { key: 'workers', int: [0, 16] },
    '--phase-timeout': phaseTimeout,
    '--only': only,
    '--out': out,
    '--keep': { key: 'keep', flag: true },
  },
  fleet: {
    '--agents': { key: 'agents', int: [1, 20_000] },
    '--push': { key: 'push', int: [1, 20_000] },
    '--handshake-rate': { key: 'handshakeRate', int: [1, 100_000] },
    '--backoff-base': { key: 'backoffBaseMs', int: [1, 60_000] },
    '--backoff-cap': { key: 'backoffCapMs', int: [1, 600_000] },
    '--phase-timeout': phaseTimeout,
    '--out': out,
  },
  'monitor-sweep': {
    '--count': { key: 'count', int: [1, 5000] },
    '--runs': runs,
    '--workers': { key: 'workers', int: [0, 16] },
    '--worker-concurrency': { key: 'workerConcurrency', int: [1, 1024] },
    '--concurrency': { key: 'concurrency', int: [1, 1024] },
    '--only': only,
    '--bench-dir': { key: 'benchDir', text: 'a directory' },
    '--phase-timeout': phaseTimeout,
    '--out': out,
    '--keep': { key: 'keep', flag: true },
  },
  'console-lists': {
    '--count': { key: 'count', int: [1, 1_000_000] },
    '--small': { key: 'small', int: [1, 1_000_000] },
    '--iterations': { key: 'iterations', int: [1, 1000] },
    '--warmup': { key: 'warmup', int: [0, 100] },
    '--out': out,
  },
  discovery: {
    '--part': { key: 'part', oneOf: ['grid', 'netns', 'both'] },
    '--runs': runs,
    '--concurrency': { key: 'concurrency', int: [1, 8192] },
    '--connect-timeout': { key: 'connectTimeoutMs', int: [1, 60_000] },
    '--only': only,
    '--phase-timeout': phaseTimeout,
    '--out': out,
  },
} satisfies Record<string, Record<string, FlagSpec>>;
