import { z } from 'zod';
import type { AnyRouteSpec } from './route';

function schemaOf(s: z.ZodType | undefined, io: 'input' | 'output'): Record<string, unknown> | undefined {
  if (!s) return undefined;
  try {
    return z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Builds the OpenAPI 3.1 document from the registered routes' zod schemas. */
export function buildOpenApi(routes: AnyRouteSpec[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
    const params: unknown[] = [];
    for (const [where, schema] of [
      ['path', r.params],
      ['query', r.query],
    ] as const) {
      const js = schemaOf(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] } | undefined;
      for (const [name, prop] of Object.entries(js?.properties ?? {})) {
        params.push({
          name,
          in: where,
          required: where === 'path' || (js?.required ?? []).includes(name),
          schema: prop,
        });
      }
    }
    const op: Record<string, unknown> = {
      summary: r.summary,
      tags: r.tags,
      ...(params.length ? { parameters: params } : {}),
      ...(r.body
        ? {
            requestBody: {
              required: true,
              content: { [r.contentType ?? 'application/json']: { schema: schemaOf(r.body, 'input') } },
            },
          }
        : {}),
      responses: {
        [String(r.responseStatus ?? 200)]: {
          description: 'success',
          ...(r.response ? { content: { 'application/json': { schema: schemaOf(r.response, 'output') } } } : {}),
        },
        default: {
          description: 'error',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
      ...(r.permission === 'public' ? { security: [] } : {}),
      /** Who may call it (SPEC U1): `public`, `authenticated` or a permission of domain/user.ts. */
      'x-certfleet-permission': r.permission,
    };
    (paths[path] ??= {})[r.method.toString().toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'CertFleet controller API', version },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        // Browser sessions; state-changing requests also need the x-csrf-token header (SPEC U1).
        cookie: { type: 'apiKey', in: 'cookie', name: '__Host-certfleet-session' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { type: 'string', pattern: '^CF_' },
                message: { type: 'string' },
                details: { type: 'object' },
              },
            },
          },
        },
      },
    },
    security: [{ bearer: [] }, { cookie: [] }],
    paths,
  };
}
