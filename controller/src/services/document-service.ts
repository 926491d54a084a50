import crypto from 'node:crypto';
import { CertFleetError } from '@certfleet/shared';
import { MAX_DOCUMENT_BYTES, sanitizeFileName, type DocumentRecord } from '../domain/document';
import type { Em } from '../storage/database';
import { DocumentEntity, RequestEntity } from '../storage/entities';
import { appendAudit } from './audit-service';
import type { Actor, ServiceContext } from './context';
import { getDefinition } from './definition-service';

export interface AddDocumentInput {
  definitionId: string;
  requestId?: string | null;
  fileName: string;
  contentType?: string;
  content: Buffer;
}

/** Adds a file to a definition's (or request's) document folder (SPEC R5). Files over 20 MB are refused. */
export async function addDocument(ctx: ServiceContext, input: AddDocumentInput, actor: Actor): Promise<DocumentRecord> {
  if (input.content.length > MAX_DOCUMENT_BYTES) {
    throw new CertFleetError(
      'CF_DOCUMENT_TOO_LARGE',
      `document: ${input.content.length} bytes is over the limit of ${MAX_DOCUMENT_BYTES} bytes`,
      {
        details: { size: input.content.length, limit: MAX_DOCUMENT_BYTES },
      }
    );
  }
  if (input.content.length === 0) throw new CertFleetError('CF_VALIDATION', 'document: the file is empty');
  return ctx.db.em().transactional(async (em) => {
    const now = ctx.clock.now();
    await getDefinition(em, input.definitionId);
    if (input.requestId) {
      const req = await em.findOne(RequestEntity, { id: input.requestId, definitionId: input.definitionId });
      if (!req)
        throw new CertFleetError('CF_NOT_FOUND', `document: request ${input.requestId} not found for this definition`);
    }
    const record = {
      id: crypto.randomUUID(),
      definitionId: input.definitionId,
      requestId: input.requestId ?? null,
      fileName: sanitizeFileName(input.fileName),
      contentType: (input.contentType ?? 'application/octet-stream').slice(0, 200),
      size: input.content.length,
      sha256: crypto.createHash('sha256').update(input.content).digest('hex'),
      createdAt: now,
    };
    em.persist(em.create(DocumentEntity, { ...record, content: input.content }));
    await appendAudit(
      em,
      {
        actor,
        action: 'document.added',
        targetType: 'document',
        targetId: record.id,
        details: { definitionId: record.definitionId, fileName: record.fileName, size: record.size },
      },
      now
    );
    return record;
  });
}

export async function listDocuments(em: Em, definitionId: string): Promise<DocumentRecord[]> {
  await getDefinition(em, definitionId);
  return em.find(DocumentEntity, { definitionId }, { orderBy: { createdAt: 'asc' } });
}

export async function readDocument(
  em: Em,
  definitionId: string,
  id: string
): Promise<{ record: DocumentRecord; content: Buffer }> {
  const row = await em.findOne(DocumentEntity, { id, definitionId }, { populate: ['content'] });
  if (!row) throw new CertFleetError('CF_NOT_FOUND', `document: ${id} not found`);
  const { content, ...record } = row;
  return { record, content };
}

export async function deleteDocument(
  ctx: ServiceContext,
  definitionId: string,
  id: string,
  actor: Actor
): Promise<void> {
  await ctx.db.em().transactional(async (em) => {
    const n = await em.nativeDelete(DocumentEntity, { id, definitionId });
    if (!n) throw new CertFleetError('CF_NOT_FOUND', `document: ${id} not found`);
    await appendAudit(
      em,
      { actor, action: 'document.deleted', targetType: 'document', targetId: id, details: { definitionId } },
      ctx.clock.now()
    );
  });
}
