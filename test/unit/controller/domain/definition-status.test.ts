import test from 'ava';
import { definitionStatus, type DefinitionStatusInput } from '../../../../controller/src/domain/definition-status';

const DAY = 86_400_000;
const now = new Date('2026-11-26T12:00:00Z');
const inDays = (d: number): Date => new Date(now.getTime() + d * DAY);

function input(over: Partial<DefinitionStatusInput> = {}): DefinitionStatusInput {
  return {
    operationMode: 'managed',
    renewalLeadDays: 10,
    deployTargets: 1,
    current: { notAfter: inDays(29.5) },
    latestRequest: { kind: 'new', status: 'completed', waitingFor: null, awaitingConfirmation: false },
    deployments: [{ target: 'nginx:web1', status: 'verified' }],
    monitor: [],
    endpoints: 0,
    ...over,
  };
}

test('W1 status columns: days left, renewal not started, verified', (t) => {
  const s = definitionStatus(input(), now);
  t.deepEqual(
    [s.current.label, s.next.label, s.deployment.label],
    ['29 days left', 'renewal not started (due in 19 days)', 'verified']
  );
  t.is(s.current.state, 'valid');
  t.is(s.monitor.label, 'not monitored');
});

test('W1 current column: expiring inside the lead time, expired, none', (t) => {
  t.is(definitionStatus(input({ current: { notAfter: inDays(5.2) } }), now).current.state, 'expiring');
  const expired = definitionStatus(input({ current: { notAfter: inDays(-3.5) } }), now).current;
  t.deepEqual([expired.state, expired.label], ['expired', 'expired 3 days ago']);
  t.is(definitionStatus(input({ current: { notAfter: inDays(-0.2) } }), now).current.label, 'expired today');
  const none = definitionStatus(input({ current: null, latestRequest: null }), now);
  t.deepEqual(
    [none.current.label, none.next.label, none.deployment.label],
    ['no certificate', 'acquisition not started', '—']
  );
});

test('W1 next column: overdue, running steps, waiting, awaiting confirmation, failed, monitoring only', (t) => {
  const next = (over: Partial<DefinitionStatusInput>) => definitionStatus(input(over), now).next;
  t.deepEqual(next({ current: { notAfter: inDays(5) } }), { state: 'overdue', label: 'renewal overdue' });
  t.is(next({ current: { notAfter: inDays(10.5) } }).label, 'renewal not started (due today)');
  const req = (status: DefinitionStatusInput['latestRequest']) => next({ latestRequest: status });
  t.is(
    req({ kind: 'renewal', status: 'ordered', waitingFor: null, awaitingConfirmation: false }).label,
    'renewal in progress (ordered, waiting for the CA)'
  );
  t.is(
    req({ kind: 'renewal', status: 'waiting', waitingFor: 'order: CA down', awaitingConfirmation: false }).label,
    'renewal waiting: order: CA down'
  );
  t.is(
    req({ kind: 'renewal', status: 'csr-created', waitingFor: null, awaitingConfirmation: true }).state,
    'awaiting-confirmation'
  );
  t.is(
    next({
      current: null,
      latestRequest: { kind: 'new', status: 'key-generated', waitingFor: null, awaitingConfirmation: false },
    }).label,
    'acquisition in progress (key generated)'
  );
  t.is(
    next({
      current: null,
      latestRequest: { kind: 'new', status: 'failed', waitingFor: null, awaitingConfirmation: false },
    }).label,
    'acquisition failed'
  );
  t.is(next({ operationMode: 'monitored' }).label, 'not managed (monitoring only)');
});

test('W1 deployment column: the least advanced target wins, with counts for several targets', (t) => {
  const dep = (over: Partial<DefinitionStatusInput>) => definitionStatus(input(over), now).deployment;
  t.is(dep({ deployTargets: 0, deployments: [] }).label, 'no deploy targets');
  t.is(dep({ deployments: [] }).label, 'not deployed');
  t.is(dep({ deployments: [{ target: 'a', status: 'pending' }] }).label, 'install requested');
  t.is(dep({ deployments: [{ target: 'a', status: 'installed' }] }).label, 'installed, not checked');
  const two = dep({
    deployTargets: 2,
    deployments: [
      { target: 'a', status: 'verified' },
      { target: 'b', status: 'rolled-back' },
    ],
  });
  t.deepEqual([two.state, two.label, two.verified], ['failed', 'rolled back (1 of 2 verified)', 1]);
  t.is(
    dep({ deployTargets: 2, deployments: [{ target: 'a', status: 'verified' }] }).label,
    'install requested (1 of 2 verified)'
  );
});

test('W1 monitor view: worst endpoint first, counts by verdict, last check time', (t) => {
  const m = definitionStatus(
    input({
      endpoints: 3,
      monitor: [
        { endpoint: 'a:443', status: 'ok', at: inDays(-1), leafNotAfter: null },
        { endpoint: 'b:443', status: 'warning', at: inDays(-0.5), leafNotAfter: null },
      ],
    }),
    now
  ).monitor;
  t.deepEqual([m.state, m.label, m.endpoints], ['warning', '1 ok, 1 warning', 3]);
  t.deepEqual(m.lastCheckedAt, inDays(-0.5));
  t.is(definitionStatus(input({ endpoints: 2 }), now).monitor.label, 'not checked yet');
});
