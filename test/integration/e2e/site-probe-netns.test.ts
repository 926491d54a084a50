/**
 * "Any agent of a site" end to end (SPEC M4, M1): two shipped agent executables enrolled with site `dc1` run in the
 * test's own "agent site" namespace, where an nginx host is reachable that the controller (this process, root
 * namespace) cannot reach. A monitored endpoint with prober `{kind: 'site', site: 'dc1'}` is probed by one of them
 * and its verdict stored for the definition; a frozen chosen agent (SIGSTOP: its stream stays open, it never
 * answers) loses the endpoint to the other after the attempt deadline, and its late report is refused; a chosen
 * agent killed during the run is replaced at once; with both gone the verdict is `NoSiteAgentConnected`.
 *
 * Layout (198.18.0.0/15 only, made and removed here; as in agent-probe-netns.test.ts, other addresses):
 * - `cf-s4h-<pid>` ("intranet host"): nginx on 198.18.72.2:443 serving the definition's current certificate;
 * - `cf-s4a-<pid>` ("agent site"): 198.18.72.1/30 towards the host, 198.18.73.2/30 towards the root namespace
 *   (198.18.73.1, where the controller's agent listener binds); no forwarding, and an `unreachable` route in the
 *   root namespace for 198.18.72.0/30.
 */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { TestFn } from 'ava';
import { ROOT, buildAgentExecutable } from '../../../installers/src/build-agent';
import { SiteAssigner } from '../../../controller/src/domain/site-assignment';
import { openPrivateKey } from '../../../controller/src/secrets/key-vault';
import { runMonitor } from '../../../controller/src/services/monitoring/monitor-service';
import { AgentJobEntity, CertificateEntity, MonitoringHistoryEntity } from '../../../controller/src/storage/entities';
import { startTestController, type TestController } from '../../_helpers/controller';
import { assertCommands, testNeeding } from '../../_helpers/needs';
import { tempRoot } from '../agent/_servers';

const NEEDS = ['nginx', 'ip', 'bash'];
const test = (process.getuid?.() === 0 || process.env.CI === 'true' ? testNeeding(NEEDS) : anySkip()) as TestFn;
function anySkip(): TestFn {
  process.stderr.write('skipping site probe netns test: needs root for ip netns\n');
  return testNeeding(['certfleet-needs-root-for-netns']);
}

const INTRANET = '198.18.72.0/30';
const AGENT_TO_HOST = '198.18.72.1';
const HOST_ADDR = '198.18.72.2';
const ROOT_LINK = '198.18.73.1';
const AGENT_LINK = '198.18.73.2';
const CN = 'intranet.site.test';

interface SiteAgent {
  name: string;
  agentId: string;
  proc?: ChildProcess;
  log: string;
}

interface Ctx {
  dir: string;
  nsAgent: string;
  nsHost: string;
  vethRoot: string;
  routeAdded: boolean;
  tc?: TestController;
  nginx?: ChildProcess;
  agents: SiteAgent[];
}
let ctx: Ctx | undefined;

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

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

