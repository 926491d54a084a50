/**
 * Console polish found while walking the manual's scenarios, in a real browser (Debian Chromium via playwright-core)
 * over a real controller (HTTPS, fresh PostgreSQL):
 * - W3: a deployment whose message is long (agent id, path, SHA-256) keeps its row readable — every action of the
 *   row and the "Check finished" notice stay inside the table's box at 1280 and 1024 px wide, no horizontal scroll,
 *   the row stays short;
 * - W1: the edit form is not shown until the stored definition and the agents are loaded (the requests are held
 *   back with page.route, so the race is deterministic); a definition that cannot be loaded shows the typed error;
 * - W10: the CA's "Issued / revoked" count goes up by one after each client certificate issued on the screen.
 * Every state is checked with axe-core and screenshotted into test/artifacts/console/.
 */
import fs from 'node:fs';
import type net from 'node:net';
import type { Browser, Locator, Page, Route } from 'playwright-core';
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
import { startTestController, type TestController, useStandInAgentExecutable } from '../../_helpers/controller';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { closeAll, serveTlsChain } from '../../_helpers/probe-pki';
import { type ImportedIds, managedImportBody, testCa, testCert } from '../../_helpers/test-pki';
import { tempRoot } from '../agent/_servers';

const NEEDS = ['chromium'];
const test = testNeeding(NEEDS);
const CN = 'long-message.polish.test';
/** Row heights above this mean the long message or the actions stretch the row (it was ~400 px before). */
const MAX_ROW_HEIGHT = 200;
const SHA = 'ab12cd34ef56'.repeat(5) + 'abcd';
const LONG_NOTE =
  `installed by agent:efbc0d31-987f-4ca7-9d2a-b0b9e553408a into ` +
  `/var/lib/certfleet-agent/installs/www-nginx-production-cluster-a/certs/${CN}/fullchain.pem ` +
  `and served (SHA-256 ${SHA}); nginx reloaded by agent a8d357a4-8ddf-43dc-bc20-5b3c586f5ad9`;

interface Ctx {
  tc: TestController;
  token: string;
  dir: string;
  servers: net.Server[];
  browser: Browser;
  page: Page;
  problems: PageProblems;
  certificateId: string;
  definitionId: string;
  deploymentId: string;
}
let ctx: Ctx | undefined;

function must(): Ctx {
  if (!ctx) throw new Error('setup failed');
  return ctx;
}

const ok = apiOk(must);

/** Fails unless `inner` lies within `outer` horizontally and vertically (1 px tolerance for sub-pixel layout). */
async function assertInside(
  t: { true: (v: boolean, m: string) => void },
  inner: Locator,
  outer: Locator,
  what: string
) {
  const a = await inner.boundingBox();
  const b = await outer.boundingBox();
  if (!a || !b) throw new Error(`${what}: not laid out`);
  const inside =
    a.x >= b.x - 1 && a.y >= b.y - 1 && a.x + a.width <= b.x + b.width + 1 && a.y + a.height <= b.y + b.height + 1;
  t.true(inside, `${what} (${JSON.stringify(a)}) inside the table box (${JSON.stringify(b)})`);
}

