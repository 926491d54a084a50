/**
 * The manual's §4.1 Scenario 2 ("import existing certificates as Lifecycle-Managed and let renewals run
 * unattended"), walked end to end through the console in a real browser (Debian Chromium via playwright-core) over a
 * real controller (HTTPS, fresh PostgreSQL), an agent enrolled with a join token made in W12, and a real nginx on
 * loopback:
 *
 * 1. nginx serves an existing certificate (issued 20 days ago by the organisation's own CA, made with the `openssl`
 *    CLI, 20 days left); the test enrolls the agent with a join token created in W12 (the agent side runs in this
 *    process, as `certfleet-agent enroll` would on the host);
 * 2. W1 import: certificate, key and chain uploaded as files, Lifecycle-Managed;
 * 3. W1 edit: issuer "Built-in private CA", unattended, renewal lead 30 days, and the deploy target (nginx via the
 *    agent, its live directory, the check endpoint);
 * 4. W2 lists it as an overdue renewal; the scheduler's renewal scan (the job the controller runs every 10 minutes,
 *    here run once with no jitter against the controller's own pg-boss queue) queues the start, which the
 *    controller's worker picks up: an UNATTENDED renewal — acquired by the private CA, made current, deployed by the
 *    agent, verified by the served fingerprint;
 * 5. W1/W2/W3 show the new certificate current, the renewal completed and its deployment verified; a real TLS
 *    connection to nginx gets the renewed certificate (a new SHA-256).
 */
