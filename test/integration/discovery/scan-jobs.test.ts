/**
 * Discovery scans as persisted jobs over the HTTP API (SPEC S1, S2, S3), against loopback listeners this test
 * starts itself on 127.61.<n>.1–4 (ports chosen after `ss -ltn` shows nothing listens on them):
 *
 *            P1                 P2                 P3 (STARTTLS smtp)       P4
 *   .1       TLS cert A         TLS cert F (CN =…) silent                   closed
 *   .2       TLS cert X (CN <script>) plain, not TLS closed                  closed
 *   .3       silent             TLS cert A         silent                   closed
 *   .4       silent             silent             SMTP + STARTTLS cert M   closed
 *
 * "Silent" listeners accept and never answer (each costs the handshake timeout), so the scan lasts a few seconds
 * at concurrency 1 and its progress can be watched advancing. Fingerprints are computed by the `openssl` CLI.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { TestFn } from 'ava';
import { runScan } from '../../../controller/src/cli/commands/scan';
import { CertificateEntity, DefinitionEntity, MonitoredEndpointEntity } from '../../../controller/src/storage/entities';
import { startTestController, type TestController } from '../../_helpers/controller';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { opensslSelfSigned } from '../../_helpers/openssl-cert';
import { FAKE_DIALOGUES, closeAll, fakeStartTlsServer, opensslFingerprints } from '../../_helpers/probe-pki';
import { tempRoot } from '../agent/_servers';
import { assertOnlyOurListeners, listenAt, silentServer, tlsFileServer, unusedPorts } from './_ports';

const NEEDS = ['openssl', 'ss'];
const test = testNeeding(NEEDS) as TestFn;

const NET = `127.61.${process.pid % 250}`;
const HOSTS = [1, 2, 3, 4].map((i) => `${NET}.${i}`) as [string, string, string, string];
const FORMULA_CN = '=HYPERLINK("http://x.test","y")';
const XSS_CN = '<script>alert(1)</script>';

interface Cert {
  cert: string;
  key: string;
  sha256: string;
  sha1: string;
}

interface Ctx {
  dir: string;
  servers: net.Server[];
  held: net.Socket[];
  ports: [number, number, number, number];
  certs: { A: Cert; F: Cert; X: Cert; M: Cert };
  /** host:port → leaf SHA-256 of every TLS endpoint. */
  expected: Map<string, string>;
  tc: TestController;
  token: string;
  scanId?: string;
}
let ctx: Ctx | undefined;

async function selfSigned(dir: string, name: string, subj: string, san?: string): Promise<Cert> {
  const made = await opensslSelfSigned(dir, name, subj, { ...(san ? { san } : {}), days: 30 });
  return { ...made, ...(await opensslFingerprints(made.cert)) };
}

const listen = (c: Ctx, server: net.Server, host: string, port: number) => listenAt(c.servers, server, host, port);

test.before(async () => {
  if (isCI) assertCommands(NEEDS);
  const dir = tempRoot('certfleet-disc-jobs-');
  const ports = (await unusedPorts(4)) as [number, number, number, number];
  const [P1, P2, P3] = ports;
  const [H1, H2, H3, H4] = HOSTS;
  const certs = {
    A: await selfSigned(dir, 'a', '/CN=a.disc.test/O=CertFleet Discovery Tests', 'a.disc.test'),
    F: await selfSigned(dir, 'f', `/CN=${FORMULA_CN.replace(/\//g, '\\/')}/O=CertFleet Discovery Tests`),
    X: await selfSigned(dir, 'x', `/CN=${XSS_CN.replace(/\//g, '\\/')}/O=CertFleet Discovery Tests`),
    M: await selfSigned(dir, 'm', '/CN=mail.disc.test/O=CertFleet Discovery Tests', 'mail.disc.test'),
  };
  const c: Ctx = { dir, servers: [], held: [], ports, certs, expected: new Map(), tc: undefined as never, token: '' };
  ctx = c;
  const silent = () => silentServer(c.held);
  const served: Array<[string, number, Cert]> = [
    [H1, P1, certs.A],
    [H3, P2, certs.A],
    [H1, P2, certs.F],
    [H2, P1, certs.X],
  ];
  for (const [host, port, cert] of served) {
    await listen(c, tlsFileServer(cert), host, port);
    c.expected.set(`${host}:${port}`, cert.sha256);
  }
  const smtp = fakeStartTlsServer(
    FAKE_DIALOGUES.smtp,
    tls.createSecureContext({ cert: fs.readFileSync(certs.M.cert), key: fs.readFileSync(certs.M.key) })
  );
  await listen(c, smtp, H4, P3);
  c.expected.set(`${H4}:${P3}`, certs.M.sha256);
  await listen(
    c,
    net.createServer((s) => {
      s.on('error', () => undefined);
      s.end('HTTP/1.0 400 not TLS\r\n\r\n');
    }),
    H2,
    P2
  );
  for (const [host, port] of [
    [H3, P1],
    [H4, P1],
    [H4, P2],
    [H3, P3],
    [H1, P3],
  ] as const)
    await listen(c, silent(), host, port);
  // Nothing but these listeners may answer on the scanned ports (a wildcard listener would be scanned too).
  await assertOnlyOurListeners(ports, new Set(HOSTS));
  c.tc = await startTestController();
  c.token = await c.tc.adminToken();
});

