import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import {
  productSchema,
  requirementsFromSans,
  selectProducts,
  shippedCatalogue,
  type ProductRequirements,
} from '../catalogue/catalogue';
import type { Product } from '../domain/product';
import type { Em } from '../storage/database';
import { ProductEntity } from '../storage/entities';
import { appendAudit } from './audit-service';
import type { Actor, ServiceContext } from './context';
import { getDefinition, parseInput } from './definition-service';

/**
 * Loads the shipped catalogue into the database (SPEC R7): new products are added, shipped products still marked
 * `builtin` are refreshed, and products an operator edited (`builtin = false`) are left alone.
 */
export async function syncCatalogue(em: Em, now: Date): Promise<{ added: number; updated: number }> {
  let added = 0;
  let updated = 0;
  for (const p of shippedCatalogue.products) {
    const row = await em.findOne(ProductEntity, { id: p.id });
    if (!row) {
      em.persist(em.create(ProductEntity, { ...p, builtin: true, updatedAt: now }));
      added++;
    } else if (row.builtin) {
      em.assign(row, { ...p, updatedAt: now });
      updated++;
    }
  }
  await em.flush();
  return { added, updated };
}

export const productQuerySchema = z
  .object({
    validationLevel: z.enum(['DV', 'OV', 'EV']).optional(),
    wildcard: z.enum(['true', 'false']).optional(),
    multiDomain: z.enum(['true', 'false']).optional(),
    maxValidityDays: z.coerce.number().int().positive().optional(),
  })
  .strict();

function toRequirements(q: z.infer<typeof productQuerySchema>): ProductRequirements {
  return {
    ...(q.validationLevel ? { validationLevel: q.validationLevel } : {}),
    ...(q.wildcard ? { wildcard: q.wildcard === 'true' } : {}),
    ...(q.multiDomain ? { multiDomain: q.multiDomain === 'true' } : {}),
    ...(q.maxValidityDays ? { maxValidityDays: q.maxValidityDays } : {}),
  };
}

export async function listProducts(em: Em, raw: unknown): Promise<Product[]> {
  const q = parseInput(productQuerySchema, raw, 'product.list');
  return selectProducts(await em.find(ProductEntity, {}), toRequirements(q));
}

/** The products that satisfy a definition: its named product, or its requirements plus what its SANs imply. */
export async function productsForDefinition(
  em: Em,
  definitionId: string
): Promise<{ requirements: ProductRequirements; products: Product[] }> {
  const def = await getDefinition(em, definitionId);
  const all = await em.find(ProductEntity, {});
  if (def.productId) {
    const named = all.filter((p) => p.id === def.productId);
    return { requirements: {}, products: named };
  }
  const req: ProductRequirements = { ...requirementsFromSans(def.sans), ...(def.requirements ?? {}) };
  return { requirements: req, products: selectProducts(all, req) };
}

/** Adds or edits a product; an edited shipped product is no longer overwritten by catalogue updates. */
export async function upsertProduct(ctx: ServiceContext, raw: unknown, actor: Actor): Promise<Product> {
  const input = parseInput(productSchema, raw, 'product');
  return ctx.db.em().transactional(async (em) => {
    const now = ctx.clock.now();
    const row = await em.findOne(ProductEntity, { id: input.id });
    if (row) em.assign(row, { ...input, builtin: false, updatedAt: now });
    else em.persist(em.create(ProductEntity, { ...input, builtin: false, updatedAt: now }));
    await appendAudit(
      em,
      { actor, action: row ? 'product.updated' : 'product.created', targetType: 'product', targetId: input.id },
      now
    );
    return (row ?? (await em.findOneOrFail(ProductEntity, { id: input.id })))!;
  });
}

export async function getProduct(em: Em, id: string): Promise<Product> {
  const p = await em.findOne(ProductEntity, { id });
  if (!p) throw new CertFleetError('CF_NOT_FOUND', `product: ${id} not found`);
  return p;
}
