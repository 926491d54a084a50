/**
 * Agent site labels (SPEC M4): an agent's `site` says which intranet it sits in; a monitored endpoint probed by
 * "any agent of site S" goes to a connected agent labelled S. Set at enrollment (from the join token) or changed
 * here by an administrator (audited).
 */
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import type { Agent } from '../../domain/agent';
import { SITE_PATTERN } from '../../domain/monitoring';
import { AgentEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import type { Actor, ServiceContext } from '../context';
import { parseInput } from '../definition-service';

export const agentPatchSchema = z
  .object({
    site: z
      .string()
      .regex(SITE_PATTERN, 'a site label (letters, digits, . _ -; at most 63)')
      .nullable()
      .describe('the site label; null removes it'),
  })
  .strict();
export type AgentPatch = z.input<typeof agentPatchSchema>;

/** Changes an agent's site label (banned agents too: the label is bookkeeping). CF_NOT_FOUND for an unknown id. */
export async function updateAgent(ctx: ServiceContext, agentId: string, raw: unknown, actor: Actor): Promise<Agent> {
  const patch = parseInput(agentPatchSchema, raw, 'agents');
  const now = ctx.clock.now();
  return ctx.db.em().transactional(async (em) => {
    const row = z.uuid().safeParse(agentId).success ? await em.findOne(AgentEntity, { id: agentId }) : null;
    if (!row) throw new CertFleetError('CF_NOT_FOUND', `agents: agent ${agentId} not found`);
    const before = row.site;
    row.site = patch.site;
    await appendAudit(
      em,
      {
        actor,
        action: 'agents.updated',
        targetType: 'agent',
        targetId: row.id,
        details: { site: { from: before, to: patch.site } },
      },
      now
    );
    return row;
  });
}