test.before(() => {
  if (process.env.CI === 'true' || process.env.CI === '1') assertCommands(NEEDS);
  const tag = String(process.pid % 100_000);
  const c: Ctx = {
    dir: tempRoot('certfleet-site-netns-'),
    nsAgent: `cf-s4a-${process.pid}`,
    nsHost: `cf-s4h-${process.pid}`,
    vethRoot: `cfs4r${tag}`,
    routeAdded: false,
    agents: [],
  };
  ctx = c;
  const vethAgentUp = `cfs4u${tag}`;
  const vethAgentIn = `cfs4a${tag}`;
  const vethHost = `cfs4h${tag}`;
  const inA = (args: string[]) => sh('ip', ['netns', 'exec', c.nsAgent, ...args]);
  const inH = (args: string[]) => sh('ip', ['netns', 'exec', c.nsHost, ...args]);
  sh('ip', ['netns', 'add', c.nsAgent]);
  sh('ip', ['netns', 'add', c.nsHost]);
  inA(['ip', 'link', 'set', 'lo', 'up']);
  inH(['ip', 'link', 'set', 'lo', 'up']);
  sh('ip', ['link', 'add', vethAgentIn, 'type', 'veth', 'peer', 'name', vethHost]);
  sh('ip', ['link', 'set', vethAgentIn, 'netns', c.nsAgent]);
  sh('ip', ['link', 'set', vethHost, 'netns', c.nsHost]);
  inA(['ip', 'addr', 'add', `${AGENT_TO_HOST}/30`, 'dev', vethAgentIn]);
  inA(['ip', 'link', 'set', vethAgentIn, 'up']);
  inH(['ip', 'addr', 'add', `${HOST_ADDR}/30`, 'dev', vethHost]);
  inH(['ip', 'link', 'set', vethHost, 'up']);
  sh('ip', ['link', 'add', c.vethRoot, 'type', 'veth', 'peer', 'name', vethAgentUp]);
  sh('ip', ['link', 'set', vethAgentUp, 'netns', c.nsAgent]);
  sh('ip', ['addr', 'add', `${ROOT_LINK}/30`, 'dev', c.vethRoot]);
  sh('ip', ['link', 'set', c.vethRoot, 'up']);
  inA(['ip', 'addr', 'add', `${AGENT_LINK}/30`, 'dev', vethAgentUp]);
  inA(['ip', 'link', 'set', vethAgentUp, 'up']);
  sh('ip', ['route', 'add', 'unreachable', INTRANET]);
  c.routeAdded = true;
});

test.after.always(async () => {
  const c = ctx;
  if (!c) return;
  for (const p of [...c.agents.map((a) => a.proc), c.nginx]) {
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGCONT');
      p.kill('SIGTERM');
      await Promise.race([gone, sleep(3000)]);
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  }
  await c.tc?.close().catch(() => undefined);
  if (c.routeAdded) spawnSync('ip', ['route', 'del', 'unreachable', INTRANET]);
  spawnSync('ip', ['link', 'del', c.vethRoot], { stdio: 'ignore' });
  spawnSync('ip', ['netns', 'delete', c.nsAgent]);
  spawnSync('ip', ['netns', 'delete', c.nsHost]);
  fs.rmSync(c.dir, { recursive: true, force: true });
});

