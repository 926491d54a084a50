/**
 * Issuance benchmark (issue 3, "Performance"): CertFleet's end-to-end server certificate issuance through the
 * built-in CA against the peers, measured in the same run on the same machine, so the result is a ratio.
 *
 * - CertFleet: `issueBatch` (controller/src/services/ca/bulk-issuance.ts) on its own embedded PostgreSQL, a fresh
 *   database per run with an active EC P-256 CA: per certificate a new P-256 key, the certificate, the sealed
 *   key, a definition, the current certificate row and the ca_issuances row, committed.
 * - `cfssl serve` (Debian golang-cfssl, a long-running Go CA) driven over `POST /api/v1/cfssl/newcert`
 *   (key generation + CSR + signing on the server) with the same concurrency, from this process over loopback
 *   with keep-alive; also at twice the concurrency, for information.
 * - `cfssl gencert` (one process per certificate, piped into cfssljson) and an `openssl genpkey` / `req` /
 *   `x509 -req` loop: per-process baselines.
 *
 * The peer commands are copies of ../shared/bench/{issue-setup,cfssl-serve,issue-cfssl,issue-openssl}.sh and
 * issue-cfssl-api.mjs (same CA profile, same request, same extensions), run from here so that each gets a free
 * port, a time bound and the same concurrency. Every certificate of every measured run is then checked with
 * `openssl verify -x509_strict -purpose sslserver` (in chunks of files) and Node's `X509Certificate.verify`.
 *
 * Runs of CertFleet and cfssl serve alternate (run 1 of each, then run 2, …) so that drift on a shared machine
 * hits both; the table reports medians. Everything listens on 127.0.0.1; every loop is bounded in count and time.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto, { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import type { Knex } from '@mikro-orm/postgresql';
import pino from 'pino';
import { systemClock } from '@certfleet/shared';
import { masterKeyFromBytes } from '../controller/src/secrets/master-key';
import { openPrivateKey, publicKeySha256 } from '../controller/src/secrets/key-vault';
import { issueBatch, type BulkIssueItem } from '../controller/src/services/ca/bulk-issuance';
import { rolloverCa } from '../controller/src/services/ca/lifecycle';
import type { ServiceContext } from '../controller/src/services/context';
import { ensureDatabase, openDatabase, withDatabase } from '../controller/src/storage/database';
import { startEmbeddedPostgres, type RunningPostgres } from '../controller/src/storage/embedded-postgres';

const execFileAsync = promisify(execFile);

export interface IssuanceBenchOptions {
  count?: number;
  concurrency?: number;
  runs?: number;
  baselineCount?: number;
  batchSize?: number;
  workers?: number;
  only?: 'certfleet' | 'peers';
  phaseTimeoutMs?: number;
  out?: string;
  keep?: boolean;
}

interface Verification {
  certificates: number;
  nodeVerified: number;
  opensslVerified: number;
  failures: string[];
}

interface RunFigure {
  run: number;
  n: number;
  wallS: number;
  certsPerS: number;
  /** CPU seconds of the measured process(es) during the run. */
  cpu?: Record<string, number>;
  extra?: Record<string, unknown>;
}

interface ToolResult {
  tool: string;
  label: string;
  concurrency: number;
  runs: RunFigure[];
  medianCertsPerS: number | null;
  verification: Verification | null;
  skipped?: string;
  note?: string;
}

function log(message: string): void {
  process.stderr.write(`# ${message}\n`);
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v "$1"`, 'sh', cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`process exited with code ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// CPU accounting from /proc (Linux): a process tree's user + system seconds, exited children included.

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function procStat(pid: number): { ppid: number; self: number; children: number } | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), self: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
  } catch {
    return null;
  }
}

