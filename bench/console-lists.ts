/**
 * `npm run bench -- console-lists`: latency of the console's list endpoints at two table sizes in the same run
 * (issue 6: lists stay fast with 100,000 certificates). Two controllers (real HTTPS on loopback, one embedded
 * PostgreSQL, one database each) are seeded with test/_helpers/bulk-seed.ts — `--small` (default 1,000) and
 * `--count` (default 100,000) certificates with definitions, keys, deployments and as many sent mails — and every
 * case (first page, deep page, filtered, search) is requested over one keep-alive connection per controller,
 * alternating between the two sizes in rounds so that load from other processes hits both. Reported: p50 / p95 per
 * case and size and the ratio large / small (target ≤ 2). Bounded: `--iterations` timed requests per case and size
 * after `--warmup` untimed ones. Asserts nothing.
 */
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres, type RunningPostgres } from '../controller/src/storage/embedded-postgres';
import { bulkSeed } from '../test/_helpers/bulk-seed';
import { startTestController, type TestController } from '../test/_helpers/controller';
import { writeResultsJson } from './results';

export interface ConsoleListsOptions {
  count?: number;
  small?: number;
  iterations?: number;
  warmup?: number;
  out?: string;
}

function log(message: string): void {
  process.stderr.write(`[console-lists] ${message}\n`);
}

interface Target {
  size: number;
  tc: TestController;
  agent: https.Agent;
  token: string;
  totals: Record<string, number>;
}

/** One GET over the target's keep-alive connection: milliseconds until the whole body has arrived, and the body. */
function timedGet(target: Target, url: string): Promise<{ ms: number; body: { total?: number; items?: unknown[] } }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = https.request(
      `${target.tc.controller.url}${url}`,
      {
        method: 'GET',
        agent: target.agent,
        ca: target.tc.controller.caCertificatePem,
        servername: 'localhost',
        headers: { authorization: `Bearer ${target.token}` },
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const ms = Number(process.hrtime.bigint() - t0) / 1e6;
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode !== 200) return reject(new Error(`GET ${url}: ${res.statusCode} ${text.slice(0, 300)}`));
          resolve({ ms, body: JSON.parse(text) as { total?: number; items?: unknown[] } });
        });
      }
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

interface Case {
  name: string;
  /** The URL for a target (deep pages depend on its totals). */
  url: (t: Target) => string;
}

const deep = (t: Target, list: string): number => Math.max(0, (t.totals[list] ?? 0) - 50);

const CASES: Case[] = [
  { name: 'W1 definitions, first page (withStatus)', url: () => '/api/v1/definitions?withStatus=true&limit=50' },
  {
    name: 'W1 definitions, last page (withStatus)',
    url: (t) => `/api/v1/definitions?withStatus=true&limit=50&offset=${deep(t, 'definitions')}`,
  },
  { name: 'W1 definitions, state=expired', url: () => '/api/v1/definitions?withStatus=true&state=expired&limit=50' },
  { name: 'W1 definitions, search q=0123', url: () => '/api/v1/definitions?withStatus=true&q=0123&limit=50' },
  { name: 'W3 certificates, current, first page', url: () => '/api/v1/certificates?current=true&limit=50' },
  {
    name: 'W3 certificates, all, last page',
    url: (t) => `/api/v1/certificates?limit=50&offset=${deep(t, 'certificates')}`,
  },
  { name: 'W3 certificates, expiringWithinDays=10', url: () => '/api/v1/certificates?expiringWithinDays=10&limit=50' },
  { name: 'W3 certificates, search q=0123', url: () => '/api/v1/certificates?current=true&q=0123&limit=50' },
  { name: 'W5 private keys, first page', url: () => '/api/v1/private-keys?limit=50' },
  { name: 'W5 private keys, last page', url: (t) => `/api/v1/private-keys?limit=50&offset=${deep(t, 'keys')}` },
  { name: 'W7 sent mail, first page', url: () => '/api/v1/sent-mail?limit=50' },
  { name: 'W7 sent mail, last page', url: (t) => `/api/v1/sent-mail?limit=50&offset=${deep(t, 'mail')}` },
  { name: 'W7 sent mail, status=failed', url: () => '/api/v1/sent-mail?status=failed&limit=50' },
  { name: 'W3 deployments, first page', url: () => '/api/v1/deployments?limit=50' },
];

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

const r2 = (n: number): number => Math.round(n * 100) / 100;

