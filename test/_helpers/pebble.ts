/**
 * Debian's `pebble` (Let's Encrypt's ACME test server) and `pebble-challtestsrv` on loopback for ACME tests
 * (SPEC A2). Everything runs on ports chosen here — free loopback ports, never the packages' defaults, and never a
 * port that `ss -ltn` shows another service listening on. Pebble's HTTPS listener gets a TLS certificate made at
 * test time with openssl (Debian ships none); its trust anchor is {@link RunningPebble.tlsCaPem}.
 *
 * - pebble validates HTTP-01 by connecting to `<identifier>:<httpPort>`; `httpPort` is the caller's responder port.
 * - DNS goes to challtestsrv (`-dnsserver`), whose default A record is 127.0.0.1, so every name resolves to
 *   loopback; TXT records for DNS-01 are set through its management API (`/set-txt`, `/clear-txt`).
 * - challtestsrv's own HTTP-01/HTTPS/TLS-ALPN listeners are disabled: our responder answers HTTP-01.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The packages' default ports: never used, even when free. */
const DEFAULT_PORTS = new Set([14000, 15000, 8053, 8055, 5001, 5002, 5003, 4001, 4002, 4003]);

export interface PebbleOptions {
  /** Port of the HTTP-01 responder pebble's VA must connect to. */
  httpPort: number;
  /** EAB: when given, pebble requires external account binding with these kid → base64url HMAC keys. */
  eabKeys?: Record<string, string>;
  /** Extra environment for pebble (e.g. PEBBLE_VA_SLEEPTIME). */
  env?: Record<string, string>;
}

export interface RunningPebble {
  directoryUrl: string;
  /** Trust anchor of pebble's own HTTPS listeners (ACME API + management), PEM. */
  tlsCaPem: string;
  /** Pebble's issuing root (regenerated at every start), fetched from the management API `/roots/0`. */
  rootPem: string;
  managementUrl: string;
  /** challtestsrv management API base URL (http). */
  challtestsrvUrl: string;
  dnsPort: number;
  dir: string;
  /** Pebble's and challtestsrv's output (for failure messages). */
  logs(): string;
  stop(): Promise<void>;
}

/** Ports some process listens on right now (TCP, any address), from `ss -ltn`. */
export function listeningPorts(): Set<number> {
  const out = execFileSync('ss', ['-Hltn'], { encoding: 'utf8' });
  const ports = new Set<number>();
  for (const line of out.split('\n')) {
    const local = line.trim().split(/\s+/)[3];
    const m = local ? /:(\d+)$/.exec(local) : null;
    if (m) ports.add(Number(m[1]));
  }
  return ports;
}

/**
 * Free loopback TCP ports (distinct), checked against `ss -ltn` and the packages' defaults. The OS assigns them by
 * binding port 0; a port is returned only after its probe socket is closed.
 */
