/**
 * `npm run bench -- discovery` (issue 5, Performance): CertFleet's discovery `scan()` (shared/src/discovery/scan.ts:
 * connect, handshake on the same socket, full certificate analysis) against nmap on the same targets.
 *
 * (a) grid: 22 loopback hosts 127.0.90.1–22 × 10 ports (free high ports, chosen at start); on every host 6 ports
 *     serve TLS (one certificate per host, openssl-made), 1 a plain-TCP non-TLS service, 3 are closed; the
 *     listeners run in two child processes. Peer: `nmap -sT -n --script ssl-cert -p PORTS HOSTS -oX -`.
 * (b) netns: 2,560 addresses 198.18.128.0–198.18.137.255 (RFC 2544 benchmarking range) routed over a veth pair into a
 *     namespace of its own, where 20 addresses exist (TLS on 443 and 8443, plain TCP on 993) and the rest of the
 *     range is a blackhole route (silent drops). Peer: `nmap -T4 -Pn -n --script ssl-cert -p 443,993,8443 RANGE -oX -`.
 *     CertFleet: concurrency 4096, connect timeout 300 ms (the rate with silent drops is concurrency ÷ timeout).
 *
 * Findings (host, port, leaf SHA-1) of both tools are compared with each other and with openssl's fingerprints.
 * Only addresses created here are contacted; the namespace, the veth pair and the host route are removed in finally.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type PortSpec, type Target, expandTargets, scan, systemTrustSet } from '@certfleet/shared';
import { opensslSelfSigned } from '../test/_helpers/openssl-cert';
import { type NodeFarm, startNodeFarm } from './monitor-farm';
import { parseNmapSslCert } from './monitor-sweep';
import { writeResultsJson } from './results';

const run = promisify(execFile);

export interface DiscoveryBenchOptions {
  part?: 'grid' | 'netns' | 'both';
  runs?: number;
  concurrency?: number;
  connectTimeoutMs?: number;
  only?: 'certfleet' | 'peers';
  phaseTimeoutMs?: number;
  out?: string;
}

function log(message: string): void {
  process.stderr.write(`[discovery] ${message}\n`);
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
const fmt = (n: number | null | undefined): string =>
  n === null || n === undefined ? '—' : n.toLocaleString('en-US', { maximumFractionDigits: 0 });

/** Listening TCP ports of every process on the machine, to stay clear of them. */
function busyPorts(): Set<number> {
  const ports = new Set<number>();
  for (const line of execFileSync('ss', ['-ltnH'], { encoding: 'utf8' }).split('\n')) {
    const m = /:(\d+)$/.exec(line.trim().split(/\s+/)[3] ?? '');
    if (m?.[1]) ports.add(Number(m[1]));
  }
  return ports;
}

/** A self-signed EC P-256 certificate made by openssl, with its SHA-1 as openssl prints it. */
async function opensslCert(dir: string, name: string): Promise<{ cert: string; key: string; sha1: string }> {
  const { cert, key } = await opensslSelfSigned(dir, name, `/CN=${name}/O=certfleet-bench discovery`, {
    san: name,
    days: 90,
  });
  const { stdout } = await run('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha1']);
  const sha1 = (/=([0-9A-F:]+)/i.exec(stdout)?.[1] ?? '').replace(/:/g, '').toLowerCase();
  return { cert, key, sha1 };
}

async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    })
  );
}

interface Listener {
  id: string;
  host: string;
  port: number;
  chainFile: string;
  keyFile: string;
  plain?: boolean;
  sha1?: string;
}

/** `host:port sha1` lines, sorted. */
const findingSet = (m: Iterable<[string, string]>): string[] => [...m].map(([k, v]) => `${k} ${v}`).sort();

interface PartResult {
  part: string;
  targets: number;
  pairs: number;
  expectedFindings: number;
  certfleet: { runs: Array<Record<string, unknown>>; medianTargetsPerS: number | null; medianPairsPerS: number | null };
  nmap: {
    runs: Array<Record<string, unknown>>;
    medianTargetsPerS: number | null;
    medianPairsPerS: number | null;
    skipped?: string;
  };
  ratio: number | null;
  findingsIdentical: boolean | null;
}

