import { EntitySchema } from '@mikro-orm/core';
import type { Product } from '../../domain/product';

export const ProductEntity = new EntitySchema<Product>({
  name: 'ProductRow',
  tableName: 'products',
  properties: {
    id: { type: 'string', length: 100, primary: true },
    vendor: { type: 'string', length: 100 },
    name: { type: 'string', length: 200 },
    validationLevel: { type: 'string', length: 2 },
    wildcard: { type: 'boolean' },
    multiDomain: { type: 'boolean' },
    maxValidityDays: { type: 'integer' },
    url: { type: 'text' },
    issuerType: { type: 'string', length: 50 },
    builtin: { type: 'boolean' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});

/** An ACME account per directory URL (A2); its key is a private key object, EAB HMAC in `secrets`. */
export interface AcmeAccountRow {
  id: string;
  directoryUrl: string;
  email: string | null;
  accountUrl: string | null;
  privateKeyId: string;
  eabKid: string | null;
  createdAt: Date;
}

export const AcmeAccountEntity = new EntitySchema<AcmeAccountRow>({
  name: 'AcmeAccountRow',
  tableName: 'acme_accounts',
  properties: {
    id: { type: 'uuid', primary: true },
    directoryUrl: { type: 'text', unique: true },
    email: { type: 'string', length: 320, nullable: true },
    accountUrl: { type: 'text', nullable: true },
    privateKeyId: {
      kind: 'm:1',
      entity: 'PrivateKeyRow',
      mapToPk: true,
      fieldName: 'private_key_id',
      deleteRule: 'restrict',
    },
    eabKid: { type: 'string', length: 200, nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
