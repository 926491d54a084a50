/**
 * The console's W3 deployment actions in a real browser (Debian Chromium via playwright-core) over a real
 * controller (HTTPS, fresh PostgreSQL): an offline installer bundle downloaded through the page (a real tar.gz whose
 * sealed bundle opens with the passphrase the page showed once), real signed receipts (signed with the receipt key
 * that bundle carried) uploaded through the file input, "check now" against a real TLS listener on loopback serving
 * the certificate, manual completion with a note and "continue without check" through the confirmation dialog,
 * the manual package download, and a User's typed 403 for the key-carrying downloads. Every effect is read back
 * through the API (deployment status, audit rows); every state is checked with axe-core and screenshotted.
 *
 * The archive's agent executable is a small stand-in file (CERTFLEET_AGENT_EXECUTABLE): the 100 MB single
 * executable is exercised by test/integration/e2e/offline-bundle.test.ts; here the bundle next to it matters.
 */
import fs from 'node:fs';
import path from 'node:path';
import type net from 'node:net';
import * as tar from 'tar';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  RECEIPT_KEY_FILE,
  generateReceiptKeyPair,
  openBundle,
  signReceipt,
  type Receipt,
  type SignedReceipt,
} from '@certfleet/shared';
import {
  apiOk,
  assertAccessible,
  assertNoPageProblems,
  ensureConsoleBuilt,
  launchChromium,
  loginThroughPage,
  openConsolePage,
  screenshot,
  type PageProblems,
} from '../../_helpers/console';
import {
  ADMIN_PASSWORD,
  startTestController,
  type TestController,
  useStandInAgentExecutable,
} from '../../_helpers/controller';
import { createUser } from '../../_helpers/https-client';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { closeAll, serveTlsChain } from '../../_helpers/probe-pki';
import { type ImportedIds, managedImportBody, testCa, testCert, type TestCert } from '../../_helpers/test-pki';
import { tempRoot } from '../agent/_servers';

const NEEDS = ['chromium'];
const test = testNeeding(NEEDS);
const CN = 'vault.deploy-console.test';
const OTHER_CN = 'other.deploy-console.test';
const USER = 'deploy-user';
const USER_PASSWORD = 'deploy user password 2026';
/** Both browser contexts: downloads accepted, a window wide enough for the deployments table. */
const WINDOW = { acceptDownloads: true, viewport: { width: 1400, height: 1000 }, timeoutMs: 20_000 };

interface DeploymentJson {
  id: string;
  certificateId: string;
  method: string;
  status: string;
  reason: string | null;
  message: string | null;
  bundleId: string;
  slot: string;
  version: number;
  servedSha256: string | null;
  checkEndpoint: string;
  latestCheck: { status: string; reason: string; at: string; probedBy: string | null; runId: string | null } | null;
}

interface Ctx {
  tc: TestController;
  token: string;
  dir: string;
  servers: net.Server[];
  browser: Browser;
  context: BrowserContext;
  page: Page;
  problems: PageProblems;
  leaf: TestCert;
  certificateId: string;
  certSha256: string;
  otherCertificateId: string;
  checkPort: number;
  /** Deployments by role in this test: bundle downloaded through the page, and three more made through the API. */
  ids: { page?: string; check?: string; manual?: string; skip?: string; other?: string };
  receipt?: SignedReceipt;
  receiptKeyPem?: string;
}
let ctx: Ctx | undefined;

function must(): Ctx {
  if (!ctx) throw new Error('setup failed');
  return ctx;
}

const ok = apiOk(must);

async function deployment(id: string): Promise<DeploymentJson> {
  const c = must();
  const list = await ok<{ items: DeploymentJson[]; total: number }>(
    'GET',
    `/api/v1/deployments?certificateId=${c.certificateId}&limit=500`
  );
  const d = list.items.find((x) => x.id === id);
  if (!d) throw new Error(`deployment ${id} not in the list`);
  return d;
}

async function auditActions(targetId: string): Promise<Array<{ action: string; details: Record<string, unknown> }>> {
  const r = await ok<{ items: Array<{ action: string; targetId: string | null; details: Record<string, unknown> }> }>(
    'GET',
    '/api/v1/audit?action=deployment.&limit=500'
  );
  return r.items.filter((e) => e.targetId === targetId);
}

