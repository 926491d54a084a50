/**
 * Smoke test of the fleet benchmark (bench/fleet.ts, issue 4): the same code path with 20 simulated agents, each
 * with its own mutual-TLS stream (counted by the controller), a controller restart with one queued job per agent,
 * then a pushed job to every agent. Asserts correctness only (every job acknowledged once, no duplicates), never
 * timing; the full-size run is `npm run bench -- fleet`.
 */
import test from 'ava';
import { runFleet } from '../../../bench/fleet';
import { adminUrl } from '../../_helpers/db';

test('fleet bench smoke: 20 agents reconnect after a restart, every job acknowledged once', async (t) => {
  t.timeout(60_000);
  const n = 20;
  const r = await runFleet({
    adminUrl: adminUrl(),
    agents: n,
    push: n,
    backoffBaseMs: 100,
    backoffCapMs: 2000,
    phaseTimeoutMs: 20_000,
  });
  t.is(r.setup.controllerSessions, n, 'one controller session per agent (no shared connection)');
  t.is(r.setup.agentSideConnected, n);
  t.false(r.storm.timedOut);
  t.is(r.storm.acknowledged, n);
  t.is(r.storm.reconnected, n);
  t.is(r.storm.duplicates, 0);
  t.false(r.push.timedOut);
  t.is(r.push.acknowledged, n);
  t.is(r.push.duplicates, 0);
});
