/**
 * The "intranet behind an agent site" layout the network-namespace end-to-end tests share (SPEC M4, S1–S3), in
 * the test's own namespaces and 198.18.0.0/15 addresses only:
 * - namespace `cf-<code>h-<pid>` ("intranet host") at `198.18.<n>.2/30`;
 * - namespace `cf-<code>a-<pid>` ("agent site") with `198.18.<n>.1/30` towards the host and `198.18.<n+1>.2/30`
 *   towards the root namespace (`198.18.<n+1>.1`, where the controller under test — this process — binds its
 *   agent listener);
 * - the agent site does not forward, and the root namespace holds an `unreachable` route for `198.18.<n>.0/30`
 *   (nothing leaves through the default route): the controller cannot reach the intranet host.
 * Also: nginx with TLS inside the host namespace, and the shipped agent executable enrolled and run inside the
 * agent site. Everything made here is removed by {@link removeIntranet}.
 */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { ExecutionContext, TestFn } from 'ava';
import { ROOT, buildAgentExecutable } from '../../installers/src/build-agent';
import { startTestController, type TestController } from './controller';
import { assertCommands, isCI, testNeeding } from './needs';
import { tempRoot } from '../integration/agent/_servers';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Set-up commands before the controller starts (synchronous is fine then). */
export function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

