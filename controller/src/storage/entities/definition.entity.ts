import { EntitySchema } from '@mikro-orm/core';
import type { CertificateDefinition } from '../../domain/definition';

export const DefinitionEntity = new EntitySchema<CertificateDefinition>({
  name: 'CertificateDefinition',
  tableName: 'certificate_definitions',
  // W1 search `q` (substring of the name or the common name, issue 6): trigram indexes (pg_trgm), no table scan.
  // Pages in name order from (name, id) — index-only for deep offsets; the mode filters from their own indexes.
  indexes: [
    { name: 'certificate_definitions_name_id_idx', properties: ['name', 'id'] },
    { name: 'certificate_definitions_renewal_lead_days_idx', properties: ['renewalLeadDays', 'id'] },
    { name: 'certificate_definitions_operation_mode_name_idx', properties: ['operationMode', 'name', 'id'] },
    { name: 'certificate_definitions_process_mode_name_idx', properties: ['processMode', 'name', 'id'] },
    {
      name: 'certificate_definitions_name_trgm_idx',
      expression:
        'create index "certificate_definitions_name_trgm_idx" on "certificate_definitions" using gin ("name" gin_trgm_ops)',
    },
    {
      name: 'certificate_definitions_common_name_trgm_idx',
      expression:
        'create index "certificate_definitions_common_name_trgm_idx" on "certificate_definitions" using gin ' +
        '(("subject"->>\'commonName\') gin_trgm_ops)',
    },
  ],
  properties: {
    id: { type: 'uuid', primary: true },
    name: { type: 'string', length: 200, unique: true },
    subject: { type: 'json' },
    sans: { type: 'json' },
    keySpec: { type: 'string', length: 20 },
    productId: { type: 'string', length: 100, nullable: true },
    requirements: { type: 'json', nullable: true },
    issuerType: { type: 'string', length: 50 },
    issuerConfig: { type: 'json', default: '{}' },
    providerAccountId: {
      kind: 'm:1',
      entity: 'ProviderAccountRow',
      mapToPk: true,
      nullable: true,
      fieldName: 'provider_account_id',
      deleteRule: 'set null',
    },
    deployTargets: { type: 'json' },
    operationMode: { type: 'string', length: 20 },
    processMode: { type: 'string', length: 20 },
    renewalLeadDays: { type: 'integer' },
    trustedCaSetId: { type: 'string', length: 100, nullable: true },
    clonedFromId: {
      kind: 'm:1',
      entity: 'CertificateDefinition',
      mapToPk: true,
      nullable: true,
      fieldName: 'cloned_from_id',
      deleteRule: 'set null',
    },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
