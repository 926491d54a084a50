/**
 * The definitions list behind the W1 overview: `withStatus=true` adds the status columns (the default answer is
 * unchanged), and the state filters run on the server with paging.
 */
import test from 'ava';
import { startTestController, type TestController } from '../../_helpers/controller';

let tc: TestController | undefined;
let token = '';

test.before(async () => {
  tc = await startTestController();
  token = await tc.adminToken();
});

test.after.always(async () => {
  await tc?.close();
});

type Item = { name: string; status?: { current: { label: string }; next: { label: string; state: string } } };

async function list(query: string): Promise<{ items: Item[]; total: number }> {
  const r = await tc!.request('GET', `/api/v1/definitions?${query}`, undefined, token);
  if (r.status !== 200) throw new Error(`${query}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json as { items: Item[]; total: number };
}

async function create(body: Record<string, unknown>): Promise<string> {
  const r = await tc!.request('POST', '/api/v1/definitions', body, token);
  if (r.status !== 201) throw new Error(JSON.stringify(r.json));
  return (r.json as { id: string }).id;
}

test('W1 definitions list: withStatus adds the columns; state filters (no-certificate, expiring, in-progress) page on the server', async (t) => {
  const issued = await create({
    name: 'ov-issued',
    subject: { commonName: 'ov-issued.example.test' },
    sans: [{ type: 'dns', value: 'ov-issued.example.test' }],
    issuerType: 'internal-ca',
    issuerConfig: { validityDays: 20 },
    renewalLeadDays: 30,
    processMode: 'unattended',
  });
  t.is((await tc!.request('POST', '/api/v1/requests', { definitionId: issued }, token)).status, 201);
  await tc!.request('PATCH', `/api/v1/definitions/${issued}`, { processMode: 'interactive' }, token);
  // No SAN: the internal CA refuses the order and the process waits (open).
  const waiting = await create({
    name: 'ov-waiting',
    subject: { commonName: 'ov-waiting.example.test' },
    issuerType: 'internal-ca',
  });
  t.is((await tc!.request('POST', '/api/v1/requests', { definitionId: waiting }, token)).status, 201);
  await create({ name: 'ov-empty', subject: { commonName: 'ov-empty.example.test' } });

  const plain = await list('q=ov-');
  t.is(plain.total, 3);
  t.true(
    plain.items.every((i) => i.status === undefined),
    'the default answer has no status'
  );

  const withStatus = await list('q=ov-&withStatus=true');
  const byName = new Map(withStatus.items.map((i) => [i.name, i.status]));
  t.is(byName.get('ov-issued')?.current.label, '19 days left');
  t.is(byName.get('ov-issued')?.next.label, 'renewal overdue');
  t.is(byName.get('ov-waiting')?.next.state, 'waiting');
  t.regex(byName.get('ov-waiting')?.next.label ?? '', /^acquisition waiting: order: internal-ca: .*SAN/);
  t.is(byName.get('ov-empty')?.next.label, 'acquisition not started');

  t.deepEqual(
    (await list('q=ov-&state=expiring')).items.map((i) => i.name),
    ['ov-issued']
  );
  t.deepEqual(
    (await list('q=ov-&state=expired')).items.map((i) => i.name),
    []
  );
  t.deepEqual(
    (await list('q=ov-&state=in-progress')).items.map((i) => i.name),
    ['ov-waiting']
  );
  const none = await list('q=ov-&state=no-certificate&limit=1');
  t.is(none.total, 2, 'total counts every match');
  t.deepEqual(
    none.items.map((i) => i.name),
    ['ov-empty']
  );
  t.deepEqual(
    (await list('q=ov-&state=no-certificate&limit=1&offset=1')).items.map((i) => i.name),
    ['ov-waiting']
  );
  t.deepEqual(
    (await list('q=ov-&processMode=interactive')).items.map((i) => i.name),
    ['ov-issued']
  );

  const bad = await tc!.request('GET', '/api/v1/definitions?state=soon', undefined, token);
  t.is(bad.status, 400);
  t.is((bad.json as { error: { code: string } }).error.code, 'CF_VALIDATION');
});