test.serial(
  'M4 M1 an intranet host is probed by any agent of site dc1: stored for the definition, re-assigned when the chosen agent freezes or is killed, NoSiteAgentConnected when none is left',
  async (t) => {
    const c = ctx as Ctx;
    const exe = path.join(ROOT, 'installers', 'dist', 'e2e-site-probe', 'certfleet-agent');
    const built = await buildAgentExecutable({ output: exe, reuse: true, log: () => undefined });
    t.log(`agent executable ${built.reused ? 'reused' : 'built'} in ${built.ms} ms`);

    c.tc = await startTestController({ agentHost: ROOT_LINK });
    const tc = c.tc;
    const token = await tc.adminToken();
    const api = (m: string, u: string, b?: unknown) => tc.request(m, u, b, token);
    const hub = tc.controller.agentServer.hub;

    const def = await api('POST', '/api/v1/definitions', {
      name: 'site-intranet',
      subject: { commonName: CN },
      sans: [{ type: 'dns', value: CN }],
      issuerType: 'internal-ca',
      processMode: 'unattended',
    });
    t.is(def.status, 201, JSON.stringify(def.json));
    const definitionId = (def.json as { id: string }).id;
    const req = await api('POST', '/api/v1/requests', { definitionId });
    const certificateId = (req.json as { request: { certificateId: string } }).request.certificateId;
    const em = tc.controller.ctx.db.em().fork();
    const cert = await em.findOneOrFail(CertificateEntity, { id: certificateId });
    const key = await openPrivateKey(em, tc.controller.ctx.masterKey, cert.privateKeyId as string);

    // nginx on the intranet host.
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
    let fromAgentSite = -1;
    for (let i = 0; i < 100 && fromAgentSite !== 0; i++) {
      if (i > 0) await sleep(100);
      fromAgentSite = (
        await runAsync('ip', ['netns', 'exec', c.nsAgent, 'bash', '-c', `exec 3<>/dev/tcp/${HOST_ADDR}/443`], 5_000)
      ).status;
    }
    t.is(fromAgentSite, 0, `the agent site must reach nginx\n${nginxLog}`);
    t.not(await tcpConnect(HOST_ADDR, 443, 3_000), 'connected', 'the controller must not reach the intranet host');

    // Two agent executables in the agent site, both enrolled with a dc1 join token.
    for (const name of ['dc1-one', 'dc1-two']) {
      const joined = (await api('POST', '/api/v1/agents/join-tokens', { label: name, site: 'dc1' })).json as {
        token: string;
        controllerCaSha256: string;
      };
      const configFile = path.join(c.dir, `${name}.json`);
      fs.writeFileSync(
        configFile,
        JSON.stringify({ stateDir: path.join(c.dir, name), allowedRoots: [path.join(c.dir, 'certs')] })
      );
      const inSite = ['netns', 'exec', c.nsAgent, 'env', '-i', 'PATH=/nonexistent', exe];
      const enrolled = await runAsync('ip', [
        ...inSite,
        'enroll',
        '--controller',
        `${ROOT_LINK}:${tc.controller.agentServer.port}`,
        '--token',
        joined.token,
        '--ca-sha256',
        joined.controllerCaSha256,
        '--hostname',
        name,
        '--config',
        configFile,
      ]);
      t.is(enrolled.status, 0, enrolled.stderr);
      const agent: SiteAgent = {
        name,
        agentId: (JSON.parse(enrolled.stdout.trim()) as { agentId: string }).agentId,
        log: '',
      };
      agent.proc = spawn('ip', [...inSite, 'run', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
      agent.proc.stderr?.on('data', (d: Buffer) => (agent.log += d.toString()));
      c.agents.push(agent);
    }
    await waitFor('both agents connected', () =>
      c.agents.every((a) => hub.isConnected(a.agentId)) ? true : undefined
    );
    const listed = (await api('GET', '/api/v1/agents')).json as Array<{ id: string; site: string | null }>;
    t.deepEqual(
      c.agents.map((a) => listed.find((x) => x.id === a.agentId)?.site),
      ['dc1', 'dc1']
    );

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
    const viaController = await endpoint({ prober: { kind: 'controller' } });
    const viaSite = await endpoint({ prober: { kind: 'site', site: 'dc1' } });
    const history = async (runId: string) =>
      tc.controller.ctx.db.em().fork().find(MonitoringHistoryEntity, { runId, endpointId: viaSite });
    const agentIds = c.agents.map((a) => a.agentId);
    const logs = () => c.agents.map((a) => `${a.name}: ${a.log}`).join('\n');

    // 1. The run succeeds via one of them; both verdicts are stored for the definition.
    const first = await runMonitor(
      tc.controller.ctx,
      { trigger: 'manual', definitionId },
      { probeTimeoutMs: 3_000, agentDeadlineMs: 20_000, pollMs: 100 }
    );
    t.deepEqual([first.endpoints, first.ok, first.failing], [2, 1, 1]);
    const rows = await tc.controller.ctx.db.em().fork().find(MonitoringHistoryEntity, { runId: first.id });
    t.true(rows.every((r) => r.definitionId === definitionId));
    const mine = rows.find((r) => r.endpointId === viaController);
    const site = rows.find((r) => r.endpointId === viaSite);
    t.is(mine?.reason, 'Unreachable');
    t.is(site?.status, 'ok', `${site?.reason}: ${site?.message}\n${logs()}`);
    t.is(site?.leafSha256, cert.sha256);
    t.true(agentIds.map((id) => `agent:${id}`).includes(site?.probedBy ?? ''), site?.probedBy ?? '');

    // The agent a run picks first: the least loaded, ties in id order (domain/site-assignment.ts).
    const firstPick = new SiteAssigner(new Map([['dc1', [...agentIds].sort()]])).pick('dc1') as string;
    const chosen = c.agents.find((a) => a.agentId === firstPick) as SiteAgent;
    const other = c.agents.find((a) => a.agentId !== firstPick) as SiteAgent;

    // 2. The chosen agent freezes (its stream stays open): after the attempt deadline the other one probes.
    chosen.proc?.kill('SIGSTOP');
    const t2 = Date.now();
    const frozen = await runMonitor(
      tc.controller.ctx,
      { trigger: 'manual', endpointIds: [viaSite] },
      { agentDeadlineMs: 20_000, siteAttemptMs: 3_000, pollMs: 100 }
    );
    const took2 = Date.now() - t2;
    t.true(took2 >= 3_000 && took2 < 15_000, `took ${took2} ms`);
    const [r2] = await history(frozen.id);
    t.is(r2?.status, 'ok', `${r2?.reason}: ${r2?.message}\n${logs()}`);
    t.is(r2?.probedBy, `agent:${other.agentId}`);
    const withdrawn = await tc.controller.ctx.db
      .em()
      .fork()
      .find(AgentJobEntity, { agentId: chosen.agentId, kind: 'probe', status: 'superseded' });
    t.is(withdrawn.length, 1, 'the frozen agent’s job was withdrawn');
    // Thawed, it answers the withdrawn job: refused, nothing written.
    chosen.proc?.kill('SIGCONT');
    await sleep(2_000);
    const late = await tc.controller.ctx.db.em().fork().findOneOrFail(AgentJobEntity, { id: withdrawn[0]?.id });
    t.deepEqual([late.status, late.result], ['superseded', null]);
    t.true(hub.isConnected(chosen.agentId), 'the thawed agent is still connected');

    // 3. The chosen agent is killed while its job is out: re-assigned at once, not after the 30 s attempt.
    chosen.proc?.kill('SIGSTOP');
    const t3 = Date.now();
    const killedRun = runMonitor(
      tc.controller.ctx,
      { trigger: 'manual', endpointIds: [viaSite] },
      { agentDeadlineMs: 40_000, siteAttemptMs: 30_000, pollMs: 100 }
    );
    killedRun.catch(() => undefined);
    await waitFor('the job delivered to the chosen agent', async () => {
      const open = await tc.controller.ctx.db
        .em()
        .fork()
        .find(AgentJobEntity, { agentId: chosen.agentId, kind: 'probe', status: 'delivered' });
      return open.length > 0 ? true : undefined;
    });
    chosen.proc?.kill('SIGKILL');
    const killed = await killedRun;
    const took3 = Date.now() - t3;
    t.true(took3 < 20_000, `took ${took3} ms`);
    const [r3] = await history(killed.id);
    t.is(r3?.status, 'ok', `${r3?.reason}: ${r3?.message}\n${logs()}`);
    t.is(r3?.probedBy, `agent:${other.agentId}`);

    // 4. Both gone: an explicit verdict, no waiting.
    other.proc?.kill('SIGKILL');
    await waitFor('no dc1 agent connected', () => (agentIds.some((id) => hub.isConnected(id)) ? undefined : true));
    const t4 = Date.now();
    const none = await runMonitor(
      tc.controller.ctx,
      { trigger: 'manual', endpointIds: [viaSite] },
      { agentDeadlineMs: 20_000, pollMs: 100 }
    );
    t.true(Date.now() - t4 < 5_000);
    const [r4] = await history(none.id);
    t.deepEqual(
      [r4?.status, r4?.reason, r4?.message],
      ['failing', 'NoSiteAgentConnected', `${HOST_ADDR}:443: no agent of site dc1 is connected`]
    );
  }
);
