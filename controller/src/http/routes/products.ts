import { z } from 'zod';
import { productSchema } from '../../catalogue/catalogue';
import {
  getProduct,
  listProducts,
  productQuerySchema,
  productsForDefinition,
  upsertProduct,
} from '../../services/product-service';
import { actorOf, type RouteModule } from './types';

export const productRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'GET',
    url: '/api/v1/products',
    summary: 'Product catalogue, filtered by requirements (selector) — SPEC R7, A3',
    tags: ['products'],
    permission: 'repository:read',
    query: productQuerySchema,
    handler: async ({ query }) => ({ items: await listProducts(ctx.db.em(), query) }),
  });
  add({
    method: 'GET',
    url: '/api/v1/products/:id',
    summary: 'One product (its url is the vendor page the "Buy" button opens)',
    tags: ['products'],
    permission: 'repository:read',
    params: z.object({ id: z.string().min(1).max(100) }).strict(),
    handler: async ({ params }) => getProduct(ctx.db.em(), params.id),
  });
  add({
    method: 'PUT',
    url: '/api/v1/products/:id',
    summary: 'Add or edit a product (edited shipped products are kept across catalogue updates)',
    tags: ['products'],
    permission: 'settings:manage',
    params: z.object({ id: z.string().min(1).max(100) }).strict(),
    body: productSchema.omit({ id: true }),
    handler: async ({ params, raw, user }) =>
      upsertProduct(ctx, { ...(raw.body as object), id: params.id }, actorOf(user)),
  });
  add({
    method: 'GET',
    url: '/api/v1/definitions/:id/products',
    summary: "Products that satisfy a definition's product or requirements — SPEC A3",
    tags: ['products'],
    permission: 'repository:read',
    params: z.object({ id: z.uuid() }).strict(),
    handler: async ({ params }) => productsForDefinition(ctx.db.em(), params.id),
  });
};
