/**
 * End to end, Apache and HAProxy (SPEC G1, G5, D1, D2): one real controller, the shipped agent single executable
 * (enrolled with a join token, then `run` as a child process with only PATH in its environment) and a real
 * apache2 and haproxy on loopback, each with its own config. For each server a certificate made current by the
 * internal CA is sealed, pushed, installed and verified by the served fingerprint; an operator config that fails
 * the server's config test (`apache2 -t`, `haproxy -c`) leaves the old certificate served with a rolled-back
 * deployment (InstallValidateFailed).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TestFn } from 'ava';
import { HAPROXY_COMBINED_FILE } from '../../../agent/src/installers/haproxy';
import { ROOT, buildAgentExecutable } from '../../../installers/src/build-agent';
import { startTestController, type TestController } from '../../_helpers/controller';
import { issueLeaf } from '../../_helpers/install-bundles';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { freePort, servedEventually, stopChild, tempRoot, waitForPort } from '../agent/_servers';

const APACHE = 'apache2';
const HAPROXY = 'haproxy';
const MODULES = '/usr/lib/apache2/modules';
const EXE = path.join(ROOT, 'installers', 'dist', 'e2e-apache-haproxy', 'certfleet-agent');
/** The agent's whole environment (as under `env -i`): its commands are found on this PATH only. */
const AGENT_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

type Kind = 'apache' | 'haproxy';

interface Server {
  /** The live directory (a symlink the agent switches). */
  live: string;
  /** The operator's config file the failing-config test breaks. */
  conf: string;
  port: number;
  proc?: ChildProcess;
  definitionId: string;
  certificateId: string;
  /** SHA-256 of the certificate the first deployment verified. */
  sha256: string;
}

interface Ctx {
  dir: string;
  tc: TestController;
  token: string;
  agent?: ChildProcess;
  agentLog: string;
  agentId: string;
  servers: Record<Kind, Server>;
}

const test = testNeeding([APACHE, HAPROXY]) as TestFn<Ctx>;
let ctx: Ctx | undefined;

const api = async (method: string, url: string, body?: unknown) => ctx!.tc.request(method, url, body, ctx!.token);

interface DeploymentJson {
  id: string;
  status: string;
  reason: string | null;
  servedSha256: string | null;
  certificateId: string;
}
const FINAL = ['verified', 'installed', 'failed', 'rolled-back'];

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; agent log:\n${ctx?.agentLog ?? ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function deployments(certificateId: string): Promise<DeploymentJson[]> {
  return ((await api('GET', `/api/v1/deployments?certificateId=${certificateId}`)).json as { items: DeploymentJson[] })
    .items;
}

/** Runs the executable without blocking this process (the controller under test lives in it). */
function runExe(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(EXE, args, { env: AGENT_ENV, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
    );
  });
}

/**
 * A version installed earlier (as an offline bundle would leave it): the server needs files to start.
 * `<certs>/.<base>.versions/1-bootstrap/` with the PEM set (plus the HAProxy combined file) and `<certs>/<base>` → it.
 */
async function bootstrapLive(certs: string, base: string): Promise<string> {
  const version = path.join(certs, `.${base}.versions`, '1-bootstrap');
  fs.mkdirSync(version, { recursive: true });
  const leaf = await issueLeaf();
  fs.writeFileSync(path.join(version, 'cert.pem'), leaf.certPem);
  fs.writeFileSync(path.join(version, 'chain.pem'), leaf.chainPem);
  fs.writeFileSync(path.join(version, 'fullchain.pem'), leaf.fullchainPem);
  fs.writeFileSync(path.join(version, 'key.pem'), leaf.keyPem, { mode: 0o600 });
  fs.writeFileSync(path.join(version, HAPROXY_COMBINED_FILE), Buffer.concat([leaf.keyPem, leaf.fullchainPem]), {
    mode: 0o600,
  });
  const live = path.join(certs, base);
  fs.symlinkSync(`.${base}.versions/1-bootstrap`, live);
  return live;
}

