/**
 * The console screens over the existing REST API (SPEC W1 edit/clone/detail/import, W2, W4, W5, W7, W9, W10) in a
 * real browser: a real controller (HTTPS, fresh PostgreSQL) and Debian's Chromium via playwright-core. Data is made
 * through the API first; each test drives one screen, does one action through the page and checks its effect through
 * the API, runs axe-core (no serious/critical violations) and saves a screenshot to test/artifacts/console/.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
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
  screenshot,
  type PageProblems,
} from '../../_helpers/console';
import { ADMIN_PASSWORD, startTestController, type TestController } from '../../_helpers/controller';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { daysFromNow, testCert } from '../../_helpers/test-pki';

const test = testNeeding(['chromium', 'openssl']);

interface Ctx {
  tc: TestController;
  browser: Browser;
  page: Page;
  problems: PageProblems;
  token: string;
  dir: string;
  ids: Record<string, string>;
}
let ctx: Ctx | undefined;

function must(): Ctx {
  if (!ctx) throw new Error('setup failed');
  return ctx;
}

const ok = apiOk(must);

interface DefinitionJson {
  id: string;
  name: string;
  renewalLeadDays: number;
  clonedFromId: string | null;
  sans: Array<{ type: string; value: string }>;
}

async function findDefinition(name: string): Promise<DefinitionJson | undefined> {
  const page = await ok<{ items: DefinitionJson[] }>('GET', `/api/v1/definitions?q=${encodeURIComponent(name)}`);
  return page.items.find((d) => d.name === name);
}

/** Waits (bounded) until the picked PEM file has been read into the trust-set form's text area. */
async function pemLoaded(page: Page): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if ((await page.getByLabel('Root certificates (PEM)').inputValue()).includes('BEGIN CERTIFICATE')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the PEM file was not read into the form');
}

async function go(page: Page, linkName: RegExp): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: linkName }).click();
}

