import { z } from 'zod';
import type { Product } from '../domain/product';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const raw: unknown = require('./products.json');

export const productSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{1,99}$/),
    vendor: z.string().min(1).max(100),
    name: z.string().min(1).max(200),
    validationLevel: z.enum(['DV', 'OV', 'EV']),
    wildcard: z.boolean(),
    multiDomain: z.boolean(),
    maxValidityDays: z.number().int().positive().max(3650),
    url: z.url(),
    issuerType: z.enum(['acme', 'manual', 'internal-ca']),
  })
  .strict();
export type ProductData = z.infer<typeof productSchema>;

const catalogueSchema = z
  .object({ version: z.string(), note: z.string(), products: z.array(productSchema).min(1) })
  .strict();

/** The product catalogue shipped with CertFleet (SPEC R7), validated at load. */
export const shippedCatalogue = catalogueSchema.parse(raw);

export interface ProductRequirements {
  validationLevel?: 'DV' | 'OV' | 'EV';
  wildcard?: boolean;
  multiDomain?: boolean;
  /** Minimum validity the product must allow. */
  maxValidityDays?: number;
}

const levelRank = { DV: 0, OV: 1, EV: 2 } as const;

/**
 * The selector (SPEC A3, §2.10): products that satisfy every stated requirement. A higher validation level
 * satisfies a lower one (an EV product also meets "OV"). Sorted by vendor, then name.
 */
export function selectProducts<
  P extends Pick<Product, 'validationLevel' | 'wildcard' | 'multiDomain' | 'maxValidityDays' | 'vendor' | 'name'>,
>(products: readonly P[], req: ProductRequirements): P[] {
  return products
    .filter(
      (p) =>
        (req.validationLevel === undefined || levelRank[p.validationLevel] >= levelRank[req.validationLevel]) &&
        (!req.wildcard || p.wildcard) &&
        (!req.multiDomain || p.multiDomain) &&
        (req.maxValidityDays === undefined || p.maxValidityDays >= req.maxValidityDays)
    )
    .sort((a, b) => a.vendor.localeCompare(b.vendor) || a.name.localeCompare(b.name));
}

/** Requirements implied by a definition's SANs: a wildcard name needs wildcard support, several names need SANs. */
export function requirementsFromSans(sans: ReadonlyArray<{ type: string; value: string }>): ProductRequirements {
  const dns = sans.filter((s) => s.type === 'dns');
  return {
    ...(dns.some((s) => s.value.startsWith('*.')) ? { wildcard: true } : {}),
    ...(sans.length > 1 ? { multiDomain: true } : {}),
  };
}
