/**
 * Discovery end to end in the test's own network namespace (SPEC S1, S2, S3; issue 5 Proof "Discovery finds exactly
 * the listening TLS ports in a namespace-made range and bulk-imports them").
 *
 * Layout (addresses from 198.18.0.0/15 only, all made and removed by this test):
 * - namespace `cf-disc-<pid>` joined to this host by a veth pair 198.18.65.1/30 (host) — 198.18.65.2/30 (ns);
 * - the namespace owns 198.18.64.10–198.18.64.20 on its loopback; every other address of 198.18.64.0/27 is a
 *   blackhole there (packets silently dropped: the scan must rely on its connect timeout);
 * - the host routes 198.18.64.0/27 via the namespace, so the scanned range holds no address of the host itself.
 * Inside the namespace a Node process serves: TLS on .10:443 and .11:993 (one certificate, two endpoints), TLS on
 * .10:8443 (another certificate), TLS with leaf + intermediate on .12:636, a STARTTLS SMTP fake on .13:587, and a
 * plain TCP (not TLS) listener on .14:443. The scan of 198.18.64.0/27 × the default ports from the host must find
 * exactly the TLS ones (host, port, fingerprint computed by the `openssl` CLI); the import then creates one
 * definition per certificate with a monitored endpoint per host:port, and a second import reports all duplicates.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TestFn } from 'ava';
import { DEFAULT_PORTS, type ScanFinding, expandTargets, scan } from '@certfleet/shared';
import { runScan } from '../../../controller/src/cli/commands/scan';
import { importFindings } from '../../../controller/src/services/discovery/import-findings';
import { CertificateEntity, DefinitionEntity, MonitoredEndpointEntity } from '../../../controller/src/storage/entities';
import { startTestController, type TestController } from '../../_helpers/controller';
import { assertCommands, testNeeding } from '../../_helpers/needs';
import { opensslSelfSigned } from '../../_helpers/openssl-cert';
import { makeProbePki, opensslFingerprints, type ProbePki } from '../../_helpers/probe-pki';
import { tempRoot } from '../agent/_servers';

const NEEDS = ['ip', 'openssl'];
const test = (process.getuid?.() === 0 || process.env.CI === 'true' ? testNeeding(NEEDS) : anySkip()) as TestFn;
function anySkip(): TestFn {
  process.stderr.write('skipping discovery netns test: needs root for ip netns\n');
  return testNeeding(['certfleet-needs-root-for-netns']);
}

const RANGE = '198.18.64.0/27';
const NS_ADDRESSES = Array.from({ length: 11 }, (_, i) => `198.18.64.${10 + i}`);
const HOST_LINK = '198.18.65.1';
const NS_LINK = '198.18.65.2';

interface Listener {
  address: string;
  port: number;
  /** Certificate file (leaf first) and key served; absent for the plain TCP listener. */
  cert?: string;
  key?: string;
  starttls?: 'smtp';
}

interface Ctx {
  dir: string;
  ns: string;
  vethHost: string;
  vethNs: string;
  pki: ProbePki;
  servers?: ChildProcess;
  listeners: Listener[];
  /** host:port → expected leaf SHA-256 (openssl). */
  expected: Map<string, string>;
  tc?: TestController;
}
let ctx: Ctx | undefined;

