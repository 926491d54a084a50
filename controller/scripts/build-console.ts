/**
 * Builds the web console (controller/console → controller/console/dist) with Vite and the Preact preset.
 *
 *   node --import tsx controller/scripts/build-console.ts              # build
 *   node --import tsx controller/scripts/build-console.ts --if-stale   # build unless dist matches the sources
 *   node --import tsx controller/scripts/build-console.ts --prepare    # npm `prepare`: --if-stale, and skip with a
 *                                                                      # note when Vite is absent (--omit=dev)
 *
 * The build must satisfy the console's Content-Security-Policy (`script-src 'self'; style-src 'self'`): no inline
 * script (Vite's modulepreload polyfill is off), no inline style; the result is checked and the build fails
 * otherwise. dist/.build-stamp holds a hash of every input, so an unchanged tree is not rebuilt.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const CONSOLE_ROOT = path.resolve(__dirname, '..', 'console');
export const CONSOLE_DIST = path.join(CONSOLE_ROOT, 'dist');
const STAMP = path.join(CONSOLE_DIST, '.build-stamp');

/**
 * The controller's Content-Security-Policy header (http/access/security-headers.ts) less `frame-ancestors`, which a
 * <meta> cannot carry; set in the built index.html too, so the console keeps to it wherever it is served from.
 */
export const CONSOLE_META_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'";

function inputFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(path.join(CONSOLE_ROOT, 'src'));
  out.push(path.join(CONSOLE_ROOT, 'index.html'), __filename);
  return out;
}

/** Hash of the sources, this script and the Vite/Preact versions. */
export function sourceHash(): string {
  const h = crypto.createHash('sha256');
  for (const f of inputFiles()) h.update(path.relative(CONSOLE_ROOT, f)).update('\0').update(fs.readFileSync(f));
  for (const pkg of ['vite', 'preact', '@preact/preset-vite']) {
    try {
      const manifest = JSON.parse(fs.readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as {
        version: string;
      };
      h.update(`${pkg}@${manifest.version}`);
    } catch {
      h.update(`${pkg}@missing`);
    }
  }
  return h.digest('hex');
}

/** True when dist was built from exactly the current sources. */
export function consoleIsUpToDate(): boolean {
  try {
    return (
      fs.readFileSync(STAMP, 'utf8').trim() === sourceHash() && fs.existsSync(path.join(CONSOLE_DIST, 'index.html'))
    );
  } catch {
    return false;
  }
}

/** Problems that would break the CSP: inline scripts, inline styles, style attributes. */
export function cspProblems(html: string): string[] {
  const problems: string[] = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)) {
    if (!/\bsrc=/.test(m[1] ?? '') || (m[2] ?? '').trim()) problems.push('inline <script>');
  }
  if (/<style\b/i.test(html)) problems.push('inline <style>');
  if (/\sstyle\s*=/i.test(html)) problems.push('style="…" attribute');
  if (/\son[a-z]+\s*=/i.test(html)) problems.push('inline event handler attribute');
  return problems;
}

/**
 * Builds into a scratch directory beside node_modules' cache, checks it, then swaps it in for dist, so a server or
 * a second build (two test files at once) never sees a half-written console.
 */
export async function buildConsole(): Promise<void> {
  // Vite is ESM-only: loaded with import() from this CommonJS script.
  const { build } = await import('vite');
  const { default: preact } = await import('@preact/preset-vite');
  const hash = sourceHash();
  const scratch = path.resolve(CONSOLE_ROOT, '..', '..', 'node_modules', '.cache', `certfleet-console-${process.pid}`);
  const previous = `${scratch}.previous`;
  try {
    await build({
      configFile: false,
      root: CONSOLE_ROOT,
      base: '/',
      logLevel: 'warn',
      plugins: [
        preact({ devToolsEnabled: false, prefreshEnabled: false }),
        {
          name: 'certfleet-csp-meta',
          apply: 'build',
          // Right after <meta charset>, before anything the policy governs.
          transformIndexHtml: (html: string) =>
            html.replace(
              /(<meta charset="utf-8" \/>)/,
              `$1\n    <meta http-equiv="Content-Security-Policy" content="${CONSOLE_META_CSP}" />`
            ),
        },
      ],
      build: {
        outDir: scratch,
        emptyOutDir: true,
        target: 'es2022',
        modulePreload: { polyfill: false },
        sourcemap: false,
        reportCompressedSize: false,
      },
    });
    const html = fs.readFileSync(path.join(scratch, 'index.html'), 'utf8');
    const problems = cspProblems(html);
    if (problems.length) throw new Error(`console build: index.html breaks the CSP: ${problems.join(', ')}`);
    fs.writeFileSync(path.join(scratch, '.build-stamp'), `${hash}\n`);
    if (fs.existsSync(CONSOLE_DIST)) fs.renameSync(CONSOLE_DIST, previous);
    try {
      fs.renameSync(scratch, CONSOLE_DIST);
    } catch (err) {
      // Another build swapped in first: fine when it built the same sources.
      if (!consoleIsUpToDate()) throw err;
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
    fs.rmSync(previous, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<void> {
  const prepare = argv.includes('--prepare');
  if ((prepare || argv.includes('--if-stale')) && consoleIsUpToDate()) {
    process.stdout.write('console: up to date (controller/console/dist)\n');
    return;
  }
  if (prepare) {
    try {
      require.resolve('vite/package.json');
    } catch {
      process.stdout.write('console: not built (Vite is not installed; run `npm run build:console` after npm ci)\n');
      return;
    }
  }
  const t0 = Date.now();
  await buildConsole();
  process.stdout.write(`console: built controller/console/dist in ${Date.now() - t0} ms\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
