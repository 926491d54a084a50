import path from 'node:path';
import { defineConfig, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { allEntities } from './entities';
import { migrationsList } from './migrations';

export const MIGRATIONS_DIR = path.join(__dirname, 'migrations');

/**
 * MikroORM options for a PostgreSQL URL. Migrations are checked in as TypeScript with the schema snapshot
 * (STYLE §7.8), run transactionally and all-or-nothing. Schema changes happen only through migrations.
 */
export function ormConfig(clientUrl: string, overrides: Partial<Options> = {}): Options {
  return defineConfig({
    clientUrl,
    entities: allEntities,
    extensions: [Migrator],
    forceUtcTimezone: true,
    debug: false,
    allowGlobalContext: false,
    pool: { min: 0, max: 10 },
    migrations: {
      tableName: 'mikro_orm_migrations',
      path: MIGRATIONS_DIR,
      pathTs: MIGRATIONS_DIR,
      glob: 'Migration*.ts',
      emit: 'ts',
      snapshot: true,
      snapshotName: '.snapshot-certfleet',
      silent: true,
      transactional: true,
      allOrNothing: true,
      disableForeignKeys: false,
      migrationsList: migrationsList.length > 0 ? migrationsList : undefined,
    },
    ...overrides,
  });
}