export async function freeLoopbackPorts(count: number, udpToo = false): Promise<number[]> {
  const busy = listeningPorts();
  const ports: number[] = [];
  for (let attempt = 0; ports.length < count && attempt < count * 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen({ host: '127.0.0.1', port: 0 }, () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    if (busy.has(port) || DEFAULT_PORTS.has(port) || ports.includes(port)) continue;
    if (udpToo && !(await udpPortFree(port))) continue;
    ports.push(port);
  }
  if (ports.length < count) throw new Error(`pebble helper: could not find ${count} free loopback ports`);
  return ports;
}

async function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** GET over HTTP(S) with an explicit trust anchor; resolves with status and body. */
export function fetchText(
  url: string,
  ca?: string,
  method = 'GET',
  body?: string
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(
      u,
      {
        method,
        ...(ca ? { ca } : {}),
        timeout: 5000,
        headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      }
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  logs: () => string,
  timeoutMs = 15_000
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`${what} did not come up in ${timeoutMs} ms:\n${logs()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A throwaway CA ("minica") and a 127.0.0.1/localhost certificate for pebble's HTTPS listeners. */
async function makeTlsCertificate(dir: string): Promise<{ caPem: string; cert: string; key: string }> {
  const caKey = path.join(dir, 'minica-key.pem');
  const ca = path.join(dir, 'minica.pem');
  const key = path.join(dir, 'localhost-key.pem');
  const csr = path.join(dir, 'localhost.csr');
  const cert = path.join(dir, 'localhost-cert.pem');
  const ext = path.join(dir, 'localhost.ext');
  await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', caKey]);
  await run('openssl', [
    'req', '-x509', '-new', '-key', caKey, '-subj', '/CN=certfleet test pebble minica', '-days', '2',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign', '-out', ca,
  ]); // prettier-ignore
  await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  await run('openssl', ['req', '-new', '-key', key, '-subj', '/CN=localhost', '-out', csr]);
  fs.writeFileSync(
    ext,
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n'
  );
  await run('openssl', [
    'x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert,
  ]); // prettier-ignore
  return { caPem: fs.readFileSync(ca, 'utf8'), cert, key };
}

function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
    return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Starts challtestsrv and pebble on fresh free loopback ports. Call `stop()` in `after.always`. */
export async function startPebble(options: PebbleOptions): Promise<RunningPebble> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-pebble-'));
  const [acmePort, mgmtPort, tlsPort, ctsMgmtPort, dnsPort] = (await freeLoopbackPorts(5, true)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const busy = listeningPorts();
  if (busy.has(options.httpPort) === false) {
    // the responder must already listen: pebble's VA connects there
    throw new Error(`pebble helper: nothing listens on httpPort ${options.httpPort}; start the responder first`);
  }
  const tls = await makeTlsCertificate(dir);
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: tls.cert,
      privateKey: tls.key,
      httpPort: options.httpPort,
      tlsPort, // nothing listens there: tls-alpn-01 is not used
      ocspResponderURL: '',
      externalAccountBindingRequired: options.eabKeys !== undefined,
      ...(options.eabKeys ? { externalAccountMACKeys: options.eabKeys } : {}),
    },
  };
  const configFile = path.join(dir, 'pebble-config.json');
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));

  const output: string[] = [];
  const capture = (name: string, child: ChildProcess): void => {
    const add = (chunk: Buffer): void => {
      output.push(`[${name}] ${chunk.toString('utf8')}`);
      if (output.length > 2000) output.splice(0, output.length - 2000);
    };
    child.stdout?.on('data', add);
    child.stderr?.on('data', add);
  };
  const logs = (): string => output.join('').slice(-8000);

  const cts = spawn(
    'pebble-challtestsrv',
    [
      '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '',
      '-http01', '', '-https01', '', '-tlsalpn01', '',
      '-dns01', `127.0.0.1:${dnsPort}`, '-management', `127.0.0.1:${ctsMgmtPort}`,
    ], // prettier-ignore
    { stdio: ['ignore', 'pipe', 'pipe'] }
  );
  capture('challtestsrv', cts);
  let pebble: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    await Promise.all([stopChild(pebble), stopChild(cts)]);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const challtestsrvUrl = `http://127.0.0.1:${ctsMgmtPort}`;
    // challtestsrv has no health endpoint; any HTTP answer on its management port means it is up.
    await waitFor('pebble-challtestsrv', async () => (await fetchText(`${challtestsrvUrl}/`)).status > 0, logs);
    pebble = spawn('pebble', ['-config', configFile, '-dnsserver', `127.0.0.1:${dnsPort}`, '-strict=false'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        PEBBLE_VA_NOSLEEP: '1',
        PEBBLE_WFE_NONCEREJECT: '0',
        ...options.env,
      },
    });
    capture('pebble', pebble);
    const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
    await waitFor('pebble', async () => (await fetchText(directoryUrl, tls.caPem)).status === 200, logs);
    const managementUrl = `https://127.0.0.1:${mgmtPort}`;
    const root = await fetchText(`${managementUrl}/roots/0`, tls.caPem);
    if (root.status !== 200 || !root.body.includes('BEGIN CERTIFICATE'))
      throw new Error(`pebble: /roots/0 answered ${root.status}`);
    return {
      directoryUrl,
      tlsCaPem: tls.caPem,
      rootPem: root.body,
      managementUrl,
      challtestsrvUrl,
      dnsPort,
      dir,
      logs,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
