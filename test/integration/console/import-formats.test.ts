/**
 * W1 / I1–I3 in a real browser: every import format of the import issue uploaded through the console's import form —
 * DER .cer, PKCS#7 (PEM and DER), PEM certificate with a separate passphrase-encrypted PKCS#8 key (a wrong key
 * password is a typed error at its field and writes nothing), legacy PKCS#12 and a Java keystore with store and key
 * passwords. Each import is checked through the API (definition from the certificate's CN, key or no key), then
 * deleted so the next format can import the same certificate again. Fixtures come from openssl and keytool.
 */
import { X509Certificate } from 'node:crypto';
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
} from '../../_helpers/console';
import { startTestController } from '../../_helpers/controller';
import { PASSWORDS, getFixtures, readFixture } from '../../_helpers/fixtures';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';

const test = testNeeding(['chromium', 'openssl', 'keytool']);

interface Case {
  name: string;
  file: string;
  mode: 'managed' | 'monitored';
  password?: string;
  key?: string;
  keyPassword?: string;
  wrongKeyPassword?: string;
  expectKey: boolean;
}

async function importThroughForm(page: Page, c: Case, keyPassword?: string): Promise<void> {
  await page.goto('/definitions/import');
  await page.getByRole('heading', { level: 1, name: 'Import a certificate' }).waitFor();
  await page.getByLabel('Certificate file').setInputFiles(c.file);
  if (c.password !== undefined) await page.getByLabel(/File password/).fill(c.password);
  await page.getByLabel('Operation mode').selectOption(c.mode);
  if (c.key) await page.getByLabel('Private key file').setInputFiles(c.key);
  if (keyPassword !== undefined) await page.getByLabel('Private key password').fill(keyPassword);
  await page.getByRole('button', { name: 'Import' }).click();
}

test('W1 I1 I3 import from the console: DER, PKCS#7 PEM/DER, encrypted PEM key, legacy PKCS#12, JKS', async (t) => {
  if (isCI) assertCommands(['chromium', 'openssl', 'keytool']);
  await ensureConsoleBuilt();
  const fx = await getFixtures();
  const tc = await startTestController();
  t.teardown(() => tc.close());
  const token = await tc.adminToken();
  const ok = apiOk(() => ({ tc, token }));
  const browser: Browser = await launchChromium();
  t.teardown(() => browser.close());
  const { page, problems } = await openConsolePage(browser, tc.controller.url, {
    viewport: { width: 1280, height: 900 },
    timeoutMs: 20_000,
  });
  await loginThroughPage(page, { path: '/definitions', landing: /Certificate definitions/, level: 1 });

  const cn = (file: string): string => {
    const m = /CN=([^\n,]+)/.exec(new X509Certificate(readFixture(file)).subject);
    if (!m?.[1]) throw new Error(`no CN in ${file}`);
    return m[1];
  };
  const cases: Case[] = [
    { name: 'DER .cer', file: fx.ec.leafDer, mode: 'monitored', expectKey: false },
    { name: 'PKCS#7 PEM', file: fx.ec.p7bPem, mode: 'monitored', expectKey: false },
    { name: 'PKCS#7 DER', file: fx.ec.p7bDer, mode: 'monitored', expectKey: false },
    {
      name: 'PEM + encrypted PKCS#8 key',
      file: fx.ec.leaf,
      mode: 'managed',
      key: fx.ec.leafKeyEncrypted,
      keyPassword: PASSWORDS.key,
      wrongKeyPassword: 'not-the-key-password',
      expectKey: true,
    },
    { name: 'PKCS#12 legacy', file: fx.ec.p12Legacy, mode: 'managed', password: PASSWORDS.p12, expectKey: true },
    {
      name: 'JKS',
      file: fx.ec.jks,
      mode: 'managed',
      password: PASSWORDS.jksStore,
      keyPassword: PASSWORDS.jksKey,
      expectKey: true,
    },
  ];
  const leafName = cn(fx.ec.leaf);
  for (const c of cases) {
    if (c.wrongKeyPassword !== undefined) {
      await importThroughForm(page, c, c.wrongKeyPassword);
      const err = page.locator('#import-key-password-error');
      await err.waitFor();
      t.regex(
        (await err.textContent()) ?? '',
        /CF_IMPORT_WRONG_PASSWORD/,
        `${c.name}: typed error at the key password`
      );
      const none = await ok<{ items: unknown[] }>('GET', `/api/v1/definitions?q=${encodeURIComponent(leafName)}`);
      t.is(none.items.length, 0, `${c.name}: nothing written after the wrong key password`);
      await assertAccessible(t, page, `import ${c.name} wrong key password`);
      await screenshot(page, 'w1-import-wrong-key-password');
    }
    await importThroughForm(page, c, c.keyPassword);
    await page.getByRole('heading', { level: 1, name: new RegExp(`^Definition `) }).waitFor();
    const defs = await ok<{ items: Array<{ id: string; operationMode: string; subject: { commonName: string } }> }>(
      'GET',
      `/api/v1/definitions?q=${encodeURIComponent(leafName)}`
    );
    t.is(defs.items.length, 1, `${c.name}: one definition`);
    const def = defs.items[0];
    t.is(def?.subject.commonName, leafName, `${c.name}: named after the certificate`);
    t.is(def?.operationMode, c.mode, `${c.name}: mode`);
    const certs = await ok<{ items: Array<{ privateKeyId: string | null }> }>(
      'GET',
      `/api/v1/certificates?definitionId=${def?.id}`
    );
    t.is(certs.items.length, 1, `${c.name}: one certificate`);
    t.is(Boolean(certs.items[0]?.privateKeyId), c.expectKey, `${c.name}: key ${c.expectKey ? 'kept' : 'absent'}`);
    await ok('DELETE', `/api/v1/definitions/${def?.id}`);
  }
  await assertNoPageProblems(t, page, problems);
});