/** An offline bundle made through the API (the archive itself is not needed): its deployment id. */
async function bundleViaApi(certificateId: string): Promise<string> {
  const c = must();
  const r = await c.tc.request('POST', `/api/v1/certificates/${certificateId}/offline-bundles`, {}, c.token);
  if (r.status !== 200) throw new Error(`offline bundle: ${r.status} ${String(r.json).slice(0, 300)}`);
  return String(r.headers['x-certfleet-deployment-id']);
}

async function importWithOfflineTarget(
  leaf: TestCert,
  chain: TestCert,
  name: string,
  checkPort: number
): Promise<{ certificateId: string; definitionId: string }> {
  const imported = await ok<ImportedIds>('POST', '/api/v1/imports', managedImportBody(name, leaf, chain));
  await ok('PATCH', `/api/v1/definitions/${imported.definition.id}`, {
    deployTargets: [
      {
        serverName: `${name}-1`,
        serverType: 'nginx',
        method: 'offline',
        directory: `/etc/certfleet/live/${name}`,
        checkHost: '127.0.0.1',
        checkPort,
      },
    ],
  });
  return { certificateId: imported.certificate.id, definitionId: imported.definition.id };
}

function deploymentRow(page: Page, id: string) {
  return page.locator(`#deployments-table tr[data-deployment="${id}"]`);
}

async function reloadW3(page: Page): Promise<void> {
  await page.goto('/certificates');
  await page.getByRole('heading', { level: 1, name: /Certificates and deployments/ }).waitFor();
  await page.locator('#deployments-table').waitFor();
}

test.before(async () => {
  if (isCI) assertCommands(NEEDS);
  const dir = tempRoot('certfleet-console-deploy-');
  // Stand-in for the agent single executable (see the file comment); read by the in-process controller per call.
  useStandInAgentExecutable(dir);

  const { intermediate } = await testCa('Deploy Console');
  const leaf = await testCert({ subject: `CN=${CN}`, issuer: intermediate, dns: [CN] });
  const other = await testCert({ subject: `CN=${OTHER_CN}`, issuer: intermediate, dns: [OTHER_CN] });
  const servers: net.Server[] = [];
  // The install server the deploy check probes: serves the leaf and its intermediate.
  const checkPort = await serveTlsChain(servers, leaf.pem + intermediate.pem, leaf.key.privateKeyPem);

  await ensureConsoleBuilt();
  const tc = await startTestController();
  const c = { tc, dir, servers, leaf, checkPort, ids: {} } as unknown as Ctx;
  ctx = c;
  c.token = await tc.adminToken();
  const made = await importWithOfflineTarget(leaf, intermediate, 'vault', checkPort);
  c.certificateId = made.certificateId;
  c.certSha256 = (await ok<{ sha256: string }>('GET', `/api/v1/certificates/${made.certificateId}`)).sha256;
  c.otherCertificateId = (await importWithOfflineTarget(other, intermediate, 'other', checkPort)).certificateId;
  await createUser(tc, c.token, USER, 'user', USER_PASSWORD);

  c.browser = await launchChromium();
  ({
    context: c.context,
    page: c.page,
    problems: c.problems,
  } = await openConsolePage(c.browser, tc.controller.url, WINDOW));
  await loginThroughPage(c.page, { path: '/certificates', level: 1, landing: /Certificates and deployments/ });
});

test.after.always(async () => {
  if (!ctx) return;
  closeAll(ctx.servers);
  await ctx.browser?.close().catch(() => undefined);
  await ctx.tc?.close();
  fs.rmSync(ctx.dir, { recursive: true, force: true });
});

