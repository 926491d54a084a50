import crypto from 'node:crypto';
import { raw as rawSql } from '@mikro-orm/core';
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import {
  cloneDefinitionInput,
  definitionInputSchema,
  definitionPatchSchema,
  definitionProblems,
  type CertificateDefinition,
  type DefinitionInput,
} from '../domain/definition';
import type { Em } from '../storage/database';
import { DefinitionEntity } from '../storage/entities';
import { findPage } from '../storage/find-page';
import { appendAudit } from './audit-service';
import type { Actor, ServiceContext } from './context';
import { deriveOptionsOf, syncDeployTargetEndpoints } from './monitoring/deploy-target-endpoints';

function assertValid(input: DefinitionInput): void {
  const problems = definitionProblems(input);
  if (problems.length)
    throw new CertFleetError('CF_VALIDATION', `definition: ${problems.join('; ')}`, { details: { problems } });
}

/** Parses untrusted input with zod and turns failures into CF_VALIDATION listing each field. */
export function parseInput<T extends z.ZodType>(schema: T, raw: unknown, origin: string): z.infer<T> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
    throw new CertFleetError('CF_VALIDATION', `${origin}: ${problems.join('; ')}`, { details: { problems } });
  }
  return r.data;
}

/**
 * Parses a partial update. zod 4 applies `.default()` values even to keys that are absent from a `.partial()`
 * object, which would silently reset every defaulted field; only keys the caller actually sent are kept.
 */
export function parsePatch<T extends z.ZodType>(schema: T, raw: unknown, origin: string): Partial<z.infer<T>> {
  const parsed = parseInput(schema, raw, origin) as Record<string, unknown>;
  const sent = raw !== null && typeof raw === 'object' ? new Set(Object.keys(raw)) : new Set<string>();
  return Object.fromEntries(Object.entries(parsed).filter(([k]) => sent.has(k))) as Partial<z.infer<T>>;
}

async function assertNameFree(em: Em, name: string, exceptId?: string): Promise<void> {
  const other = await em.findOne(DefinitionEntity, { name });
  if (other && other.id !== exceptId) {
    throw new CertFleetError('CF_CONFLICT', `definition: the name ${JSON.stringify(name)} is taken`, {
      details: { id: other.id },
    });
  }
}

/** Creates a definition inside the caller's transaction (used by import too). */
export async function insertDefinition(
  em: Em,
  input: DefinitionInput,
  now: Date,
  actor: Actor,
  clonedFromId: string | null = null
): Promise<CertificateDefinition> {
  assertValid(input);
  await assertNameFree(em, input.name);
  const def: CertificateDefinition = {
    ...input,
    id: crypto.randomUUID(),
    clonedFromId,
    createdAt: now,
    updatedAt: now,
  };
  em.persist(em.create(DefinitionEntity, def));
  await appendAudit(
    em,
    {
      actor,
      action: clonedFromId ? 'definition.cloned' : 'definition.created',
      targetType: 'definition',
      targetId: def.id,
      details: { name: def.name, clonedFromId },
    },
    now
  );
  return def;
}

export async function createDefinition(
  ctx: ServiceContext,
  raw: unknown,
  actor: Actor
): Promise<CertificateDefinition> {
  const input = parseInput(definitionInputSchema, raw, 'definition');
  return ctx.db.em().transactional(async (em) => {
    const def = await insertDefinition(em, input, ctx.clock.now(), actor);
    // Every deploy target of a managed definition is a monitored endpoint (SPEC D1, D6), in the same transaction.
    await syncDeployTargetEndpoints(em, def, ctx.clock.now(), actor, { ...deriveOptionsOf(ctx), isNew: true });
    return def;
  });
}

export async function getDefinition(em: Em, id: string): Promise<CertificateDefinition> {
  const def = z.uuid().safeParse(id).success ? await em.findOne(DefinitionEntity, { id }) : null;
  if (!def) throw new CertFleetError('CF_NOT_FOUND', `definition: ${id} not found`);
  return def;
}

export async function updateDefinition(
  ctx: ServiceContext,
  id: string,
  raw: unknown,
  actor: Actor
): Promise<CertificateDefinition> {
  const patch = parsePatch(definitionPatchSchema, raw, 'definition');
  return ctx.db.em().transactional(async (em) => {
    const def = await getDefinition(em, id);
    const { id: _i, clonedFromId: _c, createdAt: _cr, updatedAt: _u, ...current } = def;
    const next: DefinitionInput = { ...current, ...patch };
    assertValid(next);
    if (patch.name) await assertNameFree(em, patch.name, id);
    em.assign(def, { ...patch, updatedAt: ctx.clock.now() });
    await syncDeployTargetEndpoints(em, def, ctx.clock.now(), actor, deriveOptionsOf(ctx));
    await appendAudit(
      em,
      {
        actor,
        action: 'definition.updated',
        targetType: 'definition',
        targetId: id,
        details: { fields: Object.keys(patch) },
      },
      ctx.clock.now()
    );
    return def;
  });
}

