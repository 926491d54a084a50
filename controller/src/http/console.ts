/**
 * Serves the web console (SPEC W1–W12): the Vite build in `controller/console/dist`. `index.html` answers `/` and
 * every console path (client-side routing), with the app-wide `cache-control: no-store`; the content-hashed files
 * under `/assets/` are cached for a year (`immutable`). Without a build, console paths answer 503 with a page that
 * says how to build it; the API is unaffected.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { CONSOLE_PATHS } from '../../console/src/sections';

/** Where `npm run build:console` writes the console. */
export const CONSOLE_DIST_DIR = path.resolve(__dirname, '..', '..', 'console', 'dist');

const ASSET_CACHE_CONTROL = 'public, max-age=31536000, immutable';

/** Shown when the console has not been built (no inline script or style: the CSP forbids both). */
export const CONSOLE_NOT_BUILT_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CertFleet console not built</title></head>
<body><main><h1>The CertFleet web console is not built</h1>
<p>This controller has no console build in <code>controller/console/dist</code>. Build it with
<code>npm run build:console</code> (it also runs on <code>npm ci</code>), then reload this page.</p>
<p>The REST API under <code>/api/v1</code> works without it.</p></main></body></html>
`;

/**
 * Registers the console routes in their own encapsulated context. Its `onSend` hook runs after the app-wide hooks
 * (security headers, `no-store`) and only relaxes caching for hashed assets.
 */
export async function registerConsole(app: FastifyInstance, options: { dir?: string } = {}): Promise<void> {
  const dir = options.dir ?? CONSOLE_DIST_DIR;
  await app.register(async (child) => {
    child.addHook('onSend', async (req, reply) => {
      if (req.url.startsWith('/assets/') && reply.statusCode === 200)
        reply.header('cache-control', ASSET_CACHE_CONTROL);
    });
    await child.register(fastifyStatic, {
      root: path.join(dir, 'assets'),
      prefix: '/assets/',
      index: false,
      wildcard: true,
      decorateReply: false,
      suppressWarning: true,
      cacheControl: false,
      dotfiles: 'deny',
    });
    const sendIndex = async (_req: unknown, reply: FastifyReply): Promise<FastifyReply> => {
      let html: string;
      try {
        html = await fs.readFile(path.join(dir, 'index.html'), 'utf8');
      } catch {
        return reply.status(503).header('content-type', 'text/html; charset=utf-8').send(CONSOLE_NOT_BUILT_HTML);
      }
      return reply.header('content-type', 'text/html; charset=utf-8').send(html);
    };
    for (const p of CONSOLE_PATHS) {
      child.get(p, sendIndex);
      if (p !== '/') child.get(`${p}/*`, sendIndex);
    }
  });
}
