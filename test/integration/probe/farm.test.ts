/**
 * The farm proof (issue 5, Proof bullet 1): at least 1,000 loopback TLS endpoints built here, swept with
 * `probeEndpoint` + `evaluateChecks`, and every verdict (status + primary reason) and every fingerprint compared
 * with the farm's truth computed by the `openssl` CLI — 100% agreement required.
 *
 * - PKI: an in-test root + intermediate (EC P-256) and leaves (EC P-256, every fourth RSA-2048) from
 *   test/_helpers/test-pki.ts. Categories: correct (monitored and managed), expiring (< 30 d), expired, wrong
 *   hostname, self-signed, missing intermediate, unexpected fingerprint (managed, expecting another certificate).
 * - Endpoints: two forked node processes (`_farm-server.ts`), each serving hundreds of listeners on its own
 *   127.0.0.x address; ports `ss -ltn` shows as taken are skipped, EADDRINUSE moves on to the next port.
 *   Certificates are shared by several endpoints, so the truth is computed once per distinct certificate.
 * - Truth, per certificate, with openssl only: `x509 -fingerprint -sha256/-sha1 -subject -issuer -checkhost`,
 *   `verify -CAfile root.pem [-untrusted served.pem]`, `x509 -checkend 0 / 2592000` (exit status), mapped to a verdict by
 *   {@link truthVerdict} in the order of the check chain (first failure wins).
 */
import { type ChildProcess, execFile, execFileSync, fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type CheckContext, type TrustSet, evaluateChecks, probeEndpoint, trustSetFromPems } from '@certfleet/shared';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { type TestCert, type TestKey, daysFromNow, testCa, testCert, testKey } from '../../_helpers/test-pki';

const run = promisify(execFile);
const test = testNeeding(['openssl', 'ss']);

type Category =
  | 'correct'
  | 'correctManaged'
  | 'expiring'
  | 'expired'
  | 'wrongHostname'
  | 'selfSigned'
  | 'missingIntermediate'
  | 'unexpectedFingerprint';

/** Distinct certificates and endpoints per category (1,100 endpoints, 72 certificates). */
const PLAN: Record<Category, { certs: number; endpoints: number; reason: string }> = {
  correct: { certs: 16, endpoints: 400, reason: 'Ok' },
  correctManaged: { certs: 8, endpoints: 100, reason: 'Ok' },
  expiring: { certs: 8, endpoints: 100, reason: 'CertificateExpiringSoon' },
  expired: { certs: 8, endpoints: 100, reason: 'CertificateExpired' },
  wrongHostname: { certs: 8, endpoints: 100, reason: 'HostnameMismatch' },
  selfSigned: { certs: 8, endpoints: 100, reason: 'SelfSigned' },
  missingIntermediate: { certs: 8, endpoints: 100, reason: 'IntermediateMissing' },
  unexpectedFingerprint: { certs: 8, endpoints: 100, reason: 'ServedCertMismatch' },
};

const SERVER = path.join(__dirname, '_farm-server.ts');
const HOSTS = ['127.0.0.201', '127.0.0.202'];
const CONCURRENCY = 64;
const THRESHOLD_DAYS = 30;

interface FarmCert {
  id: number;
  category: Category;
  checkName: string;
  leaf: TestCert;
  served: TestCert[];
  mode: 'managed' | 'monitored';
  /** Managed: the definition's current certificate (the leaf itself, or another one for unexpectedFingerprint). */
  current?: TestCert;
  files: { leaf: string; served?: string; current?: string };
}

/** What openssl says about one certificate. */
interface Truth {
  sha256: string;
  sha1: string;
  servedSha256: string[];
  verify: { ok: boolean; error?: number; depth?: number; text: string };
  notExpired: boolean;
  notExpiring: boolean;
  hostMatches: boolean;
  selfIssued: boolean;
  currentSha256?: string;
  intermediateSha256: string;
}

