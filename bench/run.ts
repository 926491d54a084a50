/**
 * `npm run bench -- <name> [options]`: CertFleet's benchmarks (not tests: they report figures, they assert none).
 *
 *   npm run bench -- issuance [--count N] [--concurrency C] [--runs R] [--baseline-count M]
 *                             [--only certfleet|peers] [--phase-timeout S] [--out FILE] [--keep]
 *   npm run bench -- fleet [--agents N] [--push M] [--handshake-rate R] [--backoff-base MS] [--backoff-cap MS]
 *                          [--phase-timeout S] [--out FILE]
 *   npm run bench -- monitor-sweep [--count N] [--runs R] [--workers W] [--worker-concurrency C] [--only …] [--keep]
 *   npm run bench -- discovery [--runs R] [--part grid|netns] [--concurrency C] [--connect-timeout MS] [--only …]
 *   npm run bench -- console-lists [--count N] [--small M] [--iterations I] [--warmup W] [--out FILE]
 *
 * See bench/README.md.
 */
import { BENCH_FLAGS, UsageError, parseFlags } from './args';
import { runConsoleListsBench, type ConsoleListsOptions } from './console-lists';
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
  --out FILE           results JSON (default bench/results/discovery-<date>.json)

usage: npm run bench -- console-lists [options]
  --count N            certificates in the large database (default 100000)
  --small M            certificates in the small database (default 1000)
  --iterations I       timed requests per case and size (default 40)
  --warmup W           untimed requests per case and size first (default 5)
  --out FILE           results JSON (default bench/results/console-lists-<date>.json)`;

async function main(): Promise<number> {
  const [name, ...rest] = process.argv.slice(2);
  if (name === undefined || !(name in BENCH_FLAGS)) {
    process.stderr.write(`${name ? `unknown benchmark ${name}\n` : ''}${USAGE}\n`);
    return 2;
  }
  const bench = name as keyof typeof BENCH_FLAGS;
  let options: Record<string, unknown>;
  try {
    options = parseFlags(rest, BENCH_FLAGS[bench]);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n${USAGE}\n`);
    return 2;
  }
  switch (bench) {
    case 'issuance':
      await runIssuanceBench(options as IssuanceBenchOptions);
      break;
    case 'fleet':
      await runFleetBench(options as FleetBenchOptions);
      break;
    case 'monitor-sweep':
      await runMonitorSweepBench(options as MonitorSweepOptions);
      break;
    case 'discovery':
      await runDiscoveryBench(options as DiscoveryBenchOptions);
      break;
    case 'console-lists':
      await runConsoleListsBench(options as ConsoleListsOptions);
      break;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  }
);
