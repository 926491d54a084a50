import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import { AgentEntity } from '../../storage/entities';
import { agentPatchSchema, updateAgent } from '../../services/agents/agent-sites';
import { banAgent } from '../../services/agents/enrollment';
import { createJoinToken, joinTokenInputSchema, listJoinTokens } from '../../services/agents/join-tokens';
import { actorOf, type RouteModule } from './types';

/** Agents (SPEC G1, G3, W12, M4): join tokens, the agent list, site labels, bans. */
export const agentRoutes: RouteModule = (add, { ctx, agentPki }) => {
  add({
    method: 'POST',
    url: '/api/v1/agents/join-tokens',
    summary: 'Create a one-time join token (shown once) — SPEC G1',
    tags: ['agents'],
    permission: 'agents:manage',
    body: joinTokenInputSchema,
    responseStatus: 201,
    handler: async ({ body, user }, reply) => {
      const created = await createJoinToken(ctx, body, actorOf(user));
      reply.status(201);
      return {
        ...created,
        controllerCaSha256: agentPki?.caSha256 ?? null,
        enrollCommand: agentPki
          ? `certfleet-agent enroll --controller HOST:PORT --token ${created.token} --ca-sha256 ${agentPki.caSha256}`
          : null,
      };
    },
  });
  add({
    method: 'GET',
    url: '/api/v1/agents/join-tokens',
    summary: 'List join tokens (never the tokens themselves)',
    tags: ['agents'],
    permission: 'agents:manage',
    handler: async () => listJoinTokens(ctx),
  });
  add({
    method: 'GET',
    url: '/api/v1/agents',
    summary: 'List agents with their connection state — SPEC W12',
    tags: ['agents'],
    permission: 'repository:read',
    handler: async () => {
      const rows = await ctx.db
        .em()
        .fork()
        .find(AgentEntity, {}, { orderBy: { enrolledAt: 'desc' }, limit: 1000 });
      return rows.map((a) => ({ ...a, connected: ctx.agentHub?.isConnected(a.id) ?? false }));
    },
  });
  add({
    method: 'GET',
    url: '/api/v1/agents/:id',
    summary: 'One agent',
    tags: ['agents'],
    permission: 'repository:read',
    params: z.object({ id: z.uuid() }).strict(),
    handler: async ({ params }) => {
      const a = await ctx.db.em().fork().findOne(AgentEntity, { id: params.id });
      if (!a) throw new CertFleetError('CF_NOT_FOUND', `agents: agent ${params.id} not found`);
      return { ...a, connected: ctx.agentHub?.isConnected(a.id) ?? false };
    },
  });
  add({
    method: 'PATCH',
    url: '/api/v1/agents/:id',
    summary: 'Set or clear an agent\'s site label (endpoints probed by "any agent of a site") — SPEC M4',
    tags: ['agents'],
    permission: 'agents:manage',
    params: z.object({ id: z.uuid() }).strict(),
    body: agentPatchSchema,
    handler: async ({ params, raw, user }) => {
      const a = await updateAgent(ctx, params.id, raw.body ?? {}, actorOf(user));
      return { ...a, connected: ctx.agentHub?.isConnected(a.id) ?? false };
    },
  });
  add({
    method: 'POST',
    url: '/api/v1/agents/:id/ban',
    summary: 'Ban (revoke) an agent: its stream closes at once, later calls are refused — SPEC G3',
    tags: ['agents'],
    permission: 'agents:manage',
    params: z.object({ id: z.uuid() }).strict(),
    handler: async ({ params, user }) => banAgent(ctx, params.id, actorOf(user)),
  });
};
