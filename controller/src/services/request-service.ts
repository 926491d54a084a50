import crypto from 'node:crypto';
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import { isTerminal, nextRequestKind, type CertificateRequest, type RequestStatusChange } from '../domain/request';
import type { Em } from '../storage/database';
import {
  CertificateEntity,
  PurchaseHistoryEntity,
  RequestEntity,
  RequestStatusChangeEntity,
} from '../storage/entities';
import { appendAudit } from './audit-service';
import type { Actor, ServiceContext } from './context';
import { getDefinition, parseInput } from './definition-service';

export const requestInputSchema = z
  .object({
    definitionId: z.uuid(),
    productId: z.string().min(1).max(100).nullable().default(null),
    providerAccountId: z.uuid().nullable().default(null),
    privateKeyId: z.uuid().nullable().default(null).describe('reuse an existing private key object'),
  })
  .strict();

/**
 * Opens a request for a definition (SPEC R2): `new` for the first certificate, `renewal` afterwards — also when the
 * renewal changes product or vendor. Monitored-only definitions cannot start acquisition (SPEC O1).
 */
export async function createRequest(ctx: ServiceContext, raw: unknown, actor: Actor): Promise<CertificateRequest> {
  const input = parseInput(requestInputSchema, raw, 'request');
  return ctx.db.em().transactional(async (em) => {
    const now = ctx.clock.now();
    const def = await getDefinition(em, input.definitionId);
    if (def.operationMode === 'monitored') {
      throw new CertFleetError(
        'CF_CONFLICT',
        `request: definition ${def.name} is monitored-only; switch it to managed to acquire certificates`
      );
    }
    const open = await em.find(RequestEntity, {
      definitionId: def.id,
      status: { $nin: ['completed', 'cancelled', 'failed'] },
    });
    if (open.length)
      throw new CertFleetError('CF_CONFLICT', `request: definition ${def.name} already has an open request`, {
        details: { requestId: open[0]?.id },
      });
    const hadCert = (await em.count(CertificateEntity, { definitionId: def.id })) > 0;
    const req: CertificateRequest = {
      id: crypto.randomUUID(),
      definitionId: def.id,
      kind: nextRequestKind(hadCert),
      status: 'created',
      privateKeyId: input.privateKeyId,
      csrPem: null,
      productId: input.productId ?? def.productId,
      providerAccountId: input.providerAccountId ?? def.providerAccountId,
      orderNumber: null,
      orderDate: null,
      waitingFor: null,
      resumeStatus: null,
      processMode: def.processMode,
      awaitingConfirmation: false,
      lastError: null,
      attempts: 0,
      nextAttemptAt: null,
      issuerState: null,
      certificateId: null,
      createdAt: now,
      updatedAt: now,
    };
    em.persist(em.create(RequestEntity, req));
    em.persist(
      em.create(RequestStatusChangeEntity, {
        id: crypto.randomUUID(),
        requestId: req.id,
        fromStatus: null,
        toStatus: 'created',
        note: null,
        actor,
        at: now,
      })
    );
    await appendAudit(
      em,
      {
        actor,
        action: 'request.created',
        targetType: 'request',
        targetId: req.id,
        details: { definitionId: def.id, kind: req.kind },
      },
      now
    );
    return req;
  });
}

export const orderDataSchema = z
  .object({
    orderNumber: z.string().min(1).max(200),
    orderDate: z.iso.datetime(),
    vendor: z.string().min(1).max(200).optional(),
    note: z.string().max(2000).optional(),
  })
  .strict();

/** Records the order number and date of a commercial purchase (SPEC A3) on the request and in the purchase history (R8). */
export async function recordOrder(
  ctx: ServiceContext,
  id: string,
  raw: unknown,
  actor: Actor
): Promise<CertificateRequest> {
  const input = parseInput(orderDataSchema, raw, 'request.order');
  return ctx.db.em().transactional(async (em) => {
    const now = ctx.clock.now();
    const req = await getRequest(em, id);
    if (isTerminal(req.status)) throw new CertFleetError('CF_CONFLICT', `request: ${id} is ${req.status}`);
    req.orderNumber = input.orderNumber;
    req.orderDate = new Date(input.orderDate);
    req.updatedAt = now;
    em.persist(
      em.create(PurchaseHistoryEntity, {
        id: crypto.randomUUID(),
        definitionId: req.definitionId,
        requestId: id,
        vendor: input.vendor ?? null,
        productId: req.productId,
        orderNumber: input.orderNumber,
        orderDate: req.orderDate,
        note: input.note ?? null,
        at: now,
      })
    );
    await appendAudit(
      em,
      {
        actor,
        action: 'request.order_recorded',
        targetType: 'request',
        targetId: id,
        details: { orderNumber: input.orderNumber },
      },
      now
    );
    return req;
  });
}

export async function getRequest(em: Em, id: string): Promise<CertificateRequest> {
  const req = z.uuid().safeParse(id).success ? await em.findOne(RequestEntity, { id }) : null;
  if (!req) throw new CertFleetError('CF_NOT_FOUND', `request: ${id} not found`);
  return req;
}

export async function requestHistory(em: Em, id: string): Promise<RequestStatusChange[]> {
  await getRequest(em, id);
  return em.find(RequestStatusChangeEntity, { requestId: id }, { orderBy: { at: 'asc' } });
}

export async function listRequests(em: Em, definitionId?: string): Promise<CertificateRequest[]> {
  return em.find(RequestEntity, definitionId ? { definitionId } : {}, { orderBy: { createdAt: 'desc' }, limit: 500 });
}
