/**
 * Trusted CA sets (SPEC T1, T2): the shipped system set (the Mozilla roots of Debian's ca-certificates, built in
 * and never stored) plus user-defined sets stored in the database, each a named list of CA roots. A definition
 * names its set in `trustedCaSetId` (the set's id, or its name); without one, or when `system` is named, the
 * system set applies, and so it does for discovery (the default set).
 *
 * Roots enter as PEM text: every CERTIFICATE block is parsed, duplicates (same DER SHA-256) are dropped, and a
 * certificate that is not a CA (basicConstraints cA=false or absent) is refused with CF_VALIDATION.
 */
import crypto, { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import {
  CertFleetError,
  SYSTEM_TRUST_SET_NAME,
  parsePemCertificates,
  systemTrustSet,
  trustSetFromCertificates,
  type TrustSet,
} from '@certfleet/shared';
import type { CertificateDefinition } from '../../domain/definition';
import type { TrustSetRoot, TrustSetRow } from '../../domain/monitoring';
import type { Em } from '../../storage/database';
import { DefinitionEntity, TrustSetEntity, TrustSetRootEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import type { Actor, ServiceContext } from '../context';
import { parseInput } from '../definition-service';

/** Most roots accepted in one request (Mozilla's whole store is ≈ 150). */
const MAX_ROOTS_PER_REQUEST = 500;
const MAX_PEM_CHARS = 2_000_000;

const pemText = z.string().min(1).max(MAX_PEM_CHARS).describe('one or more PEM CERTIFICATE blocks');

export const trustSetInputSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, 'letters, digits, space, dot, underscore and dash')
      .refine((n) => n.toLowerCase() !== SYSTEM_TRUST_SET_NAME, 'the name "system" is reserved for the shipped set'),
    description: z.string().max(2000).nullable().default(null),
    pem: pemText.optional().describe('initial roots'),
  })
  .strict();
export type TrustSetInput = z.input<typeof trustSetInputSchema>;

export const trustSetRootsInputSchema = z.object({ pem: pemText }).strict();

/** A set as the API shows it: the row, its roots without PEM, and for the system set its version. */
export interface TrustSetView {
  id: string;
  name: string;
  description: string | null;
  source: 'system' | 'user';
  version: string;
  roots: Array<{ sha256: string; subject: string; notAfter: string | null }>;
  createdAt: Date | null;
  updatedAt: Date | null;
}

/** How a verdict names the set it was judged against. */
export interface TrustSetRef {
  id: string;
  name: string;
  version: string;
  source: 'system' | 'user';
}

interface ParsedRoot {
  sha256: string;
  subject: string;
  pem: string;
  notAfter: string;
}

/** Parses PEM roots: deduplicated by SHA-256; CF_VALIDATION for junk, no certificate, or a non-CA certificate. */
export function parseRoots(pem: string): ParsedRoot[] {
  const { certificates, rejected } = parsePemCertificates([pem]);
  if (rejected > 0) throw new CertFleetError('CF_VALIDATION', `trust-set: ${rejected} PEM block(s) do not parse`);
  if (certificates.length === 0) throw new CertFleetError('CF_VALIDATION', 'trust-set: no CERTIFICATE block found');
  if (certificates.length > MAX_ROOTS_PER_REQUEST) {
    throw new CertFleetError('CF_VALIDATION', `trust-set: at most ${MAX_ROOTS_PER_REQUEST} roots per request`);
  }
  const seen = new Map<string, ParsedRoot>();
  for (const cert of certificates) {
    if (!cert.ca) {
      throw new CertFleetError(
        'CF_VALIDATION',
        `trust-set: "${cert.subject.replace(/\n/g, ', ')}" is not a CA certificate`,
        {
          details: { subject: cert.subject },
        }
      );
    }
    const sha256 = crypto.createHash('sha256').update(cert.raw).digest('hex');
    if (!seen.has(sha256)) {
      seen.set(sha256, {
        sha256,
        subject: cert.subject.replace(/\n/g, ', '),
        pem: cert.toString(),
        notAfter: new Date(cert.validTo).toISOString(),
      });
    }
  }
  return [...seen.values()];
}