const SERVER_SCRIPT = `
const fs = require('node:fs'); const net = require('node:net'); const tls = require('node:tls');
const listeners = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
let ready = 0;
const up = () => { if (++ready === listeners.length) process.stdout.write('ready\\n'); };
for (const l of listeners) {
  let server;
  if (!l.cert) {
    server = net.createServer((s) => { s.on('error', () => {}); s.end('HTTP/1.0 400 not TLS\\r\\n\\r\\n'); });
  } else {
    const secureContext = tls.createSecureContext({ cert: fs.readFileSync(l.cert), key: fs.readFileSync(l.key) });
    if (l.starttls === 'smtp') {
      server = net.createServer((socket) => {
        socket.on('error', () => {});
        socket.write('220 mail.disc.test ESMTP\\r\\n');
        let buf = '';
        const onData = (chunk) => {
          buf += chunk.toString('latin1');
          let nl;
          while ((nl = buf.indexOf('\\r\\n')) >= 0) {
            const line = buf.slice(0, nl); buf = buf.slice(nl + 2);
            if (/^(EHLO|HELO) /i.test(line)) socket.write('250-mail.disc.test\\r\\n250 STARTTLS\\r\\n');
            else if (/^STARTTLS$/i.test(line)) {
              socket.off('data', onData);
              socket.write('220 2.0.0 go ahead\\r\\n');
              const secure = new tls.TLSSocket(socket, { isServer: true, secureContext });
              secure.on('error', () => {});
              return;
            } else socket.write('502 5.5.2 unknown\\r\\n');
          }
        };
        socket.on('data', onData);
      });
    } else {
      server = tls.createServer({ cert: fs.readFileSync(l.cert), key: fs.readFileSync(l.key) }, (s) => { s.on('error', () => {}); s.end(); });
    }
  }
  server.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(3); });
  server.listen(l.port, l.address, up);
}
process.on('SIGTERM', () => process.exit(0));
`;

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}
const inNs = (args: string[]): void => sh('ip', ['netns', 'exec', (ctx as Ctx).ns, ...args]);

const selfSigned = (dir: string, name: string): Promise<{ cert: string; key: string }> =>
  opensslSelfSigned(dir, name, `/CN=${name}/O=CertFleet Discovery Tests`, { san: name, days: 90 });

