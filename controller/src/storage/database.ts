import { MikroORM, type EntityManager } from '@mikro-orm/postgresql';
import { Client } from 'pg';
import { CertFleetError } from '@certfleet/shared';
import { ormConfig } from './orm-config';

export type Em = EntityManager;

/** An open connection to the controller database with the schema migrated to the latest version. */
export interface Database {
  orm: MikroORM;
  url: string;
  /** A fresh EntityManager (one unit of work); never share one across requests. */
  em(): Em;
  close(): Promise<void>;
}

/** Replaces the database name in a PostgreSQL URL. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Creates `database` on the server behind `adminUrl` when it does not exist yet. */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(database)) {
    throw new CertFleetError('CF_CONFIG_INVALID', `database: invalid database name ${database}`);
  }
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (!rowCount) await client.query(`create database "${database}"`);
  } finally {
    await client.end();
  }
}

/**
 * Opens the database at `url` and applies every pending migration (transactional, all-or-nothing).
 * Throws CF_DB_UNAVAILABLE (retryable) when the server cannot be reached.
 */
export async function openDatabase(url: string, options: { migrate?: boolean } = {}): Promise<Database> {
  let orm: MikroORM;
  try {
    orm = await MikroORM.init(ormConfig(url));
  } catch (err) {
    throw new CertFleetError('CF_DB_UNAVAILABLE', `database: cannot connect: ${(err as Error).message}`, {
      cause: err,
      retryable: true,
    });
  }
  if (options.migrate !== false) await orm.getMigrator().up();
  return {
    orm,
    url,
    em: () => orm.em.fork() as Em,
    close: () => orm.close(true),
  };
}
