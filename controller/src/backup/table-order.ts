import type { ClientBase } from 'pg';
import { CertFleetError } from '@certfleet/shared';
import { MIGRATIONS_TABLE } from './archive-format';

/** A table of the repository schema with the columns COPY reads and writes (generated columns excluded). */
export interface TableInfo {
  name: string;
  columns: string[];
}

/** `child` has a foreign key to `parent`. */
export interface ForeignKeyEdge {
  child: string;
  parent: string;
}

/**
 * The repository's tables in the `public` schema: ordinary and partitioned tables (not their partitions), minus
 * MikroORM's migrations table. pg-boss keeps its queue in its own schema, which is therefore never included.
 */
export async function listTables(client: ClientBase): Promise<TableInfo[]> {
  const { rows } = await client.query<{ table: string; columns: string[] }>(
    `select c.relname as "table",
            array_agg(a.attname::text order by a.attnum) as "columns"
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
      where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition and c.relname <> $1
      group by c.relname
      order by c.relname`,
    [MIGRATIONS_TABLE]
  );
  return rows.map((r) => ({ name: r.table, columns: r.columns }));
}

/** Foreign keys between tables of the `public` schema. */
export async function listForeignKeys(client: ClientBase): Promise<ForeignKeyEdge[]> {
  const { rows } = await client.query<ForeignKeyEdge>(
    `select distinct child.relname as "child", parent.relname as "parent"
       from pg_constraint k
       join pg_class child on child.oid = k.conrelid
       join pg_namespace cn on cn.oid = child.relnamespace
       join pg_class parent on parent.oid = k.confrelid
       join pg_namespace pn on pn.oid = parent.relnamespace
      where k.contype = 'f' and cn.nspname = 'public' and pn.nspname = 'public'
      order by 1, 2`
  );
  return rows;
}

/**
 * Orders `tables` so that every table comes after the tables it references (parents first), alphabetically among
 * tables that are free at the same time, so the order is stable. A self-reference needs no ordering: PostgreSQL checks
 * a non-deferrable foreign key at the end of each statement, so one COPY may hold a child row before its parent.
 * Throws CF_INTERNAL for a cycle across tables, which no FK-ordered load can satisfy.
 */
export function loadOrder(tables: readonly string[], edges: readonly ForeignKeyEdge[]): string[] {
  const known = new Set(tables);
  const parents = new Map<string, Set<string>>(tables.map((t) => [t, new Set<string>()]));
  for (const e of edges) {
    if (e.child === e.parent || !known.has(e.child) || !known.has(e.parent)) continue;
    parents.get(e.child)?.add(e.parent);
  }
  const done = new Set<string>();
  const order: string[] = [];
  while (order.length < tables.length) {
    const ready = [...tables]
      .filter((t) => !done.has(t) && [...(parents.get(t) ?? [])].every((p) => done.has(p)))
      .sort();
    if (ready.length === 0) {
      const rest = tables.filter((t) => !done.has(t));
      throw new CertFleetError('CF_INTERNAL', `backup: foreign keys form a cycle between tables ${rest.join(', ')}`);
    }
    for (const t of ready) {
      done.add(t);
      order.push(t);
    }
  }
  return order;
}