/** Runs a command without blocking this process (the controller under test lives in it). */
export function runAsync(
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
export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<string> {
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

/**
 * ava's `test` for a netns test: as root (or under CI, where a missing tool or privilege must fail) the tests run
 * when `needs` are present; otherwise they are skipped with a note naming `what`.
 */
export function netnsTest(needs: string[], what: string): TestFn {
  if (process.getuid?.() === 0 || process.env.CI === 'true' || process.env.CI === '1') return testNeeding(needs);
  process.stderr.write(`skipping ${what}: needs root for ip netns\n`);
  return testNeeding(['certfleet-needs-root-for-netns']);
}

/** An agent executable running in the agent site. */
export interface SiteAgent {
  name: string;
  agentId: string;
  proc?: ChildProcess;
  log: string;
}

export interface Intranet {
  /** `198.18.<n>.0/30`, unreachable from the root namespace. */
  intranet: string;
  /** The agent site's address towards the intranet host. */
  agentToHost: string;
  /** The intranet host's address (nginx listens on it). */
  hostAddr: string;
  /** The root namespace's address on the link to the agent site (the controller's agent listener binds it). */
  rootLink: string;
  /** The agent site's address on the link to the root namespace. */
  agentLink: string;
  dir: string;
  nsAgent: string;
  nsHost: string;
  vethRoot: string;
  routeAdded: boolean;
  tc?: TestController;
  nginx?: ChildProcess;
  agents: SiteAgent[];
}

/**
 * Makes the layout above: `code` names the namespaces and links (two or three characters, unique per test file),
 * `n` the third octet of the intranet (the root link uses `n + 1`), `dirPrefix` the temporary directory.
 */
export function createIntranet(code: string, n: number, dirPrefix: string): Intranet {
  const tag = String(process.pid % 100_000);
  const c: Intranet = {
    intranet: `198.18.${n}.0/30`,
    agentToHost: `198.18.${n}.1`,
    hostAddr: `198.18.${n}.2`,
    rootLink: `198.18.${n + 1}.1`,
    agentLink: `198.18.${n + 1}.2`,
    dir: tempRoot(dirPrefix),
    nsAgent: `cf-${code}a-${process.pid}`,
    nsHost: `cf-${code}h-${process.pid}`,
    vethRoot: `cf${code}r${tag}`,
    routeAdded: false,
    agents: [],
  };
  const vethAgentUp = `cf${code}u${tag}`; // agent site side of the root link
  const vethAgentIn = `cf${code}a${tag}`; // agent site side of the intranet link
  const vethHost = `cf${code}h${tag}`; // intranet host side
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
  inA(['ip', 'addr', 'add', `${c.agentToHost}/30`, 'dev', vethAgentIn]);
  inA(['ip', 'link', 'set', vethAgentIn, 'up']);
  inH(['ip', 'addr', 'add', `${c.hostAddr}/30`, 'dev', vethHost]);
  inH(['ip', 'link', 'set', vethHost, 'up']);
  // root namespace (controller) ⟷ agent site
  sh('ip', ['link', 'add', c.vethRoot, 'type', 'veth', 'peer', 'name', vethAgentUp]);
  sh('ip', ['link', 'set', vethAgentUp, 'netns', c.nsAgent]);
  sh('ip', ['addr', 'add', `${c.rootLink}/30`, 'dev', c.vethRoot]);
  sh('ip', ['link', 'set', c.vethRoot, 'up']);
  inA(['ip', 'addr', 'add', `${c.agentLink}/30`, 'dev', vethAgentUp]);
  inA(['ip', 'link', 'set', vethAgentUp, 'up']);
  // The controller's namespace has no way to the intranet (not even through its default route).
  sh('ip', ['route', 'add', 'unreachable', c.intranet]);
  c.routeAdded = true;
  return c;
}

/**
 * Registers the hooks that make the layout ({@link createIntranet}, after checking `needs` under CI) before the
 * tests and remove it ({@link removeIntranet}) after them; returns its accessor for the tests.
 */
export function useIntranet(test: TestFn, needs: string[], code: string, n: number, dirPrefix: string): () => Intranet {
  let made: Intranet | undefined;
  test.before(() => {
    if (isCI) assertCommands(needs);
    made = createIntranet(code, n, dirPrefix);
  });
  test.after.always(() => removeIntranet(made));
  return () => made as Intranet;
}

/** Stops the agents (thawing frozen ones first) and nginx, closes the controller, removes namespaces and files. */
export async function removeIntranet(c: Intranet | undefined): Promise<void> {
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
  if (c.routeAdded) spawnSync('ip', ['route', 'del', 'unreachable', c.intranet]);
  spawnSync('ip', ['link', 'del', c.vethRoot], { stdio: 'ignore' }); // usually gone with the agent site already
  spawnSync('ip', ['netns', 'delete', c.nsAgent]);
  spawnSync('ip', ['netns', 'delete', c.nsHost]);
  fs.rmSync(c.dir, { recursive: true, force: true });
}

/**
 * Starts nginx in the intranet host namespace on `<hostAddr>:443` (TLS, `server_name cn`) with the given PEM files,
 * then waits (at most 100 tries) until the agent site reaches it. Returns the last reachability status (0: reached)
 * and nginx's stderr so far.
 */
export async function startIntranetNginx(
  c: Intranet,
  prefix: string,
  cn: string,
  certFile: string,
  keyFile: string
): Promise<{ fromAgentSite: number; nginxLog: () => string }> {
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(
    conf,
    `daemon off;\nworker_processes 1;\npid ${prefix}/nginx.pid;\nerror_log ${prefix}/logs/error.log warn;\n` +
      `events { worker_connections 16; }\nhttp { access_log off; client_body_temp_path ${prefix}/tmp-body;\n` +
      `proxy_temp_path ${prefix}/tmp-proxy; fastcgi_temp_path ${prefix}/tmp-fcgi; uwsgi_temp_path ${prefix}/tmp-uwsgi;\n` +
      `scgi_temp_path ${prefix}/tmp-scgi;\n server { listen ${c.hostAddr}:443 ssl; server_name ${cn};\n` +
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
      await runAsync('ip', ['netns', 'exec', c.nsAgent, 'bash', '-c', `exec 3<>/dev/tcp/${c.hostAddr}/443`], 5_000)
    ).status;
  }
  return { fromAgentSite, nginxLog: () => nginxLog };
}

/**
 * Enrolls the agent executable `exe` inside the agent site with a fresh join token (`label`, optional `site`),
 * asserting the enrollment succeeded, then starts `run` there; the agent is added to `c.agents`. Its config is
 * `<dir>/<config>`, its state `<dir>/<state>`.
 */
export async function startSiteAgent(
  t: ExecutionContext,
  c: Intranet,
  opts: { exe: string; token: string; label: string; hostname: string; config: string; state: string; site?: string }
): Promise<SiteAgent> {
  const tc = c.tc as TestController;
  const joined = (
    await tc.request(
      'POST',
      '/api/v1/agents/join-tokens',
      opts.site === undefined ? { label: opts.label } : { label: opts.label, site: opts.site },
      opts.token
    )
  ).json as { token: string; controllerCaSha256: string };
  const configFile = path.join(c.dir, opts.config);
  fs.writeFileSync(
    configFile,
    JSON.stringify({ stateDir: path.join(c.dir, opts.state), allowedRoots: [path.join(c.dir, 'certs')] })
  );
  const inAgentSite = ['netns', 'exec', c.nsAgent, 'env', '-i', 'PATH=/nonexistent', opts.exe];
  const enrolled = await runAsync('ip', [
    ...inAgentSite,
    'enroll',
    '--controller',
    `${c.rootLink}:${tc.controller.agentServer.port}`,
    '--token',
    joined.token,
    '--ca-sha256',
    joined.controllerCaSha256,
    '--hostname',
    opts.hostname,
    '--config',
    configFile,
  ]);
  t.is(enrolled.status, 0, enrolled.stderr);
  const agent: SiteAgent = {
    name: opts.hostname,
    agentId: (JSON.parse(enrolled.stdout.trim()) as { agentId: string }).agentId,
    log: '',
  };
  agent.proc = spawn('ip', [...inAgentSite, 'run', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  agent.proc.stderr?.on('data', (d: Buffer) => (agent.log += d.toString()));
  c.agents.push(agent);
  return agent;
}

/** Polls the agents API (at most 100 × 100 ms) until the agent is reported connected. */
export async function waitAgentConnected(c: Intranet, token: string, agentId: string): Promise<boolean> {
  const tc = c.tc as TestController;
  let connected = false;
  for (let i = 0; i < 100 && !connected; i++) {
    await sleep(100);
    connected =
      ((await tc.request('GET', `/api/v1/agents/${agentId}`, undefined, token)).json as { connected?: boolean })
        .connected === true;
  }
  return connected;
}

/**
 * Builds the agent executable into `installers/dist/<distName>/` (reused when up to date; a directory of its own,
 * as other test files build the default one concurrently) and starts the controller in this process with its agent
 * listener on the root side of the agent site's link only.
 */
export async function startIntranetController(
  t: ExecutionContext,
  c: Intranet,
  distName: string
): Promise<{
  exe: string;
  tc: TestController;
  token: string;
  api: (method: string, url: string, body?: unknown) => ReturnType<TestController['request']>;
}> {
  const exe = path.join(ROOT, 'installers', 'dist', distName, 'certfleet-agent');
  const built = await buildAgentExecutable({ output: exe, reuse: true, log: () => undefined });
  t.log(`agent executable ${built.reused ? 'reused' : 'built'} in ${built.ms} ms`);
  const tc = await startTestController({ agentHost: c.rootLink });
  c.tc = tc;
  const token = await tc.adminToken();
  return { exe, tc, token, api: (m, u, b) => tc.request(m, u, b, token) };
}
