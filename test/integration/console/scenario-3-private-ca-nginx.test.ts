/**
 * The manual's scenario 3 (§4.1, "a new project needs an SSL certificate"; SPEC W1, W2, W3, A private CA, D2)
 * entirely through the console in Debian's Chromium: a real nginx on loopback serves the self-signed certificate
 * made at its installation (openssl), an agent enrolled with a join token runs in this process with the real nginx
 * validate/reload commands, and a real controller (HTTPS, fresh PostgreSQL, mutual-TLS agent channel). The operator
 * logs in, sees the agent on W12, creates a definition from scratch on W1 with an agent deploy target, starts the
 * acquisition on W1 and confirms its steps on W2 (interactive mode, so each step is seen), and on W3 sees the
 * automatic deployment and a "Deploy now" deployment become verified. Then the API and a real TLS handshake with
 * nginx show that nginx serves exactly the new certificate (its SHA-256) instead of the self-signed one.
 * Screenshots of every step: test/artifacts/console/scenario-3-*.png; axe-core on every screen visited.
 */
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import type { Browser, Page } from 'playwright-core';
import { AgentRuntime } from '../../../agent/src/agent';
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
import { enrollLoopbackAgent, quietLog } from '../../_helpers/loopback-agent';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { opensslSelfSigned } from '../../_helpers/openssl-cert';
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
const AGENT = 'web-nginx-1';
const DEFINITION = 'scenario3-www';
const CN = 'www.scenario3.test';
const SERVER = 'www-nginx';

interface Ctx {
  tc: TestController;
  token: string;
  dir: string;
  live: string;
  port: number;
  nginx: ChildProcess;
  runtime: AgentRuntime;
  agentId: string;
  selfSignedSha256: string;
  browser: Browser;
  page: Page;
  problems: PageProblems;
}
let ctx: Ctx | undefined;

function must(): Ctx {
  if (!ctx) throw new Error('setup failed');
  return ctx;
}

const ok = apiOk(must);

interface DeploymentJson {
  id: string;
  status: string;
  reason: string | null;
  servedSha256: string | null;
  certificateId: string;
  createdAt: string;
}

/** The deployments of a certificate, newest first (the list answers an array, or a page of items). */
async function deploymentsOf(certificateId: string): Promise<DeploymentJson[]> {
  const j = await ok<DeploymentJson[] | { items: DeploymentJson[] }>(
    'GET',
    `/api/v1/deployments?certificateId=${certificateId}`
  );
  const list = Array.isArray(j) ? j : j.items;
  return [...list].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SHA-256 (hex) of the leaf a real TLS handshake with nginx on 127.0.0.1:port presents. */
function handshakeLeafSha256(port: number): Promise<{ sha256: string; issuer: string }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: CN, rejectUnauthorized: false }, () => {
      const peer = s.getPeerCertificate();
      s.end();
      resolve({
        sha256: crypto.createHash('sha256').update(peer.raw).digest('hex'),
        issuer: peer.issuer.CN as string,
      });
    });
    s.setTimeout(5000, () => s.destroy(new Error('TLS handshake timed out')));
    s.once('error', reject);
  });
}

async function go(page: Page, linkName: RegExp): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: linkName }).click();
}

test.before(async () => {
  if (isCI) assertCommands(NEEDS);
  const dir = tempRoot('certfleet-scenario3-');
  // Step 1 of the scenario: the server software was installed with a self-signed certificate.
  const prefix = path.join(dir, 'nginx');
  const certs = path.join(dir, 'certs');
  const selfSigned = await opensslSelfSigned(dir, 'self-signed', `/CN=${CN}/O=Installed by the package`, {
    san: CN,
    days: 365,
  });
  const live = seedLiveDir(certs, 'www', '1-self-signed', {
    fullchain: fs.readFileSync(selfSigned.cert, 'utf8'),
    key: fs.readFileSync(selfSigned.key, 'utf8'),
  });
  const selfSignedSha256 = new crypto.X509Certificate(fs.readFileSync(selfSigned.cert)).fingerprint256
    .replace(/:/g, '')
    .toLowerCase();
  const port = await freePort();
  const conf = writeNginxTlsConf({ prefix, port, serverName: CN, liveDir: live, body: 'scenario 3' });
  const partial = { dir } as Ctx;
  ctx = partial;
  partial.nginx = await startNginx(prefix, conf, port);

  await ensureConsoleBuilt();
  const tc = await startTestController({ agentServer: { banCheckMs: 500, materializeMs: 300 } });
  partial.tc = tc;
  const token = await tc.adminToken();
  // The agent on the web server: enrolled with a join token, allowed to write under `certs`, and running nginx's own
  // validate and reload commands for this nginx instance.
  const { agentId, store } = await enrollLoopbackAgent(tc, token, dir, AGENT);
  const runtime = new AgentRuntime({
    store,
    config: nginxAgentConfig({ stateDir: store.dir, allowedRoot: certs, prefix, conf }),
    log: quietLog,
    backoff: { baseMs: 200, capMs: 1000 },
  });
  partial.runtime = runtime;
  const connected = new Promise<void>((r) => runtime.once('connected', r));
  void runtime.start().catch(() => undefined);
  await connected;

  const browser = await launchChromium();
  partial.browser = browser;
  const { page, problems } = await openConsolePage(browser, tc.controller.url, SCENARIO_WINDOW);
  ctx = { ...partial, token, live, port, agentId, selfSignedSha256, page, problems };
});

