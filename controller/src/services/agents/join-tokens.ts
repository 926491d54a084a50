/**
 * Join tokens (SPEC G1): one-time, expiring credentials an administrator hands to a host to enroll its agent.
 * Only the SHA-256 of a token is stored; the token is returned once and never logged.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { JOIN_TOKEN_DEFAULT_TTL_MS, JOIN_TOKEN_MAX_TTL_MS, type JoinToken } from '../../domain/agent';
import { SITE_PATTERN } from '../../domain/monitoring';
import { JoinTokenEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import type { Actor, ServiceContext } from '../context';
import { parseInput } from '../definition-service';

export const joinTokenInputSchema = z
  .object({
    label: z.string().trim().min(1).max(200).optional().describe('what the token is for, e.g. the host name'),
    ttlMinutes: z
      .number()
      .int()
      .min(1)
      .max(JOIN_TOKEN_MAX_TTL_MS / 60_000)
      .default(JOIN_TOKEN_DEFAULT_TTL_MS / 60_000)
      .describe('minutes until the token expires (default 60, at most 1440)'),
    site: z
      .string()
      .regex(SITE_PATTERN, 'a site label (letters, digits, . _ -; at most 63)')
      .optional()
      .describe('site label of the agent that enrolls with it (SPEC M4: "any agent of a site")'),
  })
  .strict();
export type JoinTokenInput = z.input<typeof joinTokenInputSchema>;

export interface CreatedJoinToken {
  id: string;
  /** The secret. Shown once; only its hash is stored. */
  token: string;
  expiresAt: Date;
  label: string | null;
  site: string | null;
}

const TOKEN_PREFIX = 'cfjt_';

/** SHA-256 (hex) of a token as stored. */
export function hashJoinToken(token: string): string {
  return crypto.createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Creates a join token (audited without the token). */
export async function createJoinToken(
  ctx: ServiceContext,
  raw: JoinTokenInput,
  actor: Actor
): Promise<CreatedJoinToken> {
  const input = parseInput(joinTokenInputSchema, raw, 'agents.join-token');
  const token = TOKEN_PREFIX + crypto.randomBytes(32).toString('base64url');
  const now = ctx.clock.now();
  const row: JoinToken = {
    id: crypto.randomUUID(),
    tokenHash: hashJoinToken(token),
    label: input.label ?? null,
    createdBy: actor,
    createdAt: now,
    expiresAt: new Date(now.getTime() + input.ttlMinutes * 60_000),
    usedAt: null,
    agentId: null,
    site: input.site ?? null,
  };
  await ctx.db.em().transactional(async (em) => {
    em.persist(em.create(JoinTokenEntity, row));
    await appendAudit(
      em,
      {
        actor,
        action: 'agents.join-token-created',
        targetType: 'join-token',
        targetId: row.id,
        details: { label: row.label, expiresAt: row.expiresAt.toISOString(), site: row.site },
      },
      now
    );
  });
  return { id: row.id, token, expiresAt: row.expiresAt, label: row.label, site: row.site };
}

/** Join tokens without their hashes, newest first. */
export async function listJoinTokens(ctx: ServiceContext): Promise<Omit<JoinToken, 'tokenHash'>[]> {
  const rows = await ctx.db.em().find(JoinTokenEntity, {}, { orderBy: { createdAt: 'desc' }, limit: 500 });
  return rows.map(({ tokenHash: _hash, ...rest }) => rest);
}