test.before(async () => {
  if (isCI) assertCommands([APACHE, HAPROXY]);
  const building = buildAgentExecutable({ output: EXE, reuse: true, log: () => undefined });
  const dir = tempRoot('certfleet-e2e-apache-haproxy-');
  const certs = path.join(dir, 'certs');
  fs.mkdirSync(certs);

  // Apache httpd (mpm_event + mod_ssl) with its own ServerRoot, pid file and port.
  const run = path.join(dir, 'httpd');
  fs.mkdirSync(path.join(run, 'htdocs'), { recursive: true });
  const apacheLive = await bootstrapLive(certs, 'site');
  const apachePort = await freePort();
  const apacheConf = path.join(run, 'httpd.conf');
  fs.writeFileSync(
    apacheConf,
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
Listen 127.0.0.1:${apachePort}
<VirtualHost 127.0.0.1:${apachePort}>
  SSLEngine on
  SSLCertificateFile ${apacheLive}/fullchain.pem
  SSLCertificateKeyFile ${apacheLive}/key.pem
</VirtualHost>
`
  );
  const httpd = spawn(APACHE, ['-f', apacheConf, '-DFOREGROUND'], { stdio: 'ignore' });

  // HAProxy in master-worker mode; its reload is SIGUSR2 to the master we started.
  const haproxyLive = await bootstrapLive(certs, 'lb');
  const haproxyPort = await freePort();
  const haproxyCfg = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(
    haproxyCfg,
    `global
  log stderr format raw local0 err
defaults
  mode http
  timeout connect 2s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:${haproxyPort} ssl crt ${haproxyLive}/${HAPROXY_COMBINED_FILE}
  http-request return status 200 content-type text/plain string ok
`
  );
  const haproxy = spawn(HAPROXY, ['-W', '-f', haproxyCfg], { stdio: 'ignore' });
  const reloadScript = path.join(dir, 'haproxy-reload.sh');
  fs.writeFileSync(
    reloadScript,
    `#!/bin/sh\n# reload = SIGUSR2 to the master the test started\nkill -USR2 ${haproxy.pid}\n`,
    {
      mode: 0o755,
    }
  );

  ctx = {
    dir,
    tc: undefined as unknown as TestController,
    token: '',
    agentLog: '',
    agentId: '',
    servers: {
      apache: {
        live: apacheLive,
        conf: apacheConf,
        port: apachePort,
        proc: httpd,
        definitionId: '',
        certificateId: '',
        sha256: '',
      },
      haproxy: {
        live: haproxyLive,
        conf: haproxyCfg,
        port: haproxyPort,
        proc: haproxy,
        definitionId: '',
        certificateId: '',
        sha256: '',
      },
    },
  };
  const [tc] = await Promise.all([
    startTestController({ agentServer: { materializeMs: 300, banCheckMs: 500 } }),
    waitForPort(apachePort),
    waitForPort(haproxyPort),
    building,
  ]);
  ctx.tc = tc;
  ctx.token = await tc.adminToken();

  // The agent's own policy: where it may write, and the validate/reload argv of the servers above.
  const configFile = path.join(dir, 'agent.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      stateDir: path.join(dir, 'state'),
      allowedRoots: [certs],
      commandTimeoutMs: 10_000,
      probeTimeoutMs: 8000,
      commands: {
        apache: { validate: [APACHE, '-f', apacheConf, '-t'], reload: [APACHE, '-f', apacheConf, '-k', 'graceful'] },
        haproxy: { validate: [HAPROXY, '-c', '-q', '-f', haproxyCfg], reload: ['sh', reloadScript] },
      },
    })
  );
  const created = await api('POST', '/api/v1/agents/join-tokens', { label: 'apache-haproxy', ttlMinutes: 10 });
  if (created.status !== 201) throw new Error(`join token: ${JSON.stringify(created.json)}`);
  const { token, controllerCaSha256 } = created.json as { token: string; controllerCaSha256: string };
  const enrolled = await runExe([
    'enroll',
    '--controller',
    `127.0.0.1:${tc.controller.agentServer.port}`,
    '--token',
    token,
    '--ca-sha256',
    controllerCaSha256,
    '--hostname',
    'web-lb',
    '--config',
    configFile,
  ]);
  if (enrolled.status !== 0) throw new Error(`enroll failed (${enrolled.status}): ${enrolled.stderr}`);
  ctx.agentId = (JSON.parse(enrolled.stdout.trim()) as { agentId: string }).agentId;

  const agent = spawn(EXE, ['run', '--config', configFile], { env: AGENT_ENV, stdio: ['ignore', 'ignore', 'pipe'] });
  ctx.agent = agent;
  agent.stderr?.on('data', (c: Buffer) => {
    if (ctx) ctx.agentLog = (ctx.agentLog + c.toString()).slice(-20_000);
  });
  await waitFor('the agent to connect', async () => {
    const agents = (await api('GET', '/api/v1/agents')).json as Array<{ id: string; connected: boolean }>;
    return agents.find((a) => a.id === ctx!.agentId && a.connected);
  });
});

