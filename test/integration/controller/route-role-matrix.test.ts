import anyTest, { type TestFn } from 'ava';
import { permissions, type Permission } from '../../../controller/src/domain/user';
import { startTestController, type TestController } from '../../_helpers/controller';
import { call, codeOf, cookieLogin, createUser, type CallOptions } from '../../_helpers/https-client';

/**
 * SPEC U1: a generated route × role matrix. The routes come from the running controller's OpenAPI document (built
 * from the route registry, with each route's permission as `x-certfleet-permission`), cross-checked against
 * Fastify's own router so no /api route escapes. Every route is called anonymously, as a User (bearer token and
 * cookie session with CSRF token) and as an Admin, with placeholder path parameters and a minimal body that strict
 * schemas reject (so nothing is changed). Asserted: no 2xx without the permission, 401 for anonymous callers of
 * non-public routes, 403 CF_FORBIDDEN where the role lacks the permission, and never a permission refusal where
 * the role has it.
 */
interface Route {
  method: string;
  template: string;
  permission: Permission | 'public' | 'authenticated';
}
const test = anyTest as TestFn<{ tc: TestController; routes: Route[]; callers: Record<string, CallOptions> }>;

const PLACEHOLDER = '00000000-0000-4000-8000-000000000000';
const PASSWORD = 'matrix password 1234';
const LOGOUT = 'POST /api/v1/auth/logout';
/** Routes outside the registry (no permission model of their own): health, readiness, the OpenAPI document. */
const NON_REGISTRY = new Set(['GET /healthz', 'GET /readyz', 'GET /api/openapi.json']);

test.before(async (t) => {
  const tc = await startTestController();
  t.context.tc = tc;
  const admin = await tc.adminToken();
  const user = await createUser(tc, admin, 'matrix-user', 'user', PASSWORD);
  const cookie = await cookieLogin(tc, 'matrix-user', PASSWORD);
  t.context.callers = {
    anonymous: {},
    'user (bearer)': { token: user },
    'user (cookie)': { cookie: cookie.session, csrfToken: cookie.csrfToken },
    'admin (bearer)': { token: admin },
  };
  const doc = (await call(tc, 'GET', '/api/openapi.json')).json as {
    paths: Record<string, Record<string, { 'x-certfleet-permission'?: Route['permission'] }>>;
  };
  t.context.routes = Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.entries(ops).map(([m, op]) => ({
      method: m.toUpperCase(),
      template: p,
      permission: op['x-certfleet-permission'] as Route['permission'],
    }))
  );
});
test.after.always(async (t) => {
  await t.context.tc?.close();
});

/** Every (method, path) Fastify routes, from its route tree (`printRoutes`), HEAD excluded. */
function fastifyRoutes(tree: string): Set<string> {
  const out = new Set<string>();
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S*?)(?: \(([^)]+)\))?$/.exec(line.replace(/\s+$/, ''));
    if (!m) continue;
    const depth = m[1]!.length / 4;
    const full = (depth > 0 ? stack[depth - 1]! : '') + m[2]!;
    stack[depth] = full;
    stack.length = depth + 1;
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim())) {
      if (method && method !== 'HEAD') out.add(`${method} ${full}`);
    }
  }
  return out;
}

test('U1 the matrix covers 100% of the API routes of the registry and of the router', (t) => {
  const { tc, routes } = t.context;
  t.true(routes.length >= 50, `${routes.length} routes in the OpenAPI document`);
  for (const r of routes) {
    t.true(
      r.permission === 'public' || r.permission === 'authenticated' || r.permission in permissions,
      `${r.method} ${r.template}: documented permission ${String(r.permission)}`
    );
  }
  const documented = new Set(routes.map((r) => `${r.method} ${r.template.replace(/\{([^}]+)\}/g, ':$1')}`));
  t.is(documented.size, routes.length);
  const routed = fastifyRoutes(tc.controller.app.printRoutes({ commonPrefix: false }));
  t.true(routed.size >= routes.length, `router lists ${routed.size} routes`);
  for (const d of documented) t.true(routed.has(d), `the router has the documented route ${d}`);
  for (const r of routes) {
    const url = r.template.replace(/\{([^}]+)\}/g, ':$1');
    t.true(tc.controller.app.hasRoute({ method: r.method as 'GET', url }), `hasRoute ${r.method} ${url}`);
  }
  const undocumented = [...routed].filter((r) => !documented.has(r) && !NON_REGISTRY.has(r));
  // Anything else is the console's static files (not under /api, no permission model); no API route may hide here.
  t.deepEqual(
    undocumented.filter((r) => /^\S+ \/(api|pki|metrics)(\/|\*|$)/.test(r)),
    [],
    'every API route is in the registry'
  );
  t.log(`${routes.length} registry routes × 4 callers; router extras: ${JSON.stringify(undocumented)}`);
});