test.after.always(async () => {
  await ctx?.browser?.close().catch(() => undefined);
  await ctx?.runtime?.stop().catch(() => undefined);
  await ctx?.tc?.close();
  await stopChild(ctx?.nginx);
  if (ctx?.dir) fs.rmSync(ctx.dir, { recursive: true, force: true });
});

test.serial(
  'W1 W2 W3 D2 scenario 3: a new nginx gets a private-CA certificate created, issued and deployed through the console',
  async (t) => {
    t.timeout(300_000);
    const c = must();
    const { page, problems } = c;
    // Before: nginx serves the self-signed certificate of its installation.
    t.is(await servedEventually(c.port, c.selfSignedSha256), c.selfSignedSha256);

    // Log in.
    await page.goto('/');
    await page.getByRole('heading', { name: 'Log in to CertFleet' }).waitFor();
    await assertAccessible(t, page, 'login');
    await screenshot(page, 'scenario-3-01-login');
    await loginThroughPage(page, { level: 1, landing: /Certificate definitions/ });

    // W12: the web server's agent is enrolled and connected.
    await go(page, /Agents/);
    await page.getByRole('heading', { level: 1, name: /Agents/ }).waitFor();
    const agentRow = page.locator('#agents-table tbody tr', { hasText: AGENT });
    await agentRow.waitFor();
    t.regex((await agentRow.locator('td').first().textContent()) ?? '', /^connected$/);
    await assertAccessible(t, page, 'W12 agents');
    await screenshot(page, 'scenario-3-02-agents');

    // W1: a definition from scratch — private CA, lifecycle managed, with an agent deploy target for this nginx.
    await go(page, /^Certificate definitions/);
    await page.getByRole('link', { name: 'New definition' }).click();
    await page.getByRole('heading', { level: 1, name: 'New certificate definition' }).waitFor();
    await page.getByLabel('Definition name').fill(DEFINITION);
    await page.getByLabel('Common name (CN)').fill(CN);
    await page.getByLabel('Organization (O, optional)').fill('Scenario Three Project');
    await page.getByLabel('Subject alternative names').fill(CN);
    await page.getByLabel('Issuer').selectOption({ label: 'Built-in private CA' });
    await page.getByLabel('Operation mode').selectOption('managed');
    // Interactive: the operator confirms each step of the first acquisition on W2 (renewals can then run unattended).
    await page.getByLabel('Process mode').selectOption('interactive');
    await page.getByRole('button', { name: 'Add deploy target' }).click();
    const target = page.getByRole('group', { name: 'Deploy target 1', exact: true });
    await target.getByLabel('Server name').fill(SERVER);
    await target.getByLabel('Server type').selectOption('nginx');
    await target.getByLabel('Delivery method').selectOption('agent');
    await target.getByLabel('Agent').selectOption({ label: AGENT });
    await target.getByLabel('Live directory').fill(c.live);
    await target.getByLabel('Check host').fill('127.0.0.1');
    await target.getByLabel('Check port').fill(String(c.port));
    await assertAccessible(t, page, 'W1 new definition with a deploy target');
    await screenshot(page, 'scenario-3-03-definition-form');
    await page.getByRole('button', { name: 'Create definition' }).click();
    await page.getByRole('heading', { level: 1, name: `Definition ${DEFINITION}` }).waitFor();
    await page.getByText('Definition created.').waitFor();
    const definitionId = new URL(page.url()).pathname.split('/')[2]!;
    const targetRow = page.locator('#definition-targets tbody tr');
    t.regex((await targetRow.textContent()) ?? '', new RegExp(`${SERVER}.*nginx.*agent.*${AGENT}`));
    const def = await ok<{ deployTargets: unknown[]; issuerType: string; processMode: string }>(
      'GET',
      `/api/v1/definitions/${definitionId}`
    );
    t.is(def.issuerType, 'internal-ca');
    t.deepEqual(def.deployTargets, [
      {
        serverName: SERVER,
        serverType: 'nginx',
        method: 'agent',
        agentId: c.agentId,
        directory: c.live,
        checkHost: '127.0.0.1',
        checkPort: c.port,
      },
    ]);
    await assertAccessible(t, page, 'W1 definition detail');
    await screenshot(page, 'scenario-3-04-definition-created');

    // W1: start the acquisition; interactive, so it waits for a confirmation.
    await page.getByRole('button', { name: 'Start acquisition' }).click();
    await page.getByText(/Acquisition started/).waitFor();
    t.regex((await page.locator('#definition-requests').textContent()) ?? '', /awaiting confirmation/);

    // W2: confirm each step until the process is done (bounded: the private CA needs only a few steps).
    await go(page, /Requests and acquisition/);
    await page.getByRole('heading', { level: 1, name: /Requests and acquisition processes/ }).waitFor();
    const running = page.locator('#running-requests tbody tr', { hasText: DEFINITION });
    await running.waitFor();
    await assertAccessible(t, page, 'W2 requests');
    await screenshot(page, 'scenario-3-05-request-confirm');
    let confirmations = 0;
    for (; confirmations < 12 && (await running.count()) > 0; confirmations++) {
      const reloaded = page.waitForResponse(
        (r) => /\/api\/v1\/requests(\?|$)/.test(r.url()) && r.request().method() === 'GET'
      );
      await running.getByRole('button', { name: /Confirm next step|Check for the certificate/ }).click();
      await reloaded;
      await sleep(200);
    }
    t.true(confirmations >= 1 && confirmations < 12, `the process finished after ${confirmations} confirmations`);
    t.is(await running.count(), 0, 'nothing left running');
    t.is(await page.locator('#stalled-requests tbody tr', { hasText: DEFINITION }).count(), 0, 'nothing stalled');
    await screenshot(page, 'scenario-3-06-requests-done');
    const requests = await ok<{ items: Array<{ status: string; certificateId: string | null }> }>(
      'GET',
      `/api/v1/requests?definitionId=${definitionId}`
    );
    t.is(requests.items.length, 1);
    t.is(requests.items[0]?.status, 'completed');
    const certificateId = requests.items[0]?.certificateId as string;
    t.truthy(certificateId);
    const cert = await ok<{ sha256: string; isCurrent: boolean; issuer: string }>(
      'GET',
      `/api/v1/certificates/${certificateId}`
    );
    t.true(cert.isCurrent);
    t.regex(cert.sha256, /^[0-9a-f]{64}$/);
    t.not(cert.sha256, c.selfSignedSha256);

    // W1 detail: the certificate is the current one.
    await page.goto(`/definitions/${definitionId}`);
    const certRows = page.locator('#definition-certificates tbody tr');
    await certRows.first().waitFor();
    t.is(await certRows.count(), 1);
    t.regex((await certRows.first().textContent()) ?? '', new RegExp(`${CN}.*current`));
    await assertAccessible(t, page, 'W1 definition detail with its certificate');
    await screenshot(page, 'scenario-3-07-certificate-issued');

    // W3: the deployment opened when the certificate became current reaches "verified".
    const verifiedRows = page.locator('#deployments-table tbody tr', { hasText: SERVER }).filter({
      has: page.locator('.badge-verified'),
    });
    /** Shows W3 and reloads it (bounded) until `n` deployments of the target are shown verified. */
    const waitVerified = async (n: number): Promise<number> => {
      if (!new URL(page.url()).pathname.startsWith('/certificates')) await go(page, /Certificates and deployments/);
      let seen = 0;
      for (let i = 0; i < 60; i++) {
        await page.getByRole('heading', { level: 1, name: /Certificates and deployments/ }).waitFor();
        await page.locator('#certificates-table').waitFor();
        await page
          .locator('#deployments-table')
          .or(page.getByText(/No deployment processes yet/))
          .waitFor()
          .catch(async (err: unknown) => {
            await screenshot(page, 'scenario-3-failed-w3');
            throw err;
          });
        seen = await verifiedRows.count();
        if (seen >= n) return seen;
        await sleep(500);
        await page.reload();
      }
      return seen;
    };
    t.is(await waitVerified(1), 1, 'the automatic deployment is shown verified');
    await assertAccessible(t, page, 'W3 certificates and deployments');
    await screenshot(page, 'scenario-3-08-deployed-automatically');
    const first = await deploymentsOf(certificateId);
    t.is(first.length, 1);
    t.is(first[0]?.status, 'verified', JSON.stringify(first[0]));
    t.is(first[0]?.servedSha256, cert.sha256);

    // W3 "Deploy now": a new deployment of the same certificate, queued, installed and verified again.
    const deployButton = page.getByRole('button', { name: `Deploy now ${CN}` });
    await deployButton.click();
    await page.getByText(/Deployment requested: 1 agent deployment queued/).waitFor();
    await screenshot(page, 'scenario-3-09-deploy-now-queued');
    t.is(await waitVerified(2), 2, 'the "Deploy now" deployment is shown verified');
    await assertAccessible(t, page, 'W3 after deploy now');
    await screenshot(page, 'scenario-3-10-deploy-now-verified');
    const all = await deploymentsOf(certificateId);
    t.is(all.length, 2);
    t.is(all[0]?.status, 'verified', JSON.stringify(all[0]));
    t.is(all[0]?.servedSha256, cert.sha256);
    t.not(all[0]?.id, first[0]?.id);

    // nginx serves exactly the new certificate: settled (servedEventually) and in a fresh TLS handshake.
    t.is(await servedEventually(c.port, cert.sha256), cert.sha256);
    const handshake = await handshakeLeafSha256(c.port);
    t.is(handshake.sha256, cert.sha256);
    t.not(handshake.sha256, c.selfSignedSha256, 'the self-signed certificate is replaced');
    t.regex(cert.issuer, new RegExp(`CN=${handshake.issuer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    await assertNoPageProblems(t, page, problems);
  }
);