test.after.always(async () => {
  if (ctx?.agent && ctx.agent.exitCode === null && ctx.agent.signalCode === null) {
    const exited = new Promise<void>((resolve) => ctx!.agent!.once('exit', () => resolve()));
    ctx.agent.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (ctx.agent.exitCode === null && ctx.agent.signalCode === null) ctx.agent.kill('SIGKILL');
  }
  await ctx?.tc?.close();
  await stopChild(ctx?.servers.apache.proc);
  await stopChild(ctx?.servers.haproxy.proc);
  if (ctx?.dir) fs.rmSync(ctx.dir, { recursive: true, force: true });
});

async function defineAndRequest(kind: Kind): Promise<{ server: Server; sha256: string; done: DeploymentJson }> {
  const server = ctx!.servers[kind];
  const name = `${kind}.e2e.test`;
  const def = await api('POST', '/api/v1/definitions', {
    name: `e2e-${kind}`,
    subject: { commonName: name },
    sans: [{ type: 'dns', value: name }],
    issuerType: 'internal-ca',
    processMode: 'unattended',
    deployTargets: [
      {
        serverName: `${kind}-1`,
        serverType: kind,
        method: 'agent',
        agentId: ctx!.agentId,
        directory: server.live,
        checkHost: '127.0.0.1',
        checkPort: server.port,
      },
    ],
  });
  if (def.status !== 201) throw new Error(`definition: ${JSON.stringify(def.json)}`);
  server.definitionId = (def.json as { id: string }).id;
  const run = await api('POST', '/api/v1/requests', { definitionId: server.definitionId });
  if (run.status !== 201) throw new Error(`request: ${JSON.stringify(run.json)}`);
  server.certificateId = (run.json as { request: { certificateId: string } }).request.certificateId;
  const cert = (await api('GET', `/api/v1/certificates/${server.certificateId}`)).json as { sha256: string };
  const done = await waitFor(`the ${kind} deployment`, async () =>
    (await deployments(server.certificateId)).find((d) => FINAL.includes(d.status))
  );
  return { server, sha256: cert.sha256, done };
}

/** Breaks the operator config so the server's config test fails, deploys again and waits for the result. */
async function deployWithBrokenConfig(kind: Kind): Promise<{ before?: string; after?: string; d: DeploymentJson }> {
  const server = ctx!.servers[kind];
  const before = await servedEventually(server.port, server.sha256);
  const original = fs.readFileSync(server.conf);
  fs.appendFileSync(server.conf, 'this_is_not_a_directive on\n');
  try {
    const res = await api('POST', `/api/v1/certificates/${server.certificateId}/deployments`, {});
    if (res.status !== 202) throw new Error(`deploy: ${JSON.stringify(res.json)}`);
    const id = (res.json as DeploymentJson[])[0]?.id;
    const d = await waitFor(`the ${kind} deployment with a broken config`, async () =>
      (await deployments(server.certificateId)).find((x) => x.id === id && FINAL.includes(x.status))
    );
    return { before, after: await servedEventually(server.port, before), d };
  } finally {
    fs.writeFileSync(server.conf, original);
  }
}

for (const kind of ['apache', 'haproxy'] as const) {
  test.serial(`D1 D2 ${kind}: a certificate made current is pushed, installed, reloaded and verified`, async (t) => {
    const { server, sha256, done } = await defineAndRequest(kind);
    t.is(done.status, 'verified', `${JSON.stringify(done)}\n${ctx!.agentLog}`);
    t.is(done.servedSha256, sha256);
    t.is(await servedEventually(server.port, sha256), sha256);
    server.sha256 = sha256;
    t.not(fs.readlinkSync(server.live), `.${path.basename(server.live)}.versions/1-bootstrap`, 'the link moved on');
    if (kind === 'haproxy') t.is(fs.statSync(path.join(server.live, HAPROXY_COMBINED_FILE)).mode & 0o777, 0o600);
  });
}

for (const kind of ['apache', 'haproxy'] as const) {
  test.serial(`D2 ${kind}: a config that fails the config test leaves the old certificate served`, async (t) => {
    const { before, after, d } = await deployWithBrokenConfig(kind);
    t.is(d.status, 'rolled-back', `${JSON.stringify(d)}\n${ctx!.agentLog}`);
    t.is(d.reason, 'InstallValidateFailed');
    t.is(before, ctx!.servers[kind].sha256);
    t.is(after, before, 'the old certificate is still served');
  });
}
