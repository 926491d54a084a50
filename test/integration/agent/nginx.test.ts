/**
 * SPEC D2 against a real NGINX on loopback: the test starts its own nginx (own prefix, config, pid file and a free
 * 127.0.0.1 port) and installs bundles into the directory its `ssl_certificate` points at.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { InstallTarget } from '@certfleet/shared';
import type { AgentConfig } from '../../../agent/src/config';
import { installOpenedBundle } from '../../../agent/src/installers/apply-plan';
import { agentConfig, issueLeaf, openedBundle, type LeafMaterial } from '../../_helpers/install-bundles';
import { assertCommands, testNeeding } from '../../_helpers/needs';
import {
  freePort,
  liveCertificate,
  nginxAgentCommands,
  nginxArgs,
  servedEventually,
  startNginx,
  stopChild,
  tempRoot,
  waitForServed,
  writeNginxTlsConf,
} from './_servers';

interface Ctx {
  dir: string;
  live: string;
  prefix: string;
  conf: string;
  extraConf: string;
  port: number;
  nginx?: ChildProcess;
  current: LeafMaterial;
  version: number;
}

const test = testNeeding(['nginx']);
// Module state, not t.context: ava hands each test a shallow copy of the context, and these tests build on each other.
let ctx: Ctx;
const NGINX = 'nginx';

function config(ctx: Ctx, reload?: [string, ...string[]]): AgentConfig {
  const commands = nginxAgentCommands(ctx.prefix, ctx.conf);
  return agentConfig({
    allowedRoots: [path.join(ctx.dir, 'certs')],
    commandTimeoutMs: 10_000,
    probeTimeoutMs: 5000,
    commands: { nginx: { validate: commands.validate, reload: reload ?? commands.reload } },
  });
}

function target(ctx: Ctx, probe = true): InstallTarget {
  return {
    installer: 'nginx',
    directory: ctx.live,
    ...(probe ? { probe: { host: '127.0.0.1', port: ctx.port, serverName: 'localhost' } } : {}),
  };
}

async function bundle(ctx: Ctx, leaf: LeafMaterial, probe = true) {
  ctx.version += 1;
  return openedBundle(leaf, { target: target(ctx, probe), hooks: ['reload-nginx'], version: ctx.version });
}

/** Waits until the nginx master has exactly one worker, unchanged for three looks 300 ms apart (reloads done). */
async function nginxSettled(c: Ctx): Promise<void> {
  const master = fs.readFileSync(path.join(c.prefix, 'nginx.pid'), 'utf8').trim();
  let last = '';
  let stable = 0;
  for (let i = 0; i < 60 && stable < 3; i++) {
    await new Promise((r) => setTimeout(r, 300));
    const workers = spawnSync('pgrep', ['-P', master], { encoding: 'utf8' }).stdout.trim();
    stable = workers && !workers.includes('\n') && workers === last ? stable + 1 : 0;
    last = workers;
  }
}

test.before(async () => {
  if (process.env.CI === 'true' || process.env.CI === '1') assertCommands(['nginx']);
  const dir = tempRoot('certfleet-nginx-');
  const prefix = path.join(dir, 'nginx');
  fs.mkdirSync(path.join(dir, 'certs'));
  ctx = {
    dir,
    live: path.join(dir, 'certs', 'web'),
    prefix,
    conf: '',
    extraConf: path.join(prefix, 'extra.conf'),
    port: await freePort(),
    current: await issueLeaf(),
    version: 0,
  };
  ctx.conf = writeNginxTlsConf({
    prefix,
    port: ctx.port,
    serverName: 'localhost',
    liveDir: ctx.live,
    extraInclude: ctx.extraConf,
  });
  // Version 1 goes in before nginx runs (it needs the files to start): no probe, reload = no-op.
  const first = await installOpenedBundle(await bundle(ctx, ctx.current, false), config(ctx, ['true']));
  if (first.status !== 'installed') throw new Error(`first install failed: ${first.message}`);
  ctx.nginx = await startNginx(prefix, ctx.conf, ctx.port);
});

