/**
 * W6 / M1 in a real browser: "Run monitor now" shows the run's progress (endpoints observed of the total, from the
 * run row's heartbeat) while it runs, then its result. One endpoint answers at once (a TLS listener on loopback), the
 * other never completes its TCP handshake, so the run stays half done until that probe's 10 s budget is spent.
 */
import tls from 'node:tls';
import type { Browser, Page } from 'playwright-core';
import {
  assertAccessible,
  assertNoPageProblems,
  ensureConsoleBuilt,
  launchChromium,
  screenshot,
  watchPage,
} from '../../_helpers/console';
import { ADMIN_PASSWORD, startTestController } from '../../_helpers/controller';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { stalledListener } from '../../_helpers/probe-pki';
import { testCert } from '../../_helpers/test-pki';

const test = testNeeding(['chromium']);

test('W6 M1 run now: progress (1 / 2 endpoints observed) while a probe is pending, then the result', async (t) => {
  if (isCI) assertCommands(['chromium']);
  await ensureConsoleBuilt();
  const tc = await startTestController();
  t.teardown(() => tc.close());
  const token = await tc.adminToken();
  const ok = async <T>(method: string, url: string, body?: unknown): Promise<T> => {
    const r = await tc.request(method, url, body, token);
    if (r.status >= 300) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json as T;
  };
  const cert = await testCert({ subject: 'CN=progress.example.test', dns: ['progress.example.test'] });
  const server = tls.createServer({ key: cert.key.privateKeyPem, cert: cert.pem }, (s) => s.end());
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const fastPort = (server.address() as { port: number }).port;
  const stalled = await stalledListener();
  t.teardown(() => stalled.close());

  const def = await ok<{ id: string }>('POST', '/api/v1/definitions', {
    name: 'progress.example.test',
    subject: { commonName: 'progress.example.test' },
    operationMode: 'monitored',
  });
  for (const port of [fastPort, stalled.port])
    await ok('POST', `/api/v1/definitions/${def.id}/endpoints`, {
      host: '127.0.0.1',
      port,
      serverName: 'progress.example.test',
    });

  const browser: Browser = await launchChromium();
  t.teardown(() => browser.close());
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    baseURL: tc.controller.url,
    viewport: { width: 1280, height: 900 },
  });
  const page: Page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const problems = watchPage(page);
  await page.goto('/monitoring');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { level: 1, name: /Monitor control/ }).waitFor();

  await page.getByRole('button', { name: 'Run monitor now' }).click();
  await page.getByRole('status').filter({ hasText: '1 / 2 endpoints observed' }).waitFor();
  const bar = page.locator('#run-progressbar');
  t.is(await bar.getAttribute('max'), '2');
  t.is(await bar.getAttribute('value'), '1');
  t.true(await page.getByRole('button', { name: 'Running…' }).isDisabled());
  await assertAccessible(t, page, 'W6 run progress');
  await screenshot(page, 'w6-run-progress');

  await page.getByText(/Run finished: 2 endpoints checked/).waitFor({ timeout: 40_000 });
  t.is(await bar.count(), 0, 'the progress goes when the run is done');
  const runs = await ok<Array<{ status: string; endpoints: number; done: number }>>('GET', '/api/v1/monitoring/runs');
  t.is(runs[0]?.status, 'finished');
  t.is(runs[0]?.done, 2);
  await screenshot(page, 'w6-run-finished');
  await assertNoPageProblems(t, page, problems);
});
