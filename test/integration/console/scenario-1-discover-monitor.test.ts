/**
 * The manual's §4.1 Scenario 1 ("many TLS servers, monitoring only"), walked end to end through the console in a
 * real browser (Debian Chromium via playwright-core) over a real controller (HTTPS, fresh PostgreSQL):
 *
 * 1. W8 discovery: a scan over loopback TLS listeners this test starts itself (127.64.<n>.1–3, on ports `ss -ltn`
 *    shows free; one silent listener makes the progress visible), followed to the end;
 * 2. the scan report: every finding selected and bulk-imported as Monitored-Only (one certificate served on two
 *    endpoints becomes one definition: duplicates by fingerprint);
 * 3. W6 "run monitor now" → the run report, per endpoint;
 * 4. W1 monitor view; the definitions whose certificates come from the organisation's own CA are edited to check
 *    against the organisation's trusted CA set (the manual: "edit the definitions as needed");
 * 5. W6 again: the correct server is OK, the expiring, self-signed and wrong-host ones show their reason codes.
 *
 * The truth is computed independently: every certificate is made by the `openssl` CLI, and `openssl verify`
 * (with -verify_ip) and `openssl x509 -checkend` say which one is valid, expiring, self-signed or for another host.
 * The stored results are read back through the API and compared with it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import {
  apiOk,
  assertAccessible,
  assertNoPageProblems,
  ensureConsoleBuilt,
  launchChromium,
  loginThroughPage,
  openConsolePage,
  SCENARIO_WINDOW,
  screenshot,
  type PageProblems,
} from '../../_helpers/console';
import { startTestController, type TestController } from '../../_helpers/controller';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { opensslCsr, opensslRootCa, opensslSelfSigned } from '../../_helpers/openssl-cert';
import { closeAll, opensslFingerprints } from '../../_helpers/probe-pki';
import { tempRoot } from '../agent/_servers';
import { assertOnlyOurListeners, listenAt, silentServer, tlsFileServer, unusedPorts } from '../discovery/_ports';

const NEEDS = ['chromium', 'openssl', 'ss'];
const test = testNeeding(NEEDS);
const run = promisify(execFile);
const NET = `127.64.${process.pid % 250}`;
const [H1, H2, H3] = [1, 2, 3].map((i) => `${NET}.${i}`) as [string, string, string];
const ORG = 'CertFleet Scenario One';
const TRUST_SET = 'scenario1-org-roots';

/** One certificate the test made: files, and the truth about it from the openssl CLI. */
interface Made {
  cn: string;
  cert: string;
  key: string;
  sha256: string;
  notAfter: Date;
}

interface Ctx {
  tc: TestController;
  token: string;
  browser: Browser;
  page: Page;
  problems: PageProblems;
  dir: string;
  servers: net.Server[];
  held: net.Socket[];
  ports: [number, number];
  ca: { cert: string; key: string };
  certs: { good: Made; expiring: Made; self: Made; wrongHost: Made };
}
let ctx: Ctx | undefined;

function must(): Ctx {
  if (!ctx) throw new Error('setup failed');
  return ctx;
}

const ok = apiOk(must);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function opensslNotAfter(cert: string): Promise<Date> {
  const { stdout } = await run('openssl', ['x509', '-in', cert, '-noout', '-enddate']);
  return new Date(stdout.trim().replace(/^notAfter=/, ''));
}

async function made(cn: string, cert: string, key: string): Promise<Made> {
  return { cn, cert, key, sha256: (await opensslFingerprints(cert)).sha256, notAfter: await opensslNotAfter(cert) };
}

/** The organisation's root CA (EC P-256), made by `openssl req -x509`. */
function opensslCa(dir: string): Promise<{ cert: string; key: string }> {
  return opensslRootCa(dir, 'org-ca', `/CN=Scenario One Org Root/O=${ORG}`);
}

