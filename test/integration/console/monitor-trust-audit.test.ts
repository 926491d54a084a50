/**
 * The console's W6 schedule form, W9 trust-set root management and the W11 audit log in a real browser (Debian
 * Chromium via playwright-core) over a real controller (HTTPS, fresh PostgreSQL, real pg-boss). What the forms do
 * is read back through the API and pg-boss; refusals of the controller (invalid cron, a set still in use, the
 * last root of a used set) appear next to the control; a User sees read-only screens; the audit chain check
 * names the event the test tampers with in the database. Every state is checked with axe-core (no serious or
 * critical violations) and screenshotted into test/artifacts/console/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Browser, BrowserContext, Page } from 'playwright-core';
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
import { startTestController, type TestController } from '../../_helpers/controller';
import { createUser } from '../../_helpers/https-client';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { testCert, type TestCert } from '../../_helpers/test-pki';

const NEEDS = ['chromium'];
const test = testNeeding(NEEDS);
const USER = 'mta-operator';
const USER_PASSWORD = 'operator password 2026!';

interface Ctx {
  tc: TestController;
  token: string;
  userToken: string;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  problems: PageProblems;
  dir: string;
  roots: { a: TestCert; b: TestCert; leaf: TestCert };
}
let ctx: Ctx | undefined;

function must(): Ctx {
  if (!ctx) throw new Error('setup failed');
  return ctx;
}

async function api(method: string, url: string, body?: unknown, token?: string) {
  const c = must();
  return c.tc.request(method, url, body, token ?? c.token);
}

const ok = apiOk(must);

async function go(page: Page, linkName: RegExp): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: linkName }).click();
}

interface Schedule {
  cron: string;
  isDefault: boolean;
  nextRuns: string[];
  description: string;
  inEffect: boolean;
}
interface SetJson {
  id: string;
  name: string;
  roots: Array<{ sha256: string; subject: string }>;
}

test.before(async () => {
  if (isCI) assertCommands(NEEDS);
  await ensureConsoleBuilt();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cf-console-mta-'));
  const roots = {
    a: await testCert({ subject: 'CN=MTA Root A, O=CertFleet Tests', ca: true }),
    b: await testCert({ subject: 'CN=MTA Root B, O=CertFleet Tests', ca: true }),
    leaf: await testCert({ subject: 'CN=mta-leaf.example.test', dns: ['mta-leaf.example.test'] }),
  };
  const tc = await startTestController({ scheduler: { cronMonitorIntervalSeconds: 2, cronWorkerIntervalSeconds: 2 } });
  const token = await tc.adminToken();
  const userToken = await createUser(tc, token, USER, 'user', USER_PASSWORD);
  const browser = await launchChromium();
  const { context, page, problems } = await openConsolePage(browser, tc.controller.url, {
    viewport: { width: 1280, height: 900 },
  });
  ctx = { tc, token, userToken, browser, context, page, problems, dir, roots };
  await loginThroughPage(page, { path: '/monitoring', level: 1, landing: /Monitor control/ });
});

test.after.always(async () => {
  if (!ctx) return;
  await ctx.browser?.close().catch(() => undefined);
  await ctx.tc?.close();
  fs.rmSync(ctx.dir, { recursive: true, force: true });
});

test.serial(
  'W6 M1 schedule form: default with next runs; an invalid cron refused at the field; presets and raw cron re-schedule pg-boss; reset',
  async (t) => {
    const { page, problems, tc } = must();
    const panel = page.locator('#monitor-schedule');
    await panel.getByText('At 06:00 (UTC)').waitFor();
    t.regex((await panel.textContent()) ?? '', /default/);
    const next = await page
      .locator('ol.next-runs li time')
      .evaluateAll((els) =>
        els.map((e) => (e as unknown as { getAttribute(n: string): string }).getAttribute('datetime'))
      );
    t.is(next.length, 5, 'five next run times');
    for (const x of next) t.regex(x, /T06:00:00\.000Z$/);
    await assertAccessible(t, page, 'W6 schedule (default)');
    await screenshot(page, 'w6-schedule-default');

    // A raw cron the controller refuses: the error sits at the field, nothing changes.
    await page.getByLabel('Cron expression', { exact: true }).check();
    await page.getByLabel('Cron expression (5 fields, UTC)').fill('61 6 * * *');
    await page.getByRole('button', { name: 'Save schedule' }).click();
    const fieldError = page.locator('#schedule-cron-error');
    await fieldError.waitFor();
    t.regex(
      (await fieldError.textContent()) ?? '',
      /invalid cron expression "61 6 \* \* \*".*got value 61 expected range 0-59/
    );
    t.is(await page.getByLabel('Cron expression (5 fields, UTC)').getAttribute('aria-invalid'), 'true');
    t.is((await ok<Schedule>('GET', '/api/v1/monitoring/schedule')).cron, '0 6 * * *', 'nothing written');
    await assertAccessible(t, page, 'W6 schedule (invalid cron)');
    await screenshot(page, 'w6-schedule-invalid');

    // Preset: every 6 hours.
    await page.getByLabel('Every', { exact: true }).check();
    await page.getByLabel('Hours between runs').selectOption('6');
    t.is(await page.locator('#schedule-preview').textContent(), '0 */6 * * *');
    await page.getByRole('button', { name: 'Save schedule' }).click();
    await page.getByText(/Schedule saved: .*every 6 hours/i).waitFor();
    const six = await ok<Schedule>('GET', '/api/v1/monitoring/schedule');
    t.is(six.cron, '0 */6 * * *');
    t.true(six.inEffect);
    t.is((await tc.controller.ctx.jobSchedules?.get('monitor-run'))?.cron, '0 */6 * * *', 'pg-boss re-scheduled');
    const shown = await page
      .locator('ol.next-runs li time')
      .evaluateAll((els) =>
        els.map((e) => (e as unknown as { getAttribute(n: string): string }).getAttribute('datetime'))
      );
    t.deepEqual(shown, six.nextRuns, 'the screen shows the new next runs');

    // Preset: daily at 22:00.
    await page.getByLabel('Daily at', { exact: true }).check();
    await page.getByLabel('Hour of the daily run (UTC)').selectOption('22');
    await page.getByRole('button', { name: 'Save schedule' }).click();
    await page.getByText(/Schedule saved: At 22:00/).waitFor();
    t.is((await tc.controller.ctx.jobSchedules?.get('monitor-run'))?.cron, '0 22 * * *');

    // Raw cron: weekdays 05:30; the form opens on the raw field for a schedule that is no preset.
    await page.getByLabel('Cron expression', { exact: true }).check();
    await page.getByLabel('Cron expression (5 fields, UTC)').fill('30 5 * * 1-5');
    await page.getByRole('button', { name: 'Save schedule' }).click();
    await page.getByText(/Schedule saved: At 05:30, Monday through Friday/).waitFor();
    t.is((await tc.controller.ctx.jobSchedules?.get('monitor-run'))?.cron, '30 5 * * 1-5');
    await page.reload();
    await page.locator('#schedule-description').waitFor();
    t.true(await page.getByLabel('Cron expression', { exact: true }).isChecked());
    t.is(await page.getByLabel('Cron expression (5 fields, UTC)').inputValue(), '30 5 * * 1-5');
    await assertAccessible(t, page, 'W6 schedule (custom)');
    await screenshot(page, 'w6-schedule-custom');

    await page.getByRole('button', { name: /Reset to the default/ }).click();
    await page.getByText(/Schedule saved: At 06:00/).waitFor();
    const back = await ok<Schedule>('GET', '/api/v1/monitoring/schedule');
    t.true(back.isDefault);
    t.is((await tc.controller.ctx.jobSchedules?.get('monitor-run'))?.cron, '0 6 * * *');
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial(
  'W9 T1 T2 roots added by paste and file, removed; deleting a used set or its last root refused at the control; an unused set deleted',
  async (t) => {
    const { page, problems, roots, dir } = must();
    const set = await ok<SetJson>('POST', '/api/v1/trust-sets', { name: 'partners-w9', pem: roots.a.pem });
    const spare = await ok<SetJson>('POST', '/api/v1/trust-sets', { name: 'spare-w9', pem: roots.b.pem });
    const def = await ok<{ id: string }>('POST', '/api/v1/definitions', {
      name: 'partner-site',
      subject: { commonName: 'partner-site.example.test' },
      sans: [{ type: 'dns', value: 'partner-site.example.test' }],
      operationMode: 'monitored',
      trustedCaSetId: set.id,
    });
    t.truthy(def.id);

    await go(page, /Trusted CA sets/);
    await page.getByRole('heading', { level: 1, name: /Trusted CA sets/ }).waitFor();
    const panel = page.locator('details[data-set="partners-w9"]');
    const systemPanel = page.locator('details[data-set="system"]');
    t.is(await systemPanel.locator('button, form').count(), 0, 'the system set offers no changes');
    // Subject, expiry and the fingerprint as openssl prints it.
    const rowA = panel.locator('tbody tr').first();
    t.regex((await rowA.textContent()) ?? '', /MTA Root A/);
    t.is(await rowA.locator('code.fingerprint').textContent(), roots.a.x509.fingerprint256);
    t.is(
      await rowA.locator('td').first().textContent(),
      new Date(roots.a.x509.validTo).toISOString().slice(0, 10),
      'the expiry'
    );

    // A non-CA certificate pasted: refused at the PEM field.
    await panel.getByLabel('Roots to add to partners-w9 (PEM text)').fill(roots.leaf.pem);
    await panel.getByRole('button', { name: 'Add roots to partners-w9' }).click();
    const pemError = panel.locator('.field-error');
    await pemError.waitFor();
    t.regex((await pemError.textContent()) ?? '', /not a CA certificate.*CF_VALIDATION/);
    await assertAccessible(t, page, 'W9 add root refused');
    await screenshot(page, 'w9-add-root-refused');

    // Root B from a file.
    fs.writeFileSync(path.join(dir, 'root-b.pem'), roots.b.pem);
    // Empty the text area first: the wait below must see the file's PEM, not the refused one.
    await panel.getByLabel('Roots to add to partners-w9 (PEM text)').fill('');
    await panel.getByLabel('PEM file with roots for partners-w9').setInputFiles(path.join(dir, 'root-b.pem'));
    for (let i = 0; i < 50; i++) {
      if ((await panel.getByLabel('Roots to add to partners-w9 (PEM text)').inputValue()).includes('BEGIN')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await panel.getByRole('button', { name: 'Add roots to partners-w9' }).click();
    await page.getByText('1 root(s) added to partners-w9; it now holds 2.').waitFor();
    t.is(await panel.locator('tbody tr').count(), 2);
    t.deepEqual(
      (await ok<SetJson>('GET', `/api/v1/trust-sets/${set.id}`)).roots.map((r) => r.subject).sort(),
      ['CN=MTA Root A, O=CertFleet Tests', 'CN=MTA Root B, O=CertFleet Tests'].sort()
    );

    // Deleting the set a definition names: refused, the error next to the button.
    await panel.getByRole('button', { name: 'Delete set partners-w9' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete trusted CA set partners-w9?' });
    await dialog.waitFor();
    await assertAccessible(t, page, 'W9 delete confirmation');
    await dialog.getByRole('button', { name: 'Delete set' }).click();
    const delError = page.locator(`#delete-error-${set.id}`);
    await delError.waitFor();
    t.regex((await delError.textContent()) ?? '', /named by definition\(s\) partner-site.*CF_TRUST_SET_IN_USE/);
    await assertAccessible(t, page, 'W9 delete refused');
    await screenshot(page, 'w9-delete-refused');

    // Remove root B, then try the last root A (refused: the definition would have nothing to trust).
    await panel.getByRole('button', { name: /Remove root CN=MTA Root B/ }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove root' }).click();
    await page.getByText(/Root CN=MTA Root B, O=CertFleet Tests removed from partners-w9/).waitFor();
    t.is(await panel.locator('tbody tr').count(), 1);
    await panel.getByRole('button', { name: /Remove root CN=MTA Root A/ }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove root' }).click();
    const rowError = panel.locator('tbody tr').first().locator('.error');
    await rowError.waitFor();
    t.regex((await rowError.textContent()) ?? '', /last root of partners-w9.*CF_TRUST_SET_IN_USE/);
    t.is((await ok<SetJson>('GET', `/api/v1/trust-sets/${set.id}`)).roots.length, 1, 'root A kept');

    // The unused set is deleted.
    const sparePanel = page.locator('details[data-set="spare-w9"]');
    await sparePanel.getByRole('button', { name: 'Delete set spare-w9' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete set' }).click();
    await page.getByText('Trusted CA set spare-w9 deleted.').waitFor();
    t.is(await sparePanel.count(), 0);
    t.is((await api('GET', `/api/v1/trust-sets/${spare.id}`)).status, 404);

    // The API's typed refusals for the system set.
    for (const [m, u, b] of [
      ['DELETE', '/api/v1/trust-sets/system', undefined],
      ['POST', '/api/v1/trust-sets/system/roots', { pem: roots.b.pem }],
      ['DELETE', `/api/v1/trust-sets/system/roots/${set.roots[0]!.sha256}`, undefined],
    ] as const) {
      const r = await api(m, u, b);
      t.is(r.status, 409, `${m} ${u}`);
      t.is((r.json as { error: { code: string } }).error.code, 'CF_TRUST_SET_READ_ONLY', `${m} ${u}`);
    }
    await assertAccessible(t, page, 'W9 after changes');
    await screenshot(page, 'w9-trust-set-roots');
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial('W6 W9 W11 a User sees the schedule and the sets read-only and no audit log', async (t) => {
  const { browser, tc, userToken } = must();
  const { context, page, problems } = await openConsolePage(browser, tc.controller.url);
  try {
    await loginThroughPage(page, { path: '/monitoring', username: USER, password: USER_PASSWORD });
    await page.locator('#schedule-description').waitFor();
    await page.getByText('Only an administrator can change the schedule.').waitFor();
    t.is(await page.getByRole('button', { name: 'Save schedule' }).count(), 0);
    await assertAccessible(t, page, 'W6 schedule (User)');
    await screenshot(page, 'w6-schedule-user');
    await go(page, /Trusted CA sets/);
    await page.locator('details[data-set="partners-w9"]').waitFor();
    t.is(await page.getByRole('button', { name: /Delete set|Remove|Add roots/ }).count(), 0);
    await page.goto('/settings/audit');
    await page.getByText('Only an administrator can read the audit log.').waitFor();
    await assertAccessible(t, page, 'W11 audit (User)');
    await assertNoPageProblems(t, page, problems);
  } finally {
    await context.close();
  }
  // The server refuses too.
  for (const [m, u, b] of [
    ['PUT', '/api/v1/monitoring/schedule', { cron: '0 1 * * *' }],
    ['GET', '/api/v1/audit', undefined],
    ['GET', '/api/v1/audit/verify', undefined],
    ['DELETE', '/api/v1/trust-sets/partners-w9', undefined],
  ] as const) {
    const r = await tc.request(m, u, b, userToken);
    t.is(r.status, 403, `${m} ${u}`);
    t.is((r.json as { error: { code: string } }).error.code, 'CF_FORBIDDEN');
  }
});

test.serial(
  'W11 U5 audit log: server-side paging and filters, the chain verified, then a tampered event named as the first broken one',
  async (t) => {
    const { page, problems, tc } = must();
    // Server-side paging and filters, through the API.
    const all = await ok<{ items: Array<{ id: string; action: string }>; total: number }>(
      'GET',
      '/api/v1/audit?limit=500'
    );
    t.true(all.total >= 8, `${all.total} events`);
    const p1 = await ok<{ items: Array<{ id: string }>; total: number }>('GET', '/api/v1/audit?limit=3&offset=0');
    const p2 = await ok<{ items: Array<{ id: string }>; total: number }>('GET', '/api/v1/audit?limit=3&offset=3');
    t.is(p1.total, all.total);
    t.deepEqual(
      [...p1.items, ...p2.items].map((e) => e.id),
      all.items.slice(0, 6).map((e) => e.id)
    );
    const trust = await ok<{ items: Array<{ action: string }>; total: number }>(
      'GET',
      '/api/v1/audit?action=trust-set.'
    );
    t.is(trust.total, all.items.filter((e) => e.action.startsWith('trust-set.')).length);
    t.true(trust.total >= 5, `${trust.total} trust-set events`);
    const future = await ok<{ total: number }>('GET', '/api/v1/audit?from=2999-01-01T00:00:00Z');
    t.is(future.total, 0);
    const bad = await api('GET', '/api/v1/audit?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z');
    t.is(bad.status, 400);
    t.is((bad.json as { error: { code: string } }).error.code, 'CF_VALIDATION');

    await page.goto('/settings');
    await page.getByRole('heading', { level: 1, name: /Settings/ }).waitFor();
    await page.getByRole('link', { name: 'Open the audit log' }).click();
    await page.getByRole('heading', { level: 1, name: /Audit log/ }).waitFor();
    const table = page.locator('#audit-table');
    await table.waitFor();
    t.regex((await table.locator('caption').textContent()) ?? '', new RegExp(`^${all.total} audit events`));
    await assertAccessible(t, page, 'W11 audit log');
    await screenshot(page, 'w11-audit-log');

    await page.getByLabel('Action starts with').fill('trust-set.');
    await page.getByLabel('Actor contains').fill('ADMIN');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.locator('#audit-table caption').getByText(`${trust.total} audit events`).waitFor();
    const actions = await table.locator('tbody tr td:nth-child(3)').allTextContents();
    t.is(actions.length, trust.total);
    t.true(actions.every((a) => a.startsWith('trust-set.')));
    t.true(actions.includes('trust-set.root-removed'));
    await page.getByLabel('Actor contains').fill('nobody-here');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No audit events match.').waitFor();
    await page.getByLabel('Actor contains').fill('');
    await page.getByLabel('Action starts with').fill('');
    await page.getByLabel('From (UTC)').fill('2026-01-02T00:00');
    await page.getByLabel('Before (UTC)').fill('2026-01-01T00:00');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    const fromError = page.locator('#audit-from-error');
    await fromError.waitFor();
    t.regex((await fromError.textContent()) ?? '', /`from` must be before `to`/);
    await assertAccessible(t, page, 'W11 audit filter refused');
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.locator('#audit-table caption').getByText(`${all.total} audit events`).waitFor();

    await page.getByRole('button', { name: 'Verify chain' }).click();
    const result = page.locator('#audit-verify-result');
    await result.waitFor();
    t.regex((await result.textContent()) ?? '', new RegExp(`Chain intact ${all.total} events verified`));
    await screenshot(page, 'w11-audit-verified');

    // Tamper with one event in the database: the check names it.
    const victim = all.items[Math.floor(all.items.length / 2)]!;
    const client = new pg.Client({ connectionString: tc.databaseUrl });
    await client.connect();
    try {
      const r = await client.query(`update audit_log set details = '{"tampered": true}' where id = $1`, [victim.id]);
      t.is(r.rowCount, 1);
    } finally {
      await client.end();
    }
    const verified = await ok<{ ok: boolean; rows: number; firstBrokenId?: string; reason?: string }>(
      'GET',
      '/api/v1/audit/verify'
    );
    t.false(verified.ok);
    t.is(verified.firstBrokenId, victim.id);
    t.is(verified.reason, 'event content does not match its hash');
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await page.locator('#audit-verify-result').getByText(victim.id).waitFor();
    t.regex((await result.textContent()) ?? '', /Chain broken.*first broken event/);
    await assertAccessible(t, page, 'W11 audit chain broken');
    await screenshot(page, 'w11-audit-broken');
    await assertNoPageProblems(t, page, problems);
  }
);
