import { EntitySchema } from '@mikro-orm/core';
import type { CertificateDefinition } from '../../domain/definition';

export const DefinitionEntity = new EntitySchema<CertificateDefinition>({
  name: 'CertificateDefinition',
  tableName: 'certificate_definitions',
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