/** CPU seconds used by `root` and its descendants (live ones, plus the reaped ones counted in cutime/cstime). */
function treeCpuSeconds(root: number): number {
  const stats = new Map<number, { ppid: number; self: number; children: number }>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = procStat(Number(entry));
    if (s) stats.set(Number(entry), s);
  }
  let ticks = 0;
  const walk = (pid: number): void => {
    const s = stats.get(pid);
    if (!s) return;
    ticks += s.self + s.children;
    for (const [child, cs] of stats) if (cs.ppid === pid) walk(child);
  };
  walk(root);
  return ticks / CLK_TCK;
}

function postmasterPid(dataDir: string): number | null {
  try {
    return Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]) || null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Verification: openssl verify (one file per certificate: `openssl verify` reads only the first one of a file)
// and Node's X509Certificate.verify + checkIssued.

async function verifyCertificates(label: string, pems: string[], caPem: string, dir: string): Promise<Verification> {
  const ca = new X509Certificate(caPem);
  const failures: string[] = [];
  let nodeVerified = 0;
  for (let i = 0; i < pems.length; i++) {
    try {
      const cert = new X509Certificate(pems[i]!);
      if (cert.checkIssued(ca) && cert.verify(ca.publicKey)) nodeVerified++;
      else failures.push(`${label} #${i}: Node verify failed`);
    } catch (err) {
      failures.push(`${label} #${i}: ${(err as Error).message}`);
    }
  }
  const vdir = fs.mkdtempSync(path.join(dir, `verify-${label}-`));
  const caFile = path.join(vdir, 'ca.pem');
  fs.writeFileSync(caFile, caPem);
  const files = pems.map((pem, i) => {
    const f = path.join(vdir, `${i}.pem`);
    fs.writeFileSync(f, pem);
    return f;
  });
  let opensslVerified = 0;
  const CHUNK = 400;
  for (let i = 0; i < files.length; i += CHUNK) {
    const chunk = files.slice(i, i + CHUNK);
    let stdout = '';
    try {
      ({ stdout } = await execFileAsync(
        'openssl',
        ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', caFile, ...chunk],
        { maxBuffer: 64 * 1024 * 1024 }
      ));
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      stdout = e.stdout ?? '';
      failures.push(`${label}: openssl verify: ${(e.stderr ?? '').trim().split('\n').slice(0, 3).join(' | ')}`);
    }
    opensslVerified += stdout.split('\n').filter((line) => line.endsWith(': OK')).length;
  }
  fs.rmSync(vdir, { recursive: true, force: true });
  return { certificates: pems.length, nodeVerified, opensslVerified, failures: failures.slice(0, 20) };
}