async function findSet(em: Em, idOrName: string): Promise<TrustSetRow | null> {
  if (z.uuid().safeParse(idOrName).success) {
    const byId = await em.findOne(TrustSetEntity, { id: idOrName });
    if (byId) return byId;
  }
  return em.findOne(TrustSetEntity, { name: idOrName });
}

async function getSet(em: Em, idOrName: string): Promise<TrustSetRow> {
  const set = await findSet(em, idOrName);
  if (!set) throw new CertFleetError('CF_NOT_FOUND', `trust-set: ${idOrName} not found`);
  return set;
}

function notAfterOf(pem: string): string | null {
  try {
    return new Date(new X509Certificate(pem).validTo).toISOString();
  } catch {
    return null;
  }
}

function systemView(): TrustSetView {
  const set = systemTrustSet();
  return {
    id: SYSTEM_TRUST_SET_NAME,
    name: set.name,
    description: set.origin,
    source: 'system',
    version: set.version,
    roots: set.roots.map((r) => ({
      sha256: crypto.createHash('sha256').update(r.raw).digest('hex'),
      subject: r.subject.replace(/\n/g, ', '),
      notAfter: new Date(r.validTo).toISOString(),
    })),
    createdAt: null,
    updatedAt: null,
  };
}

function userView(row: TrustSetRow, roots: TrustSetRoot[]): TrustSetView {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    source: 'user',
    version: String(roots.length),
    roots: roots.map((r) => ({ sha256: r.sha256, subject: r.subject, notAfter: notAfterOf(r.pem) })),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** Every set: the system set first (its roots listed too), then the user-defined sets by name. */
export async function listTrustSets(ctx: ServiceContext): Promise<TrustSetView[]> {
  const em = ctx.db.em().fork();
  const rows = await em.find(TrustSetEntity, {}, { orderBy: { name: 'asc' } });
  const roots = rows.length
    ? await em.find(TrustSetRootEntity, { trustSetId: { $in: rows.map((r) => r.id) } }, { orderBy: { addedAt: 'asc' } })
    : [];
  return [
    systemView(),
    ...rows.map((r) =>
      userView(
        r,
        roots.filter((x) => x.trustSetId === r.id)
      )
    ),
  ];
}

/** One set by id or name (`system` gives the shipped set). */
export async function getTrustSet(ctx: ServiceContext, idOrName: string): Promise<TrustSetView> {
  if (idOrName === SYSTEM_TRUST_SET_NAME) return systemView();
  const em = ctx.db.em().fork();
  const row = await getSet(em, idOrName);
  const roots = await em.find(TrustSetRootEntity, { trustSetId: row.id }, { orderBy: { addedAt: 'asc' } });
  return userView(row, roots);
}

function insertRoots(em: Em, trustSetId: string, roots: ParsedRoot[], have: Set<string>, now: Date): number {
  let added = 0;
  for (const r of roots) {
    if (have.has(r.sha256)) continue;
    have.add(r.sha256);
    em.persist(
      em.create(TrustSetRootEntity, {
        id: crypto.randomUUID(),
        trustSetId,
        sha256: r.sha256,
        subject: r.subject.slice(0, 4000),
        pem: r.pem,
        addedAt: now,
      })
    );
    added++;
  }
  return added;
}

/** Creates a user-defined set (T2), optionally with its first roots. CF_CONFLICT when the name is taken. */
export async function createTrustSet(ctx: ServiceContext, raw: unknown, actor: Actor): Promise<TrustSetView> {
  const input = parseInput(trustSetInputSchema, raw, 'trust-set');
  const roots = input.pem ? parseRoots(input.pem) : [];
  const now = ctx.clock.now();
  const id = await ctx.db.em().transactional(async (em) => {
    if (await em.findOne(TrustSetEntity, { name: input.name })) {
      throw new CertFleetError('CF_CONFLICT', `trust-set: the name ${JSON.stringify(input.name)} is taken`);
    }
    const row: TrustSetRow = {
      id: crypto.randomUUID(),
      name: input.name,
      description: input.description,
      createdAt: now,
      updatedAt: now,
    };
    em.persist(em.create(TrustSetEntity, row));
    const added = insertRoots(em, row.id, roots, new Set(), now);
    await appendAudit(
      em,
      {
        actor,
        action: 'trust-set.created',
        targetType: 'trust-set',
        targetId: row.id,
        details: { name: row.name, added },
      },
      now
    );
    return row.id;
  });
  return getTrustSet(ctx, id);
}

/** Adds roots to a user-defined set; roots it already holds are skipped. Returns the set and how many were new. */
export async function addTrustSetRoots(
  ctx: ServiceContext,
  idOrName: string,
  raw: unknown,
  actor: Actor
): Promise<TrustSetView & { added: number }> {
  const input = parseInput(trustSetRootsInputSchema, raw, 'trust-set');
  refuseSystemSet(idOrName, 'roots cannot be added to it');
  const roots = parseRoots(input.pem);
  const now = ctx.clock.now();
  const { id, added } = await ctx.db.em().transactional(async (em) => {
    const row = await getSet(em, idOrName);
    const existing = await em.find(TrustSetRootEntity, { trustSetId: row.id }, { fields: ['sha256'] });
    const count = insertRoots(em, row.id, roots, new Set(existing.map((e) => e.sha256)), now);
    row.updatedAt = now;
    await appendAudit(
      em,
      { actor, action: 'trust-set.roots-added', targetType: 'trust-set', targetId: row.id, details: { added: count } },
      now
    );
    return { id: row.id, added: count };
  });
  return { ...(await getTrustSet(ctx, id)), added };
}

/** CF_TRUST_SET_READ_ONLY for the shipped system set (`why` completes the message). */
function refuseSystemSet(idOrName: string, why: string): void {
  if (idOrName.toLowerCase() === SYSTEM_TRUST_SET_NAME) {
    throw new CertFleetError(
      'CF_TRUST_SET_READ_ONLY',
      `trust-set: the system set is shipped with the product and read-only; ${why}`
    );
  }
}

/** Definitions that name the set (by id or by name), at most 20. */
async function definitionsUsing(em: Em, row: TrustSetRow): Promise<Array<{ id: string; name: string }>> {
  return em.find(
    DefinitionEntity,
    { trustedCaSetId: { $in: [row.id, row.name] } },
    { fields: ['id', 'name'], limit: 20, orderBy: { name: 'asc' } }
  );
}

/**
 * Removes one root (by its SHA-256) from a user-defined set. CF_NOT_FOUND when the set does not hold it;
 * CF_TRUST_SET_IN_USE when it is the last root of a set a definition names (every check would then fail).
 */
export async function removeTrustSetRoot(
  ctx: ServiceContext,
  idOrName: string,
  sha256: string,
  actor: Actor
): Promise<TrustSetView> {
  refuseSystemSet(idOrName, 'its roots cannot be removed');
  const fingerprint = sha256.toLowerCase().replace(/:/g, '');
  const now = ctx.clock.now();
  const id = await ctx.db.em().transactional(async (em) => {
    const row = await getSet(em, idOrName);
    const root = await em.findOne(TrustSetRootEntity, { trustSetId: row.id, sha256: fingerprint });
    if (!root) {
      throw new CertFleetError('CF_NOT_FOUND', `trust-set: ${row.name} holds no root with SHA-256 ${fingerprint}`);
    }
    const count = await em.count(TrustSetRootEntity, { trustSetId: row.id });
    if (count === 1) {
      const users = await definitionsUsing(em, row);
      if (users.length > 0) {
        throw new CertFleetError(
          'CF_TRUST_SET_IN_USE',
          `trust-set: ${root.subject} is the last root of ${row.name}, which definition(s) ` +
            `${users.map((d) => d.name).join(', ')} name; add another root or pick another set first`,
          { details: { trustSetId: row.id, definitions: users.map((d) => ({ id: d.id, name: d.name })) } }
        );
      }
    }
    em.remove(root);
    row.updatedAt = now;
    await appendAudit(
      em,
      {
        actor,
        action: 'trust-set.root-removed',
        targetType: 'trust-set',
        targetId: row.id,
        details: { sha256: fingerprint, subject: root.subject },
      },
      now
    );
    return row.id;
  });
  return getTrustSet(ctx, id);
}

/**
 * Deletes a user-defined set with its roots. CF_TRUST_SET_READ_ONLY for the system set; CF_TRUST_SET_IN_USE while
 * a definition still names it (its checks would silently change).
 */
export async function deleteTrustSet(ctx: ServiceContext, idOrName: string, actor: Actor): Promise<void> {
  refuseSystemSet(idOrName, 'it cannot be deleted');
  await ctx.db.em().transactional(async (em) => {
    const row = await getSet(em, idOrName);
    const users = await definitionsUsing(em, row);
    if (users.length > 0) {
      throw new CertFleetError(
        'CF_TRUST_SET_IN_USE',
        `trust-set: ${row.name} is named by definition(s) ${users.map((d) => d.name).join(', ')}; ` +
          'pick another set in those definitions first',
        { details: { trustSetId: row.id, definitions: users.map((d) => ({ id: d.id, name: d.name })) } }
      );
    }
    em.remove(row);
    await appendAudit(
      em,
      { actor, action: 'trust-set.deleted', targetType: 'trust-set', targetId: row.id, details: { name: row.name } },
      ctx.clock.now()
    );
  });
}

/** A resolved set with the reference verdicts record. */
export interface ResolvedTrustSet {
  set: TrustSet;
  ref: TrustSetRef;
}

/** Builds the usable set of a stored row (roots parsed once per call; callers cache per run). */
async function loadUserSet(em: Em, row: TrustSetRow): Promise<ResolvedTrustSet> {
  const roots = await em.find(TrustSetRootEntity, { trustSetId: row.id }, { orderBy: { addedAt: 'asc' } });
  const certs = parsePemCertificates(roots.map((r) => r.pem)).certificates;
  const version = `${roots.length} root(s), updated ${row.updatedAt.toISOString()}`;
  return {
    set: trustSetFromCertificates(row.name, certs, { version, source: 'user', origin: `trust set ${row.id}` }),
    ref: { id: row.id, name: row.name, version, source: 'user' },
  };
}

function systemResolved(): ResolvedTrustSet {
  const set = systemTrustSet();
  return { set, ref: { id: SYSTEM_TRUST_SET_NAME, name: set.name, version: set.version, source: 'system' } };
}

/**
 * The trust set a definition is judged against (SPEC T2): its `trustedCaSetId` (a stored set's id or name), else
 * the system set. A definition naming a set that no longer exists gets CF_NOT_FOUND rather than a silent fallback.
 */
export async function resolveTrustSet(
  ctx: ServiceContext,
  definition: Pick<CertificateDefinition, 'trustedCaSetId'>
): Promise<ResolvedTrustSet> {
  const ref = definition.trustedCaSetId;
  if (!ref || ref === SYSTEM_TRUST_SET_NAME) return systemResolved();
  const em = ctx.db.em().fork();
  const row = await findSet(em, ref);
  if (!row) throw new CertFleetError('CF_NOT_FOUND', `trust-set: ${ref} (named by the definition) not found`);
  return loadUserSet(em, row);
}
