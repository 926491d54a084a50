import https from 'node:https';
import anyTest, { type TestFn } from 'ava';
import { Client } from 'pg';
import { verifyAuditChain } from '../../../controller/src/services/audit-service';
import { startTestController, type TestController } from '../../_helpers/controller';

const test = anyTest as TestFn<{ tc: TestController; token: string }>;

test.before(async (t) => {
  const tc = await startTestController();
  t.context = { tc, token: await tc.adminToken() };
});
test.after.always(async (t) => {
  await t.context.tc?.close();
});

type Json = Record<string, unknown>;
const api = (t: { context: { tc: TestController; token: string } }, method: string, url: string, body?: unknown) =>
  t.context.tc.request(method, url, body, t.context.token);
const errCode = (json: unknown): string | undefined => (json as { error?: { code?: string } }).error?.code;

const definition = (name: string, extra: Json = {}): Json => ({
  name,
  subject: { commonName: `${name}.example.test`, organization: 'Example', country: 'JP' },
  sans: [{ type: 'dns', value: `${name}.example.test` }],
  ...extra,
});

test('R1 definitions: create, read, update, list with paging and search, delete', async (t) => {
  const created = await api(
    t,
    'POST',
    '/api/v1/definitions',
    definition('web1', { keySpec: 'RSA-3072', renewalLeadDays: 45 })
  );
  t.is(created.status, 201);
  const def = created.json as Json & { id: string };
  t.is(def.keySpec, 'RSA-3072');
  t.is(def.operationMode, 'managed', 'default operation mode');
  t.is(def.processMode, 'unattended', 'default process mode');
  t.is((await api(t, 'GET', `/api/v1/definitions/${def.id}`)).status, 200);
  const patched = await api(t, 'PATCH', `/api/v1/definitions/${def.id}`, { operationMode: 'monitored' });
  t.is((patched.json as Json).operationMode, 'monitored');
  // A partial update changes only what was sent (no defaulted field is reset).
  t.is((patched.json as Json).keySpec, 'RSA-3072');
  t.is((patched.json as Json).renewalLeadDays, 45);
  t.deepEqual((patched.json as Json).sans, def.sans);
  for (let i = 0; i < 5; i++) await api(t, 'POST', '/api/v1/definitions', definition(`bulk${i}`));
  const page = (await api(t, 'GET', '/api/v1/definitions?q=bulk&limit=2&offset=2')).json as {
    items: Json[];
    total: number;
  };
  t.is(page.total, 5);
  t.deepEqual(
    page.items.map((d) => d.name),
    ['bulk2', 'bulk3']
  );
  t.is((await api(t, 'DELETE', `/api/v1/definitions/${def.id}`)).status, 204);
  t.is((await api(t, 'GET', `/api/v1/definitions/${def.id}`)).status, 404);
});

test('R1 clone copies the requirement under a new name and remembers its source', async (t) => {
  const src = (
    await api(
      t,
      'POST',
      '/api/v1/definitions',
      definition('prod-app', { deployTargets: [{ serverName: 'web-a', serverType: 'nginx' }] })
    )
  ).json as Json & { id: string };
  const res = await api(t, 'POST', `/api/v1/definitions/${src.id}/clone`, { name: 'test-app' });
  t.is(res.status, 201);
  const clone = res.json as Json;
  t.is(clone.name, 'test-app');
  t.is(clone.clonedFromId, src.id);
  t.deepEqual(clone.subject, src.subject);
  t.deepEqual(clone.deployTargets, src.deployTargets);
  t.not(clone.id, src.id);
  const dup = await api(t, 'POST', `/api/v1/definitions/${src.id}/clone`, { name: 'test-app' });
  t.is(dup.status, 409);
  t.is(errCode(dup.json), 'CF_CONFLICT');
});

