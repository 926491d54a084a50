/**
 * One page of a list, server-side (issue 6: lists stay fast with 100,000 certificates). Three queries:
 *
 * 1. the ids of the page — `select id … order by … limit … offset …`: with an index on the order columns plus `id`
 *    this is an index(-only) scan that stops after offset + limit entries; a deep offset walks index entries, never
 *    the table's rows (a plain `select *` with offset 99,950 made PostgreSQL read and sort the whole table);
 * 2. the exact total (`count(*)` with the same filter; an index-only scan where an index covers the filter);
 * 3. the rows of those ids, returned in the order of step 1.
 */
import type { EntitySchema, FilterQuery, QueryOrderMap } from '@mikro-orm/core';
import type { Em } from './database';

export interface Page<T> {
  items: T[];
  total: number;
}

export async function findPage<T extends { id: string }>(
  em: Em,
  entity: EntitySchema<T>,
  where: () => FilterQuery<T>,
  orderBy: QueryOrderMap<T>,
  limit: number,
  offset: number
): Promise<Page<T>> {
  // `where` is a factory: raw SQL fragments (`raw()`) in a filter may be used by one query only.
  const ids = (await em
    .createQueryBuilder(entity)
    .select('id')
    .where(where())
    .orderBy(orderBy)
    .limit(limit)
    .offset(offset)
    .execute('all', false)) as Array<{ id: string }>;
  const total = await em.count(entity, where());
  if (ids.length === 0) return { items: [], total };
  const rows = await em.find(entity, { id: { $in: ids.map((r) => r.id) } } as unknown as FilterQuery<T>);
  const position = new Map(ids.map((r, i) => [r.id, i]));
  rows.sort((a, b) => (position.get(a.id) ?? 0) - (position.get(b.id) ?? 0));
  return { items: rows, total };
}
