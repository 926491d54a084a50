/**
 * How the controller serves the web console (SPEC W1–W12): index.html for / and every console path (client-side
 * routes), content-hashed assets cached for a year, API 404s untouched, a clear 503 page without a build, and a
 * build that keeps to the CSP (no inline script or style).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import Fastify from 'fastify';
import { CONSOLE_DIST, cspProblems } from '../../../controller/scripts/build-console';
import { registerConsole } from '../../../controller/src/http/console';
import { ensureConsoleBuilt } from '../../_helpers/console';
import { startTestController, type TestController } from '../../_helpers/controller';

let tc: TestController | undefined;

test.before(async () => {
  await ensureConsoleBuilt();
  tc = await startTestController();
});

test.after.always(async () => {
  await tc?.close();
});

test.serial(
  'W1 console serving: index.html for / and client-side routes, hashed assets cached for a year',
  async (t) => {
    const html = fs.readFileSync(path.join(CONSOLE_DIST, 'index.html'), 'utf8');
    for (const url of ['/', '/login', '/definitions', '/definitions?q=x', '/monitoring/runs/abc', '/agents']) {
      const r = await tc!.request('GET', url);
      t.is(r.status, 200, url);
      t.regex(String(r.headers['content-type']), /^text\/html/, url);
      t.is(r.json, html, `${url} answers the built index.html`);
      t.is(r.headers['cache-control'], 'no-store', `${url}: index.html is never cached`);
    }
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    t.truthy(asset, 'index.html loads a hashed script');
    const js = await tc!.request('GET', asset!);
    t.is(js.status, 200);
    t.regex(String(js.headers['content-type']), /javascript/);
    t.is(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    t.is(js.headers['x-content-type-options'], 'nosniff', 'the app-wide security headers stay');

    // Not console pages: API and unknown URLs keep their 404, never the HTML.
    const api = await tc!.request('GET', '/api/v1/no-such-route');
    t.is(api.status, 404);
    t.notRegex(String(api.headers['content-type']), /html/);
    t.is((await tc!.request('GET', '/no-such-page')).status, 404);
    t.is((await tc!.request('GET', '/assets/no-such-file.js')).status, 404);
    t.is((await tc!.request('GET', '/assets/../package.json')).status, 404);
  }
);

test('W1 console serving without a build: console paths answer 503 with how to build it', async (t) => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-console-'));
  const app = Fastify();
  try {
    await registerConsole(app, { dir: empty });
    for (const url of ['/', '/definitions', '/agents/x']) {
      const r = await app.inject({ method: 'GET', url });
      t.is(r.statusCode, 503, url);
      t.regex(r.headers['content-type'] as string, /^text\/html/);
      t.regex(r.body, /npm run build:console/);
      t.deepEqual(cspProblems(r.body), [], 'the 503 page needs no inline script or style either');
    }
    t.is((await app.inject({ method: 'GET', url: '/assets/index.js' })).statusCode, 404);
  } finally {
    await app.close();
    fs.rmSync(empty, { recursive: true, force: true });
  }
});

test('W1 console build keeps to the CSP: no inline script, no inline style, no style attributes', (t) => {
  const html = fs.readFileSync(path.join(CONSOLE_DIST, 'index.html'), 'utf8');
  t.deepEqual(cspProblems(html), []);
  t.regex(
    html,
    /<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self'; style-src 'self';/
  );
  t.notRegex(html, /modulepreload/, 'no modulepreload polyfill');
  // The checker itself finds what it must.
  t.deepEqual(cspProblems('<script>alert(1)</script>'), ['inline <script>']);
  t.deepEqual(cspProblems('<style>p{}</style><p style="color:red" onclick="x()">'), [
    'inline <style>',
    'style="…" attribute',
    'inline event handler attribute',
  ]);
  const js = fs.readdirSync(path.join(CONSOLE_DIST, 'assets')).filter((f) => f.endsWith('.js'));
  t.is(js.length, 1, 'one script bundle');
  const size = fs.statSync(path.join(CONSOLE_DIST, 'assets', js[0]!)).size;
  // all twelve screens: ≈ 180 kB minified (≈ 45 kB gzipped); a UI framework or a stray dependency would double it
  t.true(size < 256_000, `the bundle stays small (${size} bytes)`);
});
