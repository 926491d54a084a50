/**
 * `npm run bench -- <name> [options]`: CertFleet's benchmarks (not tests: they report figures, they assert none).
 *
 *   npm run bench -- issuance [--count N] [--concurrency C] [--runs R] [--baseline-count M]
 *                             [--only certfleet|peers] [--phase-timeout S] [--out FILE] [--keep]
 *   npm run bench -- fleet [--agents N] [--push M] [--handshake-rate R] [--backoff-base MS] [--backoff-cap MS]
 *                          [--phase-timeout S] [--out FILE]
 *   npm run bench -- monitor-sweep [--count N] [--runs R] [--workers W] [--worker-concurrency C] [--only …] [--keep]
 *   npm run bench -- discovery [--runs R] [--part grid|netns] [--concurrency C] [--connect-timeout MS] [--only …]
 *
 * See bench/README.md.
 */
import { runDiscoveryBench, type DiscoveryBenchOptions } from './discovery';
import { runFleetBench, type FleetBenchOptions } from './fleet';
import { runIssuanceBench, type IssuanceBenchOptions } from './issuance';
import { runMonitorSweepBench, type MonitorSweepOptions } from './monitor-sweep';

const USAGE = `usage: npm run bench -- issuance [options]
  --count N            certificates per run for CertFleet and cfssl serve (default 5000)
  --concurrency C      requests / batches / processes in flight (default 4)
  --runs R             runs per tool; the median is reported (default 3)
  --baseline-count M   certificates per run for the per-process loops (default min(N, 300))
  --batch-size B       CertFleet certificates per transaction (default 200)
  --workers W          CertFleet worker threads (default: issueBatch's own choice)
  --only WHAT          certfleet | peers (default: both)
  --phase-timeout S    seconds allowed per run of one tool (default 300)
  --out FILE           results JSON (default bench/results/issuance-<date>.json)
  --keep               keep the work directory (certificates, logs)

usage: npm run bench -- fleet [options]
  --agents N           simulated agents, one mutual-TLS stream each (default 2000)
  --push M             agents that get a pushed job in phase 2 (default 1000, at most N)
  --handshake-rate R   controller admission rate, connections/s (default: the controller's, 200)
  --backoff-base MS    agent reconnect backoff base (default 1000)
  --backoff-cap MS     agent reconnect backoff cap (default 60000)
  --phase-timeout S    seconds allowed per phase (default 180)
  --out FILE           results JSON (default bench/results/fleet-<date>.json)

usage: npm run bench -- monitor-sweep [options]
  --count N            farm endpoints (default 1000)
  --runs R             measured runs per tool, medians reported (default 3)
  --workers W          CertFleet sweep worker threads (default: one per core; 0 = main thread)
  --worker-concurrency C   probes in flight per worker thread (default 48)
  --concurrency C      main-thread probes in flight when --workers 0 (default 64)
  --only WHAT          certfleet | peers (default: both)
  --bench-dir DIR      farm.sh's BENCH_DIR, certificates cached there (default /tmp/certfleet-bench)
  --phase-timeout S    seconds allowed per run of one tool (default 300)
  --out FILE           results JSON (default bench/results/monitor-sweep-<date>.json)
  --keep               keep the work directory

usage: npm run bench -- discovery [options]
  --part WHAT          grid | netns | both (default both)
  --runs R             measured runs per tool (default 3)
  --concurrency C      CertFleet pairs in flight (default: grid 256, netns 4096)
  --connect-timeout MS CertFleet connect timeout (default: grid 1500, netns 300)
  --only WHAT          certfleet | peers (default: both)
  --phase-timeout S    seconds allowed per run of one tool (default 300)
  --out FILE           results JSON (default bench/results/discovery-<date>.json)`;

function parseMonitorSweepArgs(rest: string[]): MonitorSweepOptions {
  const options: MonitorSweepOptions = {};
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = rest[i + 1];
    switch (flag) {
      case '--count':
        options.count = int(flag, value, 1, 5000);
        break;
      case '--runs':
        options.runs = int(flag, value, 1, 15);
        break;
      case '--workers':
        options.workers = int(flag, value, 0, 16);
        break;
      case '--worker-concurrency':
        options.workerConcurrency = int(flag, value, 1, 1024);
        break;
      case '--concurrency':
        options.concurrency = int(flag, value, 1, 1024);
        break;
      case '--only':
        if (value !== 'certfleet' && value !== 'peers') throw new Error('--only must be certfleet or peers');
        options.only = value;
        break;
      case '--bench-dir':
        if (!value) throw new Error('--bench-dir needs a directory');
        options.benchDir = value;
        break;
      case '--phase-timeout':
        options.phaseTimeoutMs = int(flag, value, 1, 3600) * 1000;
        break;
      case '--out':
        if (!value) throw new Error('--out needs a file');
        options.out = value;
        break;
      case '--keep':
        options.keep = true;
        i--;
        break;
      default:
        throw new Error(`unknown option ${flag}`);
    }
    i++;
  }
  return options;
}

