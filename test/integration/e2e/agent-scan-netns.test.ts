/**
 * Discovery from inside an intranet (SPEC S1, S2, S3; issue 5 item 6 "from an agent inside an intranet"), end to
 * end with the shipped agent single executable and a real nginx, in the test's own network namespaces.
 *
 * Layout (addresses from 198.18.0.0/15 only, all made and removed by this test):
 * - namespace `cf-dsh-<pid>` ("intranet host") runs nginx on 198.18.86.2:443 with a self-signed certificate;
 * - namespace `cf-dsa-<pid>` ("agent site") reaches it over a veth pair 198.18.86.1/30 — 198.18.86.2/30 and this
 *   host (the root namespace, where the controller runs in the test process) over 198.18.87.2/30 — 198.18.87.1/30;
 *   the controller's agent listener binds 198.18.87.1;
 * - the agent site does not forward, and the root namespace holds an `unreachable` route for 198.18.86.0/30.
 * The same scan of 198.18.86.0/30 × {443, 8443} is run twice: by the controller (it finds nothing: the intranet is
 * unreachable from it) and by the agent (it finds exactly nginx, with the fingerprint the `openssl` CLI computes).
 */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestFn } from 'ava';
import { ROOT, buildAgentExecutable } from '../../../installers/src/build-agent';
import { MonitoredEndpointEntity } from '../../../controller/src/storage/entities';
import { startTestController, type TestController } from '../../_helpers/controller';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { opensslFingerprints } from '../../_helpers/probe-pki';
import { tempRoot } from '../agent/_servers';

const run = promisify(execFile);
const NEEDS = ['nginx', 'ip', 'bash', 'openssl'];
const test = (process.getuid?.() === 0 || isCI ? testNeeding(NEEDS) : anySkip()) as TestFn;
function anySkip(): TestFn {
  process.stderr.write('skipping agent scan netns test: needs root for ip netns\n');
  return testNeeding(['certfleet-needs-root-for-netns']);
}

const INTRANET = '198.18.86.0/30';
const AGENT_TO_HOST = '198.18.86.1';
const HOST_ADDR = '198.18.86.2';
const ROOT_LINK = '198.18.87.1';
const AGENT_LINK = '198.18.87.2';
const CN = 'intranet.scan.test';

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(() => {
  if (isCI) assertCommands(NEEDS);
  const tag = String(process.pid % 100_000);
  const c: Ctx = {
    dir: tempRoot('certfleet-scan-netns-'),
    nsAgent: `cf-dsa-${process.pid}`,
    nsHost: `cf-dsh-${process.pid}`,
    vethRoot: `cfdsr${tag}`,
    routeAdded: false,
  };
  ctx = c;
  const vethAgentUp = `cfdsu${tag}`;
  const vethAgentIn = `cfdsa${tag}`;
  const vethHost = `cfdsh${tag}`;
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
  spawnSync('ip', ['link', 'del', c.vethRoot], { stdio: 'ignore' });
  spawnSync('ip', ['netns', 'delete', c.nsAgent]);
  spawnSync('ip', ['netns', 'delete', c.nsHost]);
  fs.rmSync(c.dir, { recursive: true, force: true });
});

interface ScanJson {
  id: string;
  status: string;
  total: number;
  done: number;
  findings: number;
  stats: Record<string, unknown> | null;
}

