import test from 'ava';
import { z } from 'zod';
import { buildOpenApi } from '../../../../controller/src/http/openapi';
import type { AnyRouteSpec } from '../../../../controller/src/http/route';

const route = (url: string, params: z.ZodType): AnyRouteSpec => ({
  method: 'GET',
  url,
  summary: 's',
  tags: ['t'],
  permission: 'authenticated',
  params,
  handler: async () => undefined,
});

test('W11 OpenAPI paths name every route parameter, including names with digits and underscores', (t) => {
  const doc = buildOpenApi(
    [
      route('/api/v1/certificates/:sha256/chain', z.object({ sha256: z.string() })),
      route('/api/v1/trust-sets/:id/roots/:root_fp2', z.object({ id: z.uuid(), root_fp2: z.string() })),
    ],
    'test'
  ) as { paths: Record<string, { get: { parameters: Array<{ name: string; in: string }> } }> };
  t.deepEqual(Object.keys(doc.paths).sort(), [
    '/api/v1/certificates/{sha256}/chain',
    '/api/v1/trust-sets/{id}/roots/{root_fp2}',
  ]);
  // every {name} of a path is a declared path parameter
  for (const [path, ops] of Object.entries(doc.paths)) {
    const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    const declared = ops.get.parameters.filter((p) => p.in === 'path').map((p) => p.name);
    t.deepEqual(inPath.sort(), declared.sort(), path);
  }
});
