/**
 * The W1 definition form's deploy targets editor (SPEC W1, D1) in a real browser (Debian Chromium via
 * playwright-core) over a real controller (HTTPS, fresh PostgreSQL) with two enrolled agents: the controller's
 * validation problems (paths like deployTargets.0.directory) appear next to the field of the right target, nothing
 * is saved while they stand; a target is edited, one removed, two added (an agent one and a java-keystore one), and
 * the API shows exactly the targets the form showed. The detail screen lists them. axe-core on every state,
 * screenshots in test/artifacts/console/deploy-targets-*.png.
 */
import fs from 'node:fs';
import type { Browser, Locator, Page } from 'playwright-core';
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
import { enrollLoopbackAgent } from '../../_helpers/loopback-agent';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { tempRoot } from '../agent/_servers';

const NEEDS = ['chromium'];
const test = testNeeding(NEEDS);

interface Ctx {
  tc: TestController;
  token: string;
  browser: Browser;
  page: Page;
  problems: PageProblems;
  dir: string;
  agents: { web: string; mail: string };
  definitionId: string;
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
  deployTargets: Array<Record<string, unknown>>;
  updatedAt: string;
}

const target = (page: Page, n: number): Locator => page.getByRole('group', { name: `Deploy target ${n}`, exact: true });

/** The error text the field points at through aria-describedby (`<id>-error`), or null. */
async function errorOf(page: Page, field: Locator): Promise<string | null> {
  const ids = ((await field.getAttribute('aria-describedby')) ?? '').split(/\s+/).filter((i) => i.endsWith('-error'));
  if (ids.length === 0) return null;
  return page.locator(`#${ids[0]}`).textContent();
}

test.before(async () => {
  if (isCI) assertCommands(NEEDS);
  await ensureConsoleBuilt();
  const dir = tempRoot('certfleet-console-targets-');
  const tc = await startTestController();
  const token = await tc.adminToken();
  const web = await enrollLoopbackAgent(tc, token, dir, 'web-host-1');
  const mail = await enrollLoopbackAgent(tc, token, dir, 'mail-host-1');
  const browser = await launchChromium();
  const { page, problems } = await openConsolePage(browser, tc.controller.url, {
    viewport: { width: 1280, height: 900 },
  });
  ctx = {
    tc,
    token,
    browser,
    page,
    problems,
    dir,
    agents: { web: web.agentId, mail: mail.agentId },
    definitionId: '',
  };
  const def = await ok<{ id: string }>('POST', '/api/v1/definitions', {
    name: 'targets.example.test',
    subject: { commonName: 'targets.example.test' },
    sans: [{ type: 'dns', value: 'targets.example.test' }],
    issuerType: 'internal-ca',
    deployTargets: [
      {
        serverName: 'web-1',
        serverType: 'nginx',
        method: 'agent',
        agentId: web.agentId,
        directory: '/srv/certs/web',
        checkHost: '127.0.0.1',
        checkPort: 8443,
      },
      { serverName: 'legacy-1', serverType: 'apache', method: 'manual' },
    ],
  });
  ctx.definitionId = def.id;

  await loginThroughPage(page, { path: '/login', level: 1, landing: /Certificate definitions/ });
});

test.after.always(async () => {
  await ctx?.browser.close().catch(() => undefined);
  await ctx?.tc.close();
  if (ctx) fs.rmSync(ctx.dir, { recursive: true, force: true });
});

test.serial(
  'W1 D1 deploy targets editor: the stored targets are shown; validation problems appear next to their field',
  async (t) => {
    const { page, problems, definitionId } = must();
    await page.goto(`/definitions/${definitionId}/edit`);
    await page.getByRole('heading', { level: 1, name: 'Edit definition targets.example.test' }).waitFor();
    const first = target(page, 1);
    const second = target(page, 2);
    t.is(await first.getByLabel('Server name').inputValue(), 'web-1');
    t.is(await first.getByLabel('Server type').inputValue(), 'nginx');
    t.is(await first.getByLabel('Delivery method').inputValue(), 'agent');
    t.is(await first.getByLabel('Agent').inputValue(), must().agents.web);
    t.is(await first.getByLabel('Agent').locator('option:checked').textContent(), 'web-host-1');
    t.is(await first.getByLabel('Live directory').inputValue(), '/srv/certs/web');
    t.is(await first.getByLabel('Check host').inputValue(), '127.0.0.1');
    t.is(await first.getByLabel('Check port').inputValue(), '8443');
    t.is(await first.getByLabel('STARTTLS').inputValue(), 'none');
    t.is(await second.getByLabel('Server name').inputValue(), 'legacy-1');
    t.is(await second.getByLabel('Delivery method').inputValue(), 'manual');
    t.is(await second.getByLabel('Agent').count(), 0, 'no agent choice for a manual target');
    t.is(await first.getByLabel('Keystore alias').count(), 0, 'keystore fields only for java-keystore');
    await assertAccessible(t, page, 'definition edit with deploy targets');
    await screenshot(page, 'deploy-targets-edit');

    const before = await ok<DefinitionJson>('GET', `/api/v1/definitions/${definitionId}`);
    // Problems of target 2's fields: a relative live directory and a port out of range.
    await second.getByLabel('Live directory').fill('relative/dir');
    await second.getByLabel('Check port').fill('70000');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await second.locator('.field-error').first().waitFor();
    t.regex((await errorOf(page, second.getByLabel('Live directory'))) ?? '', /absolute path/);
    t.is(await second.getByLabel('Live directory').getAttribute('aria-invalid'), 'true');
    t.regex((await errorOf(page, second.getByLabel('Check port'))) ?? '', /65535/);
    t.is(await errorOf(page, first.getByLabel('Live directory')), null, 'target 1 has no error');
    t.is(await first.locator('.field-error').count(), 0);
    t.is(await page.locator('#definition-form-error').count(), 0, 'every problem found its field');
    await assertAccessible(t, page, 'deploy targets with errors');
    await screenshot(page, 'deploy-targets-errors');

    // An agent target without an agent: the problem is at the Agent field.
    await second.getByLabel('Live directory').fill('/srv/certs/legacy');
    await second.getByLabel('Check port').fill('443');
    await second.getByLabel('Delivery method').selectOption('agent');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await second.getByLabel('Agent').and(page.locator('[aria-invalid="true"]')).waitFor();
    t.regex((await errorOf(page, second.getByLabel('Agent'))) ?? '', /needs an agent/);
    t.is(await errorOf(page, second.getByLabel('Live directory')), null);

    const after = await ok<DefinitionJson>('GET', `/api/v1/definitions/${definitionId}`);
    t.deepEqual(after.deployTargets, before.deployTargets, 'nothing was saved while the form had problems');
    t.is(after.updatedAt, before.updatedAt);
    await assertNoPageProblems(t, page, problems);
  }
);

