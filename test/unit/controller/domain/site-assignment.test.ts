import test from 'ava';
import { SITE_PATTERN, proberOf } from '../../../../controller/src/domain/monitoring';
import { SiteAssigner } from '../../../../controller/src/domain/site-assignment';
import { whyInterrupted } from '../../../../controller/src/services/monitoring/run-recovery';

test('M4 site endpoints are spread over the connected agents of their site (least loaded first)', (t) => {
  const a = new SiteAssigner(
    new Map([
      ['dc1', ['a1', 'a2', 'a3']],
      ['dc2', ['b1']],
    ])
  );
  const picks = Array.from({ length: 7 }, () => a.pick('dc1'));
  t.deepEqual(picks, ['a1', 'a2', 'a3', 'a1', 'a2', 'a3', 'a1']);
  t.deepEqual([a.loadOf('a1'), a.loadOf('a2'), a.loadOf('a3')], [3, 2, 2]);
  t.is(a.pick('dc2'), 'b1');
  t.is(a.pick('dc3'), null, 'a site without connected agents gives none');
});

test('M4 a re-assignment excludes the agents already tried and counts the moved endpoints', (t) => {
  const a = new SiteAssigner(new Map([['dc1', ['a1', 'a2', 'a3']]]));
  t.is(a.pick('dc1'), 'a1');
  t.is(a.pick('dc1', new Set(['a1']), 5), 'a2');
  t.is(a.loadOf('a2'), 5);
  t.is(a.pick('dc1'), 'a3', 'the least loaded is a3 (0) after a1 (1) and a2 (5)');
  t.is(a.pick('dc1', new Set(['a1', 'a2', 'a3'])), null, 'nobody left');
});

test('M4 site labels and the prober of stored endpoints', (t) => {
  for (const ok of ['dc1', 'DC-1', 'site.eu_west-2', 'a', 'x'.repeat(63)]) t.true(SITE_PATTERN.test(ok), ok);
  for (const bad of ['', '-dc', 'dc-', 'dc 1', 'dc/1', 'x'.repeat(64), 'dc1\n']) t.false(SITE_PATTERN.test(bad), bad);
  t.deepEqual(proberOf({ probeFrom: 'controller', agentId: null, site: null }), { kind: 'controller' });
  t.deepEqual(proberOf({ probeFrom: 'agent', agentId: 'x', site: null }), { kind: 'agent', agentId: 'x' });
  t.deepEqual(proberOf({ probeFrom: 'site', agentId: null, site: 'dc1' }), { kind: 'site', site: 'dc1' });
  t.is(proberOf({ probeFrom: 'agent', agentId: null }), null, 'an agent endpoint whose agent was deleted');
});

test('M1 a running run is interrupted when its process is gone, its heartbeat is stale, or it stalled', (t) => {
  const now = new Date('2026-11-26T12:00:00Z');
  const ago = (ms: number) => new Date(now.getTime() - ms);
  const opts = { staleMs: 60_000, maxRunMs: 6 * 3600_000 };
  const here = { host: 'ctl-1', pid: 100, active: new Set(['mine']), alive: (pid: number) => pid === 200 };
  const run = (over: Partial<Parameters<typeof whyInterrupted>[0]>) =>
    whyInterrupted(
      { id: 'r', owner: 'ctl-1:200', heartbeatAt: ago(1000), startedAt: ago(5000), ...over },
      now,
      opts,
      here
    );
  t.is(run({}), null, 'a live process of this host with a fresh heartbeat');
  t.is(run({ id: 'mine', owner: 'ctl-1:100' }), null, 'executed by this process');
  t.is(run({ owner: 'ctl-1:100' }), null, 'this process, just claimed (not yet registered): left alone');
  t.regex(run({ owner: 'ctl-1:100', heartbeatAt: ago(16_000) }) ?? '', /no longer executes it/);
  t.regex(run({ owner: 'ctl-1:300' }) ?? '', /process ctl-1:300 is gone/);
  t.regex(run({ owner: null }) ?? '', /no process owns it/);
  t.is(run({ owner: 'ctl-2:300' }), null, 'another host with a fresh heartbeat (a live replica)');
  t.regex(run({ owner: 'ctl-2:300', heartbeatAt: ago(61_000) }) ?? '', /no heartbeat from ctl-2:300/);
  t.regex(run({ owner: 'ctl-2:300', heartbeatAt: null, startedAt: ago(61_000) }) ?? '', /no heartbeat/);
  t.regex(run({ startedAt: ago(6 * 3600_000 + 1) }) ?? '', /stalled: running for more than 360 min/);
});