export async function deleteDefinition(ctx: ServiceContext, id: string, actor: Actor): Promise<void> {
  await ctx.db.em().transactional(async (em) => {
    const def = await getDefinition(em, id);
    // its endpoints (derived ones included) go with it: monitored_endpoints.definition_id cascades
    em.remove(def);
    await appendAudit(
      em,
      { actor, action: 'definition.deleted', targetType: 'definition', targetId: id, details: { name: def.name } },
      ctx.clock.now()
    );
  });
}

/** SPEC R1 clone: copies the requirement (for a test/production twin) under a new name. */
export async function cloneDefinition(
  ctx: ServiceContext,
  id: string,
  name: string,
  actor: Actor
): Promise<CertificateDefinition> {
  const parsedName = parseInput(z.string().min(1).max(200), name, 'definition.clone');
  return ctx.db.em().transactional(async (em) => {
    const source = await getDefinition(em, id);
    const def = await insertDefinition(em, cloneDefinitionInput(source, parsedName), ctx.clock.now(), actor, source.id);
    await syncDeployTargetEndpoints(em, def, ctx.clock.now(), actor, { ...deriveOptionsOf(ctx), isNew: true });
    return def;
  });
}

/** Overview filters by state (SPEC W1): no current certificate, inside the renewal lead time, expired, process open. */
export const definitionStateFilters = ['no-certificate', 'expiring', 'expired', 'in-progress'] as const;

export const definitionListQuerySchema = z
  .object({
    q: z.string().max(200).optional().describe('substring of name or common name'),
    operationMode: z.enum(['managed', 'monitored']).optional(),
    processMode: z.enum(['interactive', 'unattended']).optional(),
    state: z
      .enum(definitionStateFilters)
      .optional()
      .describe(
        'no-certificate: no current certificate; expiring: current certificate inside the renewal lead time (or ' +
          'expired); expired: current certificate expired; in-progress: an acquisition process is open'
      ),
    withStatus: z
      .enum(['true', 'false'])
      .optional()
      .describe('true: each item carries `status` (the overview columns: current, next, deployment, monitor)'),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    offset: z.coerce.number().int().min(0).default(0),
  })
  .strict();

const CURRENT_CERT = (alias: string) =>
  `select 1 from certificates c where c.definition_id = ${alias}.id and c.is_current`;

function stateCondition(state: (typeof definitionStateFilters)[number], now: Date): Record<string, unknown> {
  switch (state) {
    case 'no-certificate':
      return { [rawSql((a: string) => `not exists (${CURRENT_CERT(a)})`)]: [] };
    case 'expired':
      return { [rawSql((a: string) => `exists (${CURRENT_CERT(a)} and c.not_after <= ?)`, [now])]: [] };
    case 'expiring':
      // The first bound (the longest lead time of any definition, read from its index) lets PostgreSQL find the
      // candidates in the certificates' not_after index instead of joining every definition (issue 6).
      return {
        [rawSql(
          (a: string) =>
            `exists (${CURRENT_CERT(a)} and c.not_after <= ?::timestamptz + make_interval(days => ` +
            `(select coalesce(max(m.renewal_lead_days), 0) from certificate_definitions m)) ` +
            `and c.not_after - make_interval(days => ${a}.renewal_lead_days) <= ?)`,
          [now, now]
        )]: [],
      };
    case 'in-progress':
      return {
        [rawSql(
          (a: string) =>
            `exists (select 1 from certificate_requests r where r.definition_id = ${a}.id ` +
            `and r.status not in ('completed', 'cancelled', 'failed'))`
        )]: [],
      };
  }
}

/** Server-side paging and filtering (lists stay fast with many definitions). */
export async function listDefinitions(
  em: Em,
  raw: unknown,
  now: Date = new Date()
): Promise<{ items: CertificateDefinition[]; total: number }> {
  const q = parseInput(definitionListQuerySchema, raw, 'definition.list');
  const where = (): Record<string, unknown> => {
    const w: Record<string, unknown> = {};
    if (q.operationMode) w.operationMode = q.operationMode;
    if (q.processMode) w.processMode = q.processMode;
    if (q.q) {
      // Matches the trigram indexes certificate_definitions_name_trgm_idx and …_common_name_trgm_idx.
      const like = `%${q.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      w.$or = [{ name: { $ilike: like } }, { subject: { commonName: { $ilike: like } } }];
    }
    if (q.state) Object.assign(w, stateCondition(q.state, now));
    return w;
  };
  return findPage(em, DefinitionEntity, where, { name: 'asc' }, q.limit, q.offset);
}
