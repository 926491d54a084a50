import fs from 'node:fs';
import path from 'node:path';

/** The files and folders inside CERTFLEET_HOME. Everything the controller keeps on disk is named here. */
export interface HomeLayout {
  root: string;
  /** The key-encryption key (32 random bytes, base64). Mode 0600. Never stored in the database. */
  masterKeyFile: string;
  /** Embedded PostgreSQL data directory (or a pointer file when it had to live elsewhere, see embedded-postgres.ts). */
  pgDataDir: string;
  pgPasswordFile: string;
  pgLocationFile: string;
  backupsDir: string;
}

export function homeLayout(root: string): HomeLayout {
  return {
    root,
    masterKeyFile: path.join(root, 'master.key'),
    pgDataDir: path.join(root, 'pgdata'),
    pgPasswordFile: path.join(root, 'pg-password'),
    pgLocationFile: path.join(root, 'pgdata.location'),
    backupsDir: path.join(root, 'backups'),
  };
}

/** Creates CERTFLEET_HOME with mode 0700 if it does not exist. */
export function ensureHome(layout: HomeLayout): void {
  fs.mkdirSync(layout.root, { recursive: true, mode: 0o700 });
}