test.serial('W1 D1 deploy targets editor: edit, remove and add targets; the API shows the change', async (t) => {
  const { page, problems, definitionId, agents } = must();
  // Continues on the form of the previous test (target 2 was left half-edited): reload it for a clean start.
  await page.goto(`/definitions/${definitionId}/edit`);
  await target(page, 2).waitFor();
  // Edit target 1: new name, directory and STARTTLS.
  const first = target(page, 1);
  await first.getByLabel('Server name').fill('web-1-renamed');
  await first.getByLabel('Live directory').fill('/srv/certs/web-new');
  await first.getByLabel('Check port').fill('9443');
  // Remove target 2.
  await page.getByRole('button', { name: 'Remove deploy target 2', exact: true }).click();
  t.is(await target(page, 2).count(), 0);
  // Add a Postfix target served by the mail agent, probed with SMTP STARTTLS.
  await page.getByRole('button', { name: 'Add deploy target' }).click();
  const added = target(page, 2);
  await added.getByLabel('Server name').fill('mx-1');
  await added.getByLabel('Server type').selectOption('postfix');
  t.is(await added.getByLabel('Delivery method').inputValue(), 'agent', 'a new target is delivered by an agent');
  await added.getByLabel('Agent').selectOption({ label: 'mail-host-1' });
  await added.getByLabel('Live directory').fill('/etc/certfleet/live/mx');
  await added.getByLabel('Check host').fill('mx.example.test');
  await added.getByLabel('Check port').fill('25');
  await added.getByLabel('STARTTLS').selectOption('smtp');
  // And an offline java-keystore target with a JKS keystore.
  await page.getByRole('button', { name: 'Add deploy target' }).click();
  const third = target(page, 3);
  await third.getByLabel('Server name').fill('tomcat-1');
  await third.getByLabel('Server type').selectOption('java-keystore');
  await third.getByLabel('Delivery method').selectOption('offline');
  t.is(await third.getByLabel('Agent').count(), 0);
  await third.getByLabel('Keystore format').selectOption('jks');
  await third.getByLabel('Keystore alias').fill('tomcat');
  await assertAccessible(t, page, 'deploy targets edited');
  await screenshot(page, 'deploy-targets-edited');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByText('Changes saved.').waitFor();

  const saved = await ok<DefinitionJson>('GET', `/api/v1/definitions/${definitionId}`);
  t.deepEqual(saved.deployTargets, [
    {
      serverName: 'web-1-renamed',
      serverType: 'nginx',
      method: 'agent',
      agentId: agents.web,
      directory: '/srv/certs/web-new',
      checkHost: '127.0.0.1',
      checkPort: 9443,
    },
    {
      serverName: 'mx-1',
      serverType: 'postfix',
      method: 'agent',
      agentId: agents.mail,
      directory: '/etc/certfleet/live/mx',
      checkHost: 'mx.example.test',
      checkPort: 25,
      starttls: 'smtp',
    },
    {
      serverName: 'tomcat-1',
      serverType: 'java-keystore',
      method: 'offline',
      keystore: { format: 'jks', alias: 'tomcat' },
    },
  ]);

  // The detail screen lists them, with the agents by name.
  const rows = page.locator('#definition-targets tbody tr');
  t.is(await rows.count(), 3);
  t.regex((await rows.nth(0).textContent()) ?? '', /web-1-renamed.*nginx.*agent.*web-host-1.*\/srv\/certs\/web-new/);
  t.regex((await rows.nth(1).textContent()) ?? '', /mx-1.*postfix.*agent.*mail-host-1.*mx\.example\.test:25/);
  t.regex((await rows.nth(2).textContent()) ?? '', /tomcat-1.*java-keystore.*offline/);
  await assertAccessible(t, page, 'definition detail with deploy targets');
  await screenshot(page, 'deploy-targets-detail');

  // Removing every target through the form leaves none.
  await page.getByRole('link', { name: 'Edit' }).click();
  await target(page, 3).waitFor();
  for (const n of [3, 2, 1]) await page.getByRole('button', { name: `Remove deploy target ${n}`, exact: true }).click();
  t.is(await page.getByRole('group', { name: /^Deploy target \d+$/ }).count(), 0);
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByText('Changes saved.').waitFor();
  t.deepEqual((await ok<DefinitionJson>('GET', `/api/v1/definitions/${definitionId}`)).deployTargets, []);
  t.regex((await page.locator('#def-targets').locator('..').textContent()) ?? '', /No deployment targets/);
  await assertNoPageProblems(t, page, problems);
});
