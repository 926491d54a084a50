/**
 * Port hygiene for discovery tests: a scan must only ever touch services the test started itself. Before any
 * scan, the test asks `ss -ltn` which TCP ports something listens on (2024 always is), picks ports nothing
 * listens on, and after starting its listeners checks that every listener on those ports is its own.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

interface Listening {
  address: string;
  port: number;
}

/** Every listening TCP socket of this network namespace (`ss -ltnH`). */
export function listeningSockets(): Promise<Listening[]> {
  return new Promise((resolve, reject) => {
    execFile('ss', ['-ltnH'], { encoding: 'utf8', timeout: 10_000 }, (err, stdout) => {
      if (err) return reject(err);
      const out: Listening[] = [];
      for (const line of stdout.split('\n')) {
        const local = line.trim().split(/\s+/)[3];
        const m = local ? /^(.*):(\d+)$/.exec(local) : null;
        if (m) out.push({ address: (m[1] as string).replace(/^\[|\]$/g, '').replace(/%.*$/, ''), port: Number(m[2]) });
      }
      resolve(out);
    });
  });
}

/** `count` distinct ports in 20000–59999 on which nothing listens now (never 2024). */
export async function unusedPorts(count: number): Promise<number[]> {
  const taken = new Set((await listeningSockets()).map((l) => l.port));
  taken.add(2024);
  const out: number[] = [];
  for (let i = 0; i < 10_000 && out.length < count; i++) {
    const port = 20_000 + crypto.randomInt(40_000);
    if (!taken.has(port) && !out.includes(port)) out.push(port);
  }
  if (out.length < count) throw new Error('no free ports found');
  return out;
}

/**
 * Throws when anything but `ours` (addresses of the test's own listeners) listens on one of `ports`, e.g. a
 * wildcard listener another process opened meanwhile: the scan would reach it.
 */
export async function assertOnlyOurListeners(ports: readonly number[], ours: ReadonlySet<string>): Promise<void> {
  const foreign = (await listeningSockets()).filter((l) => ports.includes(l.port) && !ours.has(l.address));
  if (foreign.length)
    throw new Error(`foreign listeners on the test's ports: ${foreign.map((l) => `${l.address}:${l.port}`).join(' ')}`);
}

/** Listens on `host`:`port` (rejects on e.g. EADDRINUSE); the server is added to `servers` for the teardown. */
export function listenAt(servers: net.Server[], server: net.Server, host: string, port: number): Promise<void> {
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

/** A TLS server for the PEM files `cert`/`key` that ends every connection after the handshake. */
export function tlsFileServer(files: { cert: string; key: string }): tls.Server {
  return tls.createServer({ cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key) }, (s) => {
    s.on('error', () => undefined);
    s.end();
  });
}

/** A TCP server that accepts and never answers (a scan waits its handshake timeout); sockets go to `held`. */
export function silentServer(held: net.Socket[]): net.Server {
  return net.createServer((s) => {
    s.on('error', () => undefined);
    held.push(s);
  });
}
