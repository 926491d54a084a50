import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import anyTest, { type TestFn } from 'ava';
import { startTestController, type TestController } from '../../_helpers/controller';
import { call, codeOf } from '../../_helpers/https-client';

/**
 * SPEC U2 against a real controller: the IP allow-list is applied before authentication to every route, changes
 * apply without restart (in this process at once, from another process — the `certfleet access` CLI — within 2 s),
 * a list that would lock the caller out needs `force`, and the CLI gets a locked-out admin back in. Sources are
 * loopback addresses: 127.0.0.1 (the admin) and 127.0.0.2 (outside the list).
 */
const test = anyTest as TestFn<{ tc: TestController; admin: string; routes: Array<[string, string]> }>;

const root = path.resolve(__dirname, '../../..');
const run = promisify(execFile);
const INSIDE = { localAddress: '127.0.0.1' };
const OUTSIDE = { localAddress: '127.0.0.2' };

test.before(async (t) => {
  t.context.tc = await startTestController();
  t.context.admin = await t.context.tc.adminToken();
  const doc = (await call(t.context.tc, 'GET', '/api/openapi.json')).json as {
    paths: Record<string, Record<string, unknown>>;
  };
  t.context.routes = Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.keys(ops).map((m): [string, string] => [
      m.toUpperCase(),
      p.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000'),
    ])
  );
});
test.after.always(async (t) => {
  await t.context.tc?.close();
});

async function cli(t: { context: { tc: TestController } }, args: string[]): Promise<{ code: number; stdout: string }> {
  const env = {
    ...process.env,
    DATABASE_URL: t.context.tc.databaseUrl,
    CERTFLEET_HOME: t.context.tc.home,
    CERTFLEET_LOG_LEVEL: 'silent',
  };
  try {
    const r = await run(process.execPath, ['bin/certfleet.js', 'access', ...args], {
      cwd: root,
      env,
      timeout: 120_000,
    });
    return { code: 0, stdout: r.stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '' };
  }
}

