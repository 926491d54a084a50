/**
 * Agent-side probing of a host the controller cannot reach (SPEC M4; issue 5 Proof "Unreachable host"), end to end
 * with the shipped agent single executable and a real nginx, in the test's own network namespaces.
 *
 * Layout (addresses from 198.18.0.0/15 only, all made and removed by this test):
 * - namespace `cf-m4h-<pid>` ("intranet host") runs nginx on 198.18.70.2:443, serving the definition's current
 *   certificate (issued by the controller's internal CA) with its chain;
 * - namespace `cf-m4a-<pid>` ("agent site") reaches it over a veth pair 198.18.70.1/30 — 198.18.70.2/30, and reaches
 *   this host (the root namespace, where the controller runs in the test process) over a second veth pair
 *   198.18.71.2/30 — 198.18.71.1/30; the controller's agent listener binds 198.18.71.1;
 * - the agent site does not forward, and the root namespace holds an `unreachable` route for 198.18.70.0/30 (so
 *   nothing leaves through the default route): the controller cannot reach nginx, which the test asserts.
 * The agent executable enrolls and runs inside the agent site. A definition gets two monitored endpoints for
 * 198.18.70.2:443 (SNI = its CN): one probed by the controller, one assigned to the agent. One monitoring run then
 * stores, for that definition, a failing (unreachable) verdict from the controller and an ok verdict from
 * `agent:<id>` whose served leaf SHA-256 is the definition's current certificate.
 */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { TestFn } from 'ava';
import { ROOT, buildAgentExecutable } from '../../../installers/src/build-agent';
import { openPrivateKey } from '../../../controller/src/secrets/key-vault';
import { runMonitor } from '../../../controller/src/services/monitoring/monitor-service';
import { CertificateEntity, MonitoringHistoryEntity } from '../../../controller/src/storage/entities';
import { startTestController, type TestController } from '../../_helpers/controller';
import { assertCommands, testNeeding } from '../../_helpers/needs';
import { tempRoot } from '../agent/_servers';

const NEEDS = ['nginx', 'ip', 'bash'];
const test = (process.getuid?.() === 0 || process.env.CI === 'true' ? testNeeding(NEEDS) : anySkip()) as TestFn;
function anySkip(): TestFn {
  process.stderr.write('skipping agent probe netns test: needs root for ip netns\n');
  return testNeeding(['certfleet-needs-root-for-netns']);
}

const INTRANET = '198.18.70.0/30';
const AGENT_TO_HOST = '198.18.70.1';
const HOST_ADDR = '198.18.70.2';
const ROOT_LINK = '198.18.71.1';
const AGENT_LINK = '198.18.71.2';
const CN = 'intranet.m4.test';

interface Ctx {
  dir: string;
  nsAgent: string;
  nsHost: string;
  vethRoot: string;
  routeAdded: boolean;
  tc?: TestController;
  nginx?: ChildProcess;
  agent?: ChildProcess;
}
let ctx: Ctx | undefined;

/** Set-up commands before the controller starts (synchronous is fine then). */
function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

/** Runs a command without blocking this process (the controller under test lives in it). */
function runAsync(
  cmd: string,
  args: string[],
  timeout = 30_000
): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout }, (err, stdout, stderr) =>
      resolve({ status: err ? Number((err as { code?: number }).code ?? 1) || 1 : 0, stdout, stderr })
    );
  });
}

