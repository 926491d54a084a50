import crypto from 'node:crypto';
import { IsolationLevel } from '@mikro-orm/core';
import type { AuditEvent } from '../domain/history';
import type { Em } from '../storage/database';
import { AuditEventEntity, SettingEntity } from '../storage/entities';
import type { Actor } from './context';

export const AUDIT_GENESIS = '0'.repeat(64);
const HEAD_KEY = 'audit.head';

export interface AuditInput {
  actor: Actor;
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  /** Never put secrets here. */
  details?: Record<string, unknown>;
}

/** Canonical JSON (sorted keys) so the hash does not depend on property order. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`)
    .join(',')}}`;
}

export function auditHash(e: Omit<AuditEvent, 'hash'>): string {
  const body = canonical({ ...e, at: e.at.toISOString() });
  return crypto.createHash('sha256').update(body).digest('hex');
}

/**
 * Appends one event to the hash-chained audit log (SPEC U5, R8), inside the caller's transaction: the chain head is
 * serialised with a transaction-scoped advisory lock, so concurrent writers (or replicas) cannot fork the chain.
 */
export async function appendAudit(em: Em, input: AuditInput, now: Date): Promise<AuditEvent> {
  await em
    .getConnection()
    .execute(`select pg_advisory_xact_lock(hashtext('certfleet.audit'))`, [], 'all', em.getTransactionContext());
  const head = await em.findOne(SettingEntity, { key: HEAD_KEY });
  const prevHash = typeof head?.value === 'string' ? head.value : AUDIT_GENESIS;
  const base = {
    id: crypto.randomUUID(),
    at: now,
    actor: input.actor,
    action: input.action,
    targetType: input.targetType ?? null,
    targetId: input.targetId ?? null,
    details: input.details ?? {},
    prevHash,
  };
  const event: AuditEvent = { ...base, hash: auditHash(base) };
  em.persist(em.create(AuditEventEntity, event));
  if (head) {
    head.value = event.hash;
    head.updatedAt = now;
  } else {
    em.persist(em.create(SettingEntity, { key: HEAD_KEY, value: event.hash, updatedAt: now }));
  }
  return event;
}

/**
 * Walks the chain from the genesis and reports the first broken link, if any. An event edited, removed or
 * inserted out of chain breaks it.
 */
export async function verifyAuditChain(em: Em): Promise<AuditVerification> {
  // One snapshot for the events and the head: writers appending meanwhile must not look like a broken chain.
  return em.transactional((tem) => verifyInSnapshot(tem), {
    isolationLevel: IsolationLevel.REPEATABLE_READ,
    readOnly: true,
  });
}

export interface AuditVerification {
  ok: boolean;
  events: number;
  brokenAt?: string;
  reason?: string;
}

async function verifyInSnapshot(em: Em): Promise<AuditVerification> {
  const rows = await em.find(AuditEventEntity, {}, { orderBy: { at: 'asc' } });
  const byPrev = new Map(rows.map((r) => [r.prevHash, r]));
  const onChain = new Set<string>();
  let prev = AUDIT_GENESIS;
  let n = 0;
  for (;;) {
    const e = byPrev.get(prev);
    if (!e || onChain.has(e.id)) break; // a cycle ends the walk (bounded by the row count)
    onChain.add(e.id);
    const { hash, ...rest } = e;
    if (auditHash(rest) !== hash)
      return { ok: false, events: n, brokenAt: e.id, reason: 'event content does not match its hash' };
    prev = hash;
    n++;
  }
  const head = await em.findOne(SettingEntity, { key: HEAD_KEY });
  const headHash = typeof head?.value === 'string' ? head.value : AUDIT_GENESIS;
  if (n !== rows.length) {
    // The oldest event off the chain (rows are ordered by time).
    const off = rows.find((r) => !onChain.has(r.id));
    return {
      ok: false,
      events: n,
      ...(off ? { brokenAt: off.id } : {}),
      reason: `${rows.length - n} event(s) are not on the chain`,
    };
  }
  if (headHash !== prev) return { ok: false, events: n, reason: 'chain head does not match the last event' };
  return { ok: true, events: n };
}
