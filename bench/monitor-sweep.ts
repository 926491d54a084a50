/**
 * `npm run bench -- monitor-sweep` (issue 5, Performance): a farm of N loopback TLS endpoints (../shared/bench/farm.sh:
 * one private nginx, or Node listeners when nginx is not installed) swept by
 *
 * - CertFleet, the full path: `runMonitor` on a controller database (embedded PostgreSQL) where every farm endpoint
 *   is a monitored endpoint of its own definition; probe + check chain (on worker threads above the threshold) +
 *   monitoring_history rows + the run row with its report, all committed. Verdicts are read back from PostgreSQL
 *   and compared with farm.sh's truth (openssl-computed fingerprints).
 * - nmap: `nmap -sT -Pn -n -p 8443 --script ssl-cert -iL hosts.txt -oX -` (../shared/bench/sweep-nmap.sh); its SHA-1
 *   per host is compared with the truth (nmap gives no verdicts).
 * - the bare Node loop ../shared/bench/probe-sweep.mjs (`--chain x509`, 1 and 2 processes), for reference.
 *
 * Runs alternate (CertFleet, nmap, Node ×1, Node ×2) after one untimed warm-up of each; medians are reported.
 */
import { type ChildProcess, execFile, execFileSync, fork } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { systemClock } from '@certfleet/shared';
import { CONTROLLER_NODE_FLAGS } from '../controller/src/config/node-flags';
import { masterKeyFromBytes } from '../controller/src/secrets/master-key';
import type { ServiceContext } from '../controller/src/services/context';
import { defaultSweepWorkers } from '../controller/src/services/monitoring/sweep-workers';
import { ensureDatabase, openDatabase, withDatabase } from '../controller/src/storage/database';
import { startEmbeddedPostgres, type RunningPostgres } from '../controller/src/storage/embedded-postgres';
import {
  type Agreement,
  type FarmTruth,
  type NodeFarm,
  normFp,
  registerFarm,
  startNodeFarm,
  farmFiles,
  verifyRun,
} from './monitor-farm';
import { writeResultsJson } from './results';

const run = promisify(execFile);

export interface MonitorSweepOptions {
  /** Farm endpoints (default 1000). */
  count?: number;
  /** Measured runs per tool (default 3). */
  runs?: number;
  /** CertFleet sweep worker threads (default: one per core; 0 = main thread only). */
  workers?: number;
  /** Probes in flight per worker thread (default: the monitor's). */
  workerConcurrency?: number;
  /** `--max-old-space-size` of the sweeping process (default: none — the controller's own flags only). */
  maxOldSpaceMb?: number;
  /** Main-thread probe concurrency when workers = 0 (default 64). */
  concurrency?: number;
  only?: 'certfleet' | 'peers';
  /** farm.sh's BENCH_DIR (certificates are cached there). Default /tmp/certfleet-bench. */
  benchDir?: string;
  phaseTimeoutMs?: number;
  out?: string;
  keep?: boolean;
}

const SHARED_BENCH = path.resolve(__dirname, '..', '..', 'shared', 'bench');

function log(message: string): void {
  process.stderr.write(`[monitor-sweep] ${message}\n`);
}