test('R1 subject/SAN/key-spec validation gives CF_VALIDATION naming the field and stores nothing', async (t) => {
  const cases: Array<[Json, RegExp]> = [
    [definition('bad1', { sans: [{ type: 'dns', value: 'exa mple.com' }] }), /sans\.0\.value/],
    [definition('bad2', { keySpec: 'RSA-1024' }), /keySpec/],
    [definition('bad3', { subject: { commonName: 'x', country: 'Japan' } }), /country/],
    [
      definition('bad4', { sans: [{ type: 'dns', value: 'other.example.test' }] }),
      /commonName .* not among the DNS SANs/,
    ],
    [definition('bad5', { unknownField: 1 }), /unrecognized|unknownField/i],
    [definition('bad6', { sans: [{ type: 'ip', value: '999.1.1.1' }] }), /sans\.0\.value/],
  ];
  for (const [body, msg] of cases) {
    const res = await api(t, 'POST', '/api/v1/definitions', body);
    t.is(res.status, 400, JSON.stringify(body));
    t.is(errCode(res.json), 'CF_VALIDATION');
    t.regex((res.json as { error: { message: string } }).error.message, msg);
  }
  const list = (await api(t, 'GET', '/api/v1/definitions?q=bad')).json as { total: number };
  t.is(list.total, 0, 'no partial record');
});

test('R2 requests: a new request with status history, one open per definition, order data into purchase history; O1 monitored refuses', async (t) => {
  const def = (await api(t, 'POST', '/api/v1/definitions', definition('shop', { issuerType: 'manual' }))).json as {
    id: string;
  };
  const req = await api(t, 'POST', '/api/v1/requests', { definitionId: def.id });
  t.is(req.status, 201, JSON.stringify(req.json));
  const run = req.json as {
    request: { id: string; kind: string; status: string; waitingFor: string };
    stoppedBecause: string;
  };
  t.is(run.request.kind, 'new');
  t.is(run.request.status, 'ordered', 'the manual issuer waits for the vendor');
  t.is(run.stoppedBecause, 'pending');
  t.regex(run.request.waitingFor, /upload the issued certificate/);
  const again = await api(t, 'POST', '/api/v1/requests', { definitionId: def.id });
  t.is(again.status, 409, 'one open request per definition');
  const csr = await api(t, 'GET', `/api/v1/requests/${run.request.id}/csr`);
  t.is(csr.status, 200);
  t.regex(String(csr.json), /BEGIN CERTIFICATE REQUEST/);
  const ordered = await api(t, 'POST', `/api/v1/requests/${run.request.id}/order`, {
    orderNumber: 'PO-4711',
    orderDate: '2026-11-20T00:00:00.000Z',
    vendor: 'Sectigo',
  });
  t.is(ordered.status, 200);
  const full = (await api(t, 'GET', `/api/v1/requests/${run.request.id}`)).json as {
    history: Array<{ fromStatus: string | null; toStatus: string }>;
    orderNumber: string;
  };
  t.deepEqual(
    full.history.map((h) => h.toStatus),
    ['created', 'key-generated', 'csr-created', 'ordered']
  );
  t.is(full.orderNumber, 'PO-4711');
  const purchases = (await api(t, 'GET', '/api/v1/history/purchases')).json as {
    items: Array<{ orderNumber: string; vendor: string }>;
  };
  t.true(purchases.items.some((p) => p.orderNumber === 'PO-4711' && p.vendor === 'Sectigo'));
  t.is((await api(t, 'POST', `/api/v1/requests/${run.request.id}/cancel`)).status, 200);
  const closed = await api(t, 'POST', `/api/v1/requests/${run.request.id}/order`, {
    orderNumber: 'PO-1',
    orderDate: '2026-11-21T00:00:00.000Z',
  });
  t.is(closed.status, 409, 'terminal requests do not change');

  const mon = (await api(t, 'POST', '/api/v1/definitions', definition('watch-only', { operationMode: 'monitored' })))
    .json as { id: string };
  const refused = await api(t, 'POST', '/api/v1/requests', { definitionId: mon.id });
  t.is(refused.status, 409);
  t.regex((refused.json as { error: { message: string } }).error.message, /monitored-only/);
});