async function measure(
  part: string,
  targets: Target[],
  ports: PortSpec[],
  expected: Map<string, string>,
  nmapArgs: string[] | null,
  o: { runs: number; nmapRuns: number; concurrency: number; connectTimeoutMs: number; phaseTimeoutMs: number },
  doCertfleet: boolean
): Promise<PartResult> {
  const pairs = targets.length * ports.length;
  const want = findingSet(expected);
  const res: PartResult = {
    part,
    targets: targets.length,
    pairs,
    expectedFindings: expected.size,
    certfleet: { runs: [], medianTargetsPerS: null, medianPairsPerS: null },
    nmap: { runs: [], medianTargetsPerS: null, medianPairsPerS: null },
    ratio: null,
    findingsIdentical: null,
  };
  const trustSet = systemTrustSet();
  const cf = async (): Promise<Record<string, unknown>> => {
    const t = performance.now();
    const { findings, stats } = await scan(targets, ports, {
      concurrency: o.concurrency,
      connectTimeoutMs: o.connectTimeoutMs,
      handshakeTimeoutMs: 5_000,
      maxDurationMs: o.phaseTimeoutMs,
      trustSet,
    });
    const wallS = (performance.now() - t) / 1000;
    const got = findingSet(findings.map((f) => [`${f.address}:${f.port}`, f.sha1]));
    return {
      wallS: +wallS.toFixed(3),
      targetsPerS: +(targets.length / wallS).toFixed(1),
      pairsPerS: +(pairs / wallS).toFixed(1),
      findings: findings.length,
      identicalToTruth: JSON.stringify(got) === JSON.stringify(want),
      stats: {
        open: stats.open,
        closed: stats.closed,
        filtered: stats.filtered,
        unreachable: stats.unreachable,
        tlsFailed: stats.tlsFailed,
      },
      got,
    };
  };
  const nm = async (): Promise<Record<string, unknown>> => {
    const t = performance.now();
    const { stdout } = await run('nmap', nmapArgs ?? [], { timeout: o.phaseTimeoutMs, maxBuffer: 1 << 28 });
    const wallS = (performance.now() - t) / 1000;
    const got = findingSet(parseNmapSslCert(stdout));
    return {
      wallS: +wallS.toFixed(3),
      targetsPerS: +(targets.length / wallS).toFixed(1),
      pairsPerS: +(pairs / wallS).toFixed(1),
      findings: got.length,
      identicalToTruth: JSON.stringify(got) === JSON.stringify(want),
      got,
    };
  };
  if (doCertfleet) await cf(); // warm-up (JIT, trust set)
  for (let r = 1; r <= o.runs; r++) {
    if (doCertfleet) {
      const fig = await cf();
      res.certfleet.runs.push(fig);
      log(`${part} run ${r} CertFleet scan(): ${fmt(fig.targetsPerS as number)} targets/s, ${fig.findings} findings`);
    }
    if (nmapArgs && r <= o.nmapRuns) {
      const fig = await nm();
      res.nmap.runs.push(fig);
      log(`${part} run ${r} nmap: ${fmt(fig.targetsPerS as number)} targets/s, ${fig.findings} findings`);
    }
  }
  if (!nmapArgs) res.nmap.skipped = 'nmap not installed or --only certfleet';
  res.certfleet.medianTargetsPerS = median(res.certfleet.runs.map((f) => f.targetsPerS as number));
  res.certfleet.medianPairsPerS = median(res.certfleet.runs.map((f) => f.pairsPerS as number));
  res.nmap.medianTargetsPerS = median(res.nmap.runs.map((f) => f.targetsPerS as number));
  res.nmap.medianPairsPerS = median(res.nmap.runs.map((f) => f.pairsPerS as number));
  if (res.certfleet.medianTargetsPerS && res.nmap.medianTargetsPerS)
    res.ratio = +(res.certfleet.medianTargetsPerS / res.nmap.medianTargetsPerS).toFixed(2);
  const all = [...res.certfleet.runs, ...res.nmap.runs];
  res.findingsIdentical = all.length ? all.every((f) => f.identicalToTruth === true) : null;
  for (const f of all) if (f.identicalToTruth) delete f.got; // keep the JSON small; keep the evidence of a mismatch
  return res;
}

