import { EntitySchema } from '@mikro-orm/core';
import type { MonitorRun, MonitoredEndpoint, TrustSetRoot, TrustSetRow } from '../../domain/monitoring';

export const MonitoredEndpointEntity = new EntitySchema<MonitoredEndpoint>({
  name: 'MonitoredEndpointRow',
  tableName: 'monitored_endpoints',
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
    host: { type: 'string', length: 253 },
    port: { type: 'integer' },
    serverName: { type: 'string', length: 253, nullable: true },
    starttls: { type: 'string', length: 10, nullable: true },
    probeFrom: { type: 'string', length: 20 },
    agentId: {
      kind: 'm:1',
      entity: 'AgentRow',
      mapToPk: true,
      fieldName: 'agent_id',
      nullable: true,
      deleteRule: 'set null',
      index: true,
    },
    site: { type: 'string', length: 63, nullable: true },
    enabled: { type: 'boolean' },
    source: { type: 'string', length: 20, default: 'manual' },
    deployTargetIndex: { type: 'integer', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});

export const MonitorRunEntity = new EntitySchema<MonitorRun>({
  name: 'MonitorRunRow',
  tableName: 'monitor_runs',
  properties: {
    id: { type: 'uuid', primary: true },
    trigger: { type: 'string', length: 20 },
    status: { type: 'string', length: 20, index: true },
    startedAt: { type: 'datetime', columnType: 'timestamptz', index: true },
    finishedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    endpoints: { type: 'integer' },
    ok: { type: 'integer' },
    warning: { type: 'integer' },
    failing: { type: 'integer' },
    report: { type: 'json', nullable: true },
    done: { type: 'integer', default: 0 },
    requestedBy: { type: 'string', length: 200, nullable: true },
    request: { type: 'json', nullable: true },
    owner: { type: 'string', length: 200, nullable: true },
    heartbeatAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});

export const TrustSetEntity = new EntitySchema<TrustSetRow>({
  name: 'TrustSetRow',
  tableName: 'trust_sets',
  properties: {
    id: { type: 'uuid', primary: true },
    name: { type: 'string', length: 100, unique: true },
    description: { type: 'text', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});

export const TrustSetRootEntity = new EntitySchema<TrustSetRoot>({
  name: 'TrustSetRootRow',
  tableName: 'trust_set_roots',
  uniques: [{ properties: ['trustSetId', 'sha256'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    trustSetId: {
      kind: 'm:1',
      entity: 'TrustSetRow',
      mapToPk: true,
      fieldName: 'trust_set_id',
      deleteRule: 'cascade',
    },
    sha256: { type: 'string', length: 64 },
    subject: { type: 'text' },
    pem: { type: 'text' },
    addedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