test.serial(
  'D3 W3 offline installer: downloaded through the page as a tar.gz with the sealed bundle; the passphrase shown once opens it',
  async (t) => {
    const c = must();
    const { page } = c;
    await page.getByText('No deployment processes yet').waitFor();
    const row = page.locator(`#certificates-table tr[data-certificate="${CN}"]`);
    await row.getByRole('button', { name: `Offline installer… ${CN}` }).click();
    const dialog = page.getByRole('dialog', { name: `Offline installer bundle for ${CN}` });
    await dialog.waitFor();
    t.is(await dialog.getByLabel('Deploy target').inputValue(), '0');
    await assertAccessible(t, page, 'W3 offline bundle dialog');
    await screenshot(page, 'w3-offline-dialog');

    // Sealing is scrypt-bound (memory-hard on purpose): allow for a busy machine.
    const download = page.waitForEvent('download', { timeout: 120_000 });
    const started = Date.now();
    await dialog.getByRole('button', { name: 'Create bundle and download' }).click();
    const file = await download;
    t.log(`offline bundle sealed and downloaded in ${Date.now() - started} ms`);
    const archive = path.join(c.dir, file.suggestedFilename());
    await file.saveAs(archive);
    t.regex(file.suggestedFilename(), /^certfleet-offline-[0-9a-f]{8}\.tar\.gz$/);

    // Shown once: the panel with the warning; the deployment id it names is the new offline deployment.
    const panel = page.getByRole('region', { name: /copy the passphrase now, it is shown only once/ });
    await panel.waitFor();
    t.regex((await panel.textContent()) ?? '', /the controller keeps no copy/);
    const passphrase = ((await panel.getByLabel('Offline bundle passphrase').textContent()) ?? '').trim();
    t.regex(passphrase, /^([a-z2-7]{4}-){6}[a-z2-7]{4}$/);
    const deploymentId = ((await panel.locator('dd code').first().textContent()) ?? '').trim();
    c.ids.page = deploymentId;
    await deploymentRow(page, deploymentId).waitFor();
    await assertAccessible(t, page, 'W3 passphrase shown once');
    await screenshot(page, 'w3-offline-passphrase');

    // The archive: a valid tar.gz with the sealed bundle, its signing key and the README; the passphrase opens it.
    const out = path.join(c.dir, 'unpacked');
    fs.mkdirSync(out);
    await tar.x({ file: archive, cwd: out });
    const [root] = fs.readdirSync(out);
    t.regex(root ?? '', /^certfleet-offline-[0-9a-f]{8}$/);
    const unpacked = path.join(out, root!);
    t.deepEqual(fs.readdirSync(unpacked).sort(), ['README.txt', 'bundle-signing.pub', 'bundle.age', 'certfleet-agent']);
    const opened = await openBundle(fs.readFileSync(path.join(unpacked, 'bundle.age')), {
      passphrase,
      trustedSigningKey: fs.readFileSync(path.join(unpacked, 'bundle-signing.pub'), 'utf8'),
      expectAgentId: 'offline',
      now: new Date(),
    });
    const d = await deployment(deploymentId);
    t.deepEqual([d.method, d.status, d.bundleId], ['offline', 'pending', opened.manifest.bundleId]);
    const receiptKey = opened.files.get(RECEIPT_KEY_FILE);
    t.truthy(receiptKey, 'the bundle carries the receipt key');
    c.receiptKeyPem = receiptKey!.toString('utf8');
    // A wrong passphrase does not open it.
    await t.throwsAsync(
      openBundle(fs.readFileSync(path.join(unpacked, 'bundle.age')), {
        passphrase: 'aaaa-bbbb-cccc-dddd-eeee-ffff-gggg',
        trustedSigningKey: fs.readFileSync(path.join(unpacked, 'bundle-signing.pub'), 'utf8'),
        expectAgentId: 'offline',
        now: new Date(),
      }),
      { message: /decrypt|passphrase|bundle/i }
    );
    const receipt: Receipt = {
      v: 1,
      bundleId: opened.manifest.bundleId,
      slot: opened.manifest.slot,
      version: opened.manifest.version,
      status: 'installed',
      reason: 'Installed',
      message: 'installed by the console test',
      servedSha256: c.certSha256,
      rolledBack: false,
      installedAt: new Date().toISOString(),
      hostname: 'vault-1.airgap.test',
    };
    c.receipt = signReceipt(receipt, c.receiptKeyPem);

    // Hidden for good once confirmed, and in no API answer.
    await panel.getByRole('button', { name: 'Done, hide the passphrase' }).click();
    t.is(await page.getByText(passphrase).count(), 0);
    const list = await c.tc.request('GET', '/api/v1/deployments?limit=500', undefined, c.token);
    t.false(JSON.stringify(list.json).includes(passphrase));
    const audit = await ok<{ items: Array<{ action: string; details: Record<string, unknown> }> }>(
      'GET',
      '/api/v1/audit?action=deployment.offline-bundle-created'
    );
    t.true(audit.items.some((e) => e.details.deploymentId === deploymentId));
    t.false(JSON.stringify(audit).includes(passphrase));
    await assertNoPageProblems(t, page, c.problems);
  }
);