test.before(async () => {
  if (process.env.CI === 'true' || process.env.CI === '1') assertCommands(NEEDS);
  const dir = tempRoot('certfleet-discovery-');
  const tag = String(process.pid % 100_000);
  ctx = {
    dir,
    ns: `cf-disc-${process.pid}`,
    vethHost: `cfdh${tag}`,
    vethNs: `cfdn${tag}`,
    pki: await makeProbePki(),
    listeners: [],
    expected: new Map(),
  };
  // The namespace, its link to the host, its addresses and the host's route to them.
  sh('ip', ['netns', 'add', ctx.ns]);
  inNs(['ip', 'link', 'set', 'lo', 'up']);
  sh('ip', ['link', 'add', ctx.vethHost, 'type', 'veth', 'peer', 'name', ctx.vethNs]);
  sh('ip', ['link', 'set', ctx.vethNs, 'netns', ctx.ns]);
  sh('ip', ['addr', 'add', `${HOST_LINK}/30`, 'dev', ctx.vethHost]);
  sh('ip', ['link', 'set', ctx.vethHost, 'up']);
  inNs(['ip', 'addr', 'add', `${NS_LINK}/30`, 'dev', ctx.vethNs]);
  inNs(['ip', 'link', 'set', ctx.vethNs, 'up']);
  for (const a of NS_ADDRESSES) inNs(['ip', 'addr', 'add', `${a}/32`, 'dev', 'lo']);
  inNs(['ip', 'route', 'add', 'blackhole', RANGE]);
  sh('ip', ['route', 'add', RANGE, 'via', NS_LINK, 'dev', ctx.vethHost]);

  // Certificates and the listeners inside the namespace.
  const a = await selfSigned(dir, 'a.disc.test');
  const b = await selfSigned(dir, 'b.disc.test');
  const mail = await selfSigned(dir, 'mail.disc.test');
  ctx.listeners = [
    { address: '198.18.64.10', port: 443, ...a },
    { address: '198.18.64.11', port: 993, ...a },
    { address: '198.18.64.10', port: 8443, ...b },
    { address: '198.18.64.12', port: 636, cert: ctx.pki.fullchainPath, key: ctx.pki.leafKeyPath },
    { address: '198.18.64.13', port: 587, ...mail, starttls: 'smtp' },
    { address: '198.18.64.14', port: 443 },
  ];
  for (const l of ctx.listeners) {
    if (l.cert) ctx.expected.set(`${l.address}:${l.port}`, (await opensslFingerprints(l.cert)).sha256);
  }
  const config = path.join(dir, 'listeners.json');
  fs.writeFileSync(config, JSON.stringify(ctx.listeners));
  const script = path.join(dir, 'servers.js');
  fs.writeFileSync(script, SERVER_SCRIPT);
  const child = spawn('ip', ['netns', 'exec', ctx.ns, process.execPath, script, config], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  ctx.servers = child;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('listeners in the namespace did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`listeners exited with ${code}`)));
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
});

test.after.always(async () => {
  if (!ctx) return;
  if (ctx.servers && ctx.servers.exitCode === null) {
    ctx.servers.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
  }
  await ctx.tc?.close();
  spawnSync('ip', ['route', 'del', RANGE, 'via', NS_LINK, 'dev', ctx.vethHost]);
  spawnSync('ip', ['link', 'del', ctx.vethHost]);
  spawnSync('ip', ['netns', 'delete', ctx.ns]);
  await ctx.pki.cleanup();
  fs.rmSync(ctx.dir, { recursive: true, force: true });
});

const key = (f: { host: string; port: number }): string => `${f.host}:${f.port}`;
const sorted = (pairs: Array<[string, string]>): string[] => pairs.map(([k, v]) => `${k} ${v}`).sort();

let findings: ScanFinding[] = [];

test.serial(
  'S1 S2 discovery finds exactly the listening TLS ports of a namespace-made range, each analysed',
  async (t) => {
    const c = ctx as Ctx;
    const targets = expandTargets([RANGE]);
    t.is(targets.length, 32);
    const progress: number[] = [];
    const result = await scan(targets, DEFAULT_PORTS, {
      connectTimeoutMs: 1_000,
      handshakeTimeoutMs: 5_000,
      progressIntervalMs: 100,
      onProgress: (p) => progress.push(p.done),
    });
    findings = result.findings;
    const { stats } = result;
    t.log(
      `scan ${RANGE} × ${DEFAULT_PORTS.length} ports: ${stats.pairs} pairs in ${stats.durationMs} ms (${stats.pairsPerSecond}/s); ` +
        `open ${stats.open}, closed ${stats.closed}, filtered ${stats.filtered}, unreachable ${stats.unreachable}`
    );
    t.is(stats.pairs, 320);
    t.is(stats.done, 320);
    t.is(stats.stopped, null);
    // Exactly the TLS listeners: host, port and the fingerprint openssl computes.
    t.deepEqual(
      sorted(findings.map((f) => [key(f), f.sha256])),
      sorted([...c.expected]),
      'findings = the TLS listeners started in the namespace'
    );
    t.is(findings.length, c.expected.size);
    // The plain TCP listener was open but is not a finding; the blackholed addresses were silent (connect timeout).
    t.is(stats.open, c.listeners.length);
    t.is(stats.tlsFailed, 1);
    t.is(stats.filtered, (32 - NS_ADDRESSES.length) * DEFAULT_PORTS.length);
    t.true(stats.durationMs < 15_000, `bounded by the connect timeout, took ${stats.durationMs} ms`);
    t.is(progress.at(-1), 320);

    // S2 analysis: self-signed and untrusted (test certificates), STARTTLS recorded, PEM kept for the import.
    const smtp = findings.find((f) => f.port === 587);
    t.is(smtp?.starttls, 'smtp');
    t.is(smtp?.host, '198.18.64.13');
    for (const f of findings) {
      t.is(f.status, 'failing');
      t.false(f.trusted);
      t.regex(f.pem, /^-----BEGIN CERTIFICATE-----/);
      t.truthy(f.checks.find((x) => x.code === 'ChainTrusted' && x.status === 'failing'));
      t.not(f.reason, 'Ok');
    }
    t.true(findings.find((f) => f.port === 443)?.selfSigned);
    const withChain = findings.find((f) => f.port === 636);
    t.false(withChain?.selfSigned);
    t.is(withChain?.chainPem.length, 1);
    t.is(withChain?.subject.includes('a.probe.test'), true);
  }
);

test.serial('S2 certfleet scan prints the same findings as CSV on stdout and progress on stderr', async (t) => {
  const c = ctx as Ctx;
  let out = '';
  let err = '';
  const code = await runScan(
    ['198.18.64.8-15', '--ports', '443,587,636,993,8443', '--timeout-ms', '800', '--concurrency', '64', '--csv'],
    { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } }
  );
  t.is(code, 0, err);
  const lines = out.trim().split(/\r\n/);
  t.is(lines[0], 'host,port,starttls,sha256,sha1,subject,issuer,notAfter,status,reason');
  const rows = lines.slice(1).map((l) => l.split(','));
  t.deepEqual(sorted(rows.map((r) => [`${r[0]}:${r[1]}`, r[3] as string])), sorted([...c.expected]));
  t.regex(err, /scan: 8 targets × 5 ports = 40 pairs/);
  t.regex(err, /40\/40 pairs/);
});

test.serial(
  'S3 the findings import as definitions with monitored endpoints; a second import is all duplicates',
  async (t) => {
    const c = ctx as Ctx;
    t.true(findings.length > 0);
    c.tc = await startTestController();
    const svc = c.tc.controller.ctx;
    // Findings travel as JSON (as the HTTP API returns and takes them).
    const wire: unknown = JSON.parse(JSON.stringify(findings));
    const first = await importFindings(svc, wire, { mode: 'monitored' }, 'test:discovery');
    const distinct = new Set(c.expected.values());
    t.is(first.imported.length, distinct.size);
    t.is(first.duplicates.length, 0);
    t.is(first.rejected.length, 0);

    const em = svc.db.em().fork();
    const certs = await em.find(CertificateEntity, { sha256: { $in: [...distinct] } });
    t.is(certs.length, distinct.size);
    for (const cert of certs) {
      t.is(cert.privateKeyId, null);
      t.is(cert.source, 'discovery');
      t.true(cert.isCurrent);
    }
    const defs = await em.find(DefinitionEntity, { id: { $in: first.imported.map((i) => i.definitionId) } });
    t.is(defs.length, distinct.size);
    t.true(defs.every((d) => d.operationMode === 'monitored'));
    const endpoints = await em.find(MonitoredEndpointEntity, {});
    t.deepEqual(new Set(endpoints.map((e) => key(e))), new Set(c.expected.keys()));
    for (const e of endpoints) {
      const sha = c.expected.get(key(e));
      t.is(certs.find((x) => x.definitionId === e.definitionId)?.sha256, sha, `${key(e)} belongs to its certificate`);
      t.is(e.probeFrom, 'controller');
      t.true(e.enabled);
      t.is(e.starttls, e.port === 587 ? 'smtp' : null);
    }
    // The shared certificate (.10:443 and .11:993) made one definition with two endpoints.
    const shared = first.imported.find((i) => i.sha256 === c.expected.get('198.18.64.10:443'));
    t.deepEqual(shared?.endpoints.map((e) => key(e)).sort(), ['198.18.64.10:443', '198.18.64.11:993']);

    const definitionsBefore = await em.fork().count(DefinitionEntity, {});
    const second = await importFindings(svc, wire, { mode: 'managed' }, 'test:discovery');
    t.is(second.imported.length, 0);
    t.deepEqual(new Set(second.duplicates.map((d) => d.sha256)), distinct);
    t.is((await em.fork().find(MonitoredEndpointEntity, {})).length, endpoints.length);
    t.is(await em.fork().count(DefinitionEntity, {}), definitionsBefore);
    t.is(await em.fork().count(CertificateEntity, { source: 'discovery' }), distinct.size);
  }
);