async function gridPart(
  workDir: string,
  o: { runs: number; concurrency?: number; connectTimeoutMs?: number; phaseTimeoutMs: number },
  doCertfleet: boolean,
  doNmap: boolean
): Promise<PartResult> {
  const hosts = Array.from({ length: 22 }, (_, i) => `127.0.90.${i + 1}`);
  const busy = busyPorts();
  const ports: number[] = [];
  for (let p = 20443; ports.length < 10 && p < 21443; p += 7) if (!busy.has(p) && p !== 2024) ports.push(p);
  const dir = path.join(workDir, 'grid');
  fs.mkdirSync(dir, { recursive: true });
  const certs = new Map<string, { cert: string; key: string; sha1: string }>();
  await pool(hosts, 4, async (h) => {
    certs.set(h, await opensslCert(dir, `grid-${h.replace(/\./g, '-')}.bench.test`));
  });
  const listeners: Listener[] = [];
  for (const h of hosts) {
    const c = certs.get(h) as { cert: string; key: string; sha1: string };
    ports.forEach((port, k) => {
      if (k < 6) listeners.push({ id: `${h}:${port}`, host: h, port, chainFile: c.cert, keyFile: c.key, sha1: c.sha1 });
      else if (k === 6) listeners.push({ id: `${h}:${port}`, host: h, port, chainFile: '', keyFile: '', plain: true });
    });
  }
  let farm: NodeFarm | undefined;
  try {
    farm = await startNodeFarm(listeners, 2);
    if (farm.failed.length) throw new Error(`grid: could not bind ${farm.failed.join(', ')}`);
    const expected = new Map(listeners.filter((l) => l.sha1).map((l) => [l.id, l.sha1 as string]));
    log(`grid: ${hosts.length} hosts × ${ports.length} ports (${ports.join(',')}), ${expected.size} TLS listeners`);
    return await measure(
      'grid',
      expandTargets(hosts),
      ports.map((port) => ({ port, starttls: null })),
      expected,
      doNmap ? ['-sT', '-n', '--script', 'ssl-cert', '-p', ports.join(','), ...hosts, '-oX', '-'] : null,
      {
        runs: o.runs,
        nmapRuns: o.runs,
        concurrency: o.concurrency ?? 256,
        connectTimeoutMs: o.connectTimeoutMs ?? 1_500,
        phaseTimeoutMs: o.phaseTimeoutMs,
      },
      doCertfleet
    );
  } finally {
    await farm?.stop();
  }
}

const NS_RANGE_FIRST = [198, 18, 128, 0];
const NS_RANGE_SIZE = 2_560;
const NS_BLACKHOLE = ['198.18.128.0/21', '198.18.136.0/23']; // exactly 198.18.128.0 – 198.18.137.255
const HOST_LINK = '198.18.255.1';
const NS_LINK = '198.18.255.2';

