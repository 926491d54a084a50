import type { z } from 'zod';
import type { AcquisitionDeps } from '../../services/acquisition/acquisition-service';
import type { AgentPki } from '../../services/agents/agent-pki';
import type { ServiceContext } from '../../services/context';
import type { RouteSpec } from '../route';

export type AddRoute = <B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType>(
  spec: RouteSpec<B, Q, P>
) => void;

export interface RouteDeps {
  ctx: ServiceContext;
  acquisition: AcquisitionDeps;
  /** The agent channel's PKI (sealing bundles); absent when no agent listener runs. */
  agentPki?: AgentPki;
}

/** A group of routes registered through `add` (which also records them for the OpenAPI document). */
export type RouteModule = (add: AddRoute, deps: RouteDeps) => void;

/** `Actor` string for the audit log from the logged-in user. */
export function actorOf(user: { username: string } | undefined): string {
  return user ? `user:${user.username}` : 'anonymous';
}
