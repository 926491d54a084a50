/**
 * SPEC D2 against a real HAProxy on loopback: the test runs its own `haproxy -W` (master-worker) with its own
 * config and a free 127.0.0.1 port; the configured reload is a small script that sends the master SIGUSR2.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { installOpenedBundle } from '../../../agent/src/installers/apply-plan';
import { agentConfig, issueLeaf, openedBundle, type LeafMaterial } from '../../_helpers/install-bundles';
import { assertCommands, testNeeding } from '../../_helpers/needs';
import { freePort, liveCertificate, servedEventually, stopChild, tempRoot, waitForPort } from './_servers';

const HAPROXY = 'haproxy';
const test = testNeeding([HAPROXY]);

interface Ctx {
  dir: string;
  live: string;
  cfg: string;
  reloadScript: string;
  port: number;
  haproxy?: ChildProcess;
  current: LeafMaterial;
}
let ctx: Ctx;

function config(reload: [string, ...string[]]) {
  return agentConfig({
    allowedRoots: [path.join(ctx.dir, 'certs')],
    commandTimeoutMs: 10_000,
    probeTimeoutMs: 8000,
    commands: { haproxy: { validate: [HAPROXY, '-c', '-q', '-f', ctx.cfg], reload } },
  });
}

test.before(async () => {
  if (process.env.CI === 'true' || process.env.CI === '1') assertCommands([HAPROXY]);
  const dir = tempRoot('certfleet-haproxy-');
  fs.mkdirSync(path.join(dir, 'certs'));
  ctx = {
    dir,
    live: path.join(dir, 'certs', 'lb'),
    cfg: path.join(dir, 'haproxy.cfg'),
    reloadScript: path.join(dir, 'reload.sh'),
    port: await freePort(),
    current: await issueLeaf(),
  };
  fs.writeFileSync(
    ctx.cfg,
    `global
  log stderr format raw local0 err
defaults
  mode http
  timeout connect 2s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:${ctx.port} ssl crt ${ctx.live}/haproxy.pem
  http-request return status 200 content-type text/plain string ok
`
  );
  const first = await installOpenedBundle(
    await openedBundle(ctx.current, {
      target: { installer: 'haproxy', directory: ctx.live },
      hooks: ['reload-haproxy'],
      version: 1,
    }),
    config(['true'])
  );
  if (first.status !== 'installed') throw new Error(`first install failed: ${first.message}`);
  ctx.haproxy = spawn(HAPROXY, ['-W', '-f', ctx.cfg], { stdio: 'ignore' });
  fs.writeFileSync(
    ctx.reloadScript,
    `#!/bin/sh\n# reload = SIGUSR2 to the master we started\nkill -USR2 ${ctx.haproxy.pid}\n`,
    {
      mode: 0o755,
    }
  );
  await waitForPort(ctx.port);
});

test.after.always(async () => {
  await stopChild(ctx?.haproxy);
  if (ctx?.dir) fs.rmSync(ctx.dir, { recursive: true, force: true });
});

test.serial('D2 haproxy: the combined PEM is installed, reloaded and served (installed + verified)', async (t) => {
  t.is(await servedEventually(ctx.port, ctx.current.leafSha256), ctx.current.leafSha256);
  const next = await issueLeaf();
  const opened = await openedBundle(next, {
    target: { installer: 'haproxy', directory: ctx.live, probe: { host: '127.0.0.1', port: ctx.port } },
    hooks: ['reload-haproxy'],
    version: 2,
  });
  const out = await installOpenedBundle(opened, config(['sh', ctx.reloadScript]));
  t.is(out.status, 'installed', `${out.message} ${out.stderrTail ?? ''}`);
  t.true(out.verified);
  t.is(out.servedSha256, next.leafSha256);
  t.is(await servedEventually(ctx.port, next.leafSha256), next.leafSha256);
  t.deepEqual(liveCertificate(ctx.live), { leafSha256: next.leafSha256, keyMatches: true });
  t.is(fs.statSync(path.join(ctx.live, 'haproxy.pem')).mode & 0o777, 0o600);
});