function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v "$1"`, 'sh', cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const fmt = (n: number | null | undefined, digits = 0): string =>
  n === null || n === undefined ? '—' : n.toLocaleString('en-US', { maximumFractionDigits: digits });

interface RunFigure {
  wallS: number;
  rate: number;
  [k: string]: unknown;
}

/** nmap's XML: host address → SHA-1 (lowercase hex) of the certificate ssl-cert printed. */
export function parseNmapSslCert(xml: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const block of xml.split('<host ').slice(1)) {
    const addr = /<address addr="([^"]+)" addrtype="ipv[46]"/.exec(block)?.[1];
    if (!addr) continue;
    for (const port of block.split('<port ').slice(1)) {
      const portId = /portid="(\d+)"/.exec(port)?.[1];
      const sha1 = /<elem key="sha1">([0-9a-fA-F]+)<\/elem>/.exec(port)?.[1];
      if (portId && sha1) out.set(`${addr}:${portId}`, sha1.toLowerCase());
    }
  }
  return out;
}

export async function runMonitorSweepBench(options: MonitorSweepOptions = {}): Promise<void> {
  const o = {
    count: options.count ?? 1000,
    runs: options.runs ?? 3,
    workers: options.workers ?? defaultSweepWorkers(),
    workerConcurrency: options.workerConcurrency,
    concurrency: options.concurrency ?? 64,
    maxOldSpaceMb: options.maxOldSpaceMb ?? null,
    benchDir: options.benchDir ?? process.env.BENCH_DIR ?? '/tmp/certfleet-bench',
    phaseTimeoutMs: options.phaseTimeoutMs ?? 300_000,
  };
  const doCertfleet = options.only !== 'peers';
  const doPeers = options.only !== 'certfleet';
  for (const cmd of ['openssl', 'bash'])
    if (!hasCommand(cmd)) throw new Error(`monitor-sweep needs ${cmd} (apt-get install ${cmd})`);
  const haveNginx = hasCommand('nginx') || fs.existsSync('/usr/sbin/nginx');
  const haveNmap = hasCommand('nmap');
  const farmSh = path.join(SHARED_BENCH, 'farm.sh');
  const probeSweep = path.join(SHARED_BENCH, 'probe-sweep.mjs');
  if (!fs.existsSync(farmSh)) throw new Error(`monitor-sweep needs the peer harness ${farmSh}`);
  const load = os.loadavg()[0] ?? 0;
  if (load > 0.5) log(`warning: load average ${load.toFixed(2)} at the start (other work shares the cores)`);

  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-monitor-sweep-'));
  const env = { ...process.env, BENCH_DIR: o.benchDir, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` };
  const farmDir = path.join(o.benchDir, 'farm');
  const certs = path.join(farmDir, 'certs');
  let nginxUp = false;
  let nodeFarm: NodeFarm | undefined;
  let pg: RunningPostgres | undefined;
  let runner: ChildProcess | undefined;
  const results: Record<string, unknown> = {
    bench: 'monitor-sweep',
    startedAt: new Date().toISOString(),
    machine: { cores: os.availableParallelism(), node: process.version, loadAtStart: +load.toFixed(2) },
    options: o,
  };
  const rows: Array<{ tool: string; label: string; runs: RunFigure[]; median: number | null; note: string }> = [];
  try {
    // The farm (farm.sh caches the certificates under BENCH_DIR).
    const status = await run('bash', [farmSh, 'status'], { env }).catch(() => ({ stdout: '' }));
    if (status.stdout.startsWith('running')) await run('bash', [farmSh, 'down'], { env });
    const t0 = Date.now();
    if (haveNginx) {
      await run('bash', [farmSh, 'up', String(o.count)], { env, timeout: 900_000, maxBuffer: 1 << 24 });
      nginxUp = true;
    } else {
      // farm.sh generates certificates and truth before it needs nginx; its `up` then fails at `nginx -t`.
      await run('bash', [farmSh, 'up', String(o.count)], { env, timeout: 900_000 }).catch(() => undefined);
    }
    const truth = JSON.parse(fs.readFileSync(path.join(farmDir, 'truth.json'), 'utf8')) as FarmTruth;
    if (truth.endpoints.length !== o.count) throw new Error(`farm truth has ${truth.endpoints.length} endpoints`);
    if (!haveNginx) {
      nodeFarm = await startNodeFarm(
        truth.endpoints.map((e) => ({
          id: e.id,
          host: e.host,
          port: e.port,
          chainFile: farmFiles(certs, e.id).chain,
          keyFile: farmFiles(certs, e.id).key,
        }))
      );
      if (nodeFarm.failed.length) throw new Error(`node farm could not bind ${nodeFarm.failed.length} endpoints`);
    }
    const farmServer = haveNginx ? 'nginx (2 workers, farm.sh)' : 'node listeners (2 processes)';
    log(`farm of ${o.count} endpoints up in ${Date.now() - t0} ms: ${farmServer}`);
    results.farm = {
      server: farmServer,
      endpoints: truth.endpoints.length,
      mix: truth.endpoints.reduce<Record<string, number>>((m, e) => ({ ...m, [e.status]: (m[e.status] ?? 0) + 1 }), {}),
    };

    // CertFleet: controller database with the farm registered.
    let certfleet: (() => Promise<{ fig: RunFigure; agreement: Agreement }>) | undefined;
    if (doCertfleet) {
      const tp = Date.now();
      pg = await startEmbeddedPostgres({
        dataDir: path.join(workDir, 'pgdata'),
        passwordFile: path.join(workDir, 'pg-password'),
        locationFile: path.join(workDir, 'pgdata.location'),
      });
      const name = `bench_monitor_${crypto.randomBytes(3).toString('hex')}`;
      await ensureDatabase(pg.adminUrl, name);
      const db = await openDatabase(withDatabase(pg.adminUrl, name));
      const ctx: ServiceContext = {
        db,
        masterKey: masterKeyFromBytes(crypto.randomBytes(32)),
        clock: systemClock,
        log: pino({ level: 'silent' }),
      };
      log(`embedded PostgreSQL ready in ${Date.now() - tp} ms; registering ${o.count} endpoints`);
      const tr = Date.now();
      const byEndpointId = await registerFarm(ctx, truth, certs);
      log(`registered in ${Date.now() - tr} ms (trust set, ${o.count} imports, ${o.count} endpoints)`);
      const monitorOpts = {
        workers: o.workers,
        concurrency: o.concurrency,
        ...(o.workerConcurrency ? { workerConcurrency: o.workerConcurrency } : {}),
        // diagnostics: SWEEP_NO_FETCH=1 turns off OCSP/CRL and AIA (the farm's leaves name no URLs; this measures
        // what the lookups themselves cost)
        ...(process.env.SWEEP_NO_FETCH === '1' ? { checkRevocation: false, fetchAia: false } : {}),
      };
      // The sweeping process: a child with only the monitor (its RSS is the figure), as `monitor run-now` would be.
      runner = fork(path.join(__dirname, 'monitor-sweep-runner.ts'), [], {
        // The controller's own V8 flags (no bench-only heap cap); --max-old-space-size only when asked for.
        // the V8 flags the controller runs with (`npm start`), nothing the product does not ship
        execArgv: [
          ...CONTROLLER_NODE_FLAGS,
          // diagnostics, e.g. SWEEP_NODE_FLAGS='--cpu-prof --cpu-prof-dir=DIR'
          ...(process.env.SWEEP_NODE_FLAGS ? process.env.SWEEP_NODE_FLAGS.split(' ') : []),
          '--import',
          'tsx',
          ...(o.maxOldSpaceMb ? [`--max-old-space-size=${o.maxOldSpaceMb}`] : []),
        ],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        // diagnostics, e.g. SWEEP_RUNNER_ENV='LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 MALLOC_ARENA_MAX=2'
        env: {
          ...process.env,
          ...Object.fromEntries(
            (process.env.SWEEP_RUNNER_ENV ?? '')
              .split(' ')
              .filter((kv) => kv.includes('='))
              .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])
          ),
        },
      });
      const child = runner;
      const ask = (msg: object, want: string): Promise<Record<string, unknown>> =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`monitor runner: no ${want} within the phase timeout`)),
            o.phaseTimeoutMs
          );
          const onExit = (code: number | null): void => reject(new Error(`monitor runner exited with ${code}`));
          child.once('exit', onExit);
          child.once('message', (reply: Record<string, unknown>) => {
            clearTimeout(timer);
            child.off('exit', onExit);
            if (reply.type === want) resolve(reply);
            else reject(new Error(`monitor runner: ${String(reply.message ?? reply.type)}`));
          });
          child.send(msg);
        });
      await ask({ type: 'init', url: withDatabase(pg.adminUrl, name), options: monitorOpts }, 'ready');
      certfleet = async () => {
        const reply = await ask({ type: 'run' }, 'ran');
        const wallS = reply.wallS as number;
        const agreement = await verifyRun(ctx, reply.runId as string, byEndpointId);
        return {
          fig: {
            wallS: +wallS.toFixed(3),
            rate: +(o.count / wallS).toFixed(1),
            peakRssMb: reply.peakRssMb as number,
            startRssMb: reply.startRssMb as number,
            mainPeakHeapMb: reply.mainPeakHeapMb as number,
            cpuS: reply.cpuS as number,
            endMemMb: reply.endMemMb as Record<string, number>,
            verdictsCorrect: agreement.verdictsCorrect,
            sha256Correct: agreement.sha256Correct,
            sha1Correct: agreement.sha1Correct,
            historyRows: agreement.rows,
            runCounters: reply.counters,
          },
          agreement,
        };
      };
    }

    const hostsFile = path.join(farmDir, 'hosts.txt');
    const servedSha1 = new Map(truth.endpoints.map((e) => [`${e.host}:${e.port}`, normFp(e.served.sha1)]));
    const nmapRun = async (): Promise<RunFigure> => {
      const t = performance.now();
      // ../shared/bench/sweep-nmap.sh (default mode)
      const { stdout } = await run(
        'nmap',
        ['-sT', '-Pn', '-n', '-p', String(truth.port), '--script', 'ssl-cert', '-iL', hostsFile, '-oX', '-'],
        { timeout: o.phaseTimeoutMs, maxBuffer: 1 << 28 }
      );
      const wallS = (performance.now() - t) / 1000;
      const got = parseNmapSslCert(stdout);
      let sha1Correct = 0;
      for (const [k, v] of servedSha1) if (got.get(k) === v) sha1Correct++;
      return { wallS: +wallS.toFixed(3), rate: +(o.count / wallS).toFixed(1), certs: got.size, sha1Correct };
    };
    const nodeRun = async (procs: number): Promise<RunFigure> => {
      const t = performance.now();
      const { stdout } = await run(
        'node',
        [
          probeSweep,
          '--truth',
          path.join(farmDir, 'truth.json'),
          '--concurrency',
          '64',
          '--procs',
          String(procs),
          '--chain',
          'x509',
        ],
        { timeout: o.phaseTimeoutMs, maxBuffer: 1 << 24 }
      );
      const wallS = (performance.now() - t) / 1000;
      const summary = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
      return {
        wallS: +wallS.toFixed(3),
        rate: summary.rate as number,
        processWallS: +(o.count / (summary.rate as number)).toFixed(3),
        statusCorrect: summary.status_correct,
        servedFpCorrect: summary.served_fp_correct,
      };
    };

    const tools: Array<{ tool: string; label: string; fn: () => Promise<RunFigure>; note: string }> = [];
    const agreements: Agreement[] = [];
    if (certfleet) {
      const cf = certfleet;
      tools.push({
        tool: 'certfleet',
        label: `CertFleet runMonitor (${o.workers ? `${o.workers} worker threads` : 'main thread'}, PostgreSQL)`,
        fn: async () => {
          const r = await cf();
          agreements.push(r.agreement);
          return r.fig;
        },
        note: 'probe + checks + history rows committed',
      });
    }
    if (doPeers && haveNmap)
      tools.push({ tool: 'nmap', label: 'nmap -sT -Pn --script ssl-cert', fn: nmapRun, note: 'SHA-1 compared' });
    if (doPeers) {
      tools.push({ tool: 'node-1', label: 'bare Node loop ×1 (probe-sweep.mjs)', fn: () => nodeRun(1), note: '' });
      tools.push({ tool: 'node-2', label: 'bare Node loop ×2 processes', fn: () => nodeRun(2), note: '' });
    }
    for (const t of tools) {
      log(`warm-up: ${t.label}`);
      await t.fn();
    }
    agreements.length = 0;
    const figures = new Map<string, RunFigure[]>(tools.map((t) => [t.tool, []]));
    for (let r = 1; r <= o.runs; r++) {
      for (const t of tools) {
        const fig = await t.fn();
        figures.get(t.tool)?.push(fig);
        log(`run ${r} ${t.label}: ${fmt(fig.rate)} endpoints/s (${fig.wallS} s)`);
      }
    }
    for (const t of tools) {
      const runs = figures.get(t.tool) ?? [];
      rows.push({ tool: t.tool, label: t.label, runs, median: median(runs.map((f) => f.rate)), note: t.note });
    }
    if (!haveNmap && doPeers)
      rows.push({ tool: 'nmap', label: 'nmap (not installed)', runs: [], median: null, note: '' });
    const rate = (tool: string): number | null => rows.find((r) => r.tool === tool)?.median ?? null;
    const cf = rate('certfleet');
    const ratios = {
      certfleetOverNmap: cf && rate('nmap') ? +(cf / (rate('nmap') as number)).toFixed(2) : null,
      certfleetOverNode1: cf && rate('node-1') ? +(cf / (rate('node-1') as number)).toFixed(2) : null,
      certfleetOverNode2: cf && rate('node-2') ? +(cf / (rate('node-2') as number)).toFixed(2) : null,
    };
    const cfRuns = figures.get('certfleet') ?? [];
    results.rows = rows;
    results.ratios = ratios;
    results.certfleet = cfRuns.length
      ? {
          peakRssMb: Math.max(...cfRuns.map((f) => f.peakRssMb as number)),
          allVerdictsCorrect: agreements.every((a) => a.verdictsCorrect === o.count && a.rows === o.count),
          allFingerprintsCorrect: agreements.every((a) => a.sha256Correct === o.count && a.sha1Correct === o.count),
          lastAgreement: agreements[agreements.length - 1],
        }
      : null;
    results.finishedAt = new Date().toISOString();

    // Table
    const lines = [
      '',
      `monitor-sweep: ${o.count} farm endpoints (${farmServer}), ${os.availableParallelism()} cores, medians of ${o.runs}`,
      '',
      '| tool | endpoints/s (median) | runs | correctness |',
      '| --- | ---: | --- | --- |',
    ];
    for (const r of rows) {
      const correctness =
        r.tool === 'certfleet'
          ? `verdicts ${r.runs.map((f) => f.verdictsCorrect).join('/')} of ${o.count}, SHA-256 ${r.runs.map((f) => f.sha256Correct).join('/')}, peak RSS ${Math.max(...r.runs.map((f) => f.peakRssMb as number))} MB`
          : r.tool === 'nmap'
            ? `SHA-1 ${r.runs.map((f) => f.sha1Correct).join('/')} of ${o.count}`
            : r.runs.length
              ? `verdicts ${r.runs.map((f) => f.statusCorrect).join('/')} of ${o.count}`
              : '';
      lines.push(`| ${r.label} | ${fmt(r.median)} | ${r.runs.map((f) => fmt(f.rate)).join(', ')} | ${correctness} |`);
    }
    lines.push(
      '',
      `ratios: CertFleet/nmap ${ratios.certfleetOverNmap ?? '—'}, CertFleet/Node×1 ${ratios.certfleetOverNode1 ?? '—'}, CertFleet/Node×2 ${ratios.certfleetOverNode2 ?? '—'}`,
      ''
    );
    process.stdout.write(lines.join('\n'));
    writeResultsJson('monitor-sweep', results, options.out);
  } finally {
    if (runner && runner.exitCode === null) {
      const r = runner;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          r.kill('SIGKILL');
          resolve();
        }, 10_000);
        r.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        if (r.connected) r.send({ type: 'close' });
        else r.kill('SIGTERM');
      });
    }
    await nodeFarm?.stop();
    if (nginxUp) await run('bash', [farmSh, 'down'], { env }).catch(() => undefined);
    await pg?.stop().catch(() => undefined);
    if (!options.keep) fs.rmSync(workDir, { recursive: true, force: true });
  }
}
