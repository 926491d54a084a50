/**
 * SPEC D2 against a real Apache httpd (mpm_event + mod_ssl) on loopback: the test runs its own `apache2 -f` with
 * its own config, pid file and a free 127.0.0.1 port, and installs bundles into the directory it serves from.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { AgentConfig } from '../../../agent/src/config';
import { installOpenedBundle } from '../../../agent/src/installers/apply-plan';
import { agentConfig, issueLeaf, openedBundle, type LeafMaterial } from '../../_helpers/install-bundles';
import { assertCommands, testNeeding } from '../../_helpers/needs';
import { freePort, liveCertificate, servedEventually, stopChild, tempRoot, waitForPort } from './_servers';

const APACHE = 'apache2';
const MODULES = '/usr/lib/apache2/modules';
const test = testNeeding([APACHE]);

interface Ctx {
  dir: string;
  live: string;
  conf: string;
  port: number;
  httpd?: ChildProcess;
  current: LeafMaterial;
}
let ctx: Ctx;

function config(reload?: [string, ...string[]]): AgentConfig {
  return agentConfig({
    allowedRoots: [path.join(ctx.dir, 'certs')],
    commandTimeoutMs: 10_000,
    probeTimeoutMs: 8000,
    commands: {
      apache: {
        validate: [APACHE, '-f', ctx.conf, '-t'],
        reload: reload ?? [APACHE, '-f', ctx.conf, '-k', 'graceful'],
      },
    },
  });
}

test.before(async () => {
  if (process.env.CI === 'true' || process.env.CI === '1') assertCommands([APACHE]);
  const dir = tempRoot('certfleet-apache-');
  const run = path.join(dir, 'httpd');
  fs.mkdirSync(path.join(run, 'htdocs'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'certs'));
  ctx = {
    dir,
    live: path.join(dir, 'certs', 'site'),
    conf: path.join(run, 'httpd.conf'),
    port: await freePort(),
    current: await issueLeaf(),
  };
  fs.writeFileSync(
    ctx.conf,
    `ServerRoot ${run}
LoadModule mpm_event_module ${MODULES}/mod_mpm_event.so
LoadModule authz_core_module ${MODULES}/mod_authz_core.so
LoadModule socache_shmcb_module ${MODULES}/mod_socache_shmcb.so
LoadModule ssl_module ${MODULES}/mod_ssl.so
ServerName localhost
User nobody
Group nogroup
PidFile ${run}/httpd.pid
DefaultRuntimeDir ${run}
Mutex file:${run} default
ErrorLog ${run}/error.log
LogLevel warn
DocumentRoot ${run}/htdocs
StartServers 1
ServerLimit 1
ThreadsPerChild 4
MaxRequestWorkers 4
Listen 127.0.0.1:${ctx.port}
<VirtualHost 127.0.0.1:${ctx.port}>
  SSLEngine on
  SSLCertificateFile ${ctx.live}/fullchain.pem
  SSLCertificateKeyFile ${ctx.live}/key.pem
</VirtualHost>
`
  );
  const first = await installOpenedBundle(
    await openedBundle(ctx.current, {
      target: { installer: 'apache', directory: ctx.live },
      hooks: ['reload-apache'],
      version: 1,
    }),
    config(['true'])
  );
  if (first.status !== 'installed') throw new Error(`first install failed: ${first.message}`);
  ctx.httpd = spawn(APACHE, ['-f', ctx.conf, '-DFOREGROUND'], { stdio: 'ignore' });
  await waitForPort(ctx.port);
});

test.after.always(async () => {
  await stopChild(ctx?.httpd);
  if (ctx?.dir) fs.rmSync(ctx.dir, { recursive: true, force: true });
});

test.serial(
  'D2 apache: a new version is installed, gracefully reloaded and served (installed + verified)',
  async (t) => {
    t.is(await servedEventually(ctx.port, ctx.current.leafSha256), ctx.current.leafSha256);
    const next = await issueLeaf();
    const opened = await openedBundle(next, {
      target: {
        installer: 'apache',
        directory: ctx.live,
        probe: { host: '127.0.0.1', port: ctx.port, serverName: 'localhost' },
      },
      hooks: ['reload-apache'],
      version: 2,
    });
    const out = await installOpenedBundle(opened, config());
    t.is(out.status, 'installed', `${out.message} ${out.stderrTail ?? ''}`);
    t.true(out.verified);
    t.is(out.servedSha256, next.leafSha256);
    t.is(await servedEventually(ctx.port, next.leafSha256), next.leafSha256);
    t.deepEqual(liveCertificate(ctx.live), { leafSha256: next.leafSha256, keyMatches: true });
  }
);
