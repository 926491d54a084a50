import { EntitySchema } from '@mikro-orm/core';
import type { Certificate } from '../../domain/certificate';

export const CertificateEntity = new EntitySchema<Certificate>({
  name: 'CertificateRow',
  tableName: 'certificates',
  indexes: [
    { name: 'certificates_not_after_idx', properties: ['notAfter'] },
    // W3 list (issue 6): pages in (not_after, id) order without sorting the table; current-only pages from a partial
    // index; the search `q` (substring of the subject or a SAN) through trigram indexes (pg_trgm).
    { name: 'certificates_not_after_id_idx', properties: ['notAfter', 'id'] },
    {
      name: 'certificates_current_not_after_id_idx',
      expression:
        'create index "certificates_current_not_after_id_idx" on "certificates" ("not_after", "id") include ("definition_id") where "is_current"',
    },
    {
      name: 'certificates_subject_trgm_idx',
      expression: 'create index "certificates_subject_trgm_idx" on "certificates" using gin ("subject" gin_trgm_ops)',
    },
    {
      name: 'certificates_sans_trgm_idx',
      expression: 'create index "certificates_sans_trgm_idx" on "certificates" using gin (("sans"::text) gin_trgm_ops)',
    },
  ],
  // SPEC R3: exactly one current certificate per definition, enforced by the database.
  uniques: [
    {
      name: 'certificates_one_current_per_definition',
      expression:
        'create unique index "certificates_one_current_per_definition" on "certificates" ("definition_id") where "is_current"',
    },
  ],
  properties: {
    id: { type: 'uuid', primary: true },
    definitionId: {
      kind: 'm:1',
      entity: 'CertificateDefinition',
      mapToPk: true,
      fieldName: 'definition_id',
      deleteRule: 'cascade',
      index: true,
    },
    requestId: {
      kind: 'm:1',
      entity: 'CertificateRequest',
      mapToPk: true,
      nullable: true,
      fieldName: 'request_id',
      deleteRule: 'set null',
    },
    privateKeyId: {
      kind: 'm:1',
      entity: 'PrivateKeyRow',
      mapToPk: true,
      nullable: true,
      fieldName: 'private_key_id',
      deleteRule: 'set null',
    },
    pem: { type: 'text' },
    chainPem: { type: 'json' },
    sha1: { type: 'string', length: 40, index: true },
    sha256: { type: 'string', length: 64, unique: true },
    serial: { type: 'string', length: 100 },
    subject: { type: 'text' },
    issuer: { type: 'text' },
    notBefore: { type: 'datetime', columnType: 'timestamptz' },
    notAfter: { type: 'datetime', columnType: 'timestamptz' },
    keyAlgorithm: { type: 'string', length: 20 },
    sans: { type: 'json' },
    isCurrent: { type: 'boolean', default: false },
    source: { type: 'string', length: 30 },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