/** A TCP connect from this process (the controller's namespace): resolves with the error code, or 'connected'. */
function tcpConnect(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? 'error');
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(() => {
  if (process.env.CI === 'true' || process.env.CI === '1') assertCommands(NEEDS);
  const tag = String(process.pid % 100_000);
  const c: Ctx = {
    dir: tempRoot('certfleet-m4-netns-'),
    nsAgent: `cf-m4a-${process.pid}`,
    nsHost: `cf-m4h-${process.pid}`,
    vethRoot: `cfm4r${tag}`,
    routeAdded: false,
  };
  ctx = c;
  const vethAgentUp = `cfm4u${tag}`; // agent site side of the root link
  const vethAgentIn = `cfm4a${tag}`; // agent site side of the intranet link
  const vethHost = `cfm4h${tag}`; // intranet host side
  const inA = (args: string[]) => sh('ip', ['netns', 'exec', c.nsAgent, ...args]);
  const inH = (args: string[]) => sh('ip', ['netns', 'exec', c.nsHost, ...args]);
  sh('ip', ['netns', 'add', c.nsAgent]);
  sh('ip', ['netns', 'add', c.nsHost]);
  inA(['ip', 'link', 'set', 'lo', 'up']);
  inH(['ip', 'link', 'set', 'lo', 'up']);
  // agent site ⟷ intranet host
  sh('ip', ['link', 'add', vethAgentIn, 'type', 'veth', 'peer', 'name', vethHost]);
  sh('ip', ['link', 'set', vethAgentIn, 'netns', c.nsAgent]);
  sh('ip', ['link', 'set', vethHost, 'netns', c.nsHost]);
  inA(['ip', 'addr', 'add', `${AGENT_TO_HOST}/30`, 'dev', vethAgentIn]);
  inA(['ip', 'link', 'set', vethAgentIn, 'up']);
  inH(['ip', 'addr', 'add', `${HOST_ADDR}/30`, 'dev', vethHost]);
  inH(['ip', 'link', 'set', vethHost, 'up']);
  // root namespace (controller) ⟷ agent site
  sh('ip', ['link', 'add', c.vethRoot, 'type', 'veth', 'peer', 'name', vethAgentUp]);
  sh('ip', ['link', 'set', vethAgentUp, 'netns', c.nsAgent]);
  sh('ip', ['addr', 'add', `${ROOT_LINK}/30`, 'dev', c.vethRoot]);
  sh('ip', ['link', 'set', c.vethRoot, 'up']);
  inA(['ip', 'addr', 'add', `${AGENT_LINK}/30`, 'dev', vethAgentUp]);
  inA(['ip', 'link', 'set', vethAgentUp, 'up']);
  // The controller's namespace has no way to the intranet (not even through its default route).
  sh('ip', ['route', 'add', 'unreachable', INTRANET]);
  c.routeAdded = true;
});

test.after.always(async () => {
  const c = ctx;
  if (!c) return;
  for (const p of [c.agent, c.nginx]) {
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([gone, sleep(3000)]);
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  }
  await c.tc?.close().catch(() => undefined);
  if (c.routeAdded) spawnSync('ip', ['route', 'del', 'unreachable', INTRANET]);
  spawnSync('ip', ['link', 'del', c.vethRoot], { stdio: 'ignore' }); // usually gone with the agent site already
  spawnSync('ip', ['netns', 'delete', c.nsAgent]);
  spawnSync('ip', ['netns', 'delete', c.nsHost]);
  fs.rmSync(c.dir, { recursive: true, force: true });
});