test.serial(
  'S1 S2 S3 a TLS host reachable only from the agent’s intranet is found by the agent’s scan, not by the controller’s',
  async (t) => {
    const c = ctx as Ctx;
    const exe = path.join(ROOT, 'installers', 'dist', 'e2e-agent-scan', 'certfleet-agent');
    const built = await buildAgentExecutable({ output: exe, reuse: true, log: () => undefined });
    t.log(`agent executable ${built.reused ? 'reused' : 'built'} in ${built.ms} ms`);

    c.tc = await startTestController({ agentHost: ROOT_LINK });
    const tc = c.tc;
    const token = await tc.adminToken();
    const api = (m: string, u: string, b?: unknown) => tc.request(m, u, b, token);

    // nginx on the intranet host with a self-signed certificate; its fingerprint from the openssl CLI.
    const prefix = path.join(c.dir, 'nginx');
    fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
    const certFile = path.join(prefix, 'cert.pem');
    const keyFile = path.join(prefix, 'key.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '90',
      '-subj',
      `/CN=${CN}/O=CertFleet Discovery Tests`,
      '-addext',
      `subjectAltName=DNS:${CN}`,
    ]);
    const served = await opensslFingerprints(certFile);
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
    t.is(fromAgentSite, 0, `the agent site must reach nginx on ${HOST_ADDR}:443\n${nginxLog}`);

    // The agent executable inside the agent site.
    const joined = (await api('POST', '/api/v1/agents/join-tokens', { label: 'scan-site' })).json as {
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
      'scan-site-agent',
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

    const scanBy = async (runBy: unknown): Promise<ScanJson> => {
      const res = await api('POST', '/api/v1/discovery/scans', {
        targets: [INTRANET],
        ports: [443, 8443],
        timeoutMs: 1_000,
        handshakeTimeoutMs: 5_000,
        runBy,
      });
      t.is(res.status, 202, JSON.stringify(res.json));
      const id = (res.json as ScanJson).id;
      let scan = res.json as ScanJson;
      for (let i = 0; i < 300 && !['done', 'failed', 'cancelled', 'interrupted'].includes(scan.status); i++) {
        await sleep(100);
        scan = (await api('GET', `/api/v1/discovery/scans/${id}`)).json as ScanJson;
      }
      return scan;
    };

    // The controller's own scan: every pair unreachable, nothing found.
    const mine = await scanBy({ kind: 'controller' });
    t.is(mine.status, 'done', JSON.stringify(mine));
    t.deepEqual([mine.done, mine.total, mine.findings], [8, 8, 0]);
    t.is(mine.stats?.open, 0);

    // The agent's scan of the same range and ports: exactly nginx.
    const theirs = await scanBy({ kind: 'agent', agentId });
    t.is(theirs.status, 'done', `${JSON.stringify(theirs)}\n${agentLog}`);
    t.deepEqual([theirs.done, theirs.total, theirs.findings], [8, 8, 1]);
    const report = (await api('GET', `/api/v1/discovery/scans/${theirs.id}/report`)).json as {
      findings: Array<{
        host: string;
        port: number;
        sha256: string;
        sha1: string;
        commonName: string;
        selfSigned: boolean;
        probedBy: string;
      }>;
    };
    t.deepEqual(
      report.findings.map((f) => [f.host, f.port, f.sha256, f.sha1]),
      [[HOST_ADDR, 443, served.sha256, served.sha1]]
    );
    t.is(report.findings[0]?.commonName, CN);
    t.true(report.findings[0]?.selfSigned, 'judged by the controller: self-signed');
    t.is(report.findings[0]?.probedBy, `agent:${agentId}`);

    // Imported, the endpoint is probed by the agent that found it.
    const imported = await api('POST', `/api/v1/discovery/scans/${theirs.id}/import`, {
      findingIds: 'all',
      mode: 'monitored',
    });
    t.is(imported.status, 200, JSON.stringify(imported.json));
    const endpointId = (imported.json as { imported: Array<{ endpoints: Array<{ id: string }> }> }).imported[0]
      ?.endpoints[0]?.id as string;
    const endpoint = await tc.controller.ctx.db.em().fork().findOneOrFail(MonitoredEndpointEntity, { id: endpointId });
    t.deepEqual(
      [endpoint.host, endpoint.port, endpoint.probeFrom, endpoint.agentId],
      [HOST_ADDR, 443, 'agent', agentId]
    );
  }
);