test.serial(
  'D3 W3 receipt upload: bad JSON, a bad signature and another deployment’s receipt get typed errors at the field; the real receipt verifies',
  async (t) => {
    const c = must();
    const { page } = c;
    t.truthy(c.receipt && c.ids.page);
    c.ids.check = await bundleViaApi(c.certificateId);
    await reloadW3(page);
    const input = (id: string) => deploymentRow(page, id).getByLabel(/^Upload receipt/);
    const fieldError = (id: string) => deploymentRow(page, id).locator(`#receipt-error-${id}`);
    const files = {
      badJson: path.join(c.dir, 'not-json.json'),
      badSig: path.join(c.dir, 'bad-signature.json'),
      good: path.join(c.dir, 'receipt.json'),
    };
    fs.writeFileSync(files.badJson, '{"receipt": "unterminated');
    const forged = signReceipt(JSON.parse(c.receipt!.receipt) as Receipt, generateReceiptKeyPair().privateKeyPem);
    fs.writeFileSync(files.badSig, JSON.stringify(forged));
    fs.writeFileSync(files.good, JSON.stringify(c.receipt));

    const id = c.ids.page!;
    await input(id).setInputFiles(files.badJson);
    await fieldError(id).waitFor();
    t.regex((await fieldError(id).textContent()) ?? '', /JSON.*\(CF_VALIDATION\)$/);
    t.is(await input(id).getAttribute('aria-invalid'), 'true');
    await assertAccessible(t, page, 'W3 receipt error');
    await screenshot(page, 'w3-receipt-error');

    await input(id).setInputFiles(files.badSig);
    await fieldError(id).filter({ hasText: 'signature' }).waitFor();
    t.is(
      await fieldError(id).textContent(),
      'receipt: signature does not verify with the key of this bundle (CF_RECEIPT_INVALID)'
    );

    // The real receipt of the page's bundle, uploaded on another deployment's row.
    const other = c.ids.check;
    await input(other).setInputFiles(files.good);
    await fieldError(other).waitFor();
    t.regex((await fieldError(other).textContent()) ?? '', /wrong deployment \(CF_RECEIPT_INVALID\)$/);
    t.is((await deployment(other)).status, 'pending');
    t.is((await deployment(id)).status, 'pending', 'refused receipts change nothing');

    await input(id).setInputFiles(files.good);
    const row = deploymentRow(page, id);
    await row.getByRole('status').filter({ hasText: 'Receipt accepted' }).waitFor();
    t.is(await fieldError(id).count(), 0);
    await row.locator('.badge-verified').waitFor();
    t.is(await input(id).count(), 0, 'no second receipt once one was accepted');
    const d = await deployment(id);
    t.deepEqual([d.status, d.reason, d.servedSha256], ['verified', 'Installed', c.certSha256]);
    const audit = await auditActions(id);
    t.deepEqual(
      audit.filter((e) => e.action === 'deployment.receipt-accepted').map((e) => e.details),
      [{ status: 'verified', hostname: 'vault-1.airgap.test' }]
    );
    await assertNoPageProblems(t, page, c.problems);
  }
);

