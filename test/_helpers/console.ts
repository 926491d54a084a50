/**
 * Web console test helpers: build the console once (reused while its sources are unchanged) and drive Debian's
 * Chromium through playwright-core (DEPENDENCIES.md: never `playwright install`).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import axe from 'axe-core';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  type ConsoleMessage,
  type Page,
} from 'playwright-core';
import { ADMIN_PASSWORD, type TestController } from './controller';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * The few browser globals that in-page callbacks (`page.evaluate`) touch. The test tsconfig has no DOM lib, so the
 * callbacks reach them through `globalThis as unknown as PageGlobals` (a type-only cast).
 */
export interface PageGlobals {
  document: {
    activeElement: { tagName: string; textContent: string | null; id: string; blur(): void } | null;
    cookie: string;
    addEventListener(
      type: 'securitypolicyviolation',
      listener: (e: { violatedDirective: string; blockedURI: string }) => void
    ): void;
  };
  __cspViolations?: string[];
  axe: typeof axe;
}
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** Where screenshots go (git-ignored). */
export const ARTIFACTS_DIR = path.join(ROOT, 'test', 'artifacts', 'console');

/** Builds controller/console/dist unless it matches the sources (the build script's own stamp check). */
export async function ensureConsoleBuilt(): Promise<void> {
  await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'controller', 'scripts', 'build-console.ts'), '--if-stale'],
    { cwd: ROOT, timeout: 120_000 }
  );
  if (!fs.existsSync(path.join(ROOT, 'controller', 'console', 'dist', 'index.html'))) {
    throw new Error('console build produced no index.html');
  }
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 });
}

/** Problems a page reported: JS errors, console errors, CSP violations. */
export interface PageProblems {
  errors: string[];
}

/**
 * Collects page errors, console errors and CSP violations. A failed API call answered 4xx is expected UI behaviour
 * (the console shows the error; /auth/me answers 401 before login) and is not a problem; anything else is.
 */
export function watchPage(page: Page): PageProblems {
  const problems: PageProblems = { errors: [] };
  page.on('pageerror', (err) => problems.errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg: ConsoleMessage) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    const url = msg.location().url;
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(text) && /\/api\/v1\//.test(url)) {
      return;
    }
    problems.errors.push(`console: ${text} (${url})`);
  });
  void page.addInitScript(() => {
    const w = globalThis as unknown as PageGlobals;
    w.document.addEventListener('securitypolicyviolation', (e) => {
      (w.__cspViolations ??= []).push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`);
    });
  });
  return problems;
}

/** Fails the test on any collected problem and any CSP violation recorded in the page. */
export async function assertNoPageProblems(t: ExecutionContext, page: Page, problems: PageProblems): Promise<void> {
  const csp = await page.evaluate(() => (globalThis as unknown as PageGlobals).__cspViolations ?? []);
  t.deepEqual(csp, [], 'no CSP violations');
  t.deepEqual(problems.errors, [], 'no browser console errors');
}

/** Runs axe-core in the page; fails on violations of impact serious or critical. Returns all violation ids. */
export async function assertAccessible(t: ExecutionContext, page: Page, screen: string): Promise<string[]> {
  // Evaluated through the DevTools protocol, not as an inline <script>, so the page's CSP stays strict.
  await page.evaluate(axe.source);
  const result = (await page.evaluate(async () => {
    const w = globalThis as unknown as PageGlobals;
    const r = await w.axe.run({ resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? null,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  })) as Array<{ id: string; impact: string | null; help: string; nodes: string[] }>;
  const severe = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  t.deepEqual(severe, [], `${screen}: no serious or critical accessibility violations`);
  return result.map((v) => `${v.id}(${v.impact})`);
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** How a console test's browser context differs from the plain one (HTTPS errors ignored, controller as base URL). */
export interface ConsolePageOptions {
  viewport?: { width: number; height: number };
  acceptDownloads?: boolean;
  clientCertificates?: BrowserContextOptions['clientCertificates'];
  /** The page's default timeout for actions and waits (15 s unless given). */
  timeoutMs?: number;
}

/** The scenario tests' window: 1280×900, 20 s for each action (their screens wait on real agents and servers). */
export const SCENARIO_WINDOW: ConsolePageOptions = { viewport: { width: 1280, height: 900 }, timeoutMs: 20_000 };

export interface ConsolePage {
  context: BrowserContext;
  page: Page;
  problems: PageProblems;
}

/** A new browser context on the controller's console with one page whose problems are watched (see watchPage). */
export async function openConsolePage(
  browser: Browser,
  baseURL: string,
  opts: ConsolePageOptions = {}
): Promise<ConsolePage> {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    ...(opts.acceptDownloads !== undefined ? { acceptDownloads: opts.acceptDownloads } : {}),
    baseURL,
    ...(opts.viewport ? { viewport: opts.viewport } : {}),
    ...(opts.clientCertificates ? { clientCertificates: opts.clientCertificates } : {}),
  });
  const page = await context.newPage();
  page.setDefaultTimeout(opts.timeoutMs ?? 15_000);
  return { context, page, problems: watchPage(page) };
}

export interface LoginThroughPage {
  /** Where to go first; without it the page must already show (or be on its way to) the login screen. */
  path?: string;
  username?: string;
  password?: string;
  /** A heading to wait for after the login (the screen the login lands on). */
  landing?: RegExp | string;
  /** The landing heading's level, when the name alone is not unique enough. */
  level?: number;
}

/** Logs in through the console's login screen (admin with ADMIN_PASSWORD unless given). */
export async function loginThroughPage(page: Page, opts: LoginThroughPage = {}): Promise<void> {
  if (opts.path !== undefined) await page.goto(opts.path);
  await page.getByRole('heading', { name: 'Log in to CertFleet' }).waitFor();
  await page.getByLabel('Username').fill(opts.username ?? 'admin');
  await page.getByLabel('Password').fill(opts.password ?? ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  if (opts.landing === undefined) return;
  const heading = opts.level === undefined ? { name: opts.landing } : { level: opts.level, name: opts.landing };
  await page.getByRole('heading', heading).waitFor();
}

/** A REST call that must succeed: its JSON body, or an error naming the status and body for a status of 300 or more. */
export type ApiOk = <T = unknown>(method: string, url: string, body?: unknown) => Promise<T>;

/** `ok()` over the controller and bearer token that `source()` gives at call time (usually the test's `must`). */
export function apiOk(source: () => { tc: Pick<TestController, 'request'>; token?: string }): ApiOk {
  return async <T = unknown>(method: string, url: string, body?: unknown): Promise<T> => {
    const { tc, token } = source();
    const r = await tc.request(method, url, body, token);
    if (r.status >= 300) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json as T;
  };
}
