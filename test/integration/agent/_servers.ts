/**
 * Helpers for the agent install tests that run real servers on loopback: free ports (bound by nobody, checked
 * with `ss -ltn` too), waiting for a port, reading the live directory, and stopping only the processes we started;
 * and the loopback nginx of the deploy tests (its config, agent commands, start, and a seeded live directory).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseAgentConfig, type AgentConfig } from '../../../agent/src/config';
import { probeServedLeaf } from '../../../agent/src/probes/served-leaf';

function listeningPorts(): Set<number> {
  try {
    const out = execFileSync('ss', ['-Hltn'], { encoding: 'utf8' });
    return new Set(
      out
        .split('\n')
        .map((l) => /:(\d+)$/.exec(l.trim().split(/\s+/)[3] ?? '')?.[1])
        .filter((p): p is string => p !== undefined)
        .map(Number)
    );
  } catch {
    return new Set();
  }
}

/** A 127.0.0.1 port nobody listens on (the kernel's pick, double-checked against `ss -ltn`). */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    if (!listeningPorts().has(port)) return port;
  }
  throw new Error('no free port');
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls the endpoint until it serves `sha256` (true) or `timeoutMs` passes (false). */
export async function waitForServed(port: number, sha256: string, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await probeServedLeaf({ host: '127.0.0.1', port, timeoutMs: 2000 });
    if (r.ok && r.sha256 === sha256) return true;
    if (Date.now() > deadline) return false;
    await new Promise((res) => setTimeout(res, 100));
  }
}

export async function servedSha256(port: number): Promise<string | undefined> {
  const r = await probeServedLeaf({ host: '127.0.0.1', port, timeoutMs: 3000 });
  return r.ok ? r.sha256 : undefined;
}

/**
 * The leaf the server settles on: probes until `expected` is served three times in a row (at most `timeoutMs`) and
 * returns the last leaf seen. After a graceful reload nginx's old workers may accept a few more connections with the
 * old certificate until they see their QUIT signal — on a busy machine for a second or more.
 */
export async function servedEventually(
  port: number,
  expected: string | undefined,
  timeoutMs = 15_000
): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  let streak = 0;
  for (let i = 0; i < 500 && Date.now() < deadline; i++) {
    last = await servedSha256(port);
    streak = last === expected ? streak + 1 : 0;
    if (streak >= 3) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

export function tempRoot(prefix: string): string {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

/** SHA-256 of the leaf in `<dir>/cert.pem`, and whether `<dir>/key.pem` is its key. */
export function liveCertificate(dir: string): { leafSha256: string; keyMatches: boolean } {
  const cert = new X509Certificate(fs.readFileSync(path.join(dir, 'cert.pem')));
  const key = createPrivateKey(fs.readFileSync(path.join(dir, 'key.pem')));
  const pub = (k: ReturnType<typeof createPublicKey>): string =>
    k.export({ type: 'spki', format: 'der' }).toString('hex');
  return {
    leafSha256: cert.fingerprint256.replace(/:/g, '').toLowerCase(),
    keyMatches: pub(cert.publicKey) === pub(createPublicKey(key)),
  };
}

/** Sends SIGTERM to a pid we started (then SIGKILL after `graceMs`) and waits for it to be gone. */
export async function stopPid(pid: number | undefined, graceMs = 3000): Promise<void> {
  if (!pid) return;
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (alive()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Stops a child process we spawned (no-op when it already exited). */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await stopPid(child.pid);
  await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
}

/** Reads a pid file written by a server we started. */
export function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** What the loopback nginx of a deploy test serves: one TLS server on 127.0.0.1:port from a live directory. */
export interface NginxTlsSite {
  /** nginx's prefix (`-p`): the config, pid file, logs and temp paths go here. */
  prefix: string;
  port: number;
  serverName: string;
  /** The live directory the agent switches: nginx reads `fullchain.pem` and `key.pem` from it. */
  liveDir: string;
  /** A file included in the `http` block (created empty when missing): a test breaks the config through it. */
  extraInclude?: string;
  /** The body of the `return 200` (default `ok`). */
  body?: string;
}

/** Writes `<prefix>/nginx.conf` (foreground master, one worker, temp paths inside the prefix) and returns its path. */
export function writeNginxTlsConf(site: NginxTlsSite): string {
  const { prefix, port, serverName, liveDir, extraInclude } = site;
  fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  if (extraInclude && !fs.existsSync(extraInclude)) fs.writeFileSync(extraInclude, '');
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp-body;
  proxy_temp_path ${prefix}/tmp-proxy;
  fastcgi_temp_path ${prefix}/tmp-fastcgi;
  uwsgi_temp_path ${prefix}/tmp-uwsgi;
  scgi_temp_path ${prefix}/tmp-scgi;
${extraInclude ? `  include ${extraInclude};\n` : ''}  server {
    listen 127.0.0.1:${port} ssl;
    server_name ${serverName};
    ssl_certificate ${liveDir}/fullchain.pem;
    ssl_certificate_key ${liveDir}/key.pem;
    return 200 "${site.body ?? 'ok'}\\n";
  }
}
`
  );
  return conf;
}

/** The `-p prefix -c conf` arguments of every nginx command for this instance. */
export function nginxArgs(prefix: string, conf: string): string[] {
  return ['-p', prefix, '-c', conf];
}

/** The agent's validate and reload commands for this nginx instance. */
export function nginxAgentCommands(
  prefix: string,
  conf: string
): { validate: [string, ...string[]]; reload: [string, ...string[]] } {
  const args = nginxArgs(prefix, conf);
  return { validate: ['nginx', '-t', '-q', ...args], reload: ['nginx', ...args, '-s', 'reload'] };
}

/** The config of an agent that may write under `allowedRoot` and validates/reloads this nginx instance. */
export function nginxAgentConfig(o: {
  stateDir: string;
  allowedRoot: string;
  prefix: string;
  conf: string;
}): AgentConfig {
  return parseAgentConfig({
    stateDir: o.stateDir,
    allowedRoots: [o.allowedRoot],
    commandTimeoutMs: 10_000,
    probeTimeoutMs: 4000,
    commands: { nginx: nginxAgentCommands(o.prefix, o.conf) },
  });
}

/**
 * Starts nginx in the foreground with `conf` and waits until it listens on 127.0.0.1:port; a child that does not
 * come up is stopped before the error is thrown. Stop it with `stopChild`.
 */
export async function startNginx(prefix: string, conf: string, port: number): Promise<ChildProcess> {
  const child = spawn('nginx', nginxArgs(prefix, conf), { stdio: 'ignore' });
  try {
    await waitForPort(port);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return child;
}

/**
 * A live directory as an earlier install leaves it: `<certs>/.<name>.versions/<version>/` holding `fullchain.pem` and
 * `key.pem` (0600), and `<certs>/<name>` a relative symlink to it that the agent switches. Returns the live path.
 */
export function seedLiveDir(
  certs: string,
  name: string,
  version: string,
  pem: { fullchain: string | Uint8Array; key: string | Uint8Array }
): string {
  const versionDir = path.join(certs, `.${name}.versions`, version);
  fs.mkdirSync(versionDir, { recursive: true });
  fs.writeFileSync(path.join(versionDir, 'fullchain.pem'), pem.fullchain);
  fs.writeFileSync(path.join(versionDir, 'key.pem'), pem.key, { mode: 0o600 });
  const live = path.join(certs, name);
  fs.symlinkSync(`.${name}.versions/${version}`, live);
  return live;
}
