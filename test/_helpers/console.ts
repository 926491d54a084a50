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
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';

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
