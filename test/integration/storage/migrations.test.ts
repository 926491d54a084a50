import test from 'ava';
import { migrationsList } from '../../../controller/src/storage/migrations';
import { dropDatabase, freshDatabase } from '../../_helpers/db';

test('X1 the checked-in migrations produce exactly the schema the entities describe', async (t) => {
  const db = await freshDatabase();
  try {
    const applied = await db.orm.getMigrator().getExecutedMigrations();
    t.deepEqual(
      applied.map((m) => m.name),
      migrationsList.map((m) => m.name)
    );
    const diff = await db.orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false });
    t.is(diff.trim(), '', 'no schema drift between entities and migrations');
    t.deepEqual(await db.orm.getMigrator().getPendingMigrations(), []);
  } finally {
    await db.close();
    await dropDatabase(db.url);
  }
});