function mergeVerifications(vs: Verification[]): Verification {
  return {
    certificates: vs.reduce((a, v) => a + v.certificates, 0),
    nodeVerified: vs.reduce((a, v) => a + v.nodeVerified, 0),
    opensslVerified: vs.reduce((a, v) => a + v.opensslVerified, 0),
    failures: vs.flatMap((v) => v.failures).slice(0, 20),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// CertFleet

const LAG_RESOLUTION_MS = 5;

/** Milliseconds a timer of the event-loop histogram fired late (its value minus the sampling interval). */
function lateBy(nanoseconds: number): number {
  return +Math.max(0, nanoseconds / 1e6 - LAG_RESOLUTION_MS).toFixed(2);
}

interface CertFleetSetup {
  pg: RunningPostgres;
  pgPid: number | null;
}

async function certfleetRun(
  setup: CertFleetSetup,
  run: number,
  o: Required<Pick<IssuanceBenchOptions, 'count' | 'concurrency' | 'batchSize' | 'phaseTimeoutMs'>> & {
    workers: number | undefined;
  },
  workDir: string
): Promise<{ figure: RunFigure; verification: Verification }> {
  const name = `bench_${run}_${crypto.randomBytes(3).toString('hex')}`;
  await ensureDatabase(setup.pg.adminUrl, name);
  const db = await openDatabase(withDatabase(setup.pg.adminUrl, name));
  try {
    const ctx: ServiceContext = {
      db,
      masterKey: masterKeyFromBytes(crypto.randomBytes(32)),
      clock: systemClock,
      log: pino({ level: 'silent' }),
    };
    const ca = await rolloverCa(ctx, 'bench', { keySpec: 'EC-P256', name: 'CertFleet bench CA' });
    const items = (prefix: string, n: number): BulkIssueItem[] =>
      Array.from({ length: n }, (_, i) => ({
        commonName: `svc-${i + 1}.${prefix}.lab.test`,
        organization: 'certfleet-bench',
      }));
    const options = {
      concurrency: o.concurrency,
      batchSize: o.batchSize,
      ...(o.workers === undefined ? {} : { workers: o.workers }),
    };
    // Warm-up (JIT, CA signing material, connection pool), as cfssl serve is warmed up before it is measured.
    await issueBatch(ctx, { items: items(`warm${run}`, Math.min(400, o.count)) }, options);

    const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
    const cpu0 = process.cpuUsage();
    const pg0 = setup.pgPid ? treeCpuSeconds(setup.pgPid) : 0;
    lag.enable();
    const t0 = performance.now();
    const result = await issueBatch(
      ctx,
      { items: items(`run${run}`, o.count) },
      {
        ...options,
        signal: AbortSignal.timeout(o.phaseTimeoutMs),
      }
    );
    const wallS = (performance.now() - t0) / 1000;
    lag.disable();
    const cpu = process.cpuUsage(cpu0);
    const pgCpu = setup.pgPid ? treeCpuSeconds(setup.pgPid) - pg0 : null;

    // Read back what was committed: the certificates, and that every one has its key, definition and issuance.
    const knex = db.em().getKnex() as Knex;
    const certIds = result.certificates.map((c) => c.certificateId);
    const rows = (
      (await knex.raw(
        `select c.pem, c.private_key_id, c.is_current, k.sealed is not null as sealed,
                (select count(*) from ca_issuances i where i.certificate_id = c.id) as issuances,
                (select count(*) from certificate_definitions d where d.id = c.definition_id) as definitions
           from certificates c join private_keys k on k.id = c.private_key_id
          where c.id = any(?::uuid[])`,
        [certIds]
      )) as {
        rows: Array<{
          pem: string;
          private_key_id: string;
          is_current: boolean;
          sealed: boolean;
          issuances: string;
          definitions: string;
        }>;
      }
    ).rows;
    const verification = await verifyCertificates(
      `certfleet-${run}`,
      rows.map((r) => r.pem),
      ca.certificatePem!,
      workDir
    );
    if (rows.length !== o.count)
      verification.failures.push(`certfleet run ${run}: ${rows.length} of ${o.count} certificates in the repository`);
    const incomplete = rows.filter((r) => !r.sealed || !r.is_current || r.issuances !== '1' || r.definitions !== '1');
    if (incomplete.length)
      verification.failures.push(
        `certfleet run ${run}: ${incomplete.length} certificates lack a sealed key, definition, issuance or current flag`
      );
    // A sample of sealed keys opens under the master key and matches its certificate.
    const em = db.em();
    for (const r of rows.slice(0, 25)) {
      const key = await openPrivateKey(em, ctx.masterKey, r.private_key_id);
      if (publicKeySha256(key) !== publicKeySha256(new X509Certificate(r.pem).publicKey)) {
        verification.failures.push(
          `certfleet run ${run}: sealed key ${r.private_key_id} does not match its certificate`
        );
      }
    }
    return {
      figure: {
        run,
        n: result.issued,
        wallS,
        certsPerS: result.issued / wallS,
        cpu: { node: (cpu.user + cpu.system) / 1e6, ...(pgCpu === null ? {} : { postgres: pgCpu }) },
        extra: {
          workers: result.workers,
          batches: result.batches,
          // The histogram records timer intervals (an idle loop reads ≈ the resolution): minus the resolution,
          // what is left is how late the event loop was.
          eventLoopDelayMs: {
            p50: lateBy(lag.percentile(50)),
            p99: lateBy(lag.percentile(99)),
            max: lateBy(lag.max),
          },
        },
      },
      verification,
    };
  } finally {
    await db.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Peers (commands copied from ../shared/bench)

interface PeerCa {
  dir: string;
  caPem: string;
  caFile: string;
  keyFile: string;
  configFile: string;
}

/** As ../shared/bench/issue-setup.sh: an EC P-256 issuing CA and the cfssl "server" profile (90 days). */
async function setupPeerCa(workDir: string): Promise<PeerCa> {
  const dir = path.join(workDir, 'peer-ca');
  fs.mkdirSync(dir, { recursive: true });
  const keyFile = path.join(dir, 'ec-ca-key.pem');
  const caFile = path.join(dir, 'ec-ca.pem');
  await execFileAsync('openssl', [
    'genpkey',
    '-algorithm',
    'EC',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-out',
    keyFile,
  ]);
  await execFileAsync('openssl', [
    'req',
    '-x509',
    '-new',
    '-key',
    keyFile,
    '-subj',
    '/O=certfleet-bench/CN=Lab Perf Issuing CA (EC)',
    '-days',
    '3650',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    caFile,
  ]);
  const configFile = path.join(dir, 'cfssl-config.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      signing: {
        default: { expiry: '2160h' },
        profiles: { server: { expiry: '2160h', usages: ['digital signature', 'key encipherment', 'server auth'] } },
      },
    })
  );
  return { dir, caPem: fs.readFileSync(caFile, 'utf8'), caFile, keyFile, configFile };
}

/** As ../shared/bench/cfssl-serve.sh, on a free loopback port. */
async function startCfsslServe(
  ca: PeerCa,
  workDir: string
): Promise<{ child: ChildProcess; port: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const logFd = fs.openSync(path.join(workDir, 'cfssl-serve.log'), 'a');
  const child = spawn(
    'cfssl',
    [
      'serve',
      '-loglevel',
      '5',
      '-address',
      '127.0.0.1',
      '-port',
      String(port),
      '-ca',
      ca.caFile,
      '-ca-key',
      ca.keyFile,
      '-config',
      ca.configFile,
    ],
    { stdio: ['ignore', logFd, logFd] }
  );
  fs.closeSync(logFd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(port, 15_000, child);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    child,
    port,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/** As ../shared/bench/issue-cfssl-api.mjs: N × POST /api/v1/cfssl/newcert (ECDSA P-256), C in flight. */
async function cfsslNewcert(
  port: number,
  n: number,
  concurrency: number,
  prefix: string,
  deadline: number
): Promise<{ wallS: number; pems: string[] }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const pems: string[] = new Array(n);
  const post = (i: number): Promise<void> => {
    const cn = `svc-${i + 1}.${prefix}.lab.test`;
    const body = JSON.stringify({
      profile: 'server',
      request: { CN: cn, hosts: [cn], key: { algo: 'ecdsa', size: 256 }, names: [{ O: 'certfleet-bench' }] },
    });
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: '/api/v1/cfssl/newcert',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          timeout: 30_000,
        },
        (res) => {
          let data = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (data += c));
          res.on('end', () => {
            try {
              const j = JSON.parse(data) as {
                success?: boolean;
                result?: { certificate?: string; private_key?: string };
              };
              if (!j.success || !j.result?.certificate?.includes('BEGIN CERTIFICATE') || !j.result.private_key) {
                reject(new Error(`cfssl newcert failed: ${data.slice(0, 200)}`));
              } else {
                pems[i] = j.result.certificate;
                resolve();
              }
            } catch (err) {
              reject(err as Error);
            }
          });
        }
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(body);
    });
  };
  let next = 0;
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) {
          if (Date.now() > deadline) throw new Error('cfssl serve run exceeded the phase timeout');
          await post(next++);
        }
      })
    );
  } finally {
    agent.destroy();
  }
  return { wallS: (performance.now() - t0) / 1000, pems };
}

