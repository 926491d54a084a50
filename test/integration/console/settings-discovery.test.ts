/**
 * The console's W11 settings and W8 discovery screens in a real browser (Debian Chromium via playwright-core) over a
 * real controller (HTTPS, fresh PostgreSQL): users created through the form log in in a second browser context,
 * the IP allow-list is edited through the form and read back through the API, a test mail reaches a real SMTP
 * server process (npm smtp-server, STARTTLS + AUTH), and a scan of loopback TLS listeners this test starts itself
 * (127.63.<n>.1–3, on ports `ss -ltn` shows free) is followed live, then its findings are bulk-imported. Every
 * screen is checked with axe-core (no serious/critical violations) and screenshotted into test/artifacts/console/.
 */
import fs from 'node:fs';
import type net from 'node:net';
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
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { opensslSelfSigned } from '../../_helpers/openssl-cert';
import { closeAll, opensslFingerprints } from '../../_helpers/probe-pki';
import { startSmtpTestServer, type SmtpTestServer } from '../../_helpers/smtp-server';
import { tempRoot } from '../agent/_servers';
import { assertOnlyOurListeners, listenAt, silentServer, tlsFileServer, unusedPorts } from '../discovery/_ports';

const NEEDS = ['chromium', 'openssl', 'ss'];
const test = testNeeding(NEEDS);
const NET = `127.63.${process.pid % 250}`;
const HOSTS = [1, 2, 3].map((i) => `${NET}.${i}`) as [string, string, string];
const OPERATOR = 'operator1';
const OPERATOR_PASSWORD = 'operator password 2026';

interface Cert {
  cert: string;
  key: string;
  sha256: string;
}

interface Ctx {
  tc: TestController;
  token: string;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  problems: PageProblems;
  smtp: SmtpTestServer;
  dir: string;
  servers: net.Server[];
  held: net.Socket[];
  ports: [number, number];
  certs: { A: Cert; B: Cert };
}
let ctx: Ctx | undefined;

function must(): Ctx {
  if (!ctx) throw new Error('setup failed');
  return ctx;
}

const ok = apiOk(must);

async function selfSigned(dir: string, name: string, cn: string): Promise<Cert> {
  const made = await opensslSelfSigned(dir, name, `/CN=${cn}/O=CertFleet Console Tests`, { san: cn, days: 40 });
  return { ...made, sha256: (await opensslFingerprints(made.cert)).sha256 };
}

const listen = (c: Ctx, server: net.Server, host: string, port: number) => listenAt(c.servers, server, host, port);

async function go(page: Page, linkName: RegExp): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: linkName }).click();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async () => {
  if (isCI) assertCommands(NEEDS);
  const dir = tempRoot('certfleet-console-disc-');
  const ports = (await unusedPorts(2)) as [number, number];
  const certs = {
    A: await selfSigned(dir, 'a', 'a.console-disc.test'),
    B: await selfSigned(dir, 'b', 'b.console-disc.test'),
  };
  const c = { dir, servers: [], held: [], ports, certs } as unknown as Ctx;
  ctx = c;
  // Scan targets: .1:P1 → A, .1:P2 → B, .2:P1 → A, .2:P2 silent (accepts, never answers: the scan waits on it for
  // the handshake timeout, so its progress can be seen before it ends); .3:P1 and .3:P2 silent (the scan to cancel).
  const silent = () => silentServer(c.held);
  const [H1, H2, H3] = HOSTS;
  const [P1, P2] = ports;
  await listen(c, tlsFileServer(certs.A), H1, P1);
  await listen(c, tlsFileServer(certs.B), H1, P2);
  await listen(c, tlsFileServer(certs.A), H2, P1);
  await listen(c, silent(), H2, P2);
  await listen(c, silent(), H3, P1);
  await listen(c, silent(), H3, P2);
  await assertOnlyOurListeners(ports, new Set(HOSTS));

  await ensureConsoleBuilt();
  c.smtp = await startSmtpTestServer({ mode: 'starttls' });
  c.tc = await startTestController();
  c.token = await c.tc.adminToken();
  c.browser = await launchChromium();
  ({
    context: c.context,
    page: c.page,
    problems: c.problems,
  } = await openConsolePage(c.browser, c.tc.controller.url, { viewport: { width: 1280, height: 900 } }));
  await loginThroughPage(c.page, { path: '/settings', level: 1, landing: /Settings/ });
});