import { execFile, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import PgBoss from 'pg-boss';
import type { Browser, Page } from 'playwright-core';
import { AgentRuntime, type AgentLog } from '../../../agent/src/agent';
import type { AgentConfig } from '../../../agent/src/config';
import { enroll } from '../../../agent/src/enroll';
import { StateStore } from '../../../agent/src/state/state-store';
import { defaultAcquisitionDeps } from '../../../controller/src/services/acquisition/defaults';
import { recordingNotifier } from '../../../controller/src/services/acquisition/notifier';
import { DeploymentEntity } from '../../../controller/src/storage/entities';
import { RENEWAL_START_QUEUE, scanRenewals } from '../../../controller/src/scheduler/jobs/acquisition';
import type { SchedulerDeps } from '../../../controller/src/scheduler/scheduler';
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
import { opensslCsr, opensslRootCa } from '../../_helpers/openssl-cert';
import { opensslFingerprints } from '../../_helpers/probe-pki';
import {
  freePort,
  nginxAgentConfig,
  seedLiveDir,
  servedEventually,
  startNginx,
  stopChild,
  tempRoot,
  writeNginxTlsConf,
} from '../agent/_servers';

const NEEDS = ['chromium', 'nginx', 'openssl'];
const test = testNeeding(NEEDS);
const run = promisify(execFile);
const CN = 'www.scenario2.test';
const ORG = 'CertFleet Scenario Two';
const SERVER = 'web-1';
const quiet: AgentLog = { info: () => undefined, warn: () => undefined };

interface Ctx {
  tc: TestController;
  token: string;
  browser: Browser;
  page: Page;
  problems: PageProblems;
  dir: string;
  certs: string;
  live: string;
  port: number;
  nginx?: ChildProcess;
  agentConfig: AgentConfig;
  runtime?: AgentRuntime;
  boss?: PgBoss;
  files: { cert: string; key: string; chain: string; sha256: string; notAfter: Date };
  notifier: ReturnType<typeof recordingNotifier>;
}
let ctx: Ctx | undefined;

function must(): Ctx {
  if (!ctx) throw new Error('setup failed');
  return ctx;
}

const ok = apiOk(must);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a value (at most `timeoutMs`, at most 600 rounds). */
async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (let i = 0; i < 600 && Date.now() < until; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * The existing certificate: the organisation's root CA and a server certificate for {@link CN} from it, made by the
 * openssl CLI, backdated so that it has 20 of its 40 days left.
 */
async function existingCertificate(
  dir: string
): Promise<{ cert: string; key: string; chain: string; sha256: string; notAfter: Date }> {
  const { cert: caCert, key: caKey } = await opensslRootCa(dir, 'org-ca', `/CN=Scenario Two Org Root/O=${ORG}`);
  const cert = path.join(dir, 'www.pem');
  const ext = path.join(dir, 'www.ext');
  fs.writeFileSync(
    ext,
    `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:${CN}\n`
  );
  const { csr, key } = await opensslCsr(dir, 'www', `/CN=${CN}/O=${ORG}`);
  const day = (offset: number) =>
    new Date(Date.now() + offset * 86_400_000)
      .toISOString()
      .replace(/[-:T]/g, '')
      .replace(/\.\d+Z$/, 'Z')
      .slice(2);
  // `openssl ca`-free backdating: x509 -req has no -not_before in OpenSSL 3.0, so a throw-away CA config does it.
  const db = path.join(dir, 'ca-db');
  fs.mkdirSync(db);
  fs.writeFileSync(path.join(db, 'index.txt'), '');
  fs.writeFileSync(path.join(db, 'serial'), '1000\n');
  const conf = path.join(dir, 'ca.cnf');
  fs.writeFileSync(
    conf,
    `[ca]\ndefault_ca=org\n[org]\ndir=${db}\ndatabase=${db}/index.txt\nserial=${db}/serial\nnew_certs_dir=${db}\n` +
      `certificate=${caCert}\nprivate_key=${caKey}\ndefault_md=sha256\npolicy=any\nunique_subject=no\n` +
      `copy_extensions=none\n[any]\ncommonName=supplied\norganizationName=optional\n`
  );
  await run('openssl', [
    'ca',
    '-batch',
    '-config',
    conf,
    '-in',
    csr,
    '-out',
    cert,
    '-startdate',
    day(-20),
    '-enddate',
    day(20),
    '-extfile',
    ext,
    '-notext',
  ]);
  const { stdout } = await run('openssl', ['x509', '-in', cert, '-noout', '-enddate']);
  return {
    cert,
    key,
    chain: caCert,
    sha256: (await opensslFingerprints(cert)).sha256,
    notAfter: new Date(stdout.trim().replace(/^notAfter=/, '')),
  };
}

test.before(async () => {
  if (isCI) assertCommands(NEEDS);
  const dir = tempRoot('certfleet-scenario2-');
  const files = await existingCertificate(dir);

  // nginx on loopback serving the existing certificate from a live directory (a symlink the agent can switch).
  const prefix = path.join(dir, 'nginx');
  const certs = path.join(dir, 'certs');
  const live = seedLiveDir(certs, 'www', '1-existing', {
    fullchain: fs.readFileSync(files.cert, 'utf8') + fs.readFileSync(files.chain, 'utf8'),
    key: fs.readFileSync(files.key, 'utf8'),
  });
  const port = await freePort();
  const conf = writeNginxTlsConf({ prefix, port, serverName: CN, liveDir: live });
  const agentConfig = nginxAgentConfig({ stateDir: path.join(dir, 'agent-state'), allowedRoot: certs, prefix, conf });
  const notifier = recordingNotifier();
  const c = { dir, certs, live, port, agentConfig, files, notifier } as unknown as Ctx;
  ctx = c;
  c.nginx = await startNginx(prefix, conf, port);

  await ensureConsoleBuilt();
  c.tc = await startTestController({
    agentServer: { materializeMs: 300 },
    acquisition: (sc) => ({ ...defaultAcquisitionDeps(sc), notifier }),
  });
  c.token = await c.tc.adminToken();
  c.browser = await launchChromium();
  ({ page: c.page, problems: c.problems } = await openConsolePage(c.browser, c.tc.controller.url, SCENARIO_WINDOW));
  await loginThroughPage(c.page, { path: '/agents', level: 1, landing: /Agents/ });
});

test.after.always(async () => {
  if (!ctx) return;
  await ctx.boss?.stop({ graceful: false, wait: true, timeout: 5000 }).catch(() => undefined);
  await ctx.runtime?.stop().catch(() => undefined);
  await stopChild(ctx.nginx);
  fs.rmSync(ctx.dir, { recursive: true, force: true });
  await ctx.browser?.close().catch(() => undefined);
  await ctx.tc?.close();
});

interface CertificateJson {
  id: string;
  definitionId: string;
  sha256: string;
  isCurrent: boolean;
  source: string;
  issuer: string;
  notAfter: string;
  privateKeyId: string | null;
}
interface DeploymentJson {
  id: string;
  certificateId: string;
  status: string;
  servedSha256: string | null;
}
interface RequestJson {
  id: string;
  definitionId: string;
  kind: string;
  status: string;
  processMode: string;
  certificateId: string | null;
}

async function go(page: Page, linkName: RegExp): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: linkName }).click();
}

