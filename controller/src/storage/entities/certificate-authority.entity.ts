import { EntitySchema } from '@mikro-orm/core';
import type { CaIssuance, CertificateAuthority } from '../../domain/certificate-authority';

export const CertificateAuthorityEntity = new EntitySchema<CertificateAuthority>({
  name: 'CertificateAuthorityRow',
  tableName: 'certificate_authorities',
  properties: {
    id: { type: 'uuid', primary: true },
    name: { type: 'string', length: 200 },
    kind: { type: 'string', length: 20, default: 'root' },
    subject: { type: 'text', unique: true },
    certificatePem: { type: 'text', nullable: true },
    chainPem: { type: 'json', default: '[]' },
    csrPem: { type: 'text', nullable: true },
    privateKeyId: {
      kind: 'm:1',
      entity: 'PrivateKeyRow',
      mapToPk: true,
      fieldName: 'private_key_id',
      deleteRule: 'restrict',
    },
    status: { type: 'string', length: 20 },
    extensions: { type: 'json', default: '{}' },
    crlNumber: { type: 'integer', default: 0 },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});

export const CaIssuanceEntity = new EntitySchema<CaIssuance>({
  name: 'CaIssuanceRow',
  tableName: 'ca_issuances',
  uniques: [{ name: 'ca_issuances_ca_serial_unique', properties: ['caId', 'serial'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    caId: {
      kind: 'm:1',
      entity: 'CertificateAuthorityRow',
      mapToPk: true,
      fieldName: 'ca_id',
      deleteRule: 'restrict',
      index: true,
    },
    serial: { type: 'string', length: 64 },
    kind: { type: 'string', length: 20 },
    subject: { type: 'text' },
    sha256: { type: 'string', length: 64, unique: true },
    notBefore: { type: 'datetime', columnType: 'timestamptz' },
    notAfter: { type: 'datetime', columnType: 'timestamptz' },
    certificateId: {
      kind: 'm:1',
      entity: 'CertificateRow',
      mapToPk: true,
      nullable: true,
      fieldName: 'certificate_id',
      deleteRule: 'set null',
    },
    username: { type: 'string', length: 100, nullable: true },
    pem: { type: 'text' },
    revokedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    revocationReason: { type: 'string', length: 30, nullable: true },
    issuedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});

/** Controller-wide settings (key → JSON value). Secrets never go here: see SecretEntity. */
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

/** Named secrets sealed under the master key (SMTP password, ACME EAB HMAC keys, …). `id` is the secret's name. */
export interface SecretRow {
  id: string;
  sealed: Buffer;
  updatedAt: Date;
}

export const SecretEntity = new EntitySchema<SecretRow>({
  name: 'SecretRow',
  tableName: 'secrets',
  properties: {
    id: { type: 'string', length: 200, primary: true },
    sealed: { type: 'blob', columnType: 'bytea' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
