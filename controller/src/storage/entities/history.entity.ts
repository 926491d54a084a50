import { EntitySchema } from '@mikro-orm/core';
import type { AuditEvent, DeploymentRecord, MonitoringRecord, PurchaseRecord } from '../../domain/history';

export const PurchaseHistoryEntity = new EntitySchema<PurchaseRecord>({
  name: 'PurchaseHistory',
  tableName: 'purchase_history',
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
    vendor: { type: 'string', length: 200, nullable: true },
    productId: { type: 'string', length: 100, nullable: true },
    orderNumber: { type: 'string', length: 200, nullable: true },
    orderDate: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    note: { type: 'text', nullable: true },
    at: { type: 'datetime', columnType: 'timestamptz' },
  },
});

export const DeploymentHistoryEntity = new EntitySchema<DeploymentRecord>({
  name: 'DeploymentHistory',
  tableName: 'deployment_history',
  properties: {
    id: { type: 'uuid', primary: true },
    certificateId: {
      kind: 'm:1',
      entity: 'CertificateRow',
      mapToPk: true,
      fieldName: 'certificate_id',
      deleteRule: 'cascade',
      index: true,
    },
    target: { type: 'string', length: 300 },
    status: { type: 'string', length: 20 },
    message: { type: 'text', nullable: true },
    at: { type: 'datetime', columnType: 'timestamptz' },
  },
});

export const MonitoringHistoryEntity = new EntitySchema<MonitoringRecord>({
  name: 'MonitoringHistory',
  tableName: 'monitoring_history',
  // The latest check per (definition, endpoint) of the deployment list (deployment-list.ts, SPEC W3).
  indexes: [
    { name: 'monitoring_history_definition_endpoint_at_idx', properties: ['definitionId', 'endpoint', 'at', 'id'] },
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
    certificateId: {
      kind: 'm:1',
      entity: 'CertificateRow',
      mapToPk: true,
      nullable: true,
      fieldName: 'certificate_id',
      deleteRule: 'set null',
    },
    endpoint: { type: 'string', length: 300 },
    status: { type: 'string', length: 20 },
    reason: { type: 'string', length: 100 },
    message: { type: 'text', nullable: true },
    at: { type: 'datetime', columnType: 'timestamptz' },
    runId: {
      kind: 'm:1',
      entity: 'MonitorRunRow',
      mapToPk: true,
      nullable: true,
      fieldName: 'run_id',
      deleteRule: 'cascade',
      index: true,
    },
    endpointId: {
      kind: 'm:1',
      entity: 'MonitoredEndpointRow',
      mapToPk: true,
      nullable: true,
      fieldName: 'endpoint_id',
      deleteRule: 'set null',
      index: true,
    },
    leafSha256: { type: 'string', length: 64, nullable: true },
    leafSha1: { type: 'string', length: 40, nullable: true },
    leafNotAfter: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    probedBy: { type: 'string', length: 100, nullable: true },
    checks: { type: 'json', nullable: true },
  },
});

export const AuditEventEntity = new EntitySchema<AuditEvent>({
  name: 'AuditEventRow',
  tableName: 'audit_log',
  properties: {
    id: { type: 'uuid', primary: true },
    at: { type: 'datetime', columnType: 'timestamptz', index: true },
    actor: { type: 'string', length: 200 },
    action: { type: 'string', length: 100 },
    targetType: { type: 'string', length: 50, nullable: true },
    targetId: { type: 'string', length: 100, nullable: true },
    details: { type: 'json' },
    prevHash: { type: 'string', length: 64, unique: true },
    hash: { type: 'string', length: 64, unique: true },
  },
});
