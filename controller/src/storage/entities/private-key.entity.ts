import { EntitySchema } from '@mikro-orm/core';
import type { PrivateKeyRecord } from '../../domain/private-key';

export const PrivateKeyEntity = new EntitySchema<PrivateKeyRecord>({
  name: 'PrivateKeyRow',
  tableName: 'private_keys',
  // W5 list pages newest first in (created_at, id) order from this index (issue 6).
  indexes: [{ name: 'private_keys_created_at_id_idx', properties: ['createdAt', 'id'] }],
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
