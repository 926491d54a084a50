import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { type z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import type { Permission } from '../domain/user';
import { can } from '../domain/user';
import type { SessionUser } from '../services/auth-service';

declare module 'fastify' {
  interface FastifyRequest {
    user?: SessionUser;
  }
}

/** A documented route: its zod schemas feed both validation and the OpenAPI document (SPEC X3). */
export interface RouteSpec<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType> {
  method: HTTPMethods;
  url: string;
  summary: string;
  tags: string[];
  /** `public` routes need no session; others need one with this permission. */
  permission: Permission | 'public' | 'authenticated';
  body?: B;
  query?: Q;
  params?: P;
  /** Documented response schema for 2xx (OpenAPI only). */
  response?: z.ZodType;
  responseStatus?: number;
  bodyLimit?: number;
  /** Allowed while the user still has to change the generated password. */
  allowWithPendingPasswordChange?: boolean;
  contentType?: string;
  handler: (
    req: {
      body: z.infer<B>;
      query: z.infer<Q>;
      params: z.infer<P>;
      user: SessionUser | undefined;
      raw: FastifyRequest;
    },
    reply: FastifyReply
  ) => Promise<unknown>;
}

export type AnyRouteSpec = RouteSpec<z.ZodType, z.ZodType, z.ZodType>;

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): z.infer<T> {
  if (!schema) return value as z.infer<T>;
  const r = schema.safeParse(value ?? {});
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${where}${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`);
    throw new CertFleetError('CF_VALIDATION', `http: ${problems.join('; ')}`, { details: { problems } });
  }
  return r.data;
}

/** Registers a route: permission check, zod parsing of params/query/body, then the handler. */
export function addRoute<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType>(
  app: FastifyInstance,
  registry: AnyRouteSpec[],
  spec: RouteSpec<B, Q, P>
): void {
  registry.push(spec as unknown as AnyRouteSpec);
  app.route({
    method: spec.method,
    url: spec.url,
    ...(spec.bodyLimit ? { bodyLimit: spec.bodyLimit } : {}),
    handler: async (req, reply) => {
      if (spec.permission !== 'public') {
        const user = req.user;
        if (!user) throw new CertFleetError('CF_UNAUTHORIZED', 'auth: log in first (Authorization: Bearer <token>)');
        if (user.mustChangePassword && !spec.allowWithPendingPasswordChange) {
          throw new CertFleetError(
            'CF_FORBIDDEN',
            'auth: change the generated password first (POST /api/v1/auth/password)'
          );
        }
        if (spec.permission !== 'authenticated' && !can(user.role, spec.permission)) {
          throw new CertFleetError('CF_FORBIDDEN', `auth: role ${user.role} lacks permission ${spec.permission}`);
        }
      }
      const out = await spec.handler(
        {
          body: parse(spec.body, req.body, 'body'),
          query: parse(spec.query, req.query, 'query'),
          params: parse(spec.params, req.params, 'params'),
          user: req.user,
          raw: req,
        },
        reply
      );
      if (reply.sent) return reply;
      if (spec.responseStatus) void reply.status(spec.responseStatus);
      return out ?? reply.status(204).send();
    },
  });
}