/** A promise the route handler waits on, and the function that lets the held-back request through. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

test.before(async () => {
  if (isCI) assertCommands(NEEDS);
  const dir = tempRoot('certfleet-console-polish-');
  // The offline bundle carries the agent executable: a small stand-in is enough here (the bundle is not opened).
  useStandInAgentExecutable(dir);

  const { intermediate } = await testCa('Polish Console');
  const leaf = await testCert({ subject: `CN=${CN}`, issuer: intermediate, dns: [CN] });
  const servers: net.Server[] = [];
  // The install server the deploy check probes: serves the leaf and its intermediate.
  const checkPort = await serveTlsChain(servers, leaf.pem + intermediate.pem, leaf.key.privateKeyPem);

  await ensureConsoleBuilt();
  const tc = await startTestController();
  const c = { tc, dir, servers } as unknown as Ctx;
  ctx = c;
  c.token = await tc.adminToken();
  const imported = await ok<ImportedIds>('POST', '/api/v1/imports', managedImportBody('polish', leaf, intermediate));
  c.certificateId = imported.certificate.id;
  c.definitionId = imported.definition.id;
  await ok('PATCH', `/api/v1/definitions/${c.definitionId}`, {
    renewalLeadDays: 21,
    deployTargets: [
      {
        serverName: 'www-nginx-production-cluster-a',
        serverType: 'nginx',
        method: 'offline',
        directory: `/etc/certfleet/live/${CN}`,
        checkHost: '127.0.0.1',
        checkPort,
      },
    ],
  });
  const bundle = await tc.request('POST', `/api/v1/certificates/${c.certificateId}/offline-bundles`, {}, c.token);
  if (bundle.status !== 200) throw new Error(`offline bundle: ${bundle.status}`);
  c.deploymentId = String(bundle.headers['x-certfleet-deployment-id']);
  // The long message: a deploy check completed by hand with a note full of unbreakable tokens.
  await ok('POST', `/api/v1/deployments/${c.deploymentId}/check/manual`, { note: LONG_NOTE, withoutCheck: false });

  c.browser = await launchChromium();
  ({ page: c.page, problems: c.problems } = await openConsolePage(c.browser, tc.controller.url, {
    acceptDownloads: true,
    viewport: { width: 1280, height: 800 },
    timeoutMs: 20_000,
  }));
  await loginThroughPage(c.page, { path: '/certificates', level: 1, landing: /Certificates and deployments/ });
});

test.after.always(async () => {
  if (!ctx) return;
  closeAll(ctx.servers ?? []);
  await ctx.browser?.close().catch(() => undefined);
  await ctx.tc?.close();
  fs.rmSync(ctx.dir, { recursive: true, force: true });
});

test.serial(
  'W3 D6 a deployment with a long message: actions and notices stay inside the table at 1280 and 1024 px, the row stays short',
  async (t) => {
    const c = must();
    const { page } = c;
    const row = page.locator(`#deployments-table tr[data-deployment="${c.deploymentId}"]`);
    await row.waitFor();
    const message = row.locator('.deployment-message');
    t.regex((await message.textContent()) ?? '', /checked by hand by (user:)?admin: installed by agent:efbc0d31/);
    await row.locator('.badge-verified').waitFor();

    const wrap = page.locator('.table-wrap', { has: page.locator('#deployments-table') });
    const certificatesWrap = page.locator('.table-wrap', { has: page.locator('#certificates-table') });
    /** Lays the row out at both widths and checks that nothing leaves the table's box and the row stays short. */
    const measure = async (state: string, notice?: Locator): Promise<void> => {
      for (const [width, height] of [
        [1280, 800],
        [1024, 768],
      ] as const) {
        await page.setViewportSize({ width, height });
        await screenshot(page, `w3-long-message-${state}-${width}`);
        for (const [table, box] of [
          ['deployments', wrap],
          ['certificates', certificatesWrap],
        ] as const) {
          const overflow = await box.evaluate((el) => el.scrollWidth - el.clientWidth);
          t.true(
            overflow <= 0,
            `${state}, ${width} px: the ${table} table needs no horizontal scrolling (${overflow})`
          );
        }
        const buttons = row.getByRole('button', { name: /^(Check now|Complete by hand…|Continue without check…)/ });
        t.is(await buttons.count(), 3, 'check now, complete by hand, continue without check');
        for (const b of await buttons.all()) {
          await assertInside(t, b, wrap, `${state}, ${width} px: button "${(await b.textContent()) ?? ''}"`);
        }
        await assertInside(t, row.locator('label.receipt-button'), wrap, `${state}, ${width} px: receipt upload`);
        await assertInside(t, message, wrap, `${state}, ${width} px: the long message`);
        if (notice) await assertInside(t, notice, wrap, `${state}, ${width} px: the notice`);
        const box = await row.boundingBox();
        t.true(
          !!box && box.height < MAX_ROW_HEIGHT,
          `${state}, ${width} px: row height ${box?.height ?? '?'} < ${MAX_ROW_HEIGHT}`
        );
        await assertAccessible(t, page, `W3 long deployment message (${state}) at ${width} px`);
      }
    };
    await measure('note');

    // The clamped message opens in full with its toggle (and still wraps inside the table), then closes again.
    const toggle = row.getByRole('button', { name: /^Show full message/ });
    t.is(await toggle.getAttribute('aria-expanded'), 'false');
    const clampedHeight = (await message.boundingBox())?.height ?? 0;
    await toggle.click();
    const less = row.getByRole('button', { name: /^Show less/ });
    t.is(await less.getAttribute('aria-expanded'), 'true');
    const fullHeight = (await message.boundingBox())?.height ?? 0;
    t.true(fullHeight > clampedHeight, `the full message (${fullHeight} px) is taller than the clamped one`);
    await assertInside(t, message, wrap, 'the full message');
    t.is(await wrap.evaluate((el) => el.scrollWidth - el.clientWidth), 0, 'the full message wraps inside the table');
    await assertAccessible(t, page, 'W3 long deployment message opened');
    await screenshot(page, 'w3-long-message-opened');
    await less.click();
    await toggle.waitFor();

    // The deploy check from the console: another long message, and its notice in the actions cell.
    await row.getByRole('button', { name: /^Check now/ }).click();
    const notice = row.getByRole('status').filter({ hasText: 'Check finished: verified (DeployCheckPassed).' });
    await notice.waitFor();
    await message.filter({ hasText: /serves the deployed certificate \(SHA-256 [0-9a-f]{64}\)/ }).waitFor();
    await measure('checked', notice);
    await page.setViewportSize({ width: 1280, height: 800 });
    await assertNoPageProblems(t, page, c.problems);
  }
);

