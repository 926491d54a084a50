import { EntitySchema } from '@mikro-orm/core';
import type { CertificateAuthority } from '../../domain/certificate-authority';

export const CertificateAuthorityEntity = new EntitySchema<CertificateAuthority>({
  name: 'CertificateAuthorityRow',
  tableName: 'certificate_authorities',
  properties: {
    id: { type: 'uuid', primary: true },
    name: { type: 'string', length: 200 },
    subject: { type: 'text', unique: true },
    certificatePem: { type: 'text' },
    privateKeyId: {
      kind: 'm:1',
      entity: 'PrivateKeyRow',
      mapToPk: true,
      fieldName: 'private_key_id',
      deleteRule: 'restrict',
    },
    status: { type: 'string', length: 20 },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});

/** Controller-wide settings (key → JSON value). */
export interface SettingRow {
  key: string;
  value: unknown;
  updatedAt: Date;
}

export const SettingEntity = new EntitySchema<SettingRow>({
  name: 'SettingRow',
  tableName: 'settings',
  properties: {
    key: { type: 'string', length: 100, primary: true },
    value: { type: 'json' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
