import crypto from 'node:crypto';
import { CertFleetError } from '@certfleet/shared';
import { providerAccountInputSchema, type ProviderAccount } from '../domain/provider-account';
import { seal, unseal, type SealContext } from '../secrets/envelope';
import { SEALED_COLUMNS, sealContext } from '../secrets/sealed-columns';
import type { Em } from '../storage/database';
import { ProviderAccountEntity, type ProviderAccountRow } from '../storage/entities';
import { appendAudit } from './audit-service';
import type { Actor, ServiceContext } from './context';
import { parseInput, parsePatch } from './definition-service';

const ctxFor = (id: string): SealContext => sealContext(SEALED_COLUMNS.providerPassword, id);

/** The API view: the password is never returned, only whether one is set. */
export function toProviderAccount(row: ProviderAccountRow): ProviderAccount {
  const { passwordSealed, ...rest } = row;
  return { ...rest, hasPassword: passwordSealed !== null };
}

export async function createProviderAccount(ctx: ServiceContext, raw: unknown, actor: Actor): Promise<ProviderAccount> {
  const input = parseInput(providerAccountInputSchema, raw, 'provider-account');
  return ctx.db.em().transactional(async (em) => {
    const now = ctx.clock.now();
    if (await em.findOne(ProviderAccountEntity, { name: input.name })) {
      throw new CertFleetError('CF_CONFLICT', `provider-account: the name ${JSON.stringify(input.name)} is taken`);
    }
    const id = crypto.randomUUID();
    const { password, ...fields } = input;
    const row = em.create(ProviderAccountEntity, {
      ...fields,
      id,
      passwordSealed: password ? seal(ctx.masterKey, ctxFor(id), password) : null,
      createdAt: now,
      updatedAt: now,
    });
    em.persist(row);
    await appendAudit(
      em,
      {
        actor,
        action: 'provider_account.created',
        targetType: 'provider_account',
        targetId: id,
        details: { name: input.name, vendor: input.vendor },
      },
      now
    );
    return toProviderAccount(row);
  });
}

export async function updateProviderAccount(
  ctx: ServiceContext,
  id: string,
  raw: unknown,
  actor: Actor
): Promise<ProviderAccount> {
  const patch = parsePatch(providerAccountInputSchema.partial().strict(), raw, 'provider-account');
  return ctx.db.em().transactional(async (em) => {
    const now = ctx.clock.now();
    const row = await em.findOne(ProviderAccountEntity, { id });
    if (!row) throw new CertFleetError('CF_NOT_FOUND', `provider-account: ${id} not found`);
    const { password, ...fields } = patch;
    em.assign(row, { ...fields, updatedAt: now });
    if (password !== undefined) row.passwordSealed = password ? seal(ctx.masterKey, ctxFor(id), password) : null;
    await appendAudit(
      em,
      {
        actor,
        action: 'provider_account.updated',
        targetType: 'provider_account',
        targetId: id,
        details: { fields: Object.keys(patch) },
      },
      now
    );
    return toProviderAccount(row);
  });
}

export async function listProviderAccounts(em: Em): Promise<ProviderAccount[]> {
  return (await em.find(ProviderAccountEntity, {}, { orderBy: { name: 'asc' } })).map(toProviderAccount);
}

/** Opens the stored password (for issuers that log in to a vendor); never exposed over the API. */
export async function revealProviderPassword(em: Em, ctx: ServiceContext, id: string): Promise<string | null> {
  const row = await em.findOne(ProviderAccountEntity, { id });
  if (!row) throw new CertFleetError('CF_NOT_FOUND', `provider-account: ${id} not found`);
  return row.passwordSealed ? unseal(ctx.masterKey, ctxFor(id), row.passwordSealed).toString('utf8') : null;
}

export async function deleteProviderAccount(ctx: ServiceContext, id: string, actor: Actor): Promise<void> {
  await ctx.db.em().transactional(async (em) => {
    const n = await em.nativeDelete(ProviderAccountEntity, { id });
    if (!n) throw new CertFleetError('CF_NOT_FOUND', `provider-account: ${id} not found`);
    await appendAudit(
      em,
      { actor, action: 'provider_account.deleted', targetType: 'provider_account', targetId: id },
      ctx.clock.now()
    );
  });
}