async function openssl(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('openssl', args, { encoding: 'utf8' });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, out: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

async function fingerprint(file: string, digest: 'sha256' | 'sha1'): Promise<string> {
  const { out } = await openssl(['x509', '-in', file, '-noout', '-fingerprint', `-${digest}`]);
  const m = /Fingerprint=([0-9A-F:]+)/i.exec(out);
  if (!m?.[1]) throw new Error(`openssl fingerprint: ${out}`);
  return m[1].replace(/:/g, '').toLowerCase();
}

/** Fingerprints of the files shared by many certificates (the intermediate, the "current" certificates). */
const fileFingerprints = new Map<string, Promise<string>>();
function fingerprintOnce(file: string): Promise<string> {
  let fp = fileFingerprints.get(file);
  if (!fp) fileFingerprints.set(file, (fp = fingerprint(file, 'sha256')));
  return fp;
}

/** Four openssl runs per certificate (each costs ≈ 25 ms of process start-up here). */
async function truthOf(c: FarmCert, rootFile: string, interFile: string): Promise<Truth> {
  const verifyArgs = ['verify', '-CAfile', rootFile, ...(c.files.served ? ['-untrusted', c.files.served] : [])];
  const leafX509 = ['x509', '-in', c.files.leaf, '-noout'];
  const [info, sha1, end30, verify, intermediateSha256, servedSha256, currentSha256] = await Promise.all([
    // SHA-256, names and the -checkhost verdict (openssl 3.0 stops printing after -checkend, so no -checkend here)
    openssl([
      ...leafX509,
      '-fingerprint',
      '-sha256',
      '-subject',
      '-issuer',
      '-nameopt',
      'RFC2253',
      '-checkhost',
      c.checkName,
    ]),
    // SHA-1; exit status = -checkend 0 (1 when expired)
    openssl([...leafX509, '-fingerprint', '-sha1', '-checkend', '0']),
    // exit status = -checkend 30 days
    openssl([...leafX509, '-checkend', String(THRESHOLD_DAYS * 86_400)]),
    openssl([...verifyArgs, c.files.leaf]),
    fingerprintOnce(interFile),
    c.files.served ? fingerprintOnce(c.files.served).then((fp) => [fp]) : Promise.resolve([]),
    c.files.current ? fingerprintOnce(c.files.current) : Promise.resolve(undefined),
  ]);
  const fp = (out: string): string => {
    const m = /Fingerprint=([0-9A-F:]+)/i.exec(out);
    if (!m?.[1]) throw new Error(`openssl fingerprint: ${out}`);
    return m[1].replace(/:/g, '').toLowerCase();
  };
  const err = /error (\d+) at (\d+) depth lookup/.exec(verify.out);
  const subject = /^subject=(.*)$/m.exec(info.out)?.[1];
  const issuer = /^issuer=(.*)$/m.exec(info.out)?.[1];
  if (/does NOT match/.test(info.out) === /does match/.test(info.out)) throw new Error(`checkhost: ${info.out}`);
  return {
    sha256: fp(info.out),
    sha1: fp(sha1.out),
    servedSha256,
    verify: {
      ok: verify.code === 0 && /: OK\s*$/.test(verify.out),
      ...(err ? { error: Number(err[1]), depth: Number(err[2]) } : {}),
      text: verify.out.trim(),
    },
    notExpired: sha1.code === 0,
    notExpiring: end30.code === 0,
    hostMatches: /does match/.test(info.out),
    selfIssued: subject !== undefined && subject === issuer,
    ...(currentSha256 === undefined ? {} : { currentSha256 }),
    intermediateSha256,
  };
}

/**
 * The oracle's verdict from openssl's findings, in the order of the check chain (first failure wins):
 * managed → fingerprint, then the deployed intermediate; monitored → `openssl verify` (error + depth named like the
 * ChainTrusted/IntermediatesServed reasons); then host name, expiry, the 30-day threshold, self-signed.
 */
function truthVerdict(c: FarmCert, t: Truth): { status: string; reason: string } {
  const fail = (reason: string): { status: string; reason: string } => ({ status: 'failing', reason });
  if (c.mode === 'managed') {
    if (t.sha256 !== t.currentSha256) return fail('ServedCertMismatch');
    if (!t.servedSha256.includes(t.intermediateSha256)) return fail('IntermediateMissing');
  } else if (!t.verify.ok) {
    const { error, depth } = t.verify;
    if (error === 20 && depth === 0) return fail('IntermediateMissing'); // unable to get local issuer certificate
    if (error === 18) return fail('SelfSigned'); // self-signed certificate
    if (error === 10) return fail(depth === 0 ? 'CertificateExpired' : 'IntermediateExpired');
    if (error === 9) return fail(depth === 0 ? 'CertificateNotYetValid' : 'IntermediateNotYetValid');
    if (error === 19 || error === 20 || error === 2) return fail('ChainUntrusted');
    return fail(`OpenSslVerifyError${error ?? '?'}`);
  }
  if (!t.hostMatches) return fail('HostnameMismatch');
  if (!t.notExpired) return fail('CertificateExpired');
  if (!t.notExpiring) return { status: 'warning', reason: 'CertificateExpiringSoon' };
  if (t.selfIssued) return { status: 'warning', reason: 'SelfSigned' };
  return { status: 'ok', reason: 'Ok' };
}

/** Listening TCP ports of every process on the machine (`ss -ltnH`), to stay clear of them. */
function busyPorts(): Set<number> {
  const out = execFileSync('ss', ['-ltnH'], { encoding: 'utf8' });
  const ports = new Set<number>();
  for (const line of out.split('\n')) {
    const local = line.trim().split(/\s+/)[3];
    const m = local ? /:(\d+)$/.exec(local) : null;
    if (m?.[1]) ports.add(Number(m[1]));
  }
  return ports;
}

async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const children: ChildProcess[] = [];
let workDir: string | undefined;

test.after.always(() => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill('SIGTERM');
  }
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

async function buildCerts(dir: string): Promise<{ certs: FarmCert[]; root: TestCert; inter: TestCert }> {
  const { root, intermediate } = await testCa('Farm');
  const rsaKeys: TestKey[] = await Promise.all([testKey('rsa-2048'), testKey('rsa-2048')]);
  const certs: FarmCert[] = [];
  let id = 0;
  for (const category of Object.keys(PLAN) as Category[]) {
    for (let k = 0; k < PLAN[category].certs; k++, id++) {
      const checkName = `c${id}.farm.test`;
      const key = id % 4 === 1 ? rsaKeys[id % rsaKeys.length] : undefined;
      const subject = `O=CertFleet Farm, CN=${checkName}`;
      const base = { subject, issuer: intermediate, dns: [checkName], ...(key ? { key } : {}) };
      let leaf: TestCert;
      if (category === 'expiring') leaf = await testCert({ ...base, notAfter: daysFromNow(7) });
      else if (category === 'expired')
        leaf = await testCert({ ...base, notBefore: daysFromNow(-120), notAfter: daysFromNow(-30) });
      else if (category === 'wrongHostname') leaf = await testCert({ ...base, dns: [`wrong-c${id}.example.invalid`] });
      else if (category === 'selfSigned') {
        const { issuer: _none, ...self } = base;
        leaf = await testCert(self);
      } else leaf = await testCert(base);
      const served = category === 'selfSigned' || category === 'missingIntermediate' ? [] : [intermediate];
      const managed = category === 'correctManaged' || category === 'unexpectedFingerprint';
      const current = !managed
        ? undefined
        : category === 'unexpectedFingerprint'
          ? await testCert({ ...base, notBefore: daysFromNow(-60), notAfter: daysFromNow(30 + id) })
          : leaf;
      const files: FarmCert['files'] = { leaf: path.join(dir, `leaf-${id}.pem`) };
      writeFileSync(files.leaf, leaf.pem);
      if (served.length) {
        files.served = path.join(dir, `served-${id}.pem`);
        writeFileSync(files.served, served.map((c) => c.pem).join(''));
      }
      if (current) {
        files.current = path.join(dir, `current-${id}.pem`);
        writeFileSync(files.current, current.pem);
      }
      certs.push({
        id,
        category,
        checkName,
        leaf,
        served,
        mode: managed ? 'managed' : 'monitored',
        ...(current ? { current } : {}),
        files,
      });
    }
  }
  return { certs, root, inter: intermediate };
}

interface Endpoint {
  cert: FarmCert;
  host: string;
  port: number;
}

async function startFarm(certs: FarmCert[]): Promise<Endpoint[]> {
  const busy = busyPorts();
  const want: FarmCert[] = [];
  for (const c of certs) {
    const per = PLAN[c.category].endpoints / PLAN[c.category].certs;
    for (let i = 0; i < per; i++) want.push(c);
  }
  const base = 21_000 + Math.floor(Math.random() * 8_000); // below the ephemeral range (32768+)
  const perHost = Math.ceil(want.length / HOSTS.length);
  const ports = Array.from({ length: perHost * 2 }, (_, i) => base + i).filter((p) => !busy.has(p) && p < 32_768);
  const replies = await Promise.all(
    HOSTS.map(
      (host, h) =>
        new Promise<Endpoint[]>((resolve, reject) => {
          const child = fork(SERVER, [], {
            execArgv: ['--import', 'tsx'],
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          });
          children.push(child);
          const mine = want.slice(h * perHost, (h + 1) * perHost);
          child.once('error', reject);
          child.once('exit', (code) => reject(new Error(`farm server ${host} exited with ${code}`)));
          child.once('message', (msg: { bound: Array<{ id: number; host: string; port: number }>; failed: number }) => {
            if (msg.failed) reject(new Error(`farm server ${host}: ${msg.failed} endpoints found no free port`));
            resolve(msg.bound.map((b) => ({ cert: mine[b.id] as FarmCert, host: b.host, port: b.port })));
          });
          child.send({
            type: 'serve',
            host,
            ports,
            endpoints: mine.map((c, i) => ({
              id: i,
              cert: [c.leaf, ...c.served].map((x) => x.pem).join(''),
              key: c.leaf.key.privateKeyPem,
            })),
          });
        })
    )
  );
  return replies.flat();
}

test('farm: ≥ 1,000 loopback endpoints, every verdict and fingerprint equals the openssl truth', async (t) => {
  t.timeout(110_000);
  if (isCI) assertCommands(['openssl', 'ss']);
  const t0 = performance.now();
  const mark = (): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
  workDir = mkdtempSync(path.join(tmpdir(), 'certfleet-farm-'));
  const { certs, root, inter } = await buildCerts(workDir);
  const rootFile = path.join(workDir, 'root.pem');
  const interFile = path.join(workDir, 'inter.pem');
  writeFileSync(rootFile, root.pem);
  writeFileSync(interFile, inter.pem);
  t.log(`PKI: ${certs.length} distinct leaf certificates at ${mark()}`);

  const farmPromise = startFarm(certs);
  farmPromise.catch(() => undefined); // awaited below; a failure before that must not be an unhandled rejection
  const truths = new Map<number, Truth>();
  await pool(certs, 8, async (c) => truths.set(c.id, await truthOf(c, rootFile, interFile)));
  t.log(`openssl truth for ${truths.size} certificates at ${mark()}`);
  // the oracle must see each category as intended (guards against an oracle that says "ok" to everything)
  for (const c of certs) {
    const v = truthVerdict(c, truths.get(c.id) as Truth);
    t.is(v.reason, PLAN[c.category].reason, `${c.category} #${c.id}: openssl says ${JSON.stringify(v)}`);
  }

  const endpoints = await farmPromise;
  t.true(endpoints.length >= 1000, `${endpoints.length} endpoints`);
  t.log(`farm: ${endpoints.length} endpoints on ${HOSTS.join(', ')} at ${mark()}`);

  const trustSet: TrustSet = trustSetFromPems('farm', [root.pem]);
  const sweepStart = performance.now();
  const mismatches: string[] = [];
  let checksMs = 0;
  const byCategory = new Map<string, number>();
  await pool(endpoints, CONCURRENCY, async (ep) => {
    const c = ep.cert;
    const truth = truths.get(c.id) as Truth;
    const observation = await probeEndpoint({
      host: ep.host,
      port: ep.port,
      serverName: c.checkName,
      timeoutMs: 10_000,
    });
    const ctx: CheckContext = {
      now: new Date(),
      mode: c.mode,
      checkName: c.checkName,
      expiryThresholdDays: THRESHOLD_DAYS,
      ...(c.mode === 'managed'
        ? { expectedSha256: truth.currentSha256 as string, expectedChainSha256: [truth.intermediateSha256] }
        : { trustSet }),
    };
    const e0 = performance.now();
    const outcome = evaluateChecks(observation, ctx);
    checksMs += performance.now() - e0;
    const expected = truthVerdict(c, truth);
    const where = `${ep.host}:${ep.port} (${c.category} #${c.id})`;
    if (outcome.status !== expected.status || outcome.reason !== expected.reason)
      mismatches.push(
        `${where}: got ${outcome.status}/${outcome.reason} (${outcome.message}), openssl says ${expected.status}/${expected.reason}`
      );
    if (outcome.leaf?.sha256 !== truth.sha256 || outcome.leaf?.sha1 !== truth.sha1)
      mismatches.push(
        `${where}: fingerprints ${outcome.leaf?.sha256}/${outcome.leaf?.sha1} ≠ ${truth.sha256}/${truth.sha1}`
      );
    const chain = outcome.chain.map((x) => x.sha256);
    if (JSON.stringify(chain) !== JSON.stringify(truth.servedSha256))
      mismatches.push(`${where}: served chain ${chain.join(',')} ≠ ${truth.servedSha256.join(',')}`);
    byCategory.set(
      `${c.category}: ${outcome.status}/${outcome.reason}`,
      (byCategory.get(`${c.category}: ${outcome.status}/${outcome.reason}`) ?? 0) + 1
    );
  });
  const sweepMs = performance.now() - sweepStart;
  t.log(
    `sweep: ${endpoints.length} endpoints in ${(sweepMs / 1000).toFixed(2)} s = ${Math.round((endpoints.length / sweepMs) * 1000)} endpoints/s (concurrency ${CONCURRENCY}, one process, probe + checks; checks ${(checksMs / endpoints.length).toFixed(2)} ms/endpoint)`
  );
  for (const [k, n] of [...byCategory].sort()) t.log(`  ${k}: ${n}`);
  const agree = endpoints.length - new Set(mismatches.map((m) => m.split(':').slice(0, 2).join(':'))).size;
  t.log(`agreement: ${agree}/${endpoints.length} (${((agree / endpoints.length) * 100).toFixed(2)} %) at ${mark()}`);
  t.deepEqual(mismatches.slice(0, 20), [], `${mismatches.length} mismatches`);
});
