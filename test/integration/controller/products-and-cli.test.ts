import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import anyTest, { type TestFn } from 'ava';
import { startTestController, type TestController } from '../../_helpers/controller';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../../..');
const test = anyTest as TestFn<{ tc: TestController; token: string }>;

test.before(async (t) => {
  const tc = await startTestController();
  t.context = { tc, token: await tc.adminToken() };
});
test.after.always(async (t) => {
  await t.context.tc?.close();
});

test('A3 R7 the catalogue is served, filtered, editable, and a definition lists the products that satisfy it', async (t) => {
  const { tc, token } = t.context;
  const api = (m: string, u: string, b?: unknown) => tc.request(m, u, b, token);
  const ev = (await api('GET', '/api/v1/products?validationLevel=EV')).json as {
    items: Array<{ validationLevel: string }>;
  };
  t.true(ev.items.length > 0 && ev.items.every((p) => p.validationLevel === 'EV'));
  const bad = await api('GET', '/api/v1/products?validationLevel=XX');
  t.is(bad.status, 400);
  const def = (
    await api('POST', '/api/v1/definitions', {
      name: 'wild',
      subject: { commonName: '*.shop.example.test' },
      sans: [{ type: 'dns', value: '*.shop.example.test' }],
      issuerType: 'manual',
      requirements: { validationLevel: 'OV' },
    })
  ).json as { id: string };
  const sel = (await api('GET', `/api/v1/definitions/${def.id}/products`)).json as {
    requirements: Record<string, unknown>;
    products: Array<{ wildcard: boolean; validationLevel: string }>;
  };
  t.deepEqual(sel.requirements, { wildcard: true, validationLevel: 'OV' });
  t.true(sel.products.length > 0 && sel.products.every((p) => p.wildcard && p.validationLevel !== 'DV'));
  const edit = await api('PUT', '/api/v1/products/sectigo-ov', {
    vendor: 'Sectigo',
    name: 'Sectigo OV SSL (negotiated price)',
    validationLevel: 'OV',
    wildcard: false,
    multiDomain: false,
    maxValidityDays: 200,
    url: 'https://www.sectigo.com/',
    issuerType: 'manual',
  });
  t.is(edit.status, 200);
  t.is(
    (edit.json as { builtin: boolean }).builtin,
    false,
    'an edited product is no longer overwritten by catalogue updates'
  );

  // R2 A3: a renewal may change product and is still the definition's renewal.
  const d2 = (
    await api('POST', '/api/v1/definitions', {
      name: 'switch',
      subject: { commonName: 'switch.example.test' },
      sans: [{ type: 'dns', value: 'switch.example.test' }],
      issuerType: 'internal-ca',
      productId: 'certfleet-internal',
    })
  ).json as { id: string };
  const first = (await api('POST', '/api/v1/requests', { definitionId: d2.id })).json as {
    request: { kind: string; status: string; productId: string };
  };
  t.is(first.request.status, 'completed');
  const renewal = (await api('POST', '/api/v1/requests', { definitionId: d2.id, productId: 'digicert-secure-site' }))
    .json as { request: { kind: string; productId: string } };
  t.is(renewal.request.kind, 'renewal');
  t.is(renewal.request.productId, 'digicert-secure-site');
});

test('A5 O2 CLI: `certfleet request start NAME --unattended` and `certfleet renewals due`', async (t) => {
  const { tc, token } = t.context;
  await tc.request(
    'POST',
    '/api/v1/definitions',
    {
      name: 'cli-def',
      subject: { commonName: 'cli.example.test' },
      sans: [{ type: 'dns', value: 'cli.example.test' }],
      issuerType: 'internal-ca',
    },
    token
  );
  const env = { ...process.env, DATABASE_URL: tc.databaseUrl, CERTFLEET_HOME: tc.home, CERTFLEET_LOG_LEVEL: 'silent' };
  const started = await run(
    process.execPath,
    ['bin/certfleet.js', 'request', 'start', 'cli-def', '--unattended', '--json'],
    { cwd: root, env }
  );
  const out = JSON.parse(started.stdout) as { status: string; kind: string; steps: string[] };
  t.is(out.status, 'completed');
  t.is(out.kind, 'new');
  t.deepEqual(out.steps, ['generate-key', 'create-csr', 'order', 'receive', 'verify', 'make-current']);
  const missing = await run(process.execPath, ['bin/certfleet.js', 'request', 'start', 'no-such-def', '--json'], {
    cwd: root,
    env,
  }).catch((e: { code: number; stdout: string }) => e);
  t.is((missing as { code: number }).code, 2);
  t.is((JSON.parse((missing as { stdout: string }).stdout) as { error: { code: string } }).error.code, 'CF_NOT_FOUND');
  const due = await run(process.execPath, ['bin/certfleet.js', 'renewals', 'due', '--json'], { cwd: root, env });
  t.deepEqual((JSON.parse(due.stdout) as { items: unknown[] }).items, [], 'a fresh certificate is not due');
});
