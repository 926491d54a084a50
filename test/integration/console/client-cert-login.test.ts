/**
 * SPEC U4 (client-certificate login), W10, W11 in a real browser (Debian Chromium via playwright-core) over a real
 * controller (HTTPS on loopback, fresh PostgreSQL). Everything an operator does goes through the console:
 * two client certificates for `admin` are issued by the built-in CA on the W10 screen (PFX downloads, read back
 * with the openssl CLI and node:crypto), client-certificate login is turned on on the W11 screen from a browser
 * that presents the first certificate, and then fresh browser contexts log in:
 * - presenting the allowed certificate (playwright `clientCertificates`): the password logs in, W1 is shown;
 * - presenting the other certificate of the same CA (not on the list), or none: refused, the typed error
 *   CF_CLIENT_CERT_REQUIRED is shown on the login page.
 * The documented API/CLI behaviour is checked alongside: open bearer sessions keep working, a new password-only
 * bearer login is refused, with the PFX it is accepted, and the host CLI reads the settings without any login.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
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
import { call, codeOf } from '../../_helpers/https-client';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';

const NEEDS = ['chromium', 'openssl'];
const test = testNeeding(NEEDS);
const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../../..');
const PFX_PASSWORD = 'pfx transport Secret-42';

interface IssuedPfx {
  file: string;
  certPem: string;
  sha1: string;
  sha256: string;
  serial: string;
}

interface Ctx {
  tc: TestController;
  token: string;
  browser: Browser;
  dir: string;
  contexts: BrowserContext[];
  allowed?: IssuedPfx;
  other?: IssuedPfx;
}
let ctx: Ctx | undefined;

function must(): Ctx {
  if (!ctx) throw new Error('setup failed');
  return ctx;
}

/** The two certificates the W10 test issued (later tests depend on them). */
function issued(): { allowed: IssuedPfx; other: IssuedPfx } {
  const c = must();
  if (!c.allowed || !c.other) throw new Error('the W10 test did not issue the client certificates');
  return { allowed: c.allowed, other: c.other };
}

const hex = (fingerprint: string): string => fingerprint.replace(/:/g, '').toLowerCase();

/** A new browser context (optionally presenting a PFX to the controller's origin) with one watched page. */
async function openBrowser(pfx?: IssuedPfx): Promise<{ page: Page; problems: PageProblems }> {
  const c = must();
  const origin = new URL(c.tc.controller.url).origin;
  const { context, page, problems } = await openConsolePage(c.browser, c.tc.controller.url, {
    viewport: { width: 1280, height: 900 },
    ...(pfx ? { clientCertificates: [{ origin, pfxPath: pfx.file, passphrase: PFX_PASSWORD }] } : {}),
  });
  c.contexts.push(context);
  return { page, problems };
}

const loginUi = (page: Page, password = ADMIN_PASSWORD): Promise<void> => loginThroughPage(page, { password });

/** Issues a PFX for `admin` through the W10 form, saves the download and reads it back with openssl. */
async function issueThroughUi(page: Page, name: string): Promise<IssuedPfx> {
  const c = must();
  await page.getByLabel('Console user', { exact: true }).fill('admin');
  await page.getByLabel('Password for the PFX file', { exact: true }).fill(PFX_PASSWORD);
  await page.getByLabel('Validity (days)', { exact: true }).fill('30');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Issue and download PFX' }).click(),
  ]);
  const file = path.join(c.dir, `${name}.p12`);
  await download.saveAs(file);
  const notice = page.getByText(/Issued admin\.p12: serial/);
  await notice.waitFor();
  const shown = (await notice.textContent()) ?? '';
  const { stdout: certPem } = await run('openssl', [
    'pkcs12',
    '-in',
    file,
    '-passin',
    `pass:${PFX_PASSWORD}`,
    '-nokeys',
    '-clcerts',
  ]);
  const { stdout: keyPem } = await run('openssl', [
    'pkcs12',
    '-in',
    file,
    '-passin',
    `pass:${PFX_PASSWORD}`,
    '-nocerts',
    '-nodes',
  ]);
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(certPem)?.[0];
  if (!pem) throw new Error(`no certificate in ${file}`);
  const x = new crypto.X509Certificate(pem);
  if (!x.checkPrivateKey(crypto.createPrivateKey(keyPem))) throw new Error(`${file}: key does not match`);
  const sha256 = hex(x.fingerprint256);
  if (!shown.includes(sha256)) throw new Error(`the console showed ${shown}, the PFX holds ${sha256}`);
  return { file, certPem: pem, sha1: hex(x.fingerprint), sha256, serial: x.serialNumber.toLowerCase() };
}