test.serial(
  'W1 R1 edit form: nothing to type into until the definition and the agents are loaded, then the stored values; a missing definition shows the typed error',
  async (t) => {
    const c = must();
    const { page } = c;
    const definitionGate = gate();
    const agentsGate = gate();
    const hold = (g: { wait: Promise<void> }) => async (route: Route) => {
      await g.wait;
      await route.continue();
    };
    const definitionUrl = (u: URL): boolean => u.pathname === `/api/v1/definitions/${c.definitionId}`;
    const agentsUrl = (u: URL): boolean => u.pathname === '/api/v1/agents';
    await page.route(definitionUrl, hold(definitionGate));
    await page.route(agentsUrl, hold(agentsGate));
    try {
      await page.goto(`/definitions/${c.definitionId}/edit`);
      const loading = page.getByRole('status').filter({ hasText: 'Loading definition…' });
      await loading.waitFor();
      t.is(await page.getByLabel('Definition name').count(), 0, 'no field to type into while the definition loads');
      t.is(await page.getByRole('button', { name: 'Save changes' }).count(), 0);
      await assertAccessible(t, page, 'W1 edit form loading');
      await screenshot(page, 'w1-edit-loading');

      // The definition arrives, the agents (the deploy-target editor's choices) not yet: still nothing to edit.
      const definitionServed = page.waitForResponse((r) => definitionUrl(new URL(r.url())));
      definitionGate.open();
      t.is((await definitionServed).status(), 200);
      await page.waitForTimeout(300);
      t.true(await loading.isVisible(), 'still loading while the agents are held back');
      t.is(await page.getByLabel('Definition name').count(), 0);

      agentsGate.open();
      const name = page.getByLabel('Definition name');
      await name.waitFor();
      t.false(await loading.isVisible());
      t.is(await name.inputValue(), 'polish', 'the stored name is shown');
      t.is(await page.getByLabel('Renewal lead time (days)').inputValue(), '21', 'the stored lead time is shown');
      t.true(await page.getByRole('button', { name: 'Save changes' }).isEnabled());
      await assertAccessible(t, page, 'W1 edit form loaded');
      await screenshot(page, 'w1-edit-loaded');
    } finally {
      await page.unroute(definitionUrl);
      await page.unroute(agentsUrl);
      definitionGate.open();
      agentsGate.open();
    }

    // An edit made after the fill-in is saved, and nothing else changes.
    await page.getByLabel('Renewal lead time (days)').fill('25');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.waitForURL(/\/definitions\/[^/]+\?saved=updated$/);
    const saved = await ok<{ name: string; renewalLeadDays: number; deployTargets: Array<{ serverName: string }> }>(
      'GET',
      `/api/v1/definitions/${c.definitionId}`
    );
    t.is(saved.renewalLeadDays, 25);
    t.is(saved.name, 'polish');
    t.deepEqual(
      saved.deployTargets.map((d) => d.serverName),
      ['www-nginx-production-cluster-a']
    );

    // The clone form likewise: no name field until the source is loaded, then "<name>-copy".
    const cloneGate = gate();
    await page.route(definitionUrl, hold(cloneGate));
    try {
      await page.goto(`/definitions/${c.definitionId}/clone`);
      await page.getByRole('status').filter({ hasText: 'Loading definition…' }).waitFor();
      t.is(await page.getByLabel('Name of the copy').count(), 0, 'no name field while the source loads');
      cloneGate.open();
      const copyName = page.getByLabel('Name of the copy');
      await copyName.waitFor();
      t.is(await copyName.inputValue(), 'polish-copy');
    } finally {
      await page.unroute(definitionUrl);
      cloneGate.open();
    }

    // A definition that does not exist: the controller's typed error, no empty form to fill in.
    await page.goto('/definitions/00000000-0000-4000-8000-000000000000/edit');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    t.regex((await alert.textContent()) ?? '', /\(CF_NOT_FOUND\)$/);
    t.is(await page.getByLabel('Definition name').count(), 0);
    t.is(await page.getByRole('status').filter({ hasText: 'Loading definition…' }).count(), 0);
    await assertAccessible(t, page, 'W1 edit form load error');
    await screenshot(page, 'w1-edit-load-error');
    await assertNoPageProblems(t, page, c.problems);
  }
);