test.after.always(async () => {
  if (!ctx) return;
  for (const s of ctx.held) s.destroy();
  closeAll(ctx.servers);
  await ctx.tc?.close();
  fs.rmSync(ctx.dir, { recursive: true, force: true });
});

const api = (method: string, url: string, body?: unknown) => {
  const c = ctx as Ctx;
  return c.tc.request(method, url, body, c.token);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ScanJson {
  id: string;
  status: string;
  total: number;
  done: number;
  findings: number;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
  stats: Record<string, number | string | null> | null;
}

interface FindingJson {
  id: string;
  host: string;
  port: number;
  starttls: string | null;
  sha256: string;
  sha1: string;
  commonName: string | null;
  subject: string;
  selfSigned: boolean;
  trusted: boolean;
  validity: string;
  daysToExpiry: number;
  weakAlgorithms: string[];
  status: string;
  probedBy: string;
  pem?: string;
}

/** A small RFC 4180 reader (quoted fields, doubled quotes, CRLF records). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"' && cell === '') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += ch;
  }
  return rows;
}

test.serial(
  'S1 a controller-run scan is a background job: 202 at once, progress advances, it ends done with exactly the served certificates',
  async (t) => {
    const c = ctx as Ctx;
    const [P1, P2, P3, P4] = c.ports;
    const started = Date.now();
    const res = await api('POST', '/api/v1/discovery/scans', {
      targets: [`${NET}.1-4`],
      ports: [P1, P2, P4],
      starttlsPorts: [{ port: P3, protocol: 'smtp' }],
      concurrency: 1,
      timeoutMs: 1_000,
      handshakeTimeoutMs: 700,
      runBy: { kind: 'controller' },
    });
    t.is(res.status, 202, JSON.stringify(res.json));
    t.true(Date.now() - started < 2_000, 'answered before the scan ran');
    const accepted = res.json as ScanJson;
    t.regex(accepted.id, /^[0-9a-f-]{36}$/);
    t.is(accepted.total, 16);
    t.true(['queued', 'running'].includes(accepted.status));
    c.scanId = accepted.id;

    // Watch it from the API while it runs: done advances (written about once a second) until the scan is done.
    const seen: ScanJson[] = [];
    let scan = accepted;
    for (let i = 0; i < 300 && !['done', 'failed', 'cancelled', 'interrupted'].includes(scan.status); i++) {
      await sleep(100);
      scan = (await api('GET', `/api/v1/discovery/scans/${accepted.id}`)).json as ScanJson;
      seen.push(scan);
    }
    t.is(scan.status, 'done', JSON.stringify(scan));
    const running = seen.filter((s) => s.status === 'running' && s.done > 0 && s.done < s.total);
    t.true(running.length > 0, `progress seen while running: ${seen.map((s) => `${s.status}:${s.done}`).join(' ')}`);
    const dones = seen.map((s) => s.done);
    t.deepEqual(
      dones,
      [...dones].sort((a, b) => a - b),
      'done never goes back'
    );
    t.is(scan.done, 16);
    t.is(scan.findings, c.expected.size);
    t.truthy(scan.startedAt);
    t.truthy(scan.finishedAt);
    t.is(scan.error, null);
    // 5 TLS + 1 plain + 5 silent listeners accepted; the silent ones and the plain one did not complete TLS.
    t.is(scan.stats?.open, 11);
    t.is(scan.stats?.tlsFailed, 6);
    t.is(scan.stats?.closed, 5);

    // Exactly the served certificates, by host:port, with the fingerprints openssl computes.
    const report = (await api('GET', `/api/v1/discovery/scans/${accepted.id}/report`)).json as {
      findings: FindingJson[];
    };
    t.deepEqual(
      report.findings.map((f) => `${f.host}:${f.port} ${f.sha256}`).sort(),
      [...c.expected].map(([k, v]) => `${k} ${v}`).sort()
    );
    // The list shows it too.
    const list = (await api('GET', '/api/v1/discovery/scans')).json as ScanJson[];
    t.is(list.find((s) => s.id === accepted.id)?.status, 'done');
  }
);

test.serial('S2 the JSON report carries each certificate’s analysis; CSV and HTML are escaped', async (t) => {
  const c = ctx as Ctx;
  const id = c.scanId as string;
  t.truthy(id, 'needs the scan of the first test');
  const [H1, H2, , H4] = HOSTS;
  const [P1, P2, P3] = c.ports;
  const res = await api('GET', `/api/v1/discovery/scans/${id}/report?pem=true`);
  t.is(res.status, 200);
  const report = res.json as {
    scan: ScanJson;
    summary: Record<string, number>;
    findings: FindingJson[];
  };
  t.is(report.scan.id, id);
  t.is(report.summary.findings, 5);
  t.is(report.summary.certificates, 4);
  t.is(report.summary.selfSigned, 5);
  t.is(report.summary.untrusted, 5);
  t.is(report.summary.expiringSoon, 5, 'the 30-day certificates expire within 30 days');
  for (const f of report.findings) {
    const cert = Object.values(c.certs).find((x) => x.sha256 === f.sha256) as Cert;
    t.is(f.sha1, cert.sha1, `${f.host}:${f.port} SHA-1`);
    t.true(f.selfSigned, JSON.stringify(f));
    t.false(f.trusted);
    t.is(f.validity, 'valid');
    t.true(f.daysToExpiry >= 28 && f.daysToExpiry <= 30, String(f.daysToExpiry));
    t.deepEqual(f.weakAlgorithms, []);
    t.is(f.status, 'failing'); // untrusted
    t.is(f.probedBy, 'controller');
    t.regex(f.pem ?? '', /^-----BEGIN CERTIFICATE-----/);
  }
  const smtp = report.findings.find((f) => f.host === H4 && f.port === P3);
  t.is(smtp?.starttls, 'smtp');
  t.is(smtp?.commonName, 'mail.disc.test');
  t.is(report.findings.find((f) => f.host === H1 && f.port === P2)?.commonName, FORMULA_CN);
  t.is(report.findings.find((f) => f.host === H2 && f.port === P1)?.commonName, XSS_CN);
  // Report order: by address, then port (numerically).
  const inOrder = [
    [1, P1],
    [1, P2],
    [2, P1],
    [3, P2],
    [4, P3],
  ].sort((a, b) => (a[0] as number) - (b[0] as number) || (a[1] as number) - (b[1] as number));
  t.deepEqual(
    report.findings.map((f) => `${f.host}:${f.port}`),
    inOrder.map(([h, p]) => `${NET}.${h}:${p}`)
  );

  // CSV: RFC 4180, CRLF, header; a formula-leading cell is prefixed with a quote and quoted.
  const csv = await api('GET', `/api/v1/discovery/scans/${id}/report.csv`);
  t.is(csv.status, 200);
  t.regex(String(csv.headers['content-type']), /^text\/csv/);
  const text = csv.json as string;
  t.true(text.endsWith('\r\n'), text);
  t.false(/[^\r]\n/.test(text), 'every line ends with CRLF');
  const rows = parseCsv(text);
  const header = rows[0] as string[];
  t.deepEqual(header.slice(0, 6), ['host', 'port', 'starttls', 'address', 'serverName', 'commonName']);
  t.is(rows.length, 6);
  const col = (name: string): number => header.indexOf(name);
  const formulaRow = rows.find((r) => r[col('sha256')] === c.certs.F.sha256) as string[];
  t.is(formulaRow[col('commonName')], `'${FORMULA_CN}`, 'formula CN prefixed with a quote');
  t.true(text.includes(`"'=HYPERLINK(""http://x.test"",""y"")"`), text);
  t.false(/(^|,)=/m.test(text), 'no cell starts with =');
  for (const r of rows.slice(1)) {
    t.is(r.length, header.length);
    t.is(r[col('trusted')], 'false');
    t.is(r[col('selfSigned')], 'true');
    t.is(r[col('sha256')], c.expected.get(`${r[col('host')]}:${r[col('port')]}`));
  }
  t.is(rows.find((r) => r[col('port')] === String(P3))?.[col('starttls')], 'smtp');

  // HTML: text escaped, no script, no inline style; the stylesheet is served by the controller (no login).
  const html = await api('GET', `/api/v1/discovery/scans/${id}/report.html`);
  t.is(html.status, 200);
  t.regex(String(html.headers['content-type']), /^text\/html/);
  const page = html.json as string;
  t.true(page.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  t.false(/<script/i.test(page), 'no script element');
  t.false(/<style|style=/i.test(page), 'no inline styles');
  t.true(page.includes(c.certs.A.sha256), page);
  t.true(page.includes(FORMULA_CN.replace(/"/g, '&quot;')), page);
  const href = /<link rel="stylesheet" href="([^"]+)">/.exec(page)?.[1];
  t.is(href, '/api/v1/discovery/report.css');
  const css = await c.tc.request('GET', href as string);
  t.is(css.status, 200);
  t.regex(String(css.headers['content-type']), /^text\/css/);
  t.regex(css.json as string, /table\{/);

  const missing = await api('GET', `/api/v1/discovery/scans/00000000-0000-4000-8000-000000000000/report.csv`);
  t.is(missing.status, 404);
});

test.serial('S3 importing a scan’s findings creates definitions once; a second import is all duplicates', async (t) => {
  const c = ctx as Ctx;
  const id = c.scanId as string;
  t.truthy(id, 'needs the scan of the first test');
  const report = (await api('GET', `/api/v1/discovery/scans/${id}/report`)).json as { findings: FindingJson[] };
  const chosen = report.findings.filter((f) => f.sha256 === c.certs.A.sha256 || f.sha256 === c.certs.M.sha256);
  t.is(chosen.length, 3);
  const body = { findingIds: chosen.map((f) => f.id), mode: 'monitored' };
  const em = () => c.tc.controller.ctx.db.em().fork();
  const before = await em().count(DefinitionEntity, {});

  const first = await api('POST', `/api/v1/discovery/scans/${id}/import`, body);
  t.is(first.status, 200, JSON.stringify(first.json));
  const imported = first.json as {
    imported: Array<{ sha256: string; definitionId: string; endpoints: Array<{ host: string; port: number }> }>;
    duplicates: Array<{ sha256: string }>;
  };
  t.deepEqual(imported.imported.map((i) => i.sha256).sort(), [c.certs.A.sha256, c.certs.M.sha256].sort());
  t.deepEqual(imported.duplicates, []);
  // One definition for certificate A with its two endpoints.
  const a = imported.imported.find((i) => i.sha256 === c.certs.A.sha256);
  t.deepEqual(
    a?.endpoints.map((e) => `${e.host}:${e.port}`).sort(),
    [`${HOSTS[0]}:${c.ports[0]}`, `${HOSTS[2]}:${c.ports[1]}`].sort()
  );
  t.is(await em().count(DefinitionEntity, {}), before + 2);
  const endpoints = await em().find(MonitoredEndpointEntity, {
    definitionId: { $in: imported.imported.map((i) => i.definitionId) },
  });
  t.is(endpoints.length, 3);
  t.true(endpoints.every((e) => e.probeFrom === 'controller'));
  t.is(endpoints.find((e) => e.port === c.ports[2])?.starttls, 'smtp');
  const certs = await em().find(CertificateEntity, { sha256: { $in: [c.certs.A.sha256, c.certs.M.sha256] } });
  t.is(certs.length, 2);
  t.true(
    certs.every((x) => x.source === 'discovery' && x.isCurrent),
    'discovered certificates are current'
  );

  const second = await api('POST', `/api/v1/discovery/scans/${id}/import`, { ...body, mode: 'managed' });
  t.is(second.status, 200, JSON.stringify(second.json));
  const again = second.json as { imported: unknown[]; duplicates: Array<{ sha256: string }> };
  t.deepEqual(again.imported, []);
  t.deepEqual(again.duplicates.map((d) => d.sha256).sort(), [c.certs.A.sha256, c.certs.M.sha256].sort());
  t.is(await em().count(DefinitionEntity, {}), before + 2);
  t.is(await em().count(MonitoredEndpointEntity, {}), endpoints.length);

  // An id that is not a finding of this scan: refused, nothing imported.
  const foreign = await api('POST', `/api/v1/discovery/scans/${id}/import`, {
    findingIds: ['00000000-0000-4000-8000-000000000000'],
    mode: 'monitored',
  });
  t.is(foreign.status, 404);
  t.regex(JSON.stringify(foreign.json), /not in scan/);
});

test.serial('S1 bad scan requests are refused with precise errors and store nothing', async (t) => {
  const before = ((await api('GET', '/api/v1/discovery/scans')).json as unknown[]).length;
  const refused = async (body: unknown, status: number, message: RegExp) => {
    const r = await api('POST', '/api/v1/discovery/scans', body);
    t.is(r.status, status, JSON.stringify(r.json));
    t.regex((r.json as { error: { message: string } }).error.message, message);
  };
  // 65,536 addresses × 17 ports = 1,114,112 pairs: over the cap (nothing is contacted: refused up front).
  await refused(
    { targets: ['198.18.0.0/16'], ports: ['443', '8000-8015'] },
    400,
    /65536 targets × 17 ports = 1114112 pairs; at most 1048576 per scan/
  );
  await refused(
    { targets: ['198.18.0.0/8'] },
    400,
    /198\.18\.0\.0\/8: a \/8 is 16777216 addresses; the widest block is \/16/
  );
  await refused({ targets: ['198.18.0.1'], ports: ['70000'] }, 400, /ports are 1-65535/);
  await refused(
    { targets: ['198.18.0.1'], ports: [443], starttlsPorts: [{ port: 443, protocol: 'smtp' }] },
    400,
    /port 443 is listed in both ports and starttlsPorts/
  );
  await refused({ targets: ['198.18.0.1'], starttlsPorts: [{ port: 25, protocol: 'http' }] }, 400, /protocol/);
  await refused(
    { targets: ['198.18.0.1'], runBy: { kind: 'agent', agentId: '00000000-0000-4000-8000-000000000000' } },
    404,
    /no active agent/
  );
  await refused({ targets: ['198.18.0.1'], trustSet: 'no-such-set' }, 404, /trust set no-such-set not found/);
  await refused({ targets: [] }, 400, /targets/);
  t.is(((await api('GET', '/api/v1/discovery/scans')).json as unknown[]).length, before);
});

test.serial('S1 certfleet scan --progress prints progress lines on stderr at most once a second', async (t) => {
  const c = ctx as Ctx;
  const [P1, P2, P3, P4] = c.ports;
  const args = [
    `${NET}.1-4`,
    '--ports',
    `${P1},${P2},${P3}/smtp,${P4}`,
    '--concurrency',
    '1',
    '--timeout-ms',
    '1000',
    '--handshake-timeout-ms',
    '700',
    '--json',
  ];
  const runCli = async (extra: string[]) => {
    let out = '';
    const err: Array<{ at: number; line: string }> = [];
    const code = await runScan([...args, ...extra], {
      stdout: { write: (s: string) => (out += s) },
      stderr: {
        write: (s: string) => {
          for (const line of s.split('\n').filter(Boolean)) err.push({ at: Date.now(), line });
        },
      },
    });
    return { code, out, err };
  };
  const PROGRESS = /^scan: (\d+)\/16 pairs \(\d+(?:\.\d)?%\), \d+ pairs\/s, (\d+) found, \d+\.\d s elapsed$/;

  const live = await runCli(['--progress']);
  t.is(live.code, 0, live.err.map((e) => e.line).join('\n'));
  const findings = JSON.parse(live.out) as Array<{ host: string; port: number; sha256: string }>;
  t.deepEqual(
    findings.map((f) => `${f.host}:${f.port} ${f.sha256}`).sort(),
    [...c.expected].map(([k, v]) => `${k} ${v}`).sort()
  );
  const lines = live.err.filter((e) => PROGRESS.test(e.line));
  t.true(lines.length >= 2, live.err.map((e) => e.line).join('\n'));
  for (let i = 1; i < lines.length; i++)
    t.true(
      (lines[i] as { at: number }).at - (lines[i - 1] as { at: number }).at >= 950,
      'at most one progress line a second'
    );
  const dones = lines.map((l) => Number(PROGRESS.exec(l.line)?.[1]));
  t.deepEqual(
    dones,
    [...dones].sort((a, b) => a - b)
  );
  t.true(dones.every((d) => d > 0 && d < 16));
  t.regex(live.err[0]?.line ?? '', /^scan: 4 targets × 4 ports = 16 pairs$/);
  t.regex(live.err.at(-1)?.line ?? '', /^scan: 16\/16 pairs in \d+ ms .*: 5 TLS, 11 open, 5 closed/);

  // Without --progress: the first and the summary line only; with --no-progress: nothing on stderr.
  const plain = await runCli([]);
  t.is(plain.code, 0);
  t.deepEqual(
    plain.err.map((e) => PROGRESS.test(e.line)),
    [false, false]
  );
  const silent = await runCli(['--no-progress']);
  t.is(silent.code, 0);
  t.deepEqual(silent.err, []);
  t.is((JSON.parse(silent.out) as unknown[]).length, 5);
});