/**
 * Routes whose permission is part of their contract, pinned here so a change of permission fails this test and
 * not only the generated matrix (which follows whatever the registry says).
 */
const PINNED: ReadonlyArray<[string, Route['permission']]> = [
  ['GET /api/v1/monitoring/schedule', 'repository:read'],
  ['PUT /api/v1/monitoring/schedule', 'settings:manage'],
  ['DELETE /api/v1/trust-sets/{id}/roots/{fingerprint}', 'settings:manage'],
  ['POST /api/v1/trust-sets/{id}/roots', 'settings:manage'],
  ['DELETE /api/v1/trust-sets/{id}', 'settings:manage'],
  ['GET /api/v1/audit', 'settings:manage'],
  ['GET /api/v1/audit/verify', 'settings:manage'],
];

test('U1 M1 T1 U5 pinned permissions: W6 schedule, W9 trust-set roots, W11 audit log and chain check', (t) => {
  const byKey = new Map(t.context.routes.map((r) => [`${r.method} ${r.template}`, r.permission]));
  for (const [key, permission] of PINNED) t.is(byKey.get(key), permission, key);
});

test('U1 route × role matrix: no unexpected 2xx for anonymous, User and Admin; 403 where the permission check fires', async (t) => {
  const { tc, routes, callers } = t.context;
  // Logout last: it ends the caller's session.
  const ordered = [...routes].sort(
    (a, b) => Number(`${a.method} ${a.template}` === LOGOUT) - Number(`${b.method} ${b.template}` === LOGOUT)
  );
  let checked = 0;
  const serverErrors: string[] = [];
  for (const [who, auth] of Object.entries(callers)) {
    for (const r of ordered) {
      const url = r.template.replace(/\{[^}]+\}/g, PLACEHOLDER);
      const body = ['POST', 'PUT', 'PATCH'].includes(r.method) ? { __matrix: true } : undefined;
      const res = await call(tc, r.method, url, { ...auth, body });
      const code = codeOf(res);
      const label = `${who}: ${r.method} ${r.template} → ${res.status} ${code ?? ''}`;
      const is2xx = res.status >= 200 && res.status < 300;
      if (res.status >= 500) serverErrors.push(label);
      if (who === 'anonymous') {
        if (r.permission !== 'public') {
          t.is(res.status, 401, label);
          t.is(code, 'CF_UNAUTHORIZED', label);
        }
      } else {
        const role = who.startsWith('admin') ? 'admin' : 'user';
        const allowed =
          r.permission === 'public' ||
          r.permission === 'authenticated' ||
          (permissions[r.permission] as readonly string[]).includes(role);
        if (allowed) {
          t.not(code, 'CF_FORBIDDEN', label);
          t.not(code, 'CF_UNAUTHORIZED', label);
          t.not(code, 'CF_CSRF', label);
        } else {
          t.false(is2xx, label);
          t.is(res.status, 403, label);
          t.is(code, 'CF_FORBIDDEN', label);
        }
      }
      checked++;
    }
  }
  t.is(checked, routes.length * Object.keys(callers).length, '100% of the routes for every caller');
  t.deepEqual(
    serverErrors.filter((e) => e.includes('CF_INTERNAL')),
    [],
    'no unhandled error for placeholder input'
  );
  t.log(`checked ${checked} calls (${routes.length} routes × ${Object.keys(callers).length} callers)`);
  if (serverErrors.length) t.log(`5xx answers (typed): ${serverErrors.join('; ')}`);
});
