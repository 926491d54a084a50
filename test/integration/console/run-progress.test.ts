/**
 * W6 / M1 in a real browser: "Run monitor now" shows the run's progress (endpoints observed of the total, from the
 * run row's heartbeat) while it runs, then its result. One endpoint answers at once (a TLS listener on loopback), the
 * other never completes its TCP handshake, so the run stays half done until that probe's 10 s budget is spent.
 */
import tls from 'node:tls';
import type { Browser } from 'playwright-core';
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
  const ok = apiOk(() => ({ tc, token }));
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
  const { page, problems } = await openConsolePage(browser, tc.controller.url, {
    viewport: { width: 1280, height: 900 },
    timeoutMs: 20_000,
  });
  await loginThroughPage(page, { path: '/monitoring', landing: /Monitor control/, level: 1 });

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
