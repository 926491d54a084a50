import { z } from 'zod';

/** A vendor account (SPEC R6, manual §4.2.4). The password is write-only: stored sealed, never returned. */
export const providerAccountInputSchema = z
  .object({
    name: z.string().min(1).max(200),
    vendor: z.string().min(1).max(200),
    url: z.url().nullable().default(null),
    username: z.string().max(200).nullable().default(null),
    email: z.email().nullable().default(null),
    password: z.string().max(1000).nullable().default(null).describe('write-only; encrypted at rest'),
    notes: z.string().max(4000).nullable().default(null),
  })
  .strict();
export type ProviderAccountInput = z.infer<typeof providerAccountInputSchema>;

export interface ProviderAccount {
  id: string;
  name: string;
  vendor: string;
  url: string | null;
  username: string | null;
  email: string | null;
  hasPassword: boolean;
  notes: string | null;
  createdAt: Date;
  updatedAt: Date;
}