/** A server certificate for `cn` issued by the organisation's CA (`openssl x509 -req`), SANs as given. */
async function opensslLeaf(
  dir: string,
  ca: { cert: string; key: string },
  name: string,
  cn: string,
  san: string,
  days: number
): Promise<Made> {
  const cert = path.join(dir, `${name}.pem`);
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(
    ext,
    `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`
  );
  const { csr, key } = await opensslCsr(dir, name, `/CN=${cn}/O=${ORG}`);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-days',
    String(days),
    '-extfile',
    ext,
    '-out',
    cert,
  ]);
  return made(cn, cert, key);
}

/** `openssl verify` of `cert` against the organisation's CA for IP `ip`: '' when valid, else openssl's error. */
async function opensslVerdict(c: Ctx, cert: string, ip: string): Promise<string> {
  try {
    await run('openssl', ['verify', '-CAfile', c.ca.cert, '-purpose', 'sslserver', '-verify_ip', ip, cert]);
    return '';
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? '') + String((err as { stderr?: string }).stderr ?? '');
  }
}

/** Whether `openssl x509 -checkend` says `cert` expires within `days`. */
async function opensslExpiresWithin(cert: string, days: number): Promise<boolean> {
  try {
    await run('openssl', ['x509', '-in', cert, '-noout', '-checkend', String(days * 86_400)]);
    return false;
  } catch {
    return true;
  }
}

async function go(page: Page, linkName: RegExp): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: linkName }).click();
}

test.before(async () => {
  if (isCI) assertCommands(NEEDS);
  const dir = tempRoot('certfleet-scenario1-');
  const ports = (await unusedPorts(2)) as [number, number];
  const ca = await opensslCa(dir);
  const certs = {
    good: await opensslLeaf(dir, ca, 'good', 'good.scenario1.test', `DNS:good.scenario1.test,IP:${H1},IP:${H2}`, 200),
    expiring: await opensslLeaf(
      dir,
      ca,
      'expiring',
      'expiring.scenario1.test',
      `DNS:expiring.scenario1.test,IP:${H1}`,
      10
    ),
    wrongHost: await opensslLeaf(dir, ca, 'wrong', 'other.scenario1.test', 'DNS:other.scenario1.test', 200),
    self: await (async () => {
      const { cert, key } = await opensslSelfSigned(dir, 'self', `/CN=self.scenario1.test/O=${ORG}`, {
        days: 200,
        addext: [`subjectAltName=DNS:self.scenario1.test,IP:${H2}`],
      });
      return made('self.scenario1.test', cert, key);
    })(),
  };
  const c = { dir, servers: [], held: [], ports, ca, certs } as unknown as Ctx;
  ctx = c;
  // The fleet: H1:P1 and H2:P1 serve the same correct certificate, H1:P2 one that expires in 10 days, H2:P2 a
  // self-signed one, H3:P1 one issued for another host name, H3:P2 accepts and never answers (no finding; the scan
  // waits its handshake timeout there, so its progress is visible before the end).
  const [P1, P2] = ports;
  await listenAt(c.servers, tlsFileServer(certs.good), H1, P1);
  await listenAt(c.servers, tlsFileServer(certs.expiring), H1, P2);
  await listenAt(c.servers, tlsFileServer(certs.good), H2, P1);
  await listenAt(c.servers, tlsFileServer(certs.self), H2, P2);
  await listenAt(c.servers, tlsFileServer(certs.wrongHost), H3, P1);
  await listenAt(c.servers, silentServer(c.held), H3, P2);
  await assertOnlyOurListeners(ports, new Set([H1, H2, H3]));

  await ensureConsoleBuilt();
  c.tc = await startTestController();
  c.token = await c.tc.adminToken();
  // Precondition (not part of the scenario): the organisation's root is registered as a trusted CA set.
  await ok('POST', '/api/v1/trust-sets', {
    name: TRUST_SET,
    description: 'the organisation CA',
    pem: fs.readFileSync(ca.cert, 'utf8'),
  });
  c.browser = await launchChromium();
  ({ page: c.page, problems: c.problems } = await openConsolePage(c.browser, c.tc.controller.url, SCENARIO_WINDOW));
  await loginThroughPage(c.page, { path: '/discovery', level: 1, landing: /Discovery/ });
});

