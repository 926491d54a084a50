import { z } from 'zod';
import { MAX_DOCUMENT_BYTES } from '../../domain/document';
import { addDocument, deleteDocument, listDocuments, readDocument } from '../../services/document-service';
import { actorOf, type RouteModule } from './types';

const defParams = z.object({ id: z.uuid() }).strict();
const docParams = z.object({ id: z.uuid(), docId: z.uuid() }).strict();

export const documentRoutes: RouteModule = (add, { ctx }) => {
  add({
    method: 'GET',
    url: '/api/v1/definitions/:id/documents',
    summary: "List a definition's documents — SPEC R5",
    tags: ['documents'],
    permission: 'repository:read',
    params: defParams,
    handler: async ({ params }) => ({ items: await listDocuments(ctx.db.em(), params.id) }),
  });
  add({
    method: 'POST',
    url: '/api/v1/definitions/:id/documents',
    summary: 'Upload a document (raw body, up to 20 MB; name in ?fileName=, optional ?requestId=)',
    tags: ['documents'],
    permission: 'repository:write',
    params: defParams,
    query: z.object({ fileName: z.string().min(1).max(255), requestId: z.uuid().optional() }).strict(),
    contentType: 'application/octet-stream',
    bodyLimit: MAX_DOCUMENT_BYTES + 1,
    responseStatus: 201,
    handler: async ({ params, query, raw, user }) =>
      addDocument(
        ctx,
        {
          definitionId: params.id,
          requestId: query.requestId ?? null,
          fileName: query.fileName,
          contentType: raw.headers['x-document-content-type']?.toString() ?? 'application/octet-stream',
          content: Buffer.isBuffer(raw.body) ? raw.body : Buffer.alloc(0),
        },
        actorOf(user)
      ),
  });
  add({
    method: 'GET',
    url: '/api/v1/definitions/:id/documents/:docId',
    summary: 'Download a document',
    tags: ['documents'],
    permission: 'repository:read',
    params: docParams,
    handler: async ({ params }, reply) => {
      const { record, content } = await readDocument(ctx.db.em(), params.id, params.docId);
      return reply
        .header('content-type', 'application/octet-stream')
        .header('x-content-type-options', 'nosniff')
        .header(
          'content-disposition',
          `attachment; filename="${record.fileName.replace(/[^\x20-\x7e]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(record.fileName)}`
        )
        .send(content);
    },
  });
  add({
    method: 'DELETE',
    url: '/api/v1/definitions/:id/documents/:docId',
    summary: 'Delete a document',
    tags: ['documents'],
    permission: 'repository:write',
    params: docParams,
    handler: async ({ params, user }) => {
      await deleteDocument(ctx, params.id, params.docId, actorOf(user));
      return undefined;
    },
  });
};