test.after.always(async () => {
  if (!ctx) return;
  for (const s of ctx.held) s.destroy();
  closeAll(ctx.servers);
  await ctx.browser?.close().catch(() => undefined);
  await ctx.smtp?.stop().catch(() => undefined);
  await ctx.tc?.close();
  fs.rmSync(ctx.dir, { recursive: true, force: true });
});

interface UserJson {
  username: string;
  role: string;
  mustChangePassword: boolean;
}

test.serial(
  'W11 U1 users: create through the form (password shown once), the new User logs in, must change the password, and finds settings admin-only (refused by the server too)',
  async (t) => {
    const { tc, browser, page, problems } = must();
    t.is(new URL(page.url()).pathname, '/settings');
    await page.locator('#users').waitFor();
    await assertAccessible(t, page, 'settings');

    await page.locator('#new-user-name').fill(OPERATOR);
    await page.getByLabel('Role', { exact: true }).selectOption('user');
    await page.getByRole('button', { name: 'Create user' }).click();
    const secret = page.locator('#generated-password');
    await secret.waitFor();
    t.regex((await secret.textContent()) ?? '', /New user operator1/);
    const generated = ((await secret.locator('code').textContent()) ?? '').trim();
    t.true(generated.length >= 12, 'a generated password is shown');
    await page.locator(`#users tr[data-user="${OPERATOR}"]`).waitFor();
    await screenshot(page, 'settings-user-created');
    const users = (await ok<{ items: UserJson[] }>('GET', '/api/v1/users')).items;
    t.like(
      users.find((u) => u.username === OPERATOR),
      { role: 'user', mustChangePassword: true }
    );
    await page.getByRole('button', { name: 'Done, hide the password' }).click();
    t.is(await secret.count(), 0, 'the password is gone once hidden');

    // A duplicate name: the controller's typed error next to the username field.
    await page.locator('#new-user-name').fill(OPERATOR.toUpperCase());
    await page.getByRole('button', { name: 'Create user' }).click();
    t.regex((await page.locator('#new-user-name-error').textContent()) ?? '', /already exists.*CF_CONFLICT/);

    // The new user, in a second browser (own cookies): forced password change, then the admin-only settings.
    const { context: other, page: p2, problems: problems2 } = await openConsolePage(browser, tc.controller.url);
    try {
      await loginThroughPage(p2, { path: '/settings', username: OPERATOR, password: generated });
      await p2.getByRole('heading', { name: 'Change the generated password' }).waitFor();
      await p2.getByLabel('Current password').fill(generated);
      await p2.getByLabel('New password', { exact: true }).fill(OPERATOR_PASSWORD);
      await p2.getByLabel('Repeat the new password').fill(OPERATOR_PASSWORD);
      await p2.getByRole('button', { name: 'Change password' }).click();
      await loginThroughPage(p2, {
        username: OPERATOR,
        password: OPERATOR_PASSWORD,
        level: 1,
        landing: /Certificate definitions/,
      });
      await go(p2, /^Settings/);
      await p2.getByRole('heading', { level: 1, name: /Settings/ }).waitFor();
      t.is(new URL(p2.url()).pathname, '/settings');
      await p2.locator('#settings-admin-only').waitFor();
      t.regex(
        (await p2.locator('#settings-admin-only').textContent()) ?? '',
        /only be viewed and changed by an administrator/
      );
      t.is(await p2.locator('#users').count(), 0, 'no user list for a User');
      t.is(await p2.locator('#ip-allow-list-form').count(), 0);
      await assertAccessible(t, p2, 'settings-user');
      await screenshot(p2, 'settings-admin-only');
      // The server refuses anyway: the same session's own API calls (cookie + CSRF token from /me).
      const refused = await p2.evaluate(async () => {
        const me = (await (await fetch('/api/v1/auth/me')).json()) as { csrfToken: string };
        const headers = { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken };
        return [
          (await fetch('/api/v1/settings/smtp')).status,
          (await fetch('/api/v1/users')).status,
          (await fetch('/api/v1/settings/ip-allow-list', { method: 'PUT', headers, body: '{"cidrs":[]}' })).status,
          (await fetch('/api/v1/users', { method: 'POST', headers, body: '{"username":"x1","role":"admin"}' })).status,
        ];
      });
      t.deepEqual(refused, [403, 403, 403, 403]);
      await assertNoPageProblems(t, p2, problems2);
    } finally {
      await other.close();
    }
    t.like(
      (await ok<{ items: UserJson[] }>('GET', '/api/v1/users')).items.find((u) => u.username === OPERATOR),
      {
        mustChangePassword: false,
      }
    );
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial(
  'W11 U1 users: change role, reset password (shown once), delete through the confirmation dialog',
  async (t) => {
    const { page, problems } = must();
    const row = page.locator(`#users tr[data-user="${OPERATOR}"]`);
    await row.getByLabel(`Role of ${OPERATOR}`, { exact: true }).selectOption('admin');
    await row.getByRole('button', { name: `Apply role of ${OPERATOR}` }).click();
    await page.getByText(`${OPERATOR} is now an admin.`).waitFor();
    const find = async () =>
      (await ok<{ items: UserJson[] }>('GET', '/api/v1/users')).items.find((u) => u.username === OPERATOR);
    t.is((await find())?.role, 'admin');

    await row.getByRole('button', { name: `Reset password of ${OPERATOR}` }).click();
    const secret = page.locator('#generated-password');
    await secret.waitFor();
    t.regex((await secret.textContent()) ?? '', /Password reset for operator1/);
    t.true(((await secret.locator('code').textContent()) ?? '').trim().length >= 12);
    t.true((await find())?.mustChangePassword, 'the reset password must be changed');
    await page.getByRole('button', { name: 'Done, hide the password' }).click();

    // The admin's own row cannot be deleted from the console (the server refuses it as well).
    t.true(
      await page.locator('#users tr[data-user="admin"]').getByRole('button', { name: 'Delete admin' }).isDisabled()
    );
    await row.getByRole('button', { name: `Delete ${OPERATOR}` }).click();
    const dialog = page.getByRole('dialog', { name: `Delete user ${OPERATOR}?` });
    await dialog.waitFor();
    await screenshot(page, 'settings-delete-user');
    await dialog.getByRole('button', { name: 'Delete user' }).click();
    await page.getByText(`User ${OPERATOR} deleted`).waitFor();
    t.is(await find(), undefined, 'the user is gone');
    await row.waitFor({ state: 'detached' });
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial(
  'W11 U2 IP allow-list: own address shown, the self-lockout guard at the field, 127.0.0.1/32 saved and read back, then cleared',
  async (t) => {
    const { page, problems } = must();
    t.is((await page.locator('#ip-own-address').textContent())?.trim(), '127.0.0.1');
    const field = page.getByLabel('Allowed addresses (CIDR blocks, one per line)');

    // A list without the caller's address: refused by the server, the error next to the field, nothing saved.
    await field.fill('10.0.0.0/8');
    await page.getByRole('button', { name: 'Save allow-list' }).click();
    const err = page.locator('#ip-cidrs-error');
    await err.waitFor();
    t.regex((await err.textContent()) ?? '', /does not include your own address 127\.0\.0\.1.*CF_CONFLICT/);
    t.is(await field.getAttribute('aria-invalid'), 'true');
    await screenshot(page, 'settings-ip-lockout-guard');
    t.deepEqual((await ok<{ cidrs: string[] }>('GET', '/api/v1/settings/ip-allow-list')).cidrs, []);

    // Host bits set: the server's validation message at the same field.
    await field.fill('127.0.0.1/8');
    await page.getByRole('button', { name: 'Save allow-list' }).click();
    await page
      .locator('#ip-cidrs-error')
      .getByText(/127\.0\.0\.0\/8/)
      .waitFor();

    await field.fill('');
    await page.getByRole('button', { name: 'Add my address' }).click();
    t.is(await field.inputValue(), '127.0.0.1/32');
    await page.getByRole('button', { name: 'Save allow-list' }).click();
    await page.getByText('IP allow-list saved: 1 block(s).').waitFor();
    t.deepEqual((await ok<{ cidrs: string[] }>('GET', '/api/v1/settings/ip-allow-list')).cidrs, ['127.0.0.1/32']);
    // Still in: the page keeps working with the list in force.
    await assertAccessible(t, page, 'settings-ip');
    await screenshot(page, 'settings-ip-saved');

    await page.getByRole('button', { name: 'Clear (allow everyone)' }).click();
    await page.getByText('IP allow-list cleared').waitFor();
    t.deepEqual((await ok<{ cidrs: string[] }>('GET', '/api/v1/settings/ip-allow-list')).cidrs, []);
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial(
  'W11 N1 SMTP: settings saved through the form (password write-only), a test mail reaches a real SMTP server',
  async (t) => {
    const { page, problems, smtp } = must();
    t.true(await page.getByRole('button', { name: 'Send test mail' }).isDisabled(), 'nothing to send with yet');
    await page.getByLabel('Administrator e-mail', { exact: true }).fill('pki-admin@example.test');
    await page.getByLabel('From address').fill('certfleet@example.test');
    await page.getByLabel('Host', { exact: true }).fill(smtp.host);
    await page.getByLabel('Port', { exact: true }).fill(String(smtp.port));
    await page.getByLabel('Connection security').selectOption('starttls');
    await page.locator('#smtp-username').fill(smtp.user);
    await page.locator('#smtp-password').fill(smtp.password);
    await page.getByLabel('Extra trusted CA certificates (PEM, optional)').fill(smtp.caPem);
    await page.getByRole('button', { name: 'Save mail settings' }).click();
    await page.getByText('Mail settings saved.').waitFor();
    const saved = await ok<Record<string, unknown>>('GET', '/api/v1/settings/smtp');
    t.like(saved, {
      configured: true,
      host: smtp.host,
      port: smtp.port,
      security: 'starttls',
      username: smtp.user,
      hasPassword: true,
      adminEmail: 'pki-admin@example.test',
    });
    t.is(await page.locator('#smtp-password').inputValue(), '', 'the password is not shown again');

    await page.getByLabel('Recipient (optional)').fill('ops@example.test');
    await page.getByRole('button', { name: 'Send test mail' }).click();
    await page.getByText(/Test mail sent to ops@example\.test \(sent\)/).waitFor();
    const [mail] = await smtp.waitForMail(1);
    t.deepEqual(mail?.session.rcptTo, ['ops@example.test']);
    t.is(mail?.session.user, smtp.user, 'authenticated with the stored password');
    t.truthy(mail?.session.tls, 'over STARTTLS');
    t.regex(mail?.parsed.subject ?? '', /test/i);
    await assertAccessible(t, page, 'settings-mail');
    await screenshot(page, 'settings-mail');

    // A broken field: the server's validation message next to it.
    await page.getByLabel('From address').fill('not-an-address');
    await page.locator('#smtp-form').evaluate((f) => ((f as unknown as { noValidate: boolean }).noValidate = true));
    await page.getByRole('button', { name: 'Save mail settings' }).click();
    await page.locator('#smtp-from-address-error').waitFor();
    t.regex((await page.locator('#smtp-from-address-error').textContent()) ?? '', /email/i);
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial(
  'W11 U4 client-certificate login: enabling without an allowed certificate is refused at the field; settings unchanged',
  async (t) => {
    const { page, problems } = must();
    t.is(await page.locator('#cert-login-status').textContent(), 'off');
    await page.getByLabel('Require a client certificate at login').check();
    await page.getByLabel('Allowed thumbprints (SHA-1 or SHA-256, one per line)').fill('ab'.repeat(32));
    await page.getByRole('button', { name: 'Save client-certificate login' }).click();
    const err = page.locator('#cert-thumbprints-error');
    await err.waitFor();
    t.regex((await err.textContent()) ?? '', /CF_CONFLICT/);
    t.like(await ok('GET', '/api/v1/settings/client-cert-login'), { enabled: false, thumbprints: [] });
    await screenshot(page, 'settings-client-cert');
    // Off, with the thumbprint listed: saved.
    await page.getByLabel('Require a client certificate at login').uncheck();
    await page.getByRole('button', { name: 'Save client-certificate login' }).click();
    await page.getByText('Client-certificate login is off.').waitFor();
    t.like(await ok('GET', '/api/v1/settings/client-cert-login'), { enabled: false, thumbprints: ['ab'.repeat(32)] });
    await assertNoPageProblems(t, page, problems);
  }
);

interface ScanJson {
  id: string;
  status: string;
  done: number;
  total: number;
  findings: number;
}

interface DefinitionJson {
  id: string;
  name: string;
  operationMode: string;
}

test.serial(
  'W8 discovery: a scan through the form, live progress to done, report links, findings bulk-imported (monitored-only and lifecycle-managed)',
  async (t) => {
    const { page, problems, ports, certs } = must();
    const [H1, H2] = HOSTS;
    const [P1, P2] = ports;
    await go(page, /^Discovery/);
    await page.getByRole('heading', { level: 1, name: /Discovery/ }).waitFor();
    await assertAccessible(t, page, 'discovery');
    await screenshot(page, 'discovery');

    await page.getByLabel('Targets').fill(`${H1}\n${H2}`);
    await page.getByLabel('Ports').fill(`${P1}, ${P2}`);
    await page.getByLabel('Run by').selectOption('controller');
    await page.getByRole('button', { name: 'Start scan' }).click();
    await page.getByRole('heading', { level: 1, name: /Discovery scan/ }).waitFor();
    const scanId = /^\/discovery\/scans\/([0-9a-f-]{36})$/.exec(new URL(page.url()).pathname)?.[1];
    t.truthy(scanId, 'moved to the scan page');

    // Progress, polled every second: seen before the end (the silent listener holds the last pair for ~5 s).
    const counts = page.locator('#scan-counts');
    const seen: string[] = [];
    let shot = false;
    for (let i = 0; i < 120; i++) {
      // Status first, then the counts: both come from one render, so a final status read first means final counts
      // (the other order could pair the new status with the previous render's counts).
      const status =
        (await page
          .locator('#scan-status')
          .textContent()
          .catch(() => null)) ?? '';
      const text = (await counts.textContent().catch(() => null)) ?? '';
      if (text && seen[seen.length - 1] !== `${status}: ${text}`) seen.push(`${status}: ${text}`);
      if (status === 'running' && !shot) {
        await screenshot(page, 'discovery-scan-running');
        shot = true;
      }
      if (status === 'done') break;
      await sleep(250);
    }
    t.log(seen.join('\n'));
    t.regex(seen[seen.length - 1] ?? '', /^done: 4 \/ 4 pairs checked \(100%\), 3 finding\(s\)$/);
    t.true(
      seen.some((s) => /^(queued|running): [0-3] \/ 4/.test(s)),
      'the page showed the scan before it finished'
    );
    t.is(await page.getByRole('button', { name: 'Cancel scan' }).count(), 0, 'no cancel once finished');
    const api = await ok<ScanJson>('GET', `/api/v1/discovery/scans/${scanId}`);
    t.like(api, { status: 'done', done: 4, total: 4, findings: 3 });

    // The report: table of findings, downloads that open with the session.
    const table = page.locator('#findings');
    await table.waitFor();
    t.is(await table.locator('tbody tr').count(), 3);
    for (const ep of [`${H1}:${P1}`, `${H1}:${P2}`, `${H2}:${P1}`]) {
      t.is(await table.locator(`tr[data-finding="${ep}"]`).count(), 1, `${ep} listed`);
    }
    const csvHref = await page.getByRole('link', { name: 'CSV' }).getAttribute('href');
    const csv = await page.request.get(csvHref ?? '');
    t.is(csv.status(), 200);
    const csvText = await csv.text();
    t.true(csvText.includes(certs.A.sha256) && csvText.includes(certs.B.sha256), 'the CSV has both certificates');
    const html = await page.request.get(
      (await page.getByRole('link', { name: 'HTML report' }).getAttribute('href')) ?? ''
    );
    t.is(html.status(), 200);
    t.regex(await html.text(), /a\.console-disc\.test/);
    await assertAccessible(t, page, 'discovery-scan');
    await screenshot(page, 'discovery-scan-done');

    // Nothing selected: said at the button, nothing sent.
    await page.getByRole('button', { name: 'Import 0 selected' }).click();
    await page.locator('#import-error').getByText('Select at least one finding').waitFor();

    // Certificate A (served on two endpoints) as monitored-only.
    await page.getByLabel(`Select ${H1}:${P1}`).check();
    await page.getByLabel(`Select ${H2}:${P1}`).check();
    await page.getByLabel('Monitored only').check();
    await page.getByRole('button', { name: 'Import 2 selected' }).click();
    const result = page.locator('#import-result');
    await result.getByText(/Imported 1 certificate\(s\) as monitored-only/).waitFor();
    await screenshot(page, 'discovery-imported');
    // Certificate B as lifecycle-managed.
    await page.getByLabel(`Select ${H1}:${P2}`).check();
    await page.getByLabel('Lifecycle-managed').check();
    await page.getByRole('button', { name: 'Import 1 selected' }).click();
    await result.getByText(/Imported 1 certificate\(s\) as lifecycle-managed/).waitFor();

    const byName = async (q: string) =>
      (await ok<{ items: DefinitionJson[] }>('GET', `/api/v1/definitions?q=${encodeURIComponent(q)}`)).items;
    const a = await byName('a.console-disc.test');
    const b = await byName('b.console-disc.test');
    t.is(a.length, 1);
    t.is(a[0]?.operationMode, 'monitored');
    t.is(b.length, 1);
    t.is(b[0]?.operationMode, 'managed');
    // The link in the result leads to the definition.
    await result.getByRole('link', { name: b[0]?.name ?? '?' }).click();
    t.is(new URL(page.url()).pathname, `/definitions/${b[0]?.id}`);

    // Importing A again: a duplicate, nothing new.
    await page.goBack();
    await page.locator('#findings').waitFor();
    await page.getByLabel(`Select ${H1}:${P1}`).check();
    await page.getByRole('button', { name: 'Import 1 selected' }).click();
    await page
      .locator('#import-result')
      .getByText(/Imported 0 certificate\(s\).*1 already known/)
      .waitFor();
    t.is((await byName('a.console-disc.test')).length, 1);
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial('W8 discovery: a running scan is cancelled from its page; the list shows it', async (t) => {
  const { page, problems, ports } = must();
  const H3 = HOSTS[2];
  await go(page, /^Discovery/);
  await page.getByLabel('Targets').fill(H3);
  await page.getByLabel('Ports').fill(ports.join(' '));
  await page.getByRole('button', { name: 'Start scan' }).click();
  await page.getByRole('heading', { level: 1, name: /Discovery scan/ }).waitFor();
  const scanId = /([0-9a-f-]{36})$/.exec(page.url())?.[1] ?? '';
  await page.getByRole('button', { name: 'Cancel scan' }).click();
  await page.locator('#scan-status').getByText('cancelled').waitFor();
  t.is((await ok<ScanJson>('GET', `/api/v1/discovery/scans/${scanId}`)).status, 'cancelled');
  t.is(await page.getByRole('button', { name: 'Cancel scan' }).count(), 0);
  await screenshot(page, 'discovery-scan-cancelled');
  await go(page, /^Discovery/);
  const list = page.locator('#scans');
  await list.waitFor();
  t.is(await list.locator('tbody tr').count(), 2);
  t.regex((await list.locator('tbody tr').first().textContent()) ?? '', /cancelled/);
  t.regex((await list.locator('tbody tr').nth(1).textContent()) ?? '', /done.*4 \/ 4.*3/);
  await assertAccessible(t, page, 'discovery-list');
  await screenshot(page, 'discovery-list');
  await assertNoPageProblems(t, page, problems);
});