test.after.always(async () => {
  if (!ctx) return;
  for (const s of ctx.held) s.destroy();
  closeAll(ctx.servers);
  fs.rmSync(ctx.dir, { recursive: true, force: true });
  await ctx.browser?.close().catch(() => undefined);
  await ctx.tc?.close();
});

interface DefinitionJson {
  id: string;
  name: string;
  operationMode: string;
  trustedCaSetId: string | null;
}
interface EndpointJson {
  host: string;
  port: number;
  probeFrom: string;
  enabled: boolean;
}
interface RunJson {
  id: string;
  status: string;
  endpoints: number;
  ok: number;
  warning: number;
  failing: number;
  results: Array<{
    endpoint: string;
    definitionId: string;
    status: string;
    reason: string;
    leafSha256?: string | null;
    leafNotAfter?: string | null;
  }>;
}

/** W6: "Run monitor now", wait for it, open its report; returns the run id and the report's rows. */
async function runMonitorNow(page: Page, shot: string): Promise<{ runId: string; rows: Map<string, string[]> }> {
  await go(page, /^Monitor control/);
  await page.getByRole('heading', { level: 1, name: /Monitor control/ }).waitFor();
  await page.getByRole('button', { name: 'Run monitor now' }).click();
  // The run probes 5 endpoints (with a 10 s probe timeout at worst): bounded by the locator timeout.
  const open = page.getByRole('link', { name: 'Open its report' });
  await open.waitFor({ timeout: 60_000 });
  await screenshot(page, `${shot}-run-now`);
  await open.click();
  await page.getByRole('heading', { level: 1, name: /Monitoring run report/ }).waitFor();
  const runId = /\/monitoring\/runs\/([0-9a-f-]{36})$/.exec(new URL(page.url()).pathname)?.[1] ?? '';
  const table = page.locator('#run-results-table');
  await table.waitFor();
  const rows = new Map<string, string[]>();
  const count = await table.locator('tbody tr').count();
  for (let i = 0; i < count; i++) {
    const row = table.locator('tbody tr').nth(i);
    const cells = (await row.locator('th, td').allTextContents()).map((x) => x.trim());
    // The reason cell: the reason code, then the message in a <span class="sub">.
    const reason = await row
      .locator('td')
      .nth(1)
      .evaluate(
        (el) => (el as unknown as { firstChild: { textContent: string | null } | null }).firstChild?.textContent
      );
    cells[2] = `${(reason ?? '').trim()} — ${cells[2]?.slice((reason ?? '').trim().length) ?? ''}`;
    rows.set(cells[0] ?? '', cells);
  }
  await screenshot(page, `${shot}-report`);
  return { runId, rows };
}