test.serial(
  'M4 an intranet host the controller cannot reach is probed by its assigned agent; both verdicts are stored for the definition',
  async (t) => {
    const c = ctx as Ctx;
    const t0 = Date.now();
    // Its own output (other test files build the default one concurrently), kept under installers/dist for reuse.
    const exe = path.join(ROOT, 'installers', 'dist', 'e2e-agent-probe', 'certfleet-agent');
    const built = await buildAgentExecutable({ output: exe, reuse: true, log: () => undefined });
    t.log(`agent executable ${built.reused ? 'reused' : 'built'} in ${built.ms} ms`);

    // The controller in this process; its agent listener on the root side of the agent site's link only.
    c.tc = await startTestController({ agentHost: ROOT_LINK });
    const tc = c.tc;
    const token = await tc.adminToken();
    const api = (m: string, u: string, b?: unknown) => tc.request(m, u, b, token);

    // A Lifecycle-Managed definition whose current certificate comes from the controller's internal CA.
    const def = await api('POST', '/api/v1/definitions', {
      name: 'm4-intranet',
      subject: { commonName: CN },
      sans: [{ type: 'dns', value: CN }],
      issuerType: 'internal-ca',
      processMode: 'unattended',
    });
    t.is(def.status, 201, JSON.stringify(def.json));
    const definitionId = (def.json as { id: string }).id;
    const req = await api('POST', '/api/v1/requests', { definitionId });
    t.is(req.status, 201, JSON.stringify(req.json));
    const certificateId = (req.json as { request: { certificateId: string } }).request.certificateId;
    const em = tc.controller.ctx.db.em().fork();
    const cert = await em.findOneOrFail(CertificateEntity, { id: certificateId });
    t.true(cert.isCurrent);
    const key = await openPrivateKey(em, tc.controller.ctx.masterKey, cert.privateKeyId as string);
    const currentSha256 = crypto.createHash('sha256').update(new crypto.X509Certificate(cert.pem).raw).digest('hex');
    t.is(currentSha256, cert.sha256);

    // nginx on the intranet host, serving that certificate with its chain.
    const prefix = path.join(c.dir, 'nginx');
    fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
    const certFile = path.join(prefix, 'fullchain.pem');
    const keyFile = path.join(prefix, 'key.pem');
    fs.writeFileSync(certFile, [cert.pem, ...cert.chainPem].join('\n'));
    fs.writeFileSync(keyFile, key.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
    const conf = path.join(prefix, 'nginx.conf');
    fs.writeFileSync(
      conf,
      `daemon off;\nworker_processes 1;\npid ${prefix}/nginx.pid;\nerror_log ${prefix}/logs/error.log warn;\n` +
        `events { worker_connections 16; }\nhttp { access_log off; client_body_temp_path ${prefix}/tmp-body;\n` +
        `proxy_temp_path ${prefix}/tmp-proxy; fastcgi_temp_path ${prefix}/tmp-fcgi; uwsgi_temp_path ${prefix}/tmp-uwsgi;\n` +
        `scgi_temp_path ${prefix}/tmp-scgi;\n server { listen ${HOST_ADDR}:443 ssl; server_name ${CN};\n` +
        `  ssl_certificate ${certFile}; ssl_certificate_key ${keyFile}; return 200 "ok\\n"; } }\n`
    );
    let nginxLog = '';
    c.nginx = spawn('ip', ['netns', 'exec', c.nsHost, 'nginx', '-p', prefix, '-c', conf], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    c.nginx.stderr?.on('data', (d: Buffer) => (nginxLog += d.toString()));

    // Reachability: the agent site reaches nginx; this process (the controller's namespace) does not.
    let fromAgentSite = -1;
    for (let i = 0; i < 100 && fromAgentSite !== 0; i++) {
      if (i > 0) await sleep(100);
      fromAgentSite = (
        await runAsync('ip', ['netns', 'exec', c.nsAgent, 'bash', '-c', `exec 3<>/dev/tcp/${HOST_ADDR}/443`], 5_000)
      ).status;
    }
    t.is(fromAgentSite, 0, `the agent site must reach nginx on ${HOST_ADDR}:443\n${nginxLog}`);
    const fromController = await tcpConnect(HOST_ADDR, 443, 3_000);
    t.not(fromController, 'connected', 'the controller must not reach the intranet host');
    t.log(`controller → ${HOST_ADDR}:443: ${fromController}`);

    // The agent executable inside the agent site: enroll through 198.18.71.1, then hold the stream (`run`).
    const joined = (await api('POST', '/api/v1/agents/join-tokens', { label: 'm4-site' })).json as {
      token: string;
      controllerCaSha256: string;
    };
    const configFile = path.join(c.dir, 'agent.json');
    fs.writeFileSync(
      configFile,
      JSON.stringify({ stateDir: path.join(c.dir, 'state'), allowedRoots: [path.join(c.dir, 'certs')] })
    );
    const inAgentSite = ['netns', 'exec', c.nsAgent, 'env', '-i', 'PATH=/nonexistent', exe];
    const enrolled = await runAsync('ip', [
      ...inAgentSite,
      'enroll',
      '--controller',
      `${ROOT_LINK}:${tc.controller.agentServer.port}`,
      '--token',
      joined.token,
      '--ca-sha256',
      joined.controllerCaSha256,
      '--hostname',
      'm4-site-agent',
      '--config',
      configFile,
    ]);
    t.is(enrolled.status, 0, enrolled.stderr);
    const { agentId } = JSON.parse(enrolled.stdout.trim()) as { agentId: string };
    let agentLog = '';
    c.agent = spawn('ip', [...inAgentSite, 'run', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.agent.stderr?.on('data', (d: Buffer) => (agentLog += d.toString()));
    let connected = false;
    for (let i = 0; i < 100 && !connected; i++) {
      await sleep(100);
      connected = ((await api('GET', `/api/v1/agents/${agentId}`)).json as { connected?: boolean }).connected === true;
    }
    t.true(connected, `the agent connects from its site\n${agentLog}`);

    // Two monitored endpoints for the same host:port: the controller's and the agent's.
    const endpoint = async (extra: Record<string, unknown>) => {
      const r = await api('POST', `/api/v1/definitions/${definitionId}/endpoints`, {
        host: HOST_ADDR,
        port: 443,
        serverName: CN,
        ...extra,
      });
      t.is(r.status, 201, JSON.stringify(r.json));
      return (r.json as { id: string }).id;
    };
    const viaController = await endpoint({ probeFrom: 'controller' });
    const viaAgent = await endpoint({ probeFrom: 'agent', agentId });

    const started = Date.now();
    const run = await runMonitor(
      tc.controller.ctx,
      { trigger: 'manual', definitionId },
      { probeTimeoutMs: 5_000, agentDeadlineMs: 20_000, pollMs: 100 }
    );
    t.log(`monitoring run in ${Date.now() - started} ms`);
    t.is(run.status, 'finished');
    t.deepEqual([run.endpoints, run.ok, run.failing], [2, 1, 1]);

    // Stored for that definition: its monitoring history holds exactly this run's two rows.
    const rows = await tc.controller.ctx.db.em().fork().find(MonitoringHistoryEntity, { definitionId });
    t.is(rows.length, 2, 'one history row per endpoint');
    t.true(rows.every((r) => r.runId === run.id));
    const mine = rows.find((r) => r.endpointId === viaController);
    const agents = rows.find((r) => r.endpointId === viaAgent);

    // The controller's own probe: failing, not reachable, nothing served.
    t.is(mine?.probedBy, 'controller');
    t.is(mine?.status, 'failing', mine?.message ?? '');
    t.is(mine?.reason, 'Unreachable', mine?.message ?? '');
    t.truthy(mine?.checks?.find((x) => x.code === 'Reachable' && x.status === 'failing'));
    t.is(mine?.leafSha256, null);

    // The assigned agent's probe: ok, the served leaf is the definition's current certificate.
    t.is(agents?.probedBy, `agent:${agentId}`);
    t.is(agents?.status, 'ok', `${agents?.reason}: ${agents?.message}\n${agentLog}`);
    t.is(agents?.leafSha256, currentSha256);
    t.is(agents?.certificateId, certificateId);
    t.is(agents?.endpoint, `${HOST_ADDR}:443`);
    t.truthy(agents?.checks?.find((x) => x.code === 'Reachable' && x.status === 'ok'));

    // The same through the API: the definition's history holds both verdicts of this run.
    const detail = (await api('GET', `/api/v1/monitoring/runs/${run.id}`)).json as {
      results: Array<{ endpointId: string; status: string; probedBy: string; leafSha256: string | null }>;
    };
    t.deepEqual(
      detail.results.map((r) => [r.endpointId, r.status, r.probedBy, r.leafSha256]).sort(),
      [
        [viaController, 'failing', 'controller', null],
        [viaAgent, 'ok', `agent:${agentId}`, currentSha256],
      ].sort()
    );
    t.log(`total ${Date.now() - t0} ms`);
  }
);
