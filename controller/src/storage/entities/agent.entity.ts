import { EntitySchema } from '@mikro-orm/core';
import type { Agent, AgentJob, Deployment, JoinToken } from '../../domain/agent';

export const AgentEntity = new EntitySchema<Agent>({
  name: 'AgentRow',
  tableName: 'agents',
  properties: {
    id: { type: 'uuid', primary: true },
    name: { type: 'string', length: 253 },
    status: { type: 'string', length: 10 },
    bundlePublicKey: { type: 'string', length: 100 },
    certSerial: { type: 'string', length: 64 },
    certNotAfter: { type: 'datetime', columnType: 'timestamptz' },
    nextCertSerial: { type: 'string', length: 64, nullable: true },
    agentVersion: { type: 'string', length: 50 },
    enrolledAt: { type: 'datetime', columnType: 'timestamptz' },
    lastSeenAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    bannedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    site: { type: 'string', length: 63, nullable: true, index: true },
  },
});

export const JoinTokenEntity = new EntitySchema<JoinToken>({
  name: 'JoinTokenRow',
  tableName: 'agent_join_tokens',
  properties: {
    id: { type: 'uuid', primary: true },
    tokenHash: { type: 'string', length: 64, unique: true },
    label: { type: 'string', length: 200, nullable: true },
    createdBy: { type: 'string', length: 200 },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    expiresAt: { type: 'datetime', columnType: 'timestamptz' },
    usedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    agentId: {
      kind: 'm:1',
      entity: 'AgentRow',
      mapToPk: true,
      fieldName: 'agent_id',
      nullable: true,
      deleteRule: 'set null',
    },
    site: { type: 'string', length: 63, nullable: true },
  },
});

export const DeploymentEntity = new EntitySchema<Deployment>({
  name: 'DeploymentRow',
  tableName: 'deployments',
  uniques: [{ properties: ['slot', 'version'] }],
  // GET /api/v1/deployments: newest first without sorting the table (issue 6).
  indexes: [{ name: 'deployments_created_at_id_idx', properties: ['createdAt', 'id'] }],
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
    definitionId: {
      kind: 'm:1',
      entity: 'CertificateDefinition',
      mapToPk: true,
      fieldName: 'definition_id',
      deleteRule: 'cascade',
      index: true,
    },
    slot: { type: 'string', length: 100 },
    version: { type: 'integer' },
    target: { type: 'json' },
    method: { type: 'string', length: 10 },
    agentId: {
      kind: 'm:1',
      entity: 'AgentRow',
      mapToPk: true,
      fieldName: 'agent_id',
      nullable: true,
      deleteRule: 'set null',
      index: true,
    },
    bundleId: { type: 'uuid', unique: true },
    status: { type: 'string', length: 20 },
    reason: { type: 'string', length: 100, nullable: true },
    message: { type: 'text', nullable: true },
    servedSha256: { type: 'string', length: 64, nullable: true },
    receiptPublicKey: { type: 'text', nullable: true },
    receiptAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    createdBy: { type: 'string', length: 200 },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    updatedAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});

export const AgentJobEntity = new EntitySchema<AgentJob>({
  name: 'AgentJobRow',
  tableName: 'agent_jobs',
  indexes: [{ properties: ['agentId', 'status'] }],
  properties: {
    id: { type: 'uuid', primary: true },
    agentId: {
      kind: 'm:1',
      entity: 'AgentRow',
      mapToPk: true,
      fieldName: 'agent_id',
      deleteRule: 'cascade',
    },
    deploymentId: {
      kind: 'm:1',
      entity: 'DeploymentRow',
      mapToPk: true,
      fieldName: 'deployment_id',
      nullable: true,
      deleteRule: 'cascade',
      index: true,
    },
    kind: { type: 'string', length: 20 },
    slot: { type: 'string', length: 100, nullable: true },
    payload: { type: 'blob', columnType: 'bytea' },
    status: { type: 'string', length: 20 },
    attempts: { type: 'integer' },
    result: { type: 'json', nullable: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
    deliveredAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
    finishedAt: { type: 'datetime', columnType: 'timestamptz', nullable: true },
  },
});