test.serial(
  'scenario 2 (manual §4.1) I1 I2 D1 D2 D6 A5 O2 C2 W1 W2 W3 W12: an existing certificate imported as Lifecycle-Managed through the console renews unattended — acquired, deployed to nginx by the agent, verified',
  async (t) => {
    const c = must();
    const { page, problems, files } = c;
    t.is(await servedEventually(c.port, files.sha256), files.sha256, 'nginx serves the existing certificate');

    // 1. W12: a join token for the web server's agent; the agent enrolls with it on "the host".
    await assertAccessible(t, page, 'agents');
    await page.locator('#token-label').fill(SERVER);
    await page.getByRole('button', { name: 'Create join token' }).click();
    const tokenText = ((await page.locator('#created-token code.token').textContent()) ?? '').trim();
    const command = (await page.locator('#created-token pre.command').textContent()) ?? '';
    const caSha256 = /--ca-sha256 ([0-9a-f]{64})/.exec(command)?.[1] ?? '';
    t.true(tokenText.length > 20 && command.includes(tokenText), `the enroll command carries the token: ${command}`);
    t.is(caSha256, c.tc.controller.agentCaSha256);
    await screenshot(page, 'scenario-2-join-token');
    const store = new StateStore(c.agentConfig.stateDir);
    const { agentId } = await enroll(store, {
      controller: `127.0.0.1:${c.tc.controller.agentServer.port}`,
      token: tokenText,
      caSha256,
      hostname: SERVER,
    });
    c.runtime = new AgentRuntime({ store, config: c.agentConfig, log: quiet, backoff: { baseMs: 200, capMs: 1000 } });
    const connected = new Promise<void>((resolve) => c.runtime?.once('connected', resolve));
    void c.runtime.start().catch(() => undefined);
    await connected;
    await page.getByRole('button', { name: 'Done, hide the token' }).click();
    await page.reload();
    const agentRow = page.locator('tr', { hasText: SERVER }).filter({ hasText: 'connected' }).first();
    await agentRow.waitFor();
    t.notRegex((await agentRow.textContent()) ?? '', /not connected/);
    await screenshot(page, 'scenario-2-agent-enrolled');

    // 2. W1 import: certificate, key and chain as files, Lifecycle-Managed.
    await go(page, /^Certificate definitions/);
    await page.getByRole('link', { name: 'Import certificate file' }).click();
    await page.getByRole('heading', { level: 1, name: /Import a certificate/ }).waitFor();
    await page.getByLabel('Certificate file').setInputFiles(files.cert);
    await page.getByLabel('Private key file').setInputFiles(files.key);
    await page.getByLabel('Chain file').setInputFiles(files.chain);
    await page.getByLabel('Operation mode').selectOption('managed');
    await assertAccessible(t, page, 'import');
    await screenshot(page, 'scenario-2-import');
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.waitForURL(/\/definitions\/[0-9a-f-]{36}\?saved=imported/);
    const definitionId = /\/definitions\/([0-9a-f-]{36})/.exec(page.url())?.[1] ?? '';
    await page.getByRole('heading', { level: 1, name: new RegExp(`Definition ${CN.replace(/\./g, '\\.')}`) }).waitFor();
    await screenshot(page, 'scenario-2-imported');
    const certsOf = async () =>
      (await ok<{ items: CertificateJson[] }>('GET', `/api/v1/certificates?definitionId=${definitionId}&limit=50`))
        .items;
    const imported = (await certsOf()).find((x) => x.sha256 === files.sha256);
    t.like(imported, { isCurrent: true, source: 'import' });
    t.truthy(imported?.privateKeyId, 'the key was imported with it');
    t.is(new Date(imported?.notAfter ?? 0).getTime(), files.notAfter.getTime());

    // 3. W1 edit: renew with the built-in private CA, unattended, 30 days ahead; deploy to nginx through the agent.
    await page.getByRole('link', { name: /^Edit/ }).click();
    // The form fills in from the stored definition first (asynchronously): edit only once it has.
    await page.getByRole('heading', { level: 1, name: /^Edit definition/ }).waitFor();
    await waitFor('the edit form to load', async () =>
      (await page.getByLabel('Definition name').inputValue()) === CN ? true : undefined
    );
    await page.getByLabel('Issuer', { exact: true }).selectOption('internal-ca');
    await page.getByLabel('Process mode').selectOption('unattended');
    await page.getByLabel('Renewal lead time (days)').fill('30');
    await page.getByRole('button', { name: 'Add deploy target' }).click();
    const target = page.getByRole('group', { name: 'Deploy target 1' });
    await target.getByLabel('Server name').fill(SERVER);
    await target.getByLabel('Server type').selectOption('nginx');
    await target.getByLabel('Delivery method').selectOption('agent');
    await target.getByLabel('Agent', { exact: true }).selectOption({ label: SERVER });
    await target.getByLabel('Live directory').fill(c.live);
    await target.getByLabel('Check host').fill('127.0.0.1');
    await target.getByLabel('Check port').fill(String(c.port));
    await assertAccessible(t, page, 'definition-edit');
    await screenshot(page, 'scenario-2-edit');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.waitForURL(new RegExp(`/definitions/${definitionId}\\?saved=updated`));
    await page.locator('#definition-targets').waitFor();
    t.regex((await page.locator('#definition-targets tbody').textContent()) ?? '', new RegExp(`${SERVER}.*nginx`));
    await screenshot(page, 'scenario-2-edited');
    const def = await ok<{
      issuerType: string;
      processMode: string;
      renewalLeadDays: number;
      deployTargets: Array<Record<string, unknown>>;
    }>('GET', `/api/v1/definitions/${definitionId}`);
    t.like(def, { issuerType: 'internal-ca', processMode: 'unattended', renewalLeadDays: 30 });
    t.like(def.deployTargets[0], {
      serverName: SERVER,
      serverType: 'nginx',
      method: 'agent',
      agentId,
      directory: c.live,
      checkHost: '127.0.0.1',
      checkPort: c.port,
    });

    // 4. W1: the imported certificate is current with 20 days left; W2: inside the 30 days lead, the renewal is
    // due and not started yet.
    await go(page, /^Certificate definitions/);
    const listRow = page.locator('#definitions-table tbody tr', {
      has: page.getByRole('link', { name: CN, exact: true }),
    });
    await listRow.waitFor();
    t.regex((await listRow.textContent()) ?? '', /(19|20) days left/);
    await screenshot(page, 'scenario-2-definitions-before');
    await go(page, /^Requests and acquisition/);
    const overdue = page.locator(`#overdue-renewals tr[data-definition="${CN}"]`);
    await overdue.waitFor();
    t.regex((await overdue.textContent()) ?? '', /(19|20) days left.*30 days.*unattended/);
    await assertAccessible(t, page, 'requests');
    await screenshot(page, 'scenario-2-overdue');

    // The scheduler's renewal scan, run once now (no jitter) against the controller's own queue; the controller's
    // worker takes the queued start from there — nothing else is called.
    c.boss = new PgBoss({
      connectionString: c.tc.databaseUrl,
      schema: 'pgboss',
      max: 2,
      supervise: false,
      schedule: false,
      migrate: false,
    });
    c.boss.on('error', () => undefined);
    await c.boss.start();
    const deps = { ctx: c.tc.controller.ctx, renewalJitterSeconds: 0 } as unknown as SchedulerDeps;
    let queued = await scanRenewals(deps, c.boss);
    if (queued === 0) {
      // The controller's own 10-minute scan got there first and queued the start with its jitter (up to 15 min):
      // cancel that queued job and queue it again without jitter.
      const waiting = await c.tc.controller.ctx.db
        .em()
        .getConnection()
        .execute<Array<{ id: string }>>(
          `select id from pgboss.job where name = ? and singleton_key = ? and state = 'created'`,
          [RENEWAL_START_QUEUE, definitionId]
        );
      t.log(`the controller's own renewal scan queued ${waiting.length} start(s) first; re-queued without jitter`);
      for (const w of waiting) await c.boss.cancel(RENEWAL_START_QUEUE, w.id);
      queued = await scanRenewals(deps, c.boss);
    }
    t.is(queued, 1, `one renewal start queued on ${RENEWAL_START_QUEUE}`);

    // The unattended renewal: acquired by the private CA, current, deployed by the agent, verified.
    const renewal = await waitFor(
      'the renewal to complete',
      async () =>
        (await ok<{ items: RequestJson[] }>('GET', `/api/v1/requests?definitionId=${definitionId}`)).items.find(
          (r) => r.kind === 'renewal' && ['completed', 'failed', 'cancelled'].includes(r.status)
        ),
      60_000
    );
    t.like(renewal, { status: 'completed', processMode: 'unattended' });
    // …started by the controller's own queue worker: the queued start job is completed.
    const jobs = await waitFor('the renewal start job to complete', async () => {
      const rows = await c.tc.controller.ctx.db
        .em()
        .getConnection()
        .execute<Array<{ state: string }>>(`select state from pgboss.job where name = ? and singleton_key = ?`, [
          RENEWAL_START_QUEUE,
          definitionId,
        ]);
      return rows.length > 0 && rows.every((r) => r.state === 'completed' || r.state === 'cancelled')
        ? rows
        : undefined;
    });
    t.true(
      jobs.some((j) => j.state === 'completed'),
      JSON.stringify(jobs)
    );
    const renewed = await waitFor('the renewed certificate', async () =>
      (await certsOf()).find((x) => x.isCurrent && x.sha256 !== files.sha256)
    );
    t.not(renewed.sha256, files.sha256);
    t.regex(renewed.issuer, /CertFleet/i, 'issued by the built-in private CA');
    const deployment = await waitFor(
      'the deployment of the renewed certificate',
      async () =>
        (
          (await c.tc.controller.ctx.db
            .em()
            .fork()
            .find(DeploymentEntity, { certificateId: renewed.id })) as DeploymentJson[]
        ).find((d) => ['verified', 'failed', 'rolled-back'].includes(d.status)),
      60_000
    );
    t.like(deployment, { status: 'verified', servedSha256: renewed.sha256 });
    // A real TLS connection: nginx serves the renewed certificate now.
    t.is(await servedEventually(c.port, renewed.sha256), renewed.sha256);
    const served = new crypto.X509Certificate(fs.readFileSync(path.join(c.live, 'cert.pem')));
    t.is(served.fingerprint256.replace(/:/g, '').toLowerCase(), renewed.sha256, 'the live directory holds it');

    // 5. What the console shows. W1 definition: the renewed certificate is current, the renewal completed.
    await go(page, /^Certificate definitions/);
    const link = page.getByRole('link', { name: CN, exact: true });
    await link.waitFor();
    const after = (await listRow.textContent()) ?? '';
    t.regex(after, /verified/, 'W1: the current certificate deployment is verified');
    const daysShown = Number(/(\d+) days left/.exec(after)?.[1] ?? -1);
    const daysLeft = (new Date(renewed.notAfter).getTime() - Date.now()) / 86_400_000;
    t.true(Math.abs(daysShown - daysLeft) <= 1, `W1 shows the renewed certificate's ${daysShown} days left`);
    await assertAccessible(t, page, 'definitions');
    await screenshot(page, 'scenario-2-definitions');
    await link.click();
    const certTable = page.locator('#definition-certificates');
    await certTable.waitFor();
    t.is(await certTable.locator('tbody tr').count(), 2, 'the imported and the renewed certificate');
    const currentRow = certTable.locator('tbody tr', { hasText: 'current' });
    t.is(await currentRow.count(), 1);
    t.regex((await currentRow.textContent()) ?? '', /issuer CertFleet/i);
    t.regex((await currentRow.textContent()) ?? '', /internal-ca/);
    t.regex((await certTable.locator('tbody tr', { hasText: 'Scenario Two Org Root' }).textContent()) ?? '', /import/);
    const reqRow = page.locator('#definition-requests tbody tr').first();
    t.regex((await reqRow.textContent()) ?? '', /renewal/);
    t.regex((await reqRow.textContent()) ?? '', /complete/i);
    await assertAccessible(t, page, 'definition-detail');
    await screenshot(page, 'scenario-2-definition-renewed');

    // W2: nothing overdue, nothing running or stalled any more.
    await go(page, /^Requests and acquisition/);
    await page.getByText('No renewal is overdue.').waitFor();
    t.is(await page.locator('#running-requests').count(), 0);
    t.is(await page.locator('#stalled-requests').count(), 0);
    await screenshot(page, 'scenario-2-requests-after');

    // W3: the renewed certificate current, its deployment to web-1 verified.
    await go(page, /^Certificates and deployments/);
    const certRow = page.locator(`#certificates-table tr[data-certificate="${CN}"]`, { hasText: 'current' });
    await certRow.waitFor();
    t.regex((await certRow.textContent()) ?? '', /internal-ca/);
    const depRow = page.locator(`#deployments-table tr[data-deployment="${deployment.id}"]`);
    await depRow.waitFor();
    const depText = (await depRow.textContent()) ?? '';
    t.regex(depText, new RegExp(SERVER));
    t.regex(depText, /verified/);
    t.regex(depText, new RegExp(CN.replace(/\./g, '\\.')));
    // D6: the deploy check from the console (the target's agent probes the check endpoint): still the renewed leaf.
    await depRow.getByRole('button', { name: /^Check now/ }).click();
    await depRow.getByText(/Check finished: verified/).waitFor({ timeout: 30_000 });
    const latest = depRow.locator('td.latest-check');
    await latest.getByText(/^ok$/).waitFor();
    t.regex((await latest.textContent()) ?? '', /Ok/);
    await assertAccessible(t, page, 'certificates');
    await screenshot(page, 'scenario-2-certificates');
    const checked = await ok<DeploymentJson[] | { items: Array<DeploymentJson & { latestCheck: unknown }> }>(
      'GET',
      `/api/v1/deployments?certificateId=${renewed.id}`
    );
    t.like(
      (Array.isArray(checked) ? checked : checked.items).find((d) => d.id === deployment.id),
      {
        status: 'verified',
        servedSha256: renewed.sha256,
        latestCheck: { status: 'ok', reason: 'Ok', endpoint: `127.0.0.1:${c.port}`, probedBy: `agent:${agentId}` },
      }
    );

    // D5: the install notification of the unattended deployment says verified.
    const mail = c.notifier.sent.find((m) => m.template === 'install-notification' && m.data.sha256 === renewed.sha256);
    t.like(mail?.data, { outcome: 'verified', serverName: SERVER, method: 'agent' });
    await assertNoPageProblems(t, page, problems);
  }
);