test.serial('W10 C5 the issued / revoked count goes up by one after each client certificate issued', async (t) => {
  const c = must();
  const { page } = c;
  await page.goto('/ca');
  await page.getByRole('heading', { level: 1, name: /Private CA/ }).waitFor();
  const cas = await ok<{ items: Array<{ id: string; status: string; issued: number; revoked: number }> }>(
    'GET',
    '/api/v1/ca'
  );
  const active = cas.items.find((ca) => ca.status === 'active');
  if (!active) throw new Error(`no active CA: ${JSON.stringify(cas)}`);
  const counts = page.locator(`section[data-ca="${active.id}"] dd.ca-counts`);
  const shown = async (): Promise<string> => (await counts.textContent()) ?? '';
  t.regex(await shown(), new RegExp(`^${active.issued} / ${active.revoked} `));

  for (let i = 1; i <= 2; i++) {
    await page.getByLabel('Console user', { exact: true }).fill('admin');
    await page.getByLabel('Password for the PFX file', { exact: true }).fill('client pfx password 2026');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Issue and download PFX' }).click(),
    ]);
    t.regex(download.suggestedFilename(), /\.p12$/);
    await page.getByText(/Issued admin\.p12: serial/).waitFor();
    await counts.filter({ hasText: new RegExp(`^${active.issued + i} / ${active.revoked} `) }).waitFor();
    const now = (await ok<{ items: Array<{ id: string; issued: number }> }>('GET', '/api/v1/ca')).items.find(
      (ca) => ca.id === active.id
    );
    t.is(now?.issued, active.issued + i, 'the API agrees with the screen');
    await assertAccessible(t, page, `W10 after issuance ${i}`);
    await screenshot(page, `w10-count-after-${i}`);
  }
  await assertNoPageProblems(t, page, c.problems);
});
