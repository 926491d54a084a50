/**
 * TLS listeners inside a test's own network namespace (198.18.0.0/15 addresses only): a plain Node process started
 * with `ip netns exec`, serving implicit TLS, SMTP with STARTTLS, or plain TCP (not TLS) per listener. Ports that
 * are privileged or taken on this host (443, 993, 25) are free inside the namespace.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface NsListener {
  address: string;
  port: number;
  /** Certificate file (leaf first) and key served; absent for a plain TCP (not TLS) listener. */
  cert?: string;
  key?: string;
  /** An SMTP dialogue (EHLO, STARTTLS) before the handshake. */
  starttls?: 'smtp';
}

const SERVER_SCRIPT = `
const fs = require('node:fs'); const net = require('node:net'); const tls = require('node:tls');
const listeners = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
let ready = 0;
const up = () => { if (++ready === listeners.length) process.stdout.write('ready\\n'); };
for (const l of listeners) {
  let server;
  if (!l.cert) {
    server = net.createServer((s) => { s.on('error', () => {}); s.end('HTTP/1.0 400 not TLS\\r\\n\\r\\n'); });
  } else {
    const secureContext = tls.createSecureContext({ cert: fs.readFileSync(l.cert), key: fs.readFileSync(l.key) });
    if (l.starttls === 'smtp') {
      server = net.createServer((socket) => {
        socket.on('error', () => {});
        socket.write('220 mail.ns.test ESMTP\\r\\n');
        let buf = '';
        const onData = (chunk) => {
          buf += chunk.toString('latin1');
          let nl;
          while ((nl = buf.indexOf('\\r\\n')) >= 0) {
            const line = buf.slice(0, nl); buf = buf.slice(nl + 2);
            if (/^(EHLO|HELO) /i.test(line)) socket.write('250-mail.ns.test\\r\\n250 STARTTLS\\r\\n');
            else if (/^STARTTLS$/i.test(line)) {
              socket.off('data', onData);
              socket.write('220 2.0.0 go ahead\\r\\n');
              const secure = new tls.TLSSocket(socket, { isServer: true, secureContext });
              secure.on('error', () => {});
              return;
            } else socket.write('502 5.5.2 unknown\\r\\n');
          }
        };
        socket.on('data', onData);
      });
    } else {
      server = tls.createServer({ cert: fs.readFileSync(l.cert), key: fs.readFileSync(l.key) }, (s) => { s.on('error', () => {}); s.end(); });
    }
  }
  server.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(3); });
  server.listen(l.port, l.address, up);
}
process.on('SIGTERM', () => process.exit(0));
`;

/** Set-up commands before the controller starts (synchronous is fine then). */
export function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

/** A namespace joined to this host by a veth pair: `hostLink` on this side, `nsLink` inside (both /30). */
export interface LinkedNamespace {
  ns: string;
  vethHost: string;
  vethNs: string;
  hostLink: string;
  nsLink: string;
}

/** Makes a {@link LinkedNamespace}; `code` (two to four letters, unique per test file) names it and its links. */
export function createLinkedNamespace(code: string, hostLink: string, nsLink: string): LinkedNamespace {
  const tag = String(process.pid % 100_000);
  const n: LinkedNamespace = {
    ns: `cf-${code}-${process.pid}`,
    vethHost: `cf${code}h${tag}`,
    vethNs: `cf${code}n${tag}`,
    hostLink,
    nsLink,
  };
  sh('ip', ['netns', 'add', n.ns]);
  inNamespace(n, ['ip', 'link', 'set', 'lo', 'up']);
  sh('ip', ['link', 'add', n.vethHost, 'type', 'veth', 'peer', 'name', n.vethNs]);
  sh('ip', ['link', 'set', n.vethNs, 'netns', n.ns]);
  sh('ip', ['addr', 'add', `${hostLink}/30`, 'dev', n.vethHost]);
  sh('ip', ['link', 'set', n.vethHost, 'up']);
  inNamespace(n, ['ip', 'addr', 'add', `${nsLink}/30`, 'dev', n.vethNs]);
  inNamespace(n, ['ip', 'link', 'set', n.vethNs, 'up']);
  return n;
}

/** Runs a set-up command inside the namespace. */
export function inNamespace(n: Pick<LinkedNamespace, 'ns'>, args: string[]): void {
  sh('ip', ['netns', 'exec', n.ns, ...args]);
}

/** Removes the namespace and its link (never throws). */
export function removeLinkedNamespace(n: LinkedNamespace | undefined): void {
  if (!n) return;
  spawnSync('ip', ['link', 'del', n.vethHost]);
  spawnSync('ip', ['netns', 'delete', n.ns]);
}

/**
 * Starts `listeners` inside namespace `ns` (their config and script written to `dir`) and resolves once every one
 * listens; rejects when one fails (its error on stderr) or after 20 s.
 */
export async function startNsListeners(ns: string, dir: string, listeners: NsListener[]): Promise<ChildProcess> {
  const config = path.join(dir, 'listeners.json');
  fs.writeFileSync(config, JSON.stringify(listeners));
  const script = path.join(dir, 'listeners.js');
  fs.writeFileSync(script, SERVER_SCRIPT);
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, script, config], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('listeners in the namespace did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`listeners exited with ${code}`)));
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return child;
}

/** Stops listeners started by {@link startNsListeners}. */
export async function stopNsListeners(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
}
