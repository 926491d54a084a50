/**
 * Creates a new migration from the difference between the entity schemas and the snapshot:
 * `npm run migration:create -w controller -- [name]`. Needs a scratch PostgreSQL (CERTFLEET_TEST_ADMIN_URL
 * or DATABASE_URL); the migration file and the updated snapshot are written to src/storage/migrations.
 */
import { MikroORM } from '@mikro-orm/postgresql';
import { ormConfig } from '../src/storage/orm-config';

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL ?? process.env.CERTFLEET_TEST_ADMIN_URL;
  if (!url) throw new Error('set DATABASE_URL to a scratch PostgreSQL');
  const orm = await MikroORM.init(ormConfig(url));
  try {
    const migrator = orm.getMigrator();
    await migrator.up();
    const res = await migrator.createMigration(undefined, false, false, process.argv[2]);
    console.log(res.fileName ? `created ${res.fileName}` : 'no changes');
  } finally {
    await orm.close(true);
  }
}
void main();