function parseDiscoveryArgs(rest: string[]): DiscoveryBenchOptions {
  const options: DiscoveryBenchOptions = {};
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = rest[i + 1];
    switch (flag) {
      case '--part':
        if (value !== 'grid' && value !== 'netns' && value !== 'both') throw new Error('--part: grid | netns | both');
        options.part = value;
        break;
      case '--runs':
        options.runs = int(flag, value, 1, 15);
        break;
      case '--concurrency':
        options.concurrency = int(flag, value, 1, 8192);
        break;
      case '--connect-timeout':
        options.connectTimeoutMs = int(flag, value, 1, 60_000);
        break;
      case '--only':
        if (value !== 'certfleet' && value !== 'peers') throw new Error('--only must be certfleet or peers');
        options.only = value;
        break;
      case '--phase-timeout':
        options.phaseTimeoutMs = int(flag, value, 1, 3600) * 1000;
        break;
      case '--out':
        if (!value) throw new Error('--out needs a file');
        options.out = value;
        break;
      default:
        throw new Error(`unknown option ${flag}`);
    }
    i++;
  }
  return options;
}

const int = (flag: string, value: string | undefined, min: number, max: number): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag} must be an integer in ${min}..${max}`);
  return n;
};

function parseFleetArgs(rest: string[]): FleetBenchOptions {
  const options: FleetBenchOptions = {};
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = rest[i + 1];
    switch (flag) {
      case '--agents':
        options.agents = int(flag, value, 1, 20_000);
        break;
      case '--push':
        options.push = int(flag, value, 1, 20_000);
        break;
      case '--handshake-rate':
        options.handshakeRate = int(flag, value, 1, 100_000);
        break;
      case '--backoff-base':
        options.backoffBaseMs = int(flag, value, 1, 60_000);
        break;
      case '--backoff-cap':
        options.backoffCapMs = int(flag, value, 1, 600_000);
        break;
      case '--phase-timeout':
        options.phaseTimeoutMs = int(flag, value, 1, 3600) * 1000;
        break;
      case '--out':
        if (!value) throw new Error('--out needs a file');
        options.out = value;
        break;
      default:
        throw new Error(`unknown option ${flag}`);
    }
    i++;
  }
  return options;
}

function parseArgs(argv: string[]): { name: string | undefined; options: IssuanceBenchOptions } {
  const [name, ...rest] = argv;
  const options: IssuanceBenchOptions = {};
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = rest[i + 1];
    switch (flag) {
      case '--count':
        options.count = int(flag, value, 1, 1_000_000);
        i++;
        break;
      case '--concurrency':
        options.concurrency = int(flag, value, 1, 64);
        i++;
        break;
      case '--runs':
        options.runs = int(flag, value, 1, 15);
        i++;
        break;
      case '--baseline-count':
        options.baselineCount = int(flag, value, 1, 100_000);
        i++;
        break;
      case '--batch-size':
        options.batchSize = int(flag, value, 1, 1000);
        i++;
        break;
      case '--workers':
        options.workers = int(flag, value, 0, 16);
        i++;
        break;
      case '--phase-timeout':
        options.phaseTimeoutMs = int(flag, value, 1, 3600) * 1000;
        i++;
        break;
      case '--only':
        if (value !== 'certfleet' && value !== 'peers') throw new Error('--only must be certfleet or peers');
        options.only = value;
        i++;
        break;
      case '--out':
        if (!value) throw new Error('--out needs a file');
        options.out = value;
        i++;
        break;
      case '--keep':
        options.keep = true;
        break;
      default:
        throw new Error(`unknown option ${flag}`);
    }
  }
  return { name, options };
}

async function main(): Promise<number> {
  const sub = process.argv[2];
  if (sub === 'monitor-sweep' || sub === 'discovery') {
    try {
      if (sub === 'monitor-sweep') {
        const o = parseMonitorSweepArgs(process.argv.slice(3));
        await runMonitorSweepBench(o);
      } else {
        const o = parseDiscoveryArgs(process.argv.slice(3));
        await runDiscoveryBench(o);
      }
    } catch (err) {
      if (err instanceof Error && /^(unknown option|--)/.test(err.message)) {
        process.stderr.write(`${err.message}\n${USAGE}\n`);
        return 2;
      }
      throw err;
    }
    return 0;
  }
  if (process.argv[2] === 'fleet') {
    let fleet: FleetBenchOptions;
    try {
      fleet = parseFleetArgs(process.argv.slice(3));
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
      return 2;
    }
    await runFleetBench(fleet);
    return 0;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  switch (parsed.name) {
    case 'issuance':
      await runIssuanceBench(parsed.options);
      return 0;
    default:
      process.stderr.write(`${parsed.name ? `unknown benchmark ${parsed.name}\n` : ''}${USAGE}\n`);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  }
);