test.after.always(async () => {
  await stopChild(ctx?.nginx);
  if (ctx?.dir) fs.rmSync(ctx.dir, { recursive: true, force: true });
});

test.serial(
  'D2 nginx: the installed bundle is served; a second version replaces it (installed + verified)',
  async (t) => {
    t.is(await servedEventually(ctx.port, ctx.current.leafSha256), ctx.current.leafSha256);
    const next = await issueLeaf();
    const out = await installOpenedBundle(await bundle(ctx, next), config(ctx));
    t.is(out.status, 'installed', out.message);
    t.is(out.reason, 'Installed');
    t.true(out.verified);
    t.is(out.servedSha256, next.leafSha256);
    t.false(out.rolledBack);
    t.is(await servedEventually(ctx.port, next.leafSha256), next.leafSha256);
    t.deepEqual(liveCertificate(ctx.live), { leafSha256: next.leafSha256, keyMatches: true });
    ctx.current = next;
  }
);

test.serial(
  'D2 nginx: nginx -t failing (operator config broken) keeps the old certificate served, rolled back',
  async (t) => {
    const before = fs.readlinkSync(ctx.live);
    fs.writeFileSync(ctx.extraConf, 'this_is_not_a_directive on;\n');
    try {
      const out = await installOpenedBundle(await bundle(ctx, await issueLeaf()), config(ctx));
      t.is(out.status, 'failed');
      t.is(out.reason, 'InstallValidateFailed');
      t.true(out.rolledBack);
      t.regex(out.stderrTail ?? '', /this_is_not_a_directive/);
      t.is(fs.readlinkSync(ctx.live), before);
      t.deepEqual(liveCertificate(ctx.live), { leafSha256: ctx.current.leafSha256, keyMatches: true });
      t.is(await servedEventually(ctx.port, ctx.current.leafSha256), ctx.current.leafSha256);
    } finally {
      fs.writeFileSync(ctx.extraConf, '');
    }
  }
);

test.serial('D2 nginx: a failing reload is rolled back and the old certificate is served again', async (t) => {
  const marker = path.join(ctx.dir, 'reload-failed-once');
  // Reloads nginx (with the new files), then exits 1 the first time: the executor must switch back and reload again.
  const flaky: [string, ...string[]] = [
    'sh',
    '-c',
    `"$0" "$@" -s reload || exit 2; [ -e '${marker}' ] && exit 0; touch '${marker}'; echo 'reload: simulated failure' >&2; exit 1`,
    NGINX,
    ...nginxArgs(ctx.prefix, ctx.conf),
  ];
  const before = fs.readlinkSync(ctx.live);
  const out = await installOpenedBundle(await bundle(ctx, await issueLeaf()), config(ctx, flaky));
  t.is(out.status, 'failed');
  t.is(out.reason, 'InstallReloadFailed');
  t.true(out.rolledBack);
  t.regex(out.stderrTail ?? '', /simulated failure/);
  t.is(fs.readlinkSync(ctx.live), before);
  t.true(await waitForServed(ctx.port, ctx.current.leafSha256), 'old certificate served after the rollback reload');
});

test.serial(
  'D2 nginx: a reload that does not take effect fails the probe (InstallProbeMismatch) and rolls back',
  async (t) => {
    // Reloads of the previous test are signals nginx handles asynchronously: let them finish first, or a late one
    // would load this test's files and make the reload look effective.
    await nginxSettled(ctx);
    const cfg = { ...config(ctx, ['true']), probeTimeoutMs: 1000 };
    const out = await installOpenedBundle(await bundle(ctx, await issueLeaf()), cfg);
    t.is(out.reason, 'InstallProbeMismatch');
    t.is(out.servedSha256, ctx.current.leafSha256);
    t.true(out.rolledBack);
    t.deepEqual(liveCertificate(ctx.live), { leafSha256: ctx.current.leafSha256, keyMatches: true });
    t.is(await servedEventually(ctx.port, ctx.current.leafSha256), ctx.current.leafSha256);
  }
);