test('R6 provider account passwords are write-only and encrypted at rest', async (t) => {
  const secret = 'vendor-Pa55word-canary-7f3a';
  const res = await api(t, 'POST', '/api/v1/provider-accounts', {
    name: 'Acme Reseller',
    vendor: 'Acme',
    url: 'https://acme.example/',
    username: 'ops',
    email: 'ops@example.test',
    password: secret,
  });
  t.is(res.status, 201);
  t.false(JSON.stringify(res.json).includes(secret));
  t.true((res.json as { hasPassword: boolean }).hasPassword);
  const renamed = await api(t, 'PATCH', `/api/v1/provider-accounts/${(res.json as { id: string }).id}`, {
    notes: 'renewed contract',
  });
  t.true((renamed.json as { hasPassword: boolean }).hasPassword, 'a patch without password keeps the password');
  t.is((renamed.json as { url: string }).url, 'https://acme.example/');
  const list = await api(t, 'GET', '/api/v1/provider-accounts');
  t.false(JSON.stringify(list.json).includes(secret));
  const c = new Client({ connectionString: t.context.tc.databaseUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ password_sealed: Buffer }>('select password_sealed from provider_accounts');
    t.is(rows.length, 1);
    t.false(rows[0]!.password_sealed.includes(Buffer.from(secret)), 'ciphertext does not contain the password');
  } finally {
    await c.end();
  }
});

test('R5 documents: upload, list, download byte-exact, 20 MB limit, delete', async (t) => {
  const { tc } = t.context;
  const def = (await api(t, 'POST', '/api/v1/definitions', definition('docs'))).json as { id: string };
  const content = Buffer.from('%PDF-1.4\n' + 'x'.repeat(5000));
  const upload = async (buf: Buffer, name: string) => {
    const res = await fetchRaw(
      tc,
      'POST',
      `/api/v1/definitions/${def.id}/documents?fileName=${encodeURIComponent(name)}`,
      buf,
      t.context.token
    );
    return res;
  };
  const up = await upload(content, '../../etc/order.pdf');
  t.is(up.status, 201);
  const doc = JSON.parse(up.body.toString()) as { id: string; fileName: string; size: number };
  t.is(doc.fileName, 'order.pdf', 'path parts are stripped');
  t.is(doc.size, content.length);
  const down = await fetchRaw(
    tc,
    'GET',
    `/api/v1/definitions/${def.id}/documents/${doc.id}`,
    undefined,
    t.context.token
  );
  t.is(down.status, 200);
  t.true(down.body.equals(content));
  const big = await upload(Buffer.alloc(20 * 1024 * 1024 + 10, 1), 'big.bin');
  t.is(big.status, 413);
  t.is(errCode(JSON.parse(big.body.toString())), 'CF_DOCUMENT_TOO_LARGE');
  const list = (await api(t, 'GET', `/api/v1/definitions/${def.id}/documents`)).json as { items: unknown[] };
  t.is(list.items.length, 1, 'the rejected upload left nothing behind');
  t.is((await api(t, 'DELETE', `/api/v1/definitions/${def.id}/documents/${doc.id}`)).status, 204);
});

async function fetchRaw(
  tc: TestController,
  method: string,
  url: string,
  body: Buffer | undefined,
  token: string
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${tc.controller.url}${url}`,
      {
        method,
        ca: tc.controller.caCertificatePem,
        servername: 'localhost',
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': 'application/octet-stream', 'content-length': body.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      }
    );
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

test('U5 every change is in the hash-chained audit log, which verifies', async (t) => {
  const res = await api(t, 'GET', '/api/v1/audit?limit=500');
  t.is(res.status, 200);
  const items = (res.json as { items: Array<{ action: string; details: Json }> }).items;
  for (const action of ['ca.created', 'user.created', 'auth.login', 'auth.password_changed', 'definition.created']) {
    t.true(
      items.some((i) => i.action === action),
      action
    );
  }
  t.false(JSON.stringify(items).includes('correct horse'), 'no secrets in the audit log');
  const r = await verifyAuditChain(t.context.tc.controller.ctx.db.em());
  t.true(r.ok, r.reason);
  t.true(r.events >= items.length);
});