export async function runConsoleListsBench(options: ConsoleListsOptions = {}): Promise<void> {
  const o = {
    count: options.count ?? 100_000,
    small: options.small ?? 1_000,
    iterations: options.iterations ?? 40,
    warmup: options.warmup ?? 5,
  };
  const load = os.loadavg()[0] ?? 0;
  if (load > 0.5) log(`warning: load average ${load.toFixed(2)} at the start (other work shares the cores)`);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-console-lists-'));
  let pg: RunningPostgres | undefined;
  const targets: Target[] = [];
  const results: Record<string, unknown> = {
    bench: 'console-lists',
    startedAt: new Date().toISOString(),
    machine: { cores: os.availableParallelism(), node: process.version, loadAtStart: +load.toFixed(2) },
    options: o,
  };
  try {
    pg = await startEmbeddedPostgres({
      dataDir: path.join(workDir, 'pgdata'),
      passwordFile: path.join(workDir, 'pg-password'),
      locationFile: path.join(workDir, 'pgdata.location'),
    });
    process.env.CERTFLEET_TEST_ADMIN_URL = pg.adminUrl;
    const seeding: Record<string, number> = {};
    for (const size of [o.small, o.count]) {
      const tc = await startTestController();
      const token = await tc.adminToken();
      log(`seeding ${size} certificates`);
      const seeded = await bulkSeed(tc.databaseUrl, { count: size, prefix: 'bulk' });
      seeding[String(size)] = seeded.ms;
      log(`seeded ${size} in ${seeded.ms} ms`);
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
      targets.push({ size, tc, agent, token, totals: {} });
    }
    results.seedingMs = seeding;
    for (const t of targets) {
      const total = async (url: string): Promise<number> => (await timedGet(t, url)).body.total ?? 0;
      t.totals = {
        definitions: await total('/api/v1/definitions?limit=1'),
        certificates: await total('/api/v1/certificates?limit=1'),
        keys: await total('/api/v1/private-keys?limit=1'),
        mail: await total('/api/v1/sent-mail?limit=1'),
      };
    }
    results.totals = Object.fromEntries(targets.map((t) => [t.size, t.totals]));

    const rounds = 4;
    const perRound = Math.max(1, Math.ceil(o.iterations / rounds));
    const rows: Array<Record<string, unknown>> = [];
    for (const c of CASES) {
      const samples = new Map<number, number[]>(targets.map((t) => [t.size, []]));
      for (const t of targets) for (let i = 0; i < o.warmup; i++) await timedGet(t, c.url(t));
      for (let r = 0; r < rounds; r++) {
        for (const t of targets) {
          const s = samples.get(t.size) as number[];
          for (let i = 0; i < perRound && s.length < o.iterations; i++) s.push((await timedGet(t, c.url(t))).ms);
        }
      }
      const row: Record<string, unknown> = { case: c.name };
      for (const t of targets) {
        const s = [...(samples.get(t.size) as number[])].sort((a, b) => a - b);
        row[`p50_${t.size}`] = r2(percentile(s, 50));
        row[`p95_${t.size}`] = r2(percentile(s, 95));
        row[`url_${t.size}`] = c.url(t);
      }
      row.ratioP50 = r2((row[`p50_${o.count}`] as number) / (row[`p50_${o.small}`] as number));
      row.ratioP95 = r2((row[`p95_${o.count}`] as number) / (row[`p95_${o.small}`] as number));
      rows.push(row);
      log(
        `${c.name}: p50 ${row[`p50_${o.small}`]} / ${row[`p50_${o.count}`]} ms, p95 ${row[`p95_${o.small}`]} / ` +
          `${row[`p95_${o.count}`]} ms, ratio p50 ${row.ratioP50}`
      );
    }
    results.rows = rows;
    results.loadAtEnd = +(os.loadavg()[0] ?? 0).toFixed(2);
    results.finishedAt = new Date().toISOString();

    const n = (v: number): string => v.toLocaleString('en-US');
    const lines = [
      '',
      `| case | p50 ${n(o.small)} ms | p95 ${n(o.small)} ms | p50 ${n(o.count)} ms | p95 ${n(o.count)} ms | ratio p50 | ratio p95 |`,
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows.map(
        (r) =>
          `| ${r.case} | ${r[`p50_${o.small}`]} | ${r[`p95_${o.small}`]} | ${r[`p50_${o.count}`]} | ` +
          `${r[`p95_${o.count}`]} | ${r.ratioP50} | ${r.ratioP95} |`
      ),
      '',
    ];
    process.stdout.write(lines.join('\n'));
    writeResultsJson('console-lists', results, options.out);
  } finally {
    for (const t of targets) {
      t.agent.destroy();
      await t.tc.close().catch(() => undefined);
    }
    await pg?.stop().catch(() => undefined);
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}