test.before(async () => {
  if (isCI) assertCommands(NEEDS);
  await ensureConsoleBuilt();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-console-cc-'));
  const c = { dir, contexts: [] } as unknown as Ctx;
  ctx = c;
  c.tc = await startTestController();
  c.token = await c.tc.adminToken();
  c.browser = await launchChromium();
});

test.after.always(async () => {
  if (!ctx) return;
  for (const context of ctx.contexts) await context.close().catch(() => undefined);
  await ctx.browser?.close().catch(() => undefined);
  await ctx.tc?.close();
  fs.rmSync(ctx.dir, { recursive: true, force: true });
});

test.serial(
  'W10 U4 two client certificates for admin issued through the console: PFX downloads that openssl opens with the password',
  async (t) => {
    const c = must();
    const { page, problems } = await openBrowser();
    await page.goto('/ca');
    await loginUi(page);
    await page.getByRole('heading', { level: 1, name: /Private CA/ }).waitFor();
    c.allowed = await issueThroughUi(page, 'allowed');
    c.other = await issueThroughUi(page, 'other');
    await assertAccessible(t, page, 'W10 client certificate issued');
    await screenshot(page, 'client-cert-w10-issued');

    // The active CA's certificate, as the W10 download link serves it.
    const cas = (await c.tc.request('GET', '/api/v1/ca', undefined, c.token)).json as {
      items: Array<{ id: string; status: string }>;
    };
    const active = cas.items.find((i) => i.status === 'active');
    if (!active) throw new Error(`no active CA: ${JSON.stringify(cas)}`);
    const ca = new crypto.X509Certificate((await call(c.tc, 'GET', `/pki/${active.id}/ca.pem`)).raw);
    for (const pfx of [c.allowed, c.other]) {
      const x = new crypto.X509Certificate(pfx.certPem);
      t.regex(x.subject, /CN=admin/);
      t.true(x.checkIssued(ca) && x.verify(ca.publicKey), 'signed by the built-in CA');
      t.regex(x.keyUsage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.2/, 'clientAuth extended key usage');
    }
    t.not(c.allowed.sha256, c.other.sha256);
    // Wrong password: openssl refuses the file (it really is protected).
    await t.throwsAsync(run('openssl', ['pkcs12', '-in', c.allowed.file, '-passin', 'pass:wrong password', '-nokeys']));
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial(
  'W11 U4 client-certificate login turned on through the console by a browser presenting the allowed certificate',
  async (t) => {
    const c = must();
    const { allowed } = issued();
    const { page, problems } = await openBrowser(allowed);
    await page.goto('/settings');
    await loginUi(page);
    await page.getByRole('heading', { level: 1, name: /Settings/ }).waitFor();
    // The controller sees the certificate this browser presents (TLS handshake through playwright's client-cert proxy).
    const panel = page.locator('section[aria-labelledby="settings-cert"]');
    await panel.getByText(allowed.sha256).waitFor();
    t.is(await page.locator('#cert-login-status').textContent(), 'off');
    await page.getByLabel('Require a client certificate at login').check();
    // The SHA-1 thumbprint as an operator may copy it (upper case with colons): normalised by the controller.
    await page
      .getByLabel('Allowed thumbprints (SHA-1 or SHA-256, one per line)')
      .fill(allowed.sha1.toUpperCase().match(/../g)!.join(':'));
    await page.getByRole('button', { name: 'Save client-certificate login' }).click();
    await page.getByText('Client-certificate login is on for new logins.').waitFor();
    t.is(await page.locator('#cert-login-status').textContent(), 'on');
    const saved = await c.tc.request('GET', '/api/v1/settings/client-cert-login', undefined, c.token);
    t.like(saved.json, { enabled: true, thumbprints: [allowed.sha1] });
    await assertAccessible(t, page, 'W11 client-certificate login on');
    await screenshot(page, 'client-cert-w11-enabled');
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial('U4 W1 a fresh browser presenting the allowed certificate logs in with the password', async (t) => {
  const { page, problems } = await openBrowser(issued().allowed);
  await page.goto('/definitions');
  await loginUi(page, 'a wrong password');
  // The certificate alone is not enough: a wrong password is still the password error.
  await page.locator('#login-error').waitFor();
  t.regex((await page.locator('#login-error').textContent()) ?? '', /CF_UNAUTHORIZED/);
  await loginUi(page);
  await page.getByRole('heading', { level: 1, name: /Certificate definitions/ }).waitFor();
  t.is(new URL(page.url()).pathname, '/definitions');
  await assertAccessible(t, page, 'W1 after client-certificate login');
  await screenshot(page, 'client-cert-w1-logged-in');
  await assertNoPageProblems(t, page, problems);
});

for (const [label, which, reason] of [
  ['another certificate of the same CA (not on the list)', 'other', /not accepted \(not-allowed\)/],
  ['no certificate', 'none', /none was presented/],
] as const) {
  test.serial(
    `U4 a fresh browser with ${label} is refused at the login page with CF_CLIENT_CERT_REQUIRED`,
    async (t) => {
      const { page, problems } = await openBrowser(which === 'other' ? issued().other : undefined);
      await page.goto('/definitions');
      await loginUi(page);
      const err = page.locator('#login-error');
      await err.waitFor();
      const text = (await err.textContent()) ?? '';
      t.regex(text, /CF_CLIENT_CERT_REQUIRED/);
      t.regex(text, reason);
      // Still on the login form, nothing behind it reachable: no session cookie was set.
      t.true(await page.getByRole('heading', { name: 'Log in to CertFleet' }).isVisible());
      t.deepEqual(
        (await page.context().cookies()).filter((k) => k.name.includes('certfleet')),
        [],
        'no session cookie'
      );
      await assertAccessible(t, page, `login refused (${which})`);
      await screenshot(page, `client-cert-login-refused-${which}`);
      await assertNoPageProblems(t, page, problems);
    }
  );
}

test.serial(
  'U4 API and CLI while it is on: open bearer sessions keep working, a password-only login is refused, the PFX logs in, the host CLI needs no login',
  async (t) => {
    const c = must();
    const { allowed } = issued();
    // The bearer token from before client-certificate login was turned on: still valid (checked at login only).
    t.is((await call(c.tc, 'GET', '/api/v1/definitions', { token: c.token })).status, 200);
    const plain = await call(c.tc, 'POST', '/api/v1/auth/login', {
      body: { username: 'admin', password: ADMIN_PASSWORD },
    });
    t.is(plain.status, 403);
    t.is(codeOf(plain), 'CF_CLIENT_CERT_REQUIRED');
    const withPfx = await call(c.tc, 'POST', '/api/v1/auth/login', {
      body: { username: 'admin', password: ADMIN_PASSWORD },
      pfx: fs.readFileSync(allowed.file),
      passphrase: PFX_PASSWORD,
    });
    t.is(withPfx.status, 200);
    const token = (withPfx.json as { token: string }).token;
    // The new token is a plain bearer token afterwards: no certificate needed on later requests.
    t.is((await call(c.tc, 'GET', '/api/v1/definitions', { token })).status, 200);

    const { stdout } = await run(
      process.execPath,
      ['bin/certfleet.js', 'access', 'client-cert-login', 'show', '--json'],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          DATABASE_URL: c.tc.databaseUrl,
          CERTFLEET_HOME: c.tc.home,
          CERTFLEET_LOG_LEVEL: 'silent',
        },
        timeout: 120_000,
      }
    );
    t.like(JSON.parse(stdout), { enabled: true, thumbprints: [allowed.sha1] });

    // The refusals are audited with the reason the browser was shown.
    const audit = await call(c.tc, 'GET', '/api/v1/audit?action=auth.login_failed&limit=50', { token });
    const items = (audit.json as { items: Array<{ details: { reason?: string; certificate?: string } }> }).items;
    for (const reason of ['not-allowed', 'no-certificate']) {
      t.true(
        items.some((i) => i.details.reason === 'client-certificate' && i.details.certificate === reason),
        reason
      );
    }
  }
);
