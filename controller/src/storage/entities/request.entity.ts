import { EntitySchema } from '@mikro-orm/core';
import type { CertificateRequest, RequestStatusChange } from '../../domain/request';

export const RequestEntity = new EntitySchema<CertificateRequest>({
  name: 'CertificateRequest',
  tableName: 'certificate_requests',
  // SPEC A5: at most one open acquisition per definition, enforced by the database (two controllers included).
  uniques: [
    {
      name: 'certificate_requests_one_open_per_definition',
      expression:
        'create unique index "certificate_requests_one_open_per_definition" on "certificate_requests" ("definition_id") where "status" not in (\'completed\', \'cancelled\', \'failed\')',
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
    kind: { type: 'string', length: 20 },
    status: { type: 'string', length: 30 },
    privateKeyId: {
      kind: 'm:1',
      entity: 'PrivateKeyRow',
      mapToPk: true,
      nullable: true,
      fieldName: 'private_key_id',
      deleteRule: 'set null',
    },
    csrPem: { type: 'text', nullable: true },
    productId: { type: 'string', length: 100, nullable: true },
    providerAccountId: {
      kind: 'm:1',
      entity: 'ProviderAccountRow',
      mapToPk: true,
      nullable: true,
      fieldName: 'provider_account_id',
      deleteRule: 'set null',
    },
    orderNumber: { type: 'string', length: 200, nullable: true },
    orderDate: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    waitingFor: { type: 'text', nullable: true },
    resumeStatus: { type: 'string', length: 30, nullable: true },
    processMode: { type: 'string', length: 20, default: 'unattended' },
    awaitingConfirmation: { type: 'boolean', default: false },
    lastError: { type: 'text', nullable: true },
    attempts: { type: 'integer', default: 0 },
    nextAttemptAt: { type: 'datetime', columnType: 'timestamptz', nullable: true, index: true },
    issuerState: { type: 'json', nullable: true },
    // No foreign key: certificates.request_id already points at requests, and a cycle would make FK-ordered loads
    // (restore) impossible. The id is informational (the certificate this request produced).
    certificateId: { type: 'uuid', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});

export const RequestStatusChangeEntity = new EntitySchema<RequestStatusChange>({
  name: 'RequestStatusChange',
  tableName: 'request_status_history',
  properties: {
    id: { type: 'uuid', primary: true },
    requestId: {
      kind: 'm:1',
      entity: 'CertificateRequest',
      mapToPk: true,
      fieldName: 'request_id',
      deleteRule: 'cascade',
      index: true,
    },
    fromStatus: { type: 'string', length: 30, nullable: true },
    toStatus: { type: 'string', length: 30 },
    note: { type: 'text', nullable: true },
    actor: { type: 'string', length: 200 },
    at: { type: 'datetime', columnType: 'timestamptz' },
  },
});
