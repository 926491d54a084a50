import { EntitySchema } from '@mikro-orm/core';
import type { ProviderAccount } from '../../domain/provider-account';

export interface ProviderAccountRow extends Omit<ProviderAccount, 'hasPassword'> {
  /** Envelope-sealed password, or null. */
  passwordSealed: Buffer | null;
}

export const ProviderAccountEntity = new EntitySchema<ProviderAccountRow>({
  name: 'ProviderAccountRow',
  tableName: 'provider_accounts',
  properties: {
    id: { type: 'uuid', primary: true },
    name: { type: 'string', length: 200, unique: true },
    vendor: { type: 'string', length: 200 },
    url: { type: 'text', nullable: true },
    username: { type: 'string', length: 200, nullable: true },
    email: { type: 'string', length: 320, nullable: true },
    passwordSealed: { type: 'blob', columnType: 'bytea', nullable: true },
    notes: { type: 'text', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
