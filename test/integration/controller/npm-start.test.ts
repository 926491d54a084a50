import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';

const root = path.resolve(__dirname, '../../..');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function healthz(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(
      { host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

interface Started {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  ms: number;
}

async function start(cmd: string, args: string[], env: NodeJS.ProcessEnv, port: number): Promise<Started> {
  const t0 = Date.now();
  // Own process group, so that Ctrl-C can be simulated as a terminal does it: SIGINT to the whole foreground group.
  const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`controller exited early (${child.exitCode}): ${err.slice(-2000)}`);
    if ((await healthz(port)) === 200) return { child, out: () => out, err: () => err, ms: Date.now() - t0 };
    await new Promise((r) => setTimeout(r, 200));
  }
  process.kill(-child.pid!, 'SIGKILL');
  throw new Error(`no /healthz within 60 s: ${err.slice(-2000)}`);
}

async function interrupt(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal }))
  );
  process.kill(-child.pid!, 'SIGINT');
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

function postgresRunning(clusterDir: string): boolean {
  const pidFile = path.join(clusterDir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return false;
  try {
    process.kill(Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]), 0);
    return true;
  } catch {
    return false;
  }
}

test('X1 `npm start` answers /healthz on the embedded PostgreSQL within 60 s, stops cleanly on Ctrl-C, and starts again', async (t) => {
  // CERTFLEET_HOME inside a mode-0700 directory, like a checkout under /root: the embedded PostgreSQL must still start.
  const outer = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-700-'));
  fs.chmodSync(outer, 0o700);
  const home = path.join(outer, 'home');
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CERTFLEET_HOME: home,
    CERTFLEET_HTTPS_PORT: String(port),
    CERTFLEET_HTTPS_HOST: '127.0.0.1',
    CERTFLEET_AGENT_PORT: '0',
    CERTFLEET_AGENT_HOST: '127.0.0.1',
  };
  delete env.DATABASE_URL;
  delete env.CERTFLEET_TEST_ADMIN_URL;
  let clusterDir = path.join(home, 'pgdata');
  try {
    const first = await start('npm', ['start', '--silent'], env, port);
    t.log(`first start (initdb + migrations + CA + console certificate): ${first.ms} ms`);
    const banner = /password: (\S+)/.exec(first.err());
    t.truthy(banner, 'the generated admin password is printed once');
    const password = banner![1]!;
    t.false(first.out().includes(password), 'the JSON logs never contain the admin password');
    for (const line of first.out().split('\n').filter(Boolean))
      t.notThrows(() => JSON.parse(line), 'stdout is JSON log lines');
    const loc = path.join(home, 'pgdata.location');
    if (fs.existsSync(loc)) clusterDir = fs.readFileSync(loc, 'utf8').trim();
    t.true(postgresRunning(clusterDir), 'embedded PostgreSQL runs while the controller runs');
    t.is(fs.statSync(path.join(home, 'master.key')).mode & 0o777, 0o600);

    // npm waits for the controller, then re-raises the SIGINT it got itself (as a shell would report 130).
    const viaNpm = await interrupt(first.child);
    t.true(viaNpm.code === 0 || viaNpm.signal === 'SIGINT', JSON.stringify(viaNpm));
    t.regex(first.out(), /"msg":"controller stopped"/, 'the controller shut down cleanly');
    t.regex(first.err(), /SIGINT: stopping the controller/);
    t.false(postgresRunning(clusterDir), 'Ctrl-C also stops the embedded PostgreSQL');

    const second = await start(process.execPath, ['bin/certfleet.js', 'start'], env, port);
    t.log(`restart on the existing home: ${second.ms} ms`);
    t.false(/password: /.test(second.err()), 'no new admin on restart');
    t.is(await healthz(port), 200);
    t.deepEqual(await interrupt(second.child), { code: 0, signal: null }, 'Ctrl-C: the controller exits with code 0');
    t.false(postgresRunning(clusterDir));
  } finally {
    if (clusterDir !== path.join(home, 'pgdata')) fs.rmSync(clusterDir, { recursive: true, force: true });
    fs.rmSync(outer, { recursive: true, force: true });
  }
});
