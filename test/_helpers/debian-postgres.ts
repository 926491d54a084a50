import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Debian's PostgreSQL 15 server binaries (package postgresql-15). */
export const PG15_BIN = '/usr/lib/postgresql/15/bin';

export function hasDebianPostgres(): boolean {
  return fs.existsSync(path.join(PG15_BIN, 'pg_ctl')) && fs.existsSync(path.join(PG15_BIN, 'initdb'));
}

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

export interface DebianCluster {
  url: string;
  port: number;
  stop(): void;
}

/**
 * A private Debian PostgreSQL 15 cluster on a free loopback port (trust auth, loopback only), made the way
 * DEPENDENCIES.md describes. As root it runs as the `postgres` OS user.
 */
export async function startDebianPostgres(): Promise<DebianCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-pg15-'));
  fs.chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  const port = await freePort();
  const asPg = (cmd: string, args: string[]): void => {
    const root = process.getuid?.() === 0;
    if (root) execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' });
    else execFileSync(cmd, args, { stdio: 'pipe' });
  };
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', dir]);
  asPg(path.join(PG15_BIN, 'initdb'), ['-D', data, '--auth=trust', '-U', 'postgres', '-E', 'UTF8']);
  asPg(path.join(PG15_BIN, 'pg_ctl'), [
    '-D',
    data,
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
    '-w',
    '-l',
    path.join(dir, 'log'),
    'start',
  ]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: () => {
      try {
        asPg(path.join(PG15_BIN, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