/** Runs `script` (bash, gets the certificate number as $1) for 1..n with `concurrency` processes, as xargs -P. */
async function processLoop(
  script: string,
  env: NodeJS.ProcessEnv,
  n: number,
  concurrency: number,
  deadline: number
): Promise<{ wallS: number; done: number; errors: string[] }> {
  let next = 1;
  let done = 0;
  const errors: string[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next <= n && Date.now() <= deadline) {
        const i = next++;
        await new Promise<void>((resolve) => {
          const child = spawn('bash', ['-c', script, 'one', String(i)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
          let stderr = '';
          child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
          const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(1000, deadline - Date.now()));
          child.on('exit', (code) => {
            clearTimeout(timer);
            if (code === 0) done++;
            else if (errors.length < 5) errors.push(`#${i} exited ${code}: ${stderr.trim().slice(0, 200)}`);
            resolve();
          });
        });
      }
    })
  );
  return { wallS: (performance.now() - t0) / 1000, done, errors };
}

/** As ../shared/bench/issue-cfssl.sh: one `cfssl gencert | cfssljson` per certificate. */
const GENCERT_SCRIPT = `set -euo pipefail
printf '{"CN":"svc-%d.lab.test","hosts":["svc-%d.lab.test"],"key":{"algo":"ecdsa","size":256},"names":[{"O":"certfleet-bench"}]}' "$1" "$1" \\
  | cfssl gencert -loglevel 5 -ca "$CA" -ca-key "$CAKEY" -config "$CFG" -profile server - \\
  | cfssljson -bare "$OUT/svc-$1"`;

