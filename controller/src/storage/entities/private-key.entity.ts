import { EntitySchema } from '@mikro-orm/core';
import type { PrivateKeyRecord } from '../../domain/private-key';

export const PrivateKeyEntity = new EntitySchema<PrivateKeyRecord>({
  name: 'PrivateKeyRow',
  tableName: 'private_keys',
  properties: {
    id: { type: 'uuid', primary: true },
    algorithm: { type: 'string', length: 20 },
    publicKeySha256: { type: 'string', length: 64, unique: true },
    publicKeyPem: { type: 'text' },
    sealed: { type: 'blob', columnType: 'bytea', lazy: true },
    exportable: { type: 'boolean', default: true },
    label: { type: 'string', length: 200, nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