test.serial(
  'D6 W3 check now: progress, then the real TLS listener’s result in the row; latestCheck in the API rows',
  async (t) => {
    const c = must();
    const { page } = c;
    const id = c.ids.check!;
    const row = deploymentRow(page, id);
    t.regex((await row.locator('.latest-check').textContent()) ?? '', /not checked yet \(127\.0\.0\.1:\d+\)/);
    // The request is held back 1.5 s in the browser (then sent to the controller as it is), so the progress state
    // can be seen however fast the loopback probe is.
    await page.route(`**/api/v1/deployments/${id}/check`, async (route) => {
      await new Promise((r) => setTimeout(r, 1500));
      await route.continue();
    });
    const response = page.waitForResponse((r) => r.url().endsWith(`/api/v1/deployments/${id}/check`));
    await row.getByRole('button', { name: /^Check now/ }).click();
    await row
      .getByRole('status')
      .filter({ hasText: `Checking 127.0.0.1:${c.checkPort}…` })
      .waitFor();
    t.true(await row.getByRole('button', { name: /^Check now/ }).isDisabled(), 'no second check while one runs');
    await screenshot(page, 'w3-check-progress');
    t.is((await response).status(), 200);
    await page.unroute(`**/api/v1/deployments/${id}/check`);
    await row.getByRole('status').filter({ hasText: 'Check finished: verified (DeployCheckPassed).' }).waitFor();
    await row.locator('.latest-check .badge-ok').waitFor();
    t.is(await row.locator(`#receipt-error-${id}`).count(), 0, 'the refused receipt’s error is gone after the check');
    t.regex((await row.locator('.latest-check').textContent()) ?? '', /ok.*by controller/);

    const d = await deployment(id);
    t.deepEqual([d.status, d.reason, d.servedSha256], ['verified', 'DeployCheckPassed', c.certSha256]);
    t.is(d.checkEndpoint, `127.0.0.1:${c.checkPort}`);
    t.is(d.latestCheck?.status, 'ok');
    t.is(d.latestCheck?.probedBy, 'controller');
    t.truthy(d.latestCheck?.runId);
    // The same endpoint's latest result shows on every deployment that probes it.
    t.is((await deployment(c.ids.page!)).latestCheck?.runId, d.latestCheck?.runId);
    const audit = await auditActions(id);
    t.deepEqual(
      audit.filter((e) => e.action === 'deployment.checked').map((e) => [e.details.status, e.details.probedBy]),
      [['verified', 'controller']]
    );
    await assertAccessible(t, page, 'W3 after check now');
    await screenshot(page, 'w3-check-now');
    await assertNoPageProblems(t, page, c.problems);
  }
);

