import { EntitySchema } from '@mikro-orm/core';
import type { DocumentRecord } from '../../domain/document';

/** Document metadata plus its bytes (bytea): one consistent snapshot covers files and rows in backups. */
export interface DocumentRow extends DocumentRecord {
  content: Buffer;
}

export const DocumentEntity = new EntitySchema<DocumentRow>({
  name: 'DocumentRow',
  tableName: 'documents',
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
      deleteRule: 'cascade',
    },
    fileName: { type: 'string', length: 255 },
    contentType: { type: 'string', length: 200 },
    size: { type: 'integer' },
    sha256: { type: 'string', length: 64 },
    content: { type: 'blob', columnType: 'bytea', lazy: true },
    createdAt: { type: 'datetime', columnType: 'timestamptz' },
  },
});