async function netnsPart(
  workDir: string,
  o: { runs: number; concurrency?: number; connectTimeoutMs?: number; phaseTimeoutMs: number },
  doCertfleet: boolean,
  doNmap: boolean
): Promise<PartResult> {
  if (process.getuid?.() !== 0) throw new Error('discovery netns part needs root (ip netns)');
  const tag = String(process.pid % 100_000);
  const ns = `cf-bench-disc-${tag}`;
  const vethHost = `cfbh${tag}`;
  const vethNs = `cfbn${tag}`;
  const sh = (args: string[]): void => {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  };
  const inNs = (args: string[]): void => sh(['netns', 'exec', ns, ...args]);
  const range = Array.from({ length: NS_RANGE_SIZE }, (_, k) => {
    const v = ((NS_RANGE_FIRST[2] as number) << 8) + k;
    return `198.18.${v >> 8}.${v & 255}`;
  });
  const live = Array.from({ length: 20 }, (_, k) => range[100 + k * 113] as string);
  const dir = path.join(workDir, 'netns');
  fs.mkdirSync(dir, { recursive: true });
  let farm: NodeFarm | undefined;
  const routes: string[] = [];
  let nsCreated = false;
  let vethCreated = false;
  try {
    sh(['netns', 'add', ns]);
    nsCreated = true;
    inNs(['ip', 'link', 'set', 'lo', 'up']);
    sh(['link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethNs]);
    vethCreated = true;
    sh(['link', 'set', vethNs, 'netns', ns]);
    sh(['addr', 'add', `${HOST_LINK}/30`, 'dev', vethHost]);
    sh(['link', 'set', vethHost, 'up']);
    inNs(['ip', 'addr', 'add', `${NS_LINK}/30`, 'dev', vethNs]);
    inNs(['ip', 'link', 'set', vethNs, 'up']);
    for (const a of live) inNs(['ip', 'addr', 'add', `${a}/32`, 'dev', 'lo']);
    for (const r of NS_BLACKHOLE) {
      inNs(['ip', 'route', 'add', 'blackhole', r]);
      sh(['route', 'add', r, 'via', NS_LINK, 'dev', vethHost]);
      routes.push(r);
    }
    const certs = new Map<string, { cert: string; key: string; sha1: string }>();
    await pool(live, 4, async (a) => {
      certs.set(a, await opensslCert(dir, `ns-${a.replace(/\./g, '-')}.bench.test`));
    });
    const listeners: Listener[] = [];
    for (const a of live) {
      const c = certs.get(a) as { cert: string; key: string; sha1: string };
      for (const port of [443, 8443])
        listeners.push({ id: `${a}:${port}`, host: a, port, chainFile: c.cert, keyFile: c.key, sha1: c.sha1 });
      listeners.push({ id: `${a}:993`, host: a, port: 993, chainFile: '', keyFile: '', plain: true });
    }
    farm = await startNodeFarm(listeners, 1, ['ip', 'netns', 'exec', ns]);
    if (farm.failed.length) throw new Error(`netns: could not bind ${farm.failed.join(', ')}`);
    const expected = new Map(listeners.filter((l) => l.sha1).map((l) => [l.id, l.sha1 as string]));
    const cidr = '198.18.128.0-198.18.137.255';
    log(`netns: ${range.length} addresses (${cidr}), ${live.length} live, ${expected.size} TLS listeners`);
    return await measure(
      'netns',
      expandTargets([cidr]),
      [443, 993, 8443].map((port) => ({ port, starttls: null })),
      expected,
      doNmap ? ['-T4', '-Pn', '-n', '--script', 'ssl-cert', '-p', '443,993,8443', ...NS_BLACKHOLE, '-oX', '-'] : null,
      {
        runs: o.runs,
        nmapRuns: 1,
        concurrency: o.concurrency ?? 4096,
        connectTimeoutMs: o.connectTimeoutMs ?? 300,
        phaseTimeoutMs: o.phaseTimeoutMs,
      },
      doCertfleet
    );
  } finally {
    await farm?.stop();
    for (const r of routes) {
      try {
        sh(['route', 'del', r, 'via', NS_LINK, 'dev', vethHost]);
      } catch {
        /* gone with the link */
      }
    }
    if (vethCreated) {
      try {
        sh(['link', 'del', vethHost]);
      } catch {
        /* gone with the namespace */
      }
    }
    if (nsCreated) sh(['netns', 'del', ns]);
  }
}

export async function runDiscoveryBench(options: DiscoveryBenchOptions = {}): Promise<void> {
  const part = options.part ?? 'both';
  const runs = options.runs ?? 3;
  const phaseTimeoutMs = options.phaseTimeoutMs ?? 300_000;
  const doCertfleet = options.only !== 'peers';
  const doNmap = options.only !== 'certfleet' && hasCommand('nmap');
  for (const cmd of ['openssl', 'ss', 'ip']) if (!hasCommand(cmd)) throw new Error(`discovery bench needs ${cmd}`);
  if (!doNmap && options.only !== 'certfleet') log('nmap not installed: peer rows skipped (apt-get install nmap)');
  const load = os.loadavg()[0] ?? 0;
  if (load > 0.5) log(`warning: load average ${load.toFixed(2)} at the start`);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-discovery-'));
  const o = {
    runs,
    phaseTimeoutMs,
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.connectTimeoutMs ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
  };
  const parts: PartResult[] = [];
  try {
    if (part !== 'netns') parts.push(await gridPart(workDir, o, doCertfleet, doNmap));
    if (part !== 'grid') parts.push(await netnsPart(workDir, o, doCertfleet, doNmap));
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  const lines = [
    '',
    `discovery: ${os.availableParallelism()} cores, CertFleet medians of ${runs}`,
    '',
    '| part | targets × ports | CertFleet targets/s (pairs/s) | nmap targets/s (pairs/s) | ratio | findings (expected) | identical |',
    '| --- | --- | ---: | ---: | ---: | --- | --- |',
  ];
  for (const p of parts)
    lines.push(
      `| ${p.part} | ${p.targets} × ${p.pairs / p.targets} | ${fmt(p.certfleet.medianTargetsPerS)} (${fmt(p.certfleet.medianPairsPerS)}) | ${fmt(p.nmap.medianTargetsPerS)} (${fmt(p.nmap.medianPairsPerS)}) | ${p.ratio ?? '—'} | ${[...p.certfleet.runs, ...p.nmap.runs].map((f) => f.findings).join('/')} (${p.expectedFindings}) | ${p.findingsIdentical ?? '—'} |`
    );
  process.stdout.write(`${lines.join('\n')}\n\n`);
  writeResultsJson(
    'discovery',
    {
      bench: 'discovery',
      finishedAt: new Date().toISOString(),
      machine: { cores: os.availableParallelism(), node: process.version, loadAtStart: +load.toFixed(2) },
      options: { part, ...o },
      parts,
    },
    options.out
  );
}