test.serial(
  'scenario 1 (manual §4.1) S1 S2 S3 M1 M3 M6 W8 W6 W1: discover the TLS servers, bulk-import as Monitored-Only, run now, read the per-endpoint results with their reason codes',
  async (t) => {
    const c = must();
    const { page, problems, ports, certs } = c;
    const [P1, P2] = ports;
    const ep = (h: string, p: number) => `${h}:${p}`;
    const ENDPOINTS = {
      good1: ep(H1, P1),
      good2: ep(H2, P1),
      expiring: ep(H1, P2),
      self: ep(H2, P2),
      wrongHost: ep(H3, P1),
    };

    // The truth, from the openssl CLI.
    t.is(await opensslVerdict(c, certs.good.cert, H1), '');
    t.is(await opensslVerdict(c, certs.good.cert, H2), '');
    t.is(await opensslVerdict(c, certs.expiring.cert, H1), '');
    t.regex(await opensslVerdict(c, certs.wrongHost.cert, H3), /IP address mismatch/i);
    t.regex(await opensslVerdict(c, certs.self.cert, H2), /self[- ]signed/i);
    t.true(await opensslExpiresWithin(certs.expiring.cert, 30), 'openssl: expires within 30 days');
    t.false(await opensslExpiresWithin(certs.good.cert, 30));

    // 1. W8: the scan through the form, followed to the end.
    await assertAccessible(t, page, 'discovery');
    await screenshot(page, 'scenario-1-discovery');
    await page.getByLabel('Targets').fill(`${H1}\n${H2}\n${H3}`);
    await page.getByLabel('Ports').fill(`${P1}, ${P2}`);
    await page.getByLabel('Run by').selectOption('controller');
    await page.getByRole('button', { name: 'Start scan' }).click();
    await page.getByRole('heading', { level: 1, name: /Discovery scan/ }).waitFor();
    const seen: string[] = [];
    let shot = false;
    for (let i = 0; i < 240; i++) {
      const status =
        (await page
          .locator('#scan-status')
          .textContent()
          .catch(() => null)) ?? '';
      const text =
        (await page
          .locator('#scan-counts')
          .textContent()
          .catch(() => null)) ?? '';
      if (text && seen[seen.length - 1] !== `${status}: ${text}`) seen.push(`${status}: ${text}`);
      if (status === 'running' && !shot) {
        await screenshot(page, 'scenario-1-scan-running');
        shot = true;
      }
      if (status === 'done') break;
      await sleep(250);
    }
    t.log(seen.join('\n'));
    t.regex(seen[seen.length - 1] ?? '', /^done: 6 \/ 6 pairs checked \(100%\), 5 finding\(s\)$/);
    t.true(
      seen.some((s) => /^(queued|running): [0-5] \/ 6/.test(s)),
      'the page showed the scan in progress'
    );

    // 2. The report: five findings; all selected, bulk-imported as Monitored-Only.
    const findings = page.locator('#findings');
    await findings.waitFor();
    t.is(await findings.locator('tbody tr').count(), 5);
    await page.getByText(/^5 finding\(s\), 4 distinct certificate\(s\)/).waitFor();
    t.regex((await findings.locator(`tr[data-finding="${ENDPOINTS.self}"]`).textContent()) ?? '', /self-signed/);
    t.is(
      await findings.locator(`tr[data-finding="${ENDPOINTS.expiring}"] .sub`, { hasText: /^(9|10) days$/ }).count(),
      1,
      'the report shows the days left'
    );
    await assertAccessible(t, page, 'discovery-scan');
    await screenshot(page, 'scenario-1-scan-report');
    await page.getByLabel('Select all findings').check();
    await page.getByLabel('Monitored only').check();
    await page.getByRole('button', { name: 'Import 5 selected' }).click();
    await page
      .locator('#import-result')
      .getByText(/Imported 4 certificate\(s\) as monitored-only/)
      .waitFor();
    await screenshot(page, 'scenario-1-imported');

    // Through the API: four definitions (one per fingerprint), Monitored-Only, with the endpoints that served them.
    // (besides the controller's own console certificate, U3)
    const defs = (await ok<{ items: DefinitionJson[] }>('GET', '/api/v1/definitions?limit=100')).items.filter((d) =>
      d.name.endsWith('.scenario1.test')
    );
    t.deepEqual(
      defs.map((d) => d.name).sort(),
      [certs.expiring.cn, certs.good.cn, certs.wrongHost.cn, certs.self.cn].sort(),
      'one definition per certificate'
    );
    const defOf = async (m: Made) => {
      const cert = await ok<{ items: Array<{ definitionId: string; sha256: string }> }>(
        'GET',
        `/api/v1/certificates?q=${m.sha256}`
      ).catch(() => ({ items: [] }));
      const byCert = cert.items.find((x) => x.sha256 === m.sha256)?.definitionId;
      const d = defs.find((x) => x.id === byCert) ?? defs.find((x) => x.name === m.cn);
      if (!d) throw new Error(`no definition for ${m.cn}`);
      return d;
    };
    const def = {
      good: await defOf(certs.good),
      expiring: await defOf(certs.expiring),
      self: await defOf(certs.self),
      wrongHost: await defOf(certs.wrongHost),
    };
    for (const d of Object.values(def)) t.is(d.operationMode, 'monitored');
    const endpointsOf = async (d: DefinitionJson) =>
      (await ok<EndpointJson[] | { items: EndpointJson[] }>('GET', `/api/v1/definitions/${d.id}/endpoints`)) as
        EndpointJson[] | { items: EndpointJson[] };
    const list = (x: EndpointJson[] | { items: EndpointJson[] }) => (Array.isArray(x) ? x : x.items);
    t.deepEqual(
      list(await endpointsOf(def.good))
        .map((e) => ep(e.host, e.port))
        .sort(),
      [ENDPOINTS.good1, ENDPOINTS.good2].sort(),
      'the certificate served on two endpoints made one definition with both'
    );
    t.deepEqual(
      list(await endpointsOf(def.wrongHost)).map((e) => [ep(e.host, e.port), e.probeFrom, e.enabled]),
      [[ENDPOINTS.wrongHost, 'controller', true]]
    );

    // 3. W6 run now → the report. Against the system trust set only the self-signed one is judged on its own
    // merits; the organisation's certificates cannot be validated yet.
    const first = await runMonitorNow(page, 'scenario-1-first');
    t.log([...first.rows.values()].map((r) => r.join(' | ')).join('\n'));
    t.is(first.rows.size, 5);
    for (const e of [ENDPOINTS.good1, ENDPOINTS.good2, ENDPOINTS.expiring, ENDPOINTS.wrongHost]) {
      t.is(first.rows.get(e)?.[1], 'failing', `${e} cannot be validated against the system roots`);
      t.regex(first.rows.get(e)?.[2] ?? '', /^IntermediateMissing — .*not a root in trust set "system"/);
    }
    t.deepEqual(first.rows.get(ENDPOINTS.self)?.slice(1, 2), ['failing']);
    t.regex(first.rows.get(ENDPOINTS.self)?.[2] ?? '', /^SelfSigned — /);
    await assertAccessible(t, page, 'monitor-run-report');

    // 4. W1 monitor view: the results per definition.
    await go(page, /^Certificate definitions/);
    await page.getByRole('heading', { level: 1, name: /Certificate definitions/ }).waitFor();
    await page.getByRole('button', { name: 'Monitor view' }).click();
    await page.locator('td[data-col="monitor"]').first().waitFor();
    t.is(await page.locator('td[data-col="monitor"]').count(), 5, 'four imported + the console certificate');
    await assertAccessible(t, page, 'definitions-monitor-view');
    await screenshot(page, 'scenario-1-monitor-view');

    // Edit the definitions of the organisation's certificates: check them against its trusted CA set.
    for (const d of [def.good, def.expiring, def.wrongHost]) {
      await page.goto(`/definitions/${d.id}`);
      await page.getByRole('link', { name: /^Edit/ }).click();
      // The form fills in from the stored definition first (asynchronously): edit only once it has.
      await page.getByRole('heading', { level: 1, name: /^Edit definition/ }).waitFor();
      for (let i = 0; i < 80 && (await page.getByLabel('Definition name').inputValue()) !== d.name; i++)
        await sleep(250);
      t.is(await page.getByLabel('Definition name').inputValue(), d.name);
      await page.getByLabel('Trusted CA set for monitoring').selectOption({ label: TRUST_SET });
      if (d === def.good) {
        await assertAccessible(t, page, 'definition-edit');
        await screenshot(page, 'scenario-1-edit-definition');
      }
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.waitForURL(new RegExp(`/definitions/${d.id}\\?saved=updated`));
    }
    const trustSets = await ok<Array<{ id: string; name: string }> | { items: Array<{ id: string; name: string }> }>(
      'GET',
      '/api/v1/trust-sets'
    );
    const setId = (Array.isArray(trustSets) ? trustSets : trustSets.items).find((s) => s.name === TRUST_SET)?.id;
    for (const d of [def.good, def.expiring, def.wrongHost]) {
      t.is((await ok<DefinitionJson>('GET', `/api/v1/definitions/${d.id}`)).trustedCaSetId, setId ?? '?');
    }

    // 5. W6 again: now each endpoint shows what is really wrong with it.
    const second = await runMonitorNow(page, 'scenario-1-second');
    t.log([...second.rows.values()].map((r) => r.join(' | ')).join('\n'));
    const statusReason = (e: string) => [second.rows.get(e)?.[1], /^\w+/.exec(second.rows.get(e)?.[2] ?? '')?.[0]];
    t.deepEqual(statusReason(ENDPOINTS.good1), ['ok', 'Ok']);
    t.deepEqual(statusReason(ENDPOINTS.good2), ['ok', 'Ok']);
    t.deepEqual(statusReason(ENDPOINTS.expiring), ['warning', 'CertificateExpiringSoon']);
    t.deepEqual(statusReason(ENDPOINTS.self), ['failing', 'SelfSigned']);
    t.deepEqual(statusReason(ENDPOINTS.wrongHost), ['failing', 'HostnameMismatch']);
    t.regex((await page.locator('.facts').textContent()) ?? '', /2 ok, 1 warning, 2 failing/);
    await assertAccessible(t, page, 'monitor-run-report-2');

    // The stored results equal the truth: the served leaves are the certificates the test made, with their expiry.
    const stored = await ok<RunJson>('GET', `/api/v1/monitoring/runs/${second.runId}`);
    t.like(stored, { status: 'finished', endpoints: 5, ok: 2, warning: 1, failing: 2 });
    const expect: Array<[string, Made, DefinitionJson, string, string]> = [
      [ENDPOINTS.good1, certs.good, def.good, 'ok', 'Ok'],
      [ENDPOINTS.good2, certs.good, def.good, 'ok', 'Ok'],
      [ENDPOINTS.expiring, certs.expiring, def.expiring, 'warning', 'CertificateExpiringSoon'],
      [ENDPOINTS.self, certs.self, def.self, 'failing', 'SelfSigned'],
      [ENDPOINTS.wrongHost, certs.wrongHost, def.wrongHost, 'failing', 'HostnameMismatch'],
    ];
    for (const [endpoint, m, d, status, reason] of expect) {
      const r = stored.results.find((x) => x.endpoint === endpoint);
      t.truthy(r, `${endpoint} stored`);
      t.is(r?.definitionId, d.id, endpoint);
      t.is(r?.status, status, endpoint);
      t.is(r?.reason, reason, endpoint);
      t.is(r?.leafSha256, m.sha256, `${endpoint} served the certificate the test made`);
      t.is(new Date(r?.leafNotAfter ?? 0).getTime(), m.notAfter.getTime(), `${endpoint} expiry as openssl says`);
    }
    // W6 history lists both runs.
    await go(page, /^Monitor control/);
    await page.locator('#runs-table').waitFor();
    t.is(await page.locator('#runs-table tbody tr').count(), 2);
    t.regex((await page.locator('#runs-table tbody tr').first().textContent()) ?? '', /2 ok, 1 warning, 2 failing/);
    await assertAccessible(t, page, 'monitoring');
    await screenshot(page, 'scenario-1-history');
    await assertNoPageProblems(t, page, problems);
  }
);
