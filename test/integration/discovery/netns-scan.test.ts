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
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { TestFn } from 'ava';
import { DEFAULT_PORTS, type ScanFinding, expandTargets, scan } from '@certfleet/shared';
import { runScan } from '../../../controller/src/cli/commands/scan';
import { importFindings } from '../../../controller/src/services/discovery/import-findings';
import { CertificateEntity, DefinitionEntity, MonitoredEndpointEntity } from '../../../controller/src/storage/entities';
import { startTestController, type TestController } from '../../_helpers/controller';
import { assertCommands, testNeeding } from '../../_helpers/needs';
import { opensslSelfSigned } from '../../_helpers/openssl-cert';
import { makeProbePki, opensslFingerprints, type ProbePki } from '../../_helpers/probe-pki';
import {
  type LinkedNamespace,
  type NsListener,
  createLinkedNamespace,
  inNamespace,
  removeLinkedNamespace,
  sh,
  startNsListeners,
  stopNsListeners,
} from '../../_helpers/netns-listeners';
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

interface Ctx {
  dir: string;
  net?: LinkedNamespace;
  pki: ProbePki;
  servers?: ChildProcess;
  listeners: NsListener[];
  /** host:port → expected leaf SHA-256 (openssl). */
  expected: Map<string, string>;
  tc?: TestController;
}
let ctx: Ctx | undefined;

const selfSigned = (dir: string, name: string): Promise<{ cert: string; key: string }> =>
  opensslSelfSigned(dir, name, `/CN=${name}/O=CertFleet Discovery Tests`, { san: name, days: 90 });

test.before(async () => {
  if (process.env.CI === 'true' || process.env.CI === '1') assertCommands(NEEDS);
  const dir = tempRoot('certfleet-discovery-');
  ctx = {
    dir,
    pki: await makeProbePki(),
    listeners: [],
    expected: new Map(),
  };
  // The namespace, its link to the host, its addresses and the host's route to them.
  const n = (ctx.net = createLinkedNamespace('disc', HOST_LINK, NS_LINK));
  for (const a of NS_ADDRESSES) inNamespace(n, ['ip', 'addr', 'add', `${a}/32`, 'dev', 'lo']);
  inNamespace(n, ['ip', 'route', 'add', 'blackhole', RANGE]);
  sh('ip', ['route', 'add', RANGE, 'via', NS_LINK, 'dev', n.vethHost]);

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
  ctx.servers = await startNsListeners(n.ns, dir, ctx.listeners);
});

test.after.always(async () => {
  if (!ctx) return;
  await stopNsListeners(ctx.servers);
  await ctx.tc?.close();
  if (ctx.net) spawnSync('ip', ['route', 'del', RANGE, 'via', NS_LINK, 'dev', ctx.net.vethHost]);
  removeLinkedNamespace(ctx.net);
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