test.serial(
  'D6 W3 manual completion needs a note; "continue without check" is a distinct audited outcome (installed, not verified)',
  async (t) => {
    const c = must();
    const { page } = c;
    c.ids.manual = await bundleViaApi(c.certificateId);
    c.ids.skip = await bundleViaApi(c.certificateId);
    await reloadW3(page);

    const manualRow = deploymentRow(page, c.ids.manual);
    await manualRow.getByRole('button', { name: /^Complete by hand…/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Complete the deploy check by hand' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Mark as verified' }).click();
    await dialog.getByRole('alert').waitFor();
    t.is(await dialog.getByRole('alert').textContent(), 'A note is required: say what was checked, and how.');
    t.is(await dialog.getByLabel('Note (required)').getAttribute('aria-invalid'), 'true');
    t.is((await deployment(c.ids.manual)).status, 'pending', 'nothing sent without a note');
    await assertAccessible(t, page, 'W3 manual completion dialog');
    await screenshot(page, 'w3-manual-note-required');
    await dialog.getByLabel('Note (required)').fill('checked in the browser: the new serial is served');
    await dialog.getByRole('button', { name: 'Mark as verified' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await manualRow.getByRole('status').filter({ hasText: 'Deploy check completed by hand: verified.' }).waitFor();
    const manual = await deployment(c.ids.manual);
    t.deepEqual([manual.status, manual.reason], ['verified', 'ManuallyConfirmed']);
    t.regex(manual.message ?? '', /checked by hand by user:admin: checked in the browser/);

    const skipRow = deploymentRow(page, c.ids.skip);
    await skipRow.getByRole('button', { name: /^Continue without check…/ }).click();
    const skip = page.getByRole('dialog', { name: 'Continue without a deploy check' });
    await skip.waitFor();
    await skip.getByLabel('Note (required)').fill('host firewalled from every probe; operator confirmed by phone');
    await skip.getByRole('button', { name: 'Continue without check' }).click();
    await skip.waitFor({ state: 'hidden' });
    await skipRow.getByRole('status').filter({ hasText: 'Continued without check: installed.' }).waitFor();
    const skipped = await deployment(c.ids.skip);
    t.deepEqual([skipped.status, skipped.reason], ['installed', 'CheckSkipped']);

    const a1 = (await auditActions(c.ids.manual)).map((e) => e.action);
    const a2 = (await auditActions(c.ids.skip)).map((e) => e.action);
    t.true(a1.includes('deployment.check-completed'));
    t.false(a1.includes('deployment.check-skipped'));
    t.true(a2.includes('deployment.check-skipped'));
    t.false(a2.includes('deployment.check-completed'));
    t.is(
      (await auditActions(c.ids.skip)).find((e) => e.action === 'deployment.check-skipped')?.details.note,
      'host firewalled from every probe; operator confirmed by phone'
    );
    await assertAccessible(t, page, 'W3 after manual completion');
    await screenshot(page, 'w3-manual-done');
    await assertNoPageProblems(t, page, c.problems);
  }
);

test.serial('D2 W3 the deployment list is paged on the server and filterable by certificate', async (t) => {
  const c = must();
  const { page } = c;
  c.ids.other = await bundleViaApi(c.otherCertificateId);
  // API: pages of 2 over the 4 deployments of the first certificate, newest first, no overlap.
  const p1 = await ok<{ items: DeploymentJson[]; total: number }>(
    'GET',
    `/api/v1/deployments?certificateId=${c.certificateId}&limit=2&offset=0`
  );
  const p2 = await ok<{ items: DeploymentJson[]; total: number }>(
    'GET',
    `/api/v1/deployments?certificateId=${c.certificateId}&limit=2&offset=2`
  );
  t.is(p1.total, 4);
  t.deepEqual(
    [...p1.items, ...p2.items].map((d) => d.id),
    [c.ids.skip, c.ids.manual, c.ids.check, c.ids.page]
  );
  const all = await ok<{ items: DeploymentJson[]; total: number }>('GET', '/api/v1/deployments');
  t.is(all.total, 5);
  const bad = await c.tc.request('GET', '/api/v1/deployments?limit=501', undefined, c.token);
  t.is(bad.status, 400);

  await reloadW3(page);
  const rows = page.locator('#deployments-table tbody tr');
  t.is(await rows.count(), 5);
  const listed = page.waitForResponse((r) =>
    r.url().includes(`/api/v1/deployments?certificateId=${c.otherCertificateId}`)
  );
  await page.getByLabel('Certificate', { exact: true }).selectOption(c.otherCertificateId);
  t.is((await listed).status(), 200);
  await page
    .locator('#deployments-table caption')
    .filter({ hasText: /^1 deployment,/ })
    .waitFor();
  t.is(await rows.count(), 1);
  t.is(await rows.first().getAttribute('data-deployment'), c.ids.other);
  // Its target's check endpoint serves the other certificate: the check fails with its reason code, in the row.
  const otherRow = deploymentRow(page, c.ids.other);
  await otherRow.getByRole('button', { name: /^Check now/ }).click();
  await otherRow.getByRole('status').filter({ hasText: 'Check finished: failed (ServedCertMismatch).' }).waitFor();
  await otherRow.locator('.latest-check .badge-failing').waitFor();
  t.regex((await otherRow.locator('.latest-check').textContent()) ?? '', /failing/);
  const failed = (
    await ok<{ items: DeploymentJson[] }>('GET', `/api/v1/deployments?certificateId=${c.otherCertificateId}`)
  ).items[0];
  t.deepEqual(
    [failed?.status, failed?.reason, failed?.latestCheck?.status],
    ['failed', 'ServedCertMismatch', 'failing']
  );
  t.is((await deployment(c.ids.check!)).latestCheck?.status, 'ok', 'the other definition’s result is not mixed in');
  await assertAccessible(t, page, 'W3 deployments filtered');
  await screenshot(page, 'w3-filtered');
  await page.getByLabel('Certificate', { exact: true }).selectOption('');
  await page
    .locator('#deployments-table caption')
    .filter({ hasText: /^5 deployments,/ })
    .waitFor();
  await assertNoPageProblems(t, page, c.problems);
});

test.serial(
  'D4 W3 manual package downloads for an admin (audited key export); a User gets the typed 403 for both key-carrying downloads',
  async (t) => {
    const c = must();
    const { page } = c;
    const row = page.locator(`#certificates-table tr[data-certificate="${CN}"]`);
    await row.getByRole('button', { name: `Manual package… ${CN}` }).click();
    const dialog = page.getByRole('dialog', { name: `Manual package for ${CN}` });
    await dialog.waitFor();
    await dialog.getByLabel('Server type').selectOption('nginx');
    await dialog.getByLabel('Package password').fill('short');
    await dialog.getByRole('button', { name: 'Download package' }).click();
    await dialog.locator('#manual-passphrase-error').waitFor();
    await dialog.getByLabel('Package password').fill('package password 2026');
    await dialog.getByLabel('Your login password').fill('not my password at all');
    await dialog.getByRole('button', { name: 'Download package' }).click();
    await dialog.locator('#manual-password-error').waitFor();
    t.regex((await dialog.locator('#manual-password-error').textContent()) ?? '', /\(CF_UNAUTHORIZED\)$/);
    t.truthy(await page.getByRole('heading', { level: 1, name: /Certificates and deployments/ }).count());
    await dialog.getByLabel('Your login password').fill(ADMIN_PASSWORD);
    const download = page.waitForEvent('download');
    await dialog.getByRole('button', { name: 'Download package' }).click();
    const file = await download;
    const zipPath = path.join(c.dir, file.suggestedFilename());
    await file.saveAs(zipPath);
    const zip = fs.readFileSync(zipPath);
    t.is(zip.subarray(0, 4).toString('hex'), '504b0304', 'a ZIP archive');
    t.true(zip.includes(Buffer.from('key.pem')) && zip.includes(Buffer.from('certificate.p12')));
    t.regex(file.suggestedFilename(), /nginx.*\.zip$/);
    const exports = await ok<{ items: Array<{ details: Record<string, unknown> }> }>(
      'GET',
      '/api/v1/audit?action=key.exported'
    );
    t.true(
      exports.items.some((e) => e.details.format === 'manual-package' && e.details.certificateId === c.certificateId)
    );
    await assertNoPageProblems(t, page, c.problems);

    // A User: same screen, same buttons; the controller refuses with its typed 403, shown in the dialog.
    const { context: userContext, page: up, problems } = await openConsolePage(c.browser, c.tc.controller.url, WINDOW);
    try {
      await loginThroughPage(up, {
        path: '/certificates',
        username: USER,
        password: USER_PASSWORD,
        level: 1,
        landing: /Certificates and deployments/,
      });
      const before = (await ok<{ total: number }>('GET', '/api/v1/deployments')).total;
      const urow = up.locator(`#certificates-table tr[data-certificate="${CN}"]`);
      await urow.getByRole('button', { name: `Offline installer… ${CN}` }).click();
      const od = up.getByRole('dialog', { name: `Offline installer bundle for ${CN}` });
      await od.getByLabel('Deploy target').waitFor();
      await od.getByRole('button', { name: 'Create bundle and download' }).click();
      await od.locator('#download-error').waitFor();
      t.regex((await od.locator('#download-error').textContent()) ?? '', /keys:export.*\(CF_FORBIDDEN\)$/);
      await assertAccessible(t, up, 'W3 user 403');
      await screenshot(up, 'w3-user-forbidden');
      t.is((await ok<{ total: number }>('GET', '/api/v1/deployments')).total, before, 'no deployment opened');
      await od.getByRole('button', { name: 'Cancel' }).click();

      await urow.getByRole('button', { name: `Manual package… ${CN}` }).click();
      const md = up.getByRole('dialog', { name: `Manual package for ${CN}` });
      await md.getByLabel('Package password').fill('package password 2026');
      await md.getByLabel('Your login password').fill(USER_PASSWORD);
      await md.getByRole('button', { name: 'Download package' }).click();
      await md.locator('#download-error').waitFor();
      t.regex((await md.locator('#download-error').textContent()) ?? '', /\(CF_FORBIDDEN\)$/);
      await md.getByRole('button', { name: 'Cancel' }).click();
      // A User may still run the checks (repository:write).
      await up.locator('#deployments-table').waitFor();
      await assertNoPageProblems(t, up, problems);
    } finally {
      await userContext.close();
    }
  }
);