test.before(async () => {
  if (isCI) assertCommands(['chromium', 'openssl']);
  await ensureConsoleBuilt();
  const tc = await startTestController();
  const token = await tc.adminToken();
  const browser = await launchChromium();
  const { page, problems } = await openConsolePage(browser, tc.controller.url, {
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cf-console-screens-'));
  ctx = { tc, browser, page, problems, token, dir, ids: {} };

  // Known data, made through the API.
  const shop = await ok<{ id: string }>('POST', '/api/v1/definitions', {
    name: 'shop.example.test',
    subject: { commonName: 'shop.example.test' },
    sans: [{ type: 'dns', value: 'shop.example.test' }],
    issuerType: 'internal-ca',
    issuerConfig: { validityDays: 30 },
    renewalLeadDays: 10,
    deployTargets: [{ serverName: 'web1.example.test', serverType: 'nginx', method: 'manual' }],
  });
  ctx.ids.shop = shop.id;
  await ok('POST', '/api/v1/requests', { definitionId: shop.id });
  // Issued for 30 days, then a 60-day lead time in interactive mode: overdue for renewal, nothing started.
  const intranet = await ok<{ id: string }>('POST', '/api/v1/definitions', {
    name: 'intranet.example.test',
    subject: { commonName: 'intranet.example.test' },
    sans: [{ type: 'dns', value: 'intranet.example.test' }],
    issuerType: 'internal-ca',
    issuerConfig: { validityDays: 30 },
    renewalLeadDays: 10,
  });
  await ok('POST', '/api/v1/requests', { definitionId: intranet.id });
  await ok('PATCH', `/api/v1/definitions/${intranet.id}`, { renewalLeadDays: 60, processMode: 'interactive' });
  ctx.ids.intranet = intranet.id;
  // An interactive process waiting for its first confirmation.
  const step = await ok<{ id: string }>('POST', '/api/v1/definitions', {
    name: 'step.example.test',
    subject: { commonName: 'step.example.test' },
    sans: [{ type: 'dns', value: 'step.example.test' }],
    issuerType: 'internal-ca',
    processMode: 'interactive',
  });
  const stepRun = await ok<{ request: { id: string; status: string; awaitingConfirmation: boolean } }>(
    'POST',
    '/api/v1/requests',
    { definitionId: step.id }
  );
  if (!stepRun.request.awaitingConfirmation)
    throw new Error('the interactive process does not wait for a confirmation');
  ctx.ids.stepRequest = stepRun.request.id;
  ctx.ids.stepStatus = stepRun.request.status;
  // A commercial-CA order: stalled, waiting for the vendor's certificate.
  const order = await ok<{ id: string }>('POST', '/api/v1/definitions', {
    name: 'order.example.test',
    subject: { commonName: 'order.example.test' },
    sans: [{ type: 'dns', value: 'order.example.test' }],
    issuerType: 'manual',
  });
  await ok('POST', '/api/v1/requests', { definitionId: order.id });
  // Sent mail: SMTP pointed at a closed loopback port, so the test mail's failed attempt is in the log.
  await ok('PUT', '/api/v1/settings/smtp', {
    fromAddress: 'certfleet@example.test',
    host: '127.0.0.1',
    port: 9,
    security: 'none',
    adminEmail: 'admin@example.test',
  });
  await tc.request('POST', '/api/v1/settings/smtp/test', {}, token);

  // Log in through the page.
  await loginThroughPage(page, { path: '/login', level: 1, landing: /Certificate definitions/ });
});

test.after.always(async () => {
  await ctx?.browser.close().catch(() => undefined);
  await ctx?.tc.close();
  if (ctx) fs.rmSync(ctx.dir, { recursive: true, force: true });
});

test.serial(
  'W1 definition create: field errors from the API next to the field, then created and found via the API',
  async (t) => {
    const { page, problems } = must();
    await page.getByRole('link', { name: 'New definition' }).click();
    await page.getByRole('heading', { level: 1, name: 'New certificate definition' }).waitFor();
    await page.getByLabel('Definition name').fill('portal.example.test');
    await page.getByLabel('Common name (CN)').fill('portal.example.test');
    await page.getByLabel('Country (C, optional)').fill('japan');
    await page.getByLabel('Subject alternative names').fill('portal.example.test\nip:not-an-ip');
    await page.getByRole('button', { name: 'Create definition' }).click();
    // The controller's CF_VALIDATION problems land next to the fields they name.
    const countryError = page.locator('#def-country-error');
    await countryError.waitFor();
    t.regex((await countryError.textContent()) ?? '', /two-letter/);
    t.is(await page.getByLabel('Country (C, optional)').getAttribute('aria-invalid'), 'true');
    t.truthy(await page.locator('#def-sans-error').count(), 'the SAN error is next to the SAN field');
    await assertAccessible(t, page, 'definition form with errors');
    await screenshot(page, 'w1-definition-form-errors');
    t.is(await findDefinition('portal.example.test'), undefined, 'nothing was created');

    await page.getByLabel('Country (C, optional)').fill('JP');
    await page.getByLabel('Subject alternative names').fill('portal.example.test\nip:192.0.2.10');
    await page.getByLabel('Renewal lead time (days)').fill('21');
    await page.getByRole('button', { name: 'Create definition' }).click();
    await page.getByRole('heading', { level: 1, name: 'Definition portal.example.test' }).waitFor();
    t.regex((await page.getByRole('status').first().textContent()) ?? '', /Definition created/);
    const created = await findDefinition('portal.example.test');
    t.truthy(created);
    t.is(created?.renewalLeadDays, 21);
    t.deepEqual(created?.sans, [
      { type: 'dns', value: 'portal.example.test' },
      { type: 'ip', value: '192.0.2.10' },
    ]);
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial('W1 definition edit and clone: saved through the form, the copy names its source', async (t) => {
  const { page, problems } = must();
  const created = await findDefinition('portal.example.test');
  await page.getByRole('link', { name: 'Edit' }).click();
  await page.getByRole('heading', { level: 1, name: 'Edit definition portal.example.test' }).waitFor();
  t.is(await page.getByLabel('Renewal lead time (days)').inputValue(), '21');
  await page.getByLabel('Renewal lead time (days)').fill('45');
  await page.getByLabel('Process mode').selectOption('interactive');
  await assertAccessible(t, page, 'definition edit');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByText('Changes saved.').waitFor();
  const edited = await ok<DefinitionJson & { processMode: string }>('GET', `/api/v1/definitions/${created!.id}`);
  t.is(edited.renewalLeadDays, 45);
  t.is(edited.processMode, 'interactive');

  await page.getByRole('link', { name: 'Clone' }).click();
  await page.getByRole('heading', { level: 1, name: /Clone definition portal.example.test/ }).waitFor();
  // A taken name: CF_CONFLICT next to the name field.
  await page.getByLabel('Name of the copy').fill('shop.example.test');
  await page.getByRole('button', { name: 'Clone' }).click();
  await page.locator('#clone-name-error').waitFor();
  t.regex((await page.locator('#clone-name-error').textContent()) ?? '', /CF_CONFLICT/);
  await page.getByLabel('Name of the copy').fill('portal-prod.example.test');
  await page.getByRole('button', { name: 'Clone' }).click();
  await page.getByRole('heading', { level: 1, name: 'Definition portal-prod.example.test' }).waitFor();
  const copy = await findDefinition('portal-prod.example.test');
  t.is(copy?.clonedFromId, created!.id);
  t.is(copy?.renewalLeadDays, 45);
  await assertAccessible(t, page, 'clone result');
  await assertNoPageProblems(t, page, problems);
});

test.serial('W1 definition detail: its certificates, requests and deployment targets', async (t) => {
  const { page, problems, ids } = must();
  await go(page, /^Certificate definitions/);
  await page.locator('#definitions-table').getByRole('link', { name: 'shop.example.test' }).click();
  await page.getByRole('heading', { level: 1, name: 'Definition shop.example.test' }).waitFor();
  t.is(new URL(page.url()).pathname, `/definitions/${ids.shop}`);
  const certs = page.locator('#definition-certificates tbody tr');
  t.is(await certs.count(), 1);
  t.regex((await certs.first().textContent()) ?? '', /shop\.example\.test.*current/);
  t.regex((await page.locator('#definition-requests').textContent()) ?? '', /completed/);
  t.regex((await page.locator('#definition-targets').textContent()) ?? '', /web1\.example\.test.*nginx.*manual/);
  await assertAccessible(t, page, 'definition detail');
  await screenshot(page, 'w1-definition-detail');
  await assertNoPageProblems(t, page, problems);
});

test.serial(
  'W1 import from the console: a PKCS#12 upload asks for its password (typed error at the field), then imports',
  async (t) => {
    const { page, problems, dir } = must();
    const leaf = await testCert({
      subject: 'CN=upload.example.test',
      dns: ['upload.example.test'],
      notAfter: daysFromNow(90),
    });
    fs.writeFileSync(path.join(dir, 'leaf.pem'), leaf.pem);
    fs.writeFileSync(path.join(dir, 'key.pem'), leaf.key.privateKeyPem);
    const p12 = path.join(dir, 'upload.p12');
    await promisify(execFile)('openssl', [
      'pkcs12',
      '-export',
      '-in',
      path.join(dir, 'leaf.pem'),
      '-inkey',
      path.join(dir, 'key.pem'),
      '-out',
      p12,
      '-passout',
      'pass:upload-Secret-1',
    ]);

    await go(page, /^Certificate definitions/);
    await page.getByRole('link', { name: 'Import certificate file' }).click();
    await page.getByRole('heading', { level: 1, name: 'Import a certificate' }).waitFor();
    await page.getByLabel('Certificate file').setInputFiles(p12);
    await page.getByRole('button', { name: 'Import' }).click();
    const pwError = page.locator('#import-password-error');
    await pwError.waitFor();
    t.regex((await pwError.textContent()) ?? '', /CF_IMPORT_PASSWORD_REQUIRED/);
    t.is(
      await page.evaluate(
        () => (globalThis as unknown as { document: { activeElement: { id: string } } }).document.activeElement.id
      ),
      'import-password'
    );
    await assertAccessible(t, page, 'import with password prompt');
    await screenshot(page, 'w1-import-password');

    await page.getByLabel(/File password/).fill('wrong-password');
    await page.getByRole('button', { name: 'Import' }).click();
    await page.locator('#import-password-error', { hasText: 'CF_IMPORT_WRONG_PASSWORD' }).waitFor();
    t.is(await findDefinition('upload.example.test'), undefined, 'nothing imported');

    await page.getByLabel(/File password/).fill('upload-Secret-1');
    await page.getByRole('button', { name: 'Import' }).click();
    await page.getByRole('heading', { level: 1, name: 'Definition upload.example.test' }).waitFor();
    t.regex((await page.getByRole('status').first().textContent()) ?? '', /Certificate imported/);
    const imported = await findDefinition('upload.example.test');
    t.truthy(imported);
    const certs = await ok<{ items: Array<{ privateKeyId: string | null }> }>(
      'GET',
      `/api/v1/certificates?definitionId=${imported!.id}`
    );
    t.is(certs.items.length, 1);
    t.truthy(certs.items[0]?.privateKeyId, 'the key came with the PKCS#12');
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial(
  'W2 requests: running step, stalled with what it waits for, overdue renewals; confirming a step from the page',
  async (t) => {
    const { page, problems, ids } = must();
    await go(page, /^Requests and acquisition processes/);
    await page.getByRole('heading', { level: 1, name: /Requests and acquisition processes/ }).waitFor();
    const runningRow = page.locator(`#running-requests tr[data-request="${ids.stepRequest}"]`);
    await runningRow.waitFor();
    t.regex((await runningRow.textContent()) ?? '', /step\.example\.test.*awaiting confirmation/);
    const stalled = page.locator('#stalled-requests');
    t.regex((await stalled.textContent()) ?? '', /order\.example\.test.*the certificate from the vendor/);
    const overdue = page.locator('#overdue-renewals tr[data-definition="intranet.example.test"]');
    t.regex((await overdue.textContent()) ?? '', /2\d days left.*60 days.*interactive/);
    t.is(await page.locator('#overdue-renewals tr[data-definition="shop.example.test"]').count(), 0);
    await assertAccessible(t, page, 'requests');
    await screenshot(page, 'w2-requests');

    await runningRow.getByRole('button', { name: 'Confirm next step' }).click();
    await page.getByText(/^Now /).first().waitFor();
    const after = await ok<{ status: string }>('GET', `/api/v1/requests/${ids.stepRequest}`);
    t.not(after.status, ids.stepStatus, 'the confirmed step ran');

    // Starting the overdue renewal from the page: it leaves the overdue list.
    await overdue.getByRole('button', { name: 'Start renewal of intranet.example.test' }).click();
    await page.getByText(/Renewal of intranet\.example\.test started/).waitFor();
    const due = await ok<{ items: Array<{ definitionId: string }> }>('GET', '/api/v1/renewals/due');
    t.false(due.items.some((d) => d.definitionId === ids.intranet));
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial(
  'W4 provider accounts: create through the form (password write-only), edit, typed field error',
  async (t) => {
    const { page, problems } = must();
    await go(page, /^Provider accounts/);
    await page.getByRole('heading', { level: 1, name: /Provider accounts/ }).waitFor();
    await page.getByRole('button', { name: 'New provider account' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Sectigo main');
    await page.getByLabel('Vendor', { exact: true }).fill('Sectigo');
    await page.getByLabel('E-mail (optional)').fill('not-an-address');
    await page.getByLabel('Password (optional)').fill('vendor-Secret-2');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#pa-email-error').waitFor();
    await assertAccessible(t, page, 'provider account form');
    await screenshot(page, 'w4-provider-account-error');
    await page.getByLabel('E-mail (optional)').fill('certs@example.test');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Provider account Sectigo main created.').waitFor();
    const row = page.locator('#provider-accounts tr[data-account="Sectigo main"]');
    t.regex((await row.textContent()) ?? '', /Sectigo.*certs@example\.test.*stored \(hidden\)/);
    t.notRegex((await page.locator('main').textContent()) ?? '', /vendor-Secret-2/);

    await row.getByRole('button', { name: 'Edit Sectigo main' }).click();
    await page.getByLabel('Notes (optional)').fill('renewals go through purchasing');
    await page.getByRole('button', { name: 'Save account' }).click();
    await page.getByText('Provider account Sectigo main saved.').waitFor();
    const accounts = await ok<{ items: Array<{ name: string; email: string; hasPassword: boolean; notes: string }> }>(
      'GET',
      '/api/v1/provider-accounts'
    );
    const a = accounts.items.find((x) => x.name === 'Sectigo main');
    t.is(a?.email, 'certs@example.test');
    t.true(a?.hasPassword, 'the password was kept on edit');
    t.is(a?.notes, 'renewals go through purchasing');
    await assertAccessible(t, page, 'provider accounts');
    await screenshot(page, 'w4-provider-accounts');
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial(
  'W5 private keys: export needs the password again, a wrong one stays at the field, the export is audited',
  async (t) => {
    const { page, problems } = must();
    await go(page, /^Private keys/);
    await page.getByRole('heading', { level: 1, name: /Private keys/ }).waitFor();
    const rows = page.locator('#private-keys tbody tr');
    await rows.first().waitFor();
    t.true((await rows.count()) >= 3, 'keys of the issued and imported certificates');
    const keyId = (await rows.first().getAttribute('data-key')) ?? '';
    await rows
      .first()
      .getByRole('button', { name: /^Export key/ })
      .click();
    await page.getByLabel('Your password').fill('not my password');
    await page.getByLabel('Reason (recorded in the audit log)').fill('move to the load balancer');
    await page.getByRole('button', { name: 'Export key', exact: true }).click();
    await page.locator('#export-password-error').waitFor();
    t.regex((await page.locator('#export-password-error').textContent()) ?? '', /CF_UNAUTHORIZED/);
    t.is(new URL(page.url()).pathname, '/private-keys', 'a wrong re-entered password does not end the session');
    await assertAccessible(t, page, 'key export form');
    await screenshot(page, 'w5-key-export-error');

    await page.getByLabel('Your password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Export key', exact: true }).click();
    const pem = page.getByLabel('Private key (PEM)');
    await pem.waitFor();
    t.regex(await pem.inputValue(), /^-----BEGIN PRIVATE KEY-----/);
    t.regex((await page.getByRole('status').first().textContent()) ?? '', /recorded in the audit log/);
    await screenshot(page, 'w5-key-exported');
    const audit = await ok<{ items: Array<{ action: string; target?: string | null; details?: unknown }> }>(
      'GET',
      '/api/v1/audit?limit=20'
    );
    const exported = audit.items.find((e) => e.action === 'key.exported');
    t.truthy(exported, 'a key.exported audit event exists');
    t.regex(JSON.stringify(exported), new RegExp(keyId));
    await page.getByRole('button', { name: 'Close and forget the key' }).click();
    t.is(await page.getByLabel('Private key (PEM)').count(), 0);
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial('W7 sent mail: the log with the failed test mail, filtered by status', async (t) => {
  const { page, problems } = must();
  await go(page, /^Sent mail/);
  await page.getByRole('heading', { level: 1, name: /Sent mail/ }).waitFor();
  const table = page.locator('#sent-mail');
  await table.waitFor();
  t.regex((await table.textContent()) ?? '', /admin@example\.test.*test-mail.*failed/);
  await page.getByLabel('Status').selectOption('sent');
  await page.getByText('No mail sent yet.').waitFor();
  await page.getByLabel('Status').selectOption('failed');
  await table.waitFor();
  await assertAccessible(t, page, 'sent mail');
  await screenshot(page, 'w7-sent-mail');
  await assertNoPageProblems(t, page, problems);
});

test.serial(
  'W9 trusted CA sets: the system set, a new set from an uploaded PEM, a non-CA refused at the field',
  async (t) => {
    const { page, problems, dir } = must();
    const root = await testCert({ subject: 'CN=Console Test Root, O=CertFleet Tests', ca: true });
    const leaf = await testCert({ subject: 'CN=not-a-ca.example.test', dns: ['not-a-ca.example.test'] });
    fs.writeFileSync(path.join(dir, 'root.pem'), root.pem);
    fs.writeFileSync(path.join(dir, 'leaf-only.pem'), leaf.pem);
    await go(page, /^Trusted CA sets/);
    await page.getByRole('heading', { level: 1, name: /Trusted CA sets/ }).waitFor();
    t.regex((await page.locator('details[data-set="system"] summary').textContent()) ?? '', /system set \(default\)/);

    await page.getByLabel('Name', { exact: true }).fill('partners');
    await page.getByLabel('Root certificates file (PEM)').setInputFiles(path.join(dir, 'leaf-only.pem'));
    await pemLoaded(page);
    await page.getByRole('button', { name: 'Create set' }).click();
    await page.locator('#set-pem-error').waitFor();
    t.regex((await page.locator('#set-pem-error').textContent()) ?? '', /CA/);

    await page.getByLabel('Root certificates file (PEM)').setInputFiles(path.join(dir, 'root.pem'));
    await pemLoaded(page);
    await page.getByRole('button', { name: 'Create set' }).click();
    await page.getByText('Trusted CA set partners created with 1 root(s).').waitFor();
    t.regex((await page.locator('details[data-set="partners"]').textContent()) ?? '', /Console Test Root/);
    const sets = await ok<Array<{ name: string; roots: unknown[] }>>('GET', '/api/v1/trust-sets');
    t.is(sets.find((s) => s.name === 'partners')?.roots.length, 1);
    await assertAccessible(t, page, 'trust sets');
    await screenshot(page, 'w9-trust-sets');
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial(
  'W10 private CA: CA certificate and CRL downloads, a client certificate PFX issued and downloaded',
  async (t) => {
    const { page, problems, dir } = must();
    await go(page, /^Private CA/);
    await page.getByRole('heading', { level: 1, name: /Private CA/ }).waitFor();
    const panel = page.locator('section[data-ca]').first();
    await panel.waitFor();
    t.regex((await panel.textContent()) ?? '', /active/);

    const [caDownload] = await Promise.all([
      page.waitForEvent('download'),
      panel.getByRole('link', { name: 'CA certificate (PEM)' }).click(),
    ]);
    const caFile = path.join(dir, 'ca.pem');
    await caDownload.saveAs(caFile);
    t.regex(fs.readFileSync(caFile, 'utf8'), /^-----BEGIN CERTIFICATE-----/);
    const [crlDownload] = await Promise.all([
      page.waitForEvent('download'),
      panel.getByRole('link', { name: 'Certificate revocation list (CRL)' }).click(),
    ]);
    const crlFile = path.join(dir, 'ca.crl');
    await crlDownload.saveAs(crlFile);
    const { stdout: crlText } = await promisify(execFile)('openssl', [
      'crl',
      '-inform',
      'DER',
      '-in',
      crlFile,
      '-noout',
      '-issuer',
    ]);
    t.regex(crlText, /issuer=/);

    // Too short a password: the field's error from the API.
    await page.getByLabel('Password for the PFX file').fill('short');
    await page.getByRole('button', { name: 'Issue and download PFX' }).click();
    await page.locator('#cc-password-error').waitFor();
    await assertAccessible(t, page, 'private CA');
    await screenshot(page, 'w10-private-ca');

    await page.getByLabel('Password for the PFX file').fill('pfx-Secret-42');
    const [pfx] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Issue and download PFX' }).click(),
    ]);
    t.is(pfx.suggestedFilename(), 'admin.p12');
    const pfxFile = path.join(dir, 'admin.p12');
    await pfx.saveAs(pfxFile);
    const { stdout: pfxText } = await promisify(execFile)('openssl', [
      'pkcs12',
      '-in',
      pfxFile,
      '-passin',
      'pass:pfx-Secret-42',
      '-nokeys',
      '-clcerts',
    ]);
    t.regex(pfxText, /subject=.*CN\s*=\s*admin/);
    await page.getByText(/Issued admin\.p12: serial/).waitFor();
    await assertNoPageProblems(t, page, problems);
  }
);