/** Polls (bounded) until `from` gets `status` on /healthz; returns the milliseconds it took, or -1. */
async function waitForStatus(tc: TestController, from: { localAddress: string }, status: number): Promise<number> {
  const t0 = Date.now();
  for (let i = 0; i < 100; i++) {
    if ((await call(tc, 'GET', '/healthz', from)).status === status) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  return -1;
}

function putList(tc: TestController, admin: string, body: unknown, from = INSIDE) {
  return call(tc, 'PUT', '/api/v1/settings/ip-allow-list', { ...from, token: admin, body });
}

test.serial('U2 bad CIDR entries are refused with a precise message and nothing is stored', async (t) => {
  const { tc, admin } = t.context;
  const r = await putList(tc, admin, { cidrs: ['10.0.0.1/8', '300.1.1.1/24', 'fe80::/129', 'example.com'] });
  t.is(r.status, 400);
  t.is(codeOf(r), 'CF_VALIDATION');
  const msg = (r.json as { error: { message: string } }).error.message;
  t.regex(msg, /host bits are set below \/8; did you mean 10\.0\.0\.0\/8\?/);
  t.regex(msg, /"300\.1\.1\.1" is not an IPv4 or IPv6 address/);
  t.regex(msg, /prefix must be a number from 0 to 128/);
  t.regex(msg, /"example\.com" is not an IPv4 or IPv6 address/);
  const got = await call(tc, 'GET', '/api/v1/settings/ip-allow-list', { ...INSIDE, token: admin });
  t.is(got.status, 200);
  t.deepEqual((got.json as { cidrs: string[] }).cidrs, []);
  t.is((got.json as { clientAddress: string }).clientAddress, '127.0.0.1');
});

test.serial('U2 a list that excludes your own address is refused unless force is set', async (t) => {
  const { tc, admin } = t.context;
  const r = await putList(tc, admin, { cidrs: ['10.0.0.0/8'] });
  t.is(r.status, 409);
  t.is(codeOf(r), 'CF_CONFLICT');
  t.regex((r.json as { error: { message: string } }).error.message, /does not include your own address 127\.0\.0\.1/);
  t.is((await call(tc, 'GET', '/healthz', INSIDE)).status, 200, 'nothing changed');
});

test.serial('U2 an address outside the allow-list gets 403 on every route, before authentication', async (t) => {
  const { tc, admin, routes } = t.context;
  const set = await putList(tc, admin, { cidrs: ['127.0.0.1/32', '2001:DB8::/32'] });
  t.is(set.status, 200);
  t.deepEqual((set.json as { cidrs: string[] }).cidrs, ['127.0.0.1/32', '2001:db8::/32'], 'canonical form');
  const before = (
    (await call(tc, 'GET', '/api/v1/settings/ip-allow-list', { ...INSIDE, token: admin })).json as {
      rejectedRequests: number;
    }
  ).rejectedRequests;

  const all: Array<[string, string]> = [
    ...routes,
    ['GET', '/'],
    ['GET', '/healthz'],
    ['GET', '/readyz'],
    ['GET', '/api/openapi.json'],
    ['GET', '/no/such/url'],
  ];
  t.true(routes.length >= 50, `${routes.length} API routes`);
  t.true(
    routes.some(([m, p]) => m === 'POST' && p === '/api/v1/auth/login'),
    'login is among them'
  );
  for (const [method, url] of all) {
    // A valid admin token does not help: the gate runs before authentication.
    const r = await call(tc, method, url, {
      ...OUTSIDE,
      token: admin,
      body: ['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined,
    });
    t.is(r.status, 403, `${method} ${url}`);
    t.is(codeOf(r), 'CF_IP_NOT_ALLOWED', `${method} ${url}`);
  }
  const login = await call(tc, 'POST', '/api/v1/auth/login', {
    ...OUTSIDE,
    body: { username: 'admin', password: 'whatever' },
  });
  t.is(codeOf(login), 'CF_IP_NOT_ALLOWED');
  // The allowed address still works.
  t.is((await call(tc, 'GET', '/api/v1/definitions', { ...INSIDE, token: admin })).status, 200);
  const after = (
    (await call(tc, 'GET', '/api/v1/settings/ip-allow-list', { ...INSIDE, token: admin })).json as {
      rejectedRequests: number;
    }
  ).rejectedRequests;
  t.is(after - before, all.length + 1, 'every refusal is counted');
});

test.serial(
  'U2 changes apply without restart: at once in this process, within 2 s from another process (CLI)',
  async (t) => {
    const { tc, admin } = t.context;
    t.is((await call(tc, 'GET', '/healthz', OUTSIDE)).status, 403);
    // Through the API of this process: effective for the very next request.
    t.is((await putList(tc, admin, { cidrs: ['127.0.0.1/32', '127.0.0.2/32'] })).status, 200);
    t.is((await call(tc, 'GET', '/healthz', OUTSIDE)).status, 200);
    t.is((await call(tc, 'GET', '/api/v1/definitions', { ...OUTSIDE, token: admin })).status, 200);

    // Another process (the CLI, on the database directly) narrows the list; the controller notices within 2 s.
    const set = await cli(t, ['allow-list', 'set', '127.0.0.1', '--json']);
    t.is(set.code, 0, set.stdout);
    t.deepEqual((JSON.parse(set.stdout) as { cidrs: string[] }).cidrs, ['127.0.0.1/32']);
    const ms = await waitForStatus(tc, OUTSIDE, 403);
    t.true(ms >= 0 && ms <= 2000, `took ${ms} ms`);
    const shown = await cli(t, ['allow-list', 'show', '--json']);
    t.deepEqual((JSON.parse(shown.stdout) as { cidrs: string[] }).cidrs, ['127.0.0.1/32']);
    const bad = await cli(t, ['allow-list', 'set', '10.0.0.1/8', '--json']);
    t.is(bad.code, 2);
    t.is((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, 'CF_VALIDATION');
  }
);

test.serial('U2 force locks the caller out; `certfleet access allow-list clear` gets the admin back in', async (t) => {
  const { tc, admin } = t.context;
  const r = await putList(tc, admin, { cidrs: ['192.0.2.0/24'], force: true });
  t.is(r.status, 200);
  const me = await call(tc, 'GET', '/api/v1/auth/me', { ...INSIDE, token: admin });
  t.is(me.status, 403);
  t.is(codeOf(me), 'CF_IP_NOT_ALLOWED');
  const cleared = await cli(t, ['allow-list', 'clear', '--json']);
  t.is(cleared.code, 0);
  t.deepEqual((JSON.parse(cleared.stdout) as { cidrs: string[] }).cidrs, []);
  const ms = await waitForStatus(tc, INSIDE, 200);
  t.true(ms >= 0 && ms <= 2000, `took ${ms} ms`);
  t.is((await call(tc, 'GET', '/api/v1/auth/me', { ...OUTSIDE, token: admin })).status, 200, 'empty list: all allowed');
});

test.serial('U5 allow-list changes are audited with actor and blocks', async (t) => {
  const { tc, admin } = t.context;
  const r = await call(tc, 'GET', '/api/v1/audit?limit=200', { token: admin });
  const items = (r.json as { items: Array<{ action: string; actor: string; details: Record<string, unknown> }> }).items;
  const changes = items.filter((i) => i.action === 'settings.ip_allow_list.updated');
  t.true(changes.length >= 5, `${changes.length} changes`);
  t.true(changes.some((c) => c.actor === 'user:admin' && c.details.forced === true));
  t.true(changes.some((c) => c.actor.startsWith('cli:') && (c.details.cidrs as string[]).length === 0));
});