/** As ../shared/bench/issue-openssl.sh: genpkey + req -new + x509 -req per certificate (3 processes). */
const OPENSSL_SCRIPT = `set -euo pipefail
b=$OUT/svc-$1; name=svc-$1.lab.test
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$b-key.pem"
openssl req -new -key "$b-key.pem" -subj "/O=certfleet-bench/CN=$name" -out "$b.csr"
openssl x509 -req -in "$b.csr" -CA "$CA" -CAkey "$CAKEY" -set_serial "0x$(od -An -N12 -tx1 /dev/urandom | tr -d ' \\n')" -days 90 \\
  -extfile <(printf 'basicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature,keyEncipherment\\nextendedKeyUsage=serverAuth\\nsubjectAltName=DNS:%s\\nsubjectKeyIdentifier=hash\\nauthorityKeyIdentifier=keyid\\n' "$name") \\
  -out "$b.pem" 2>/dev/null`;

async function perProcessTool(
  tool: 'cfssl-gencert' | 'openssl-cli',
  ca: PeerCa,
  workDir: string,
  n: number,
  runs: number,
  concurrency: number,
  timeoutMs: number
): Promise<ToolResult> {
  const figures: RunFigure[] = [];
  const verifications: Verification[] = [];
  for (let run = 1; run <= runs; run++) {
    const out = path.join(workDir, `${tool}-${run}`);
    fs.rmSync(out, { recursive: true, force: true });
    fs.mkdirSync(out, { recursive: true });
    const env = { ...process.env, CA: ca.caFile, CAKEY: ca.keyFile, CFG: ca.configFile, OUT: out };
    log(`${tool} run ${run}: ${n} certificates, ${concurrency} processes`);
    const r = await processLoop(
      tool === 'cfssl-gencert' ? GENCERT_SCRIPT : OPENSSL_SCRIPT,
      env,
      n,
      concurrency,
      Date.now() + timeoutMs
    );
    figures.push({
      run,
      n: r.done,
      wallS: r.wallS,
      certsPerS: r.done / r.wallS,
      ...(r.errors.length ? { extra: { errors: r.errors } } : {}),
    });
    const pems = fs
      .readdirSync(out)
      .filter((f) => f.endsWith('.pem') && !f.endsWith('-key.pem'))
      .map((f) => fs.readFileSync(path.join(out, f), 'utf8'));
    const v = await verifyCertificates(`${tool}-${run}`, pems, ca.caPem, workDir);
    if (r.done < n) v.failures.push(`${tool} run ${run}: ${r.done} of ${n} issued (errors or time limit)`);
    verifications.push(v);
    fs.rmSync(out, { recursive: true, force: true });
  }
  return {
    tool,
    label:
      tool === 'cfssl-gencert'
        ? `cfssl gencert ×${concurrency} (process per cert)`
        : `openssl CLI ×${concurrency} (3 processes per cert)`,
    concurrency,
    runs: figures,
    medianCertsPerS: median(figures.map((f) => f.certsPerS)),
    verification: mergeVerifications(verifications),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Report

function fmt(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function table(results: ToolResult[], ratio: number | null, header: string): string {
  const lines = [header, ''];
  const rows = [['tool', 'median certs/s', 'runs (certs/s)', 'verified (openssl / node)']];
  for (const r of results) {
    const v = r.verification;
    rows.push([
      r.label,
      r.skipped ? 'skipped' : fmt(r.medianCertsPerS),
      r.skipped ? r.skipped : r.runs.map((f) => fmt(f.certsPerS)).join(' / '),
      v ? `${fmt(v.opensslVerified)} / ${fmt(v.nodeVerified)} of ${fmt(v.certificates)}` : '-',
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const [i, r] of rows.entries()) {
    lines.push(r.map((cell, c) => (c === 1 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  '));
    if (i === 0) lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  lines.push('');
  lines.push(`ratio CertFleet / cfssl serve (same concurrency, medians): ${ratio === null ? '-' : ratio.toFixed(2)}`);
  return lines.join('\n');
}

/** CPU per certificate (medians over runs) and CertFleet's event-loop delay, under the table. */
function details(results: ToolResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const perCert = new Map<string, number[]>();
    for (const f of r.runs)
      for (const [k, v] of Object.entries(f.cpu ?? {})) perCert.set(k, [...(perCert.get(k) ?? []), (v / f.n) * 1e6]);
    if (perCert.size) {
      const parts = [...perCert].map(([k, v]) => `${k} ${fmt(median(v))} µs`);
      lines.push(`CPU per certificate, ${r.label}: ${parts.join(', ')}`);
    }
    const delays = r.runs
      .map((f) => f.extra?.eventLoopDelayMs as { p50: number; p99: number; max: number } | undefined)
      .filter((d) => d !== undefined);
    if (delays.length) {
      lines.push(
        `event loop delay during CertFleet runs (medians): p50 ${fmt(median(delays.map((d) => d.p50)), 1)} ms, ` +
          `p99 ${fmt(median(delays.map((d) => d.p99)), 1)} ms, max ${fmt(median(delays.map((d) => d.max)), 1)} ms`
      );
    }
  }
  return lines.length ? `\n${lines.join('\n')}` : '';
}

// ---------------------------------------------------------------------------------------------------------------

export async function runIssuanceBench(options: IssuanceBenchOptions): Promise<void> {
  const o = {
    count: options.count ?? 5000,
    concurrency: options.concurrency ?? 4,
    runs: options.runs ?? 3,
    batchSize: options.batchSize ?? 200,
    workers: options.workers,
    phaseTimeoutMs: options.phaseTimeoutMs ?? 300_000,
  };
  const baselineCount = options.baselineCount ?? Math.min(o.count, 300);
  const doCertfleet = options.only !== 'peers';
  const doPeers = options.only !== 'certfleet';
  const root = path.resolve(__dirname, '..');
  const started = new Date();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-bench-'));
  fs.chmodSync(workDir, 0o755); // the postgres OS user (when we are root) must reach the data dir
  log(
    `work directory ${workDir}; load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`
  );
  if (os.loadavg()[0]! > 0.5) log('warning: the machine is busy (load average > 0.5): figures will be noisy');

  const versions: Record<string, string> = { node: process.version, openssl: '-', cfssl: '-' };
  const missing = ['openssl', 'cfssl', 'cfssljson', 'bash'].filter((c) => !hasCommand(c));
  if (hasCommand('openssl')) versions.openssl = (await execFileAsync('openssl', ['version'])).stdout.trim();
  if (hasCommand('cfssl'))
    versions.cfssl = (await execFileAsync('cfssl', ['version'])).stdout.split('\n')[0]!.replace('Version: ', '').trim();
  if (missing.includes('openssl'))
    throw new Error('openssl is required (certificates are verified with openssl verify)');

  let pg: RunningPostgres | undefined;
  let serve: Awaited<ReturnType<typeof startCfsslServe>> | undefined;
  const certfleet: ToolResult = {
    tool: 'certfleet',
    label: `CertFleet issueBatch, end to end, ${o.concurrency} batches in flight`,
    concurrency: o.concurrency,
    runs: [],
    medianCertsPerS: null,
    verification: null,
  };
  const cfssl: ToolResult = {
    tool: 'cfssl-serve',
    label: `cfssl serve newcert ×${o.concurrency}`,
    concurrency: o.concurrency,
    runs: [],
    medianCertsPerS: null,
    verification: null,
  };
  const cfssl2: ToolResult = {
    tool: 'cfssl-serve-2c',
    label: `cfssl serve newcert ×${o.concurrency * 2} (information)`,
    concurrency: o.concurrency * 2,
    runs: [],
    medianCertsPerS: null,
    verification: null,
  };
  const results: ToolResult[] = [certfleet, cfssl, cfssl2];
  try {
    let peerCa: PeerCa | undefined;
    if (doCertfleet) {
      const t0 = Date.now();
      pg = await startEmbeddedPostgres({
        dataDir: path.join(workDir, 'pgdata'),
        passwordFile: path.join(workDir, 'pg-password'),
        locationFile: path.join(workDir, 'pgdata.location'),
      });
      log(`embedded PostgreSQL ready in ${Date.now() - t0} ms on port ${pg.port}`);
    }
    const cfsslUsable = doPeers && !missing.includes('cfssl') && !missing.includes('cfssljson');
    if (doPeers) {
      peerCa = await setupPeerCa(workDir);
      if (cfsslUsable) {
        serve = await startCfsslServe(peerCa, workDir);
        log(`cfssl serve on 127.0.0.1:${serve.port}`);
        await cfsslNewcert(serve.port, 300, o.concurrency, 'warm', Date.now() + o.phaseTimeoutMs); // warm-up
      }
    }
    if (!doCertfleet) certfleet.skipped = '--only peers';
    if (!doPeers) cfssl.skipped = cfssl2.skipped = '--only certfleet';
    else if (!cfsslUsable) cfssl.skipped = cfssl2.skipped = 'cfssl not installed (apt-get install golang-cfssl)';

    const cfVerifications: Verification[] = [];
    const cfsslVerifications: Verification[] = [];
    const pgPid = pg ? postmasterPid(pg.dataDir) : null;
    for (let run = 1; run <= o.runs; run++) {
      if (doCertfleet && pg) {
        log(`CertFleet run ${run}: ${o.count} certificates, concurrency ${o.concurrency}`);
        const r = await certfleetRun({ pg, pgPid }, run, { ...o }, workDir);
        certfleet.runs.push(r.figure);
        cfVerifications.push(r.verification);
        log(`  ${fmt(r.figure.certsPerS)} certs/s`);
      }
      if (serve && !cfssl.skipped) {
        for (const [target, c] of [
          [cfssl, o.concurrency],
          [cfssl2, o.concurrency * 2],
        ] as const) {
          log(`cfssl serve run ${run}: ${o.count} certificates, concurrency ${c}`);
          const cpu0 = serve.child.pid ? treeCpuSeconds(serve.child.pid) : 0;
          const node0 = process.cpuUsage();
          const r = await cfsslNewcert(serve.port, o.count, c, `r${run}c${c}`, Date.now() + o.phaseTimeoutMs);
          const node = process.cpuUsage(node0);
          target.runs.push({
            run,
            n: o.count,
            wallS: r.wallS,
            certsPerS: o.count / r.wallS,
            cpu: {
              cfssl: serve.child.pid ? treeCpuSeconds(serve.child.pid) - cpu0 : 0,
              nodeClient: (node.user + node.system) / 1e6,
            },
          });
          log(`  ${fmt(o.count / r.wallS)} certs/s`);
          if (target === cfssl)
            cfsslVerifications.push(await verifyCertificates(`cfssl-serve-${run}`, r.pems, peerCa!.caPem, workDir));
        }
      }
    }
    if (cfVerifications.length) certfleet.verification = mergeVerifications(cfVerifications);
    if (cfsslVerifications.length) cfssl.verification = mergeVerifications(cfsslVerifications);
    certfleet.medianCertsPerS = median(certfleet.runs.map((f) => f.certsPerS));
    cfssl.medianCertsPerS = median(cfssl.runs.map((f) => f.certsPerS));
    cfssl2.medianCertsPerS = median(cfssl2.runs.map((f) => f.certsPerS));
    await serve?.stop();
    serve = undefined;

    if (doPeers && peerCa) {
      if (cfsslUsable) {
        results.push(
          await perProcessTool('cfssl-gencert', peerCa, workDir, baselineCount, o.runs, o.concurrency, o.phaseTimeoutMs)
        );
      } else {
        results.push({
          tool: 'cfssl-gencert',
          label: 'cfssl gencert',
          concurrency: o.concurrency,
          runs: [],
          medianCertsPerS: null,
          verification: null,
          skipped: 'cfssl not installed',
        });
      }
      results.push(
        await perProcessTool('openssl-cli', peerCa, workDir, baselineCount, o.runs, o.concurrency, o.phaseTimeoutMs)
      );
    }
  } finally {
    await serve?.stop();
    await pg?.stop();
    if (!options.keep) fs.rmSync(workDir, { recursive: true, force: true });
    else log(`kept ${workDir}`);
  }

  const ratio =
    certfleet.medianCertsPerS !== null && cfssl.medianCertsPerS !== null
      ? certfleet.medianCertsPerS / cfssl.medianCertsPerS
      : null;
  const header =
    `P-256 server certificate issuance: N=${fmt(o.count)} (per-process loops: ${fmt(baselineCount)}), concurrency ${o.concurrency}, ` +
    `medians of ${o.runs}\n${os.availableParallelism()} cores, Node ${versions.node}, ${versions.openssl}, cfssl ${versions.cfssl}`;
  process.stdout.write(`\n${table(results, ratio, header)}\n`);
  process.stdout.write(`${details(results)}\n`);
  const failures = results.flatMap((r) => r.verification?.failures ?? []);
  if (failures.length) process.stdout.write(`\nverification problems:\n  ${failures.join('\n  ')}\n`);

  const report = {
    benchmark: 'issuance',
    startedAt: started.toISOString(),
    machine: {
      cores: os.availableParallelism(),
      cpu: os.cpus()[0]?.model ?? 'unknown',
      memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
      loadAverageAtStart: os.loadavg(),
      ...versions,
    },
    parameters: { ...o, baselineCount },
    ratioCertfleetToCfsslServe: ratio === null ? null : +ratio.toFixed(3),
    results,
  };
  const out =
    options.out ??
    path.join(
      root,
      'bench',
      'results',
      `issuance-${started
        .toISOString()
        .replace(/[:.]/g, '-')
        .replace(/-\d{3}Z$/, 'Z')}.json`
    );
  fs.mkdirSync(path.dirname(out), { recursive: true });
  // Formatted as the repository's Prettier config wants it, so that `npm run lint` accepts the committed file.
  const prettier = await import('prettier');
  const config = (await prettier.resolveConfig(out)) ?? {};
  fs.writeFileSync(out, await prettier.format(JSON.stringify(report), { ...config, parser: 'json' }));
  process.stdout.write(`\nresults written to ${path.relative(process.cwd(), out)}\n`);
}
