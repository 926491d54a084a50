import crypto from 'node:crypto';
import { Client } from 'pg';
import pino from 'pino';
import { systemClock } from '@certfleet/shared';
import { masterKeyFromBytes } from '../../controller/src/secrets/master-key';
import type { ServiceContext } from '../../controller/src/services/context';
import { ensureDatabase, openDatabase, withDatabase, type Database } from '../../controller/src/storage/database';

/** The admin URL given by test/run.ts (embedded PostgreSQL) or DATABASE_URL. */
export function adminUrl(): string {
  const url = process.env.CERTFLEET_TEST_ADMIN_URL ?? process.env.DATABASE_URL;
  if (!url)
    throw new Error(
      'no test database: run tests through `npm test` (starts an embedded PostgreSQL) or set DATABASE_URL'
    );
  return url;
}

/** A fresh, empty database with a unique name, for one test file. Returns its URL. */
export async function freshDatabaseUrl(prefix = 'cft'): Promise<string> {
  const name = `${prefix}_${crypto.randomBytes(6).toString('hex')}`;
  await ensureDatabase(adminUrl(), name);
  return withDatabase(adminUrl(), name);
}

/** A fresh migrated database. */
export async function freshDatabase(prefix = 'cft'): Promise<Database> {
  return openDatabase(await freshDatabaseUrl(prefix));
}

/** Drops the database behind `url` (terminating its connections). */
export async function dropDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const c = new Client({ connectionString: adminUrl() });
  await c.connect();
  try {
    await c.query(`drop database if exists "${name}" with (force)`);
  } finally {
    await c.end();
  }
}

/** A service context on `db` for tests that call services directly: random master key, system clock, no logs. */
export function serviceContextFor(db: Database): ServiceContext {
  return {
    db,
    masterKey: masterKeyFromBytes(crypto.randomBytes(32)),
    clock: systemClock,
    log: pino({ level: 'silent' }),
  };
}
