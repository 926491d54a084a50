/**
 * Prometheus metrics (SPEC M5): the latest result per endpoint gives its expiry and status; the last finished run
 * its duration and counts; deployments and agents by status. Needs a session.
 */
import crypto from 'node:crypto';
import test from 'ava';
import {
  MonitorRunEntity,
  MonitoredEndpointEntity,
  MonitoringHistoryEntity,
} from '../../../controller/src/storage/entities';
import { startTestController } from '../../_helpers/controller';

test('M5 /metrics exposes per-endpoint expiry and check status and the last run', async (t) => {
  const tc = await startTestController();
  t.teardown(() => tc.close());
  const token = await tc.adminToken();
  const api = (m: string, u: string, b?: unknown) => tc.request(m, u, b, token);
  const def = await api('POST', '/api/v1/definitions', {
    name: 'metrics "site"',
    subject: { commonName: 'metrics.test' },
    sans: [{ type: 'dns', value: 'metrics.test' }],
  });
  t.is(def.status, 201, JSON.stringify(def.json));
  const definitionId = (def.json as { id: string }).id;
  const ctx = tc.controller.ctx;
  const now = ctx.clock.now();
  const em = ctx.db.em().fork();
  const endpoint = em.create(MonitoredEndpointEntity, {
    id: crypto.randomUUID(),
    definitionId,
    host: 'metrics.test',
    port: 8443,
    serverName: null,
    starttls: null,
    probeFrom: 'controller',
    agentId: null,
    enabled: true,
    createdAt: now,
    updatedAt: now,
  });
  const run = em.create(MonitorRunEntity, {
    id: crypto.randomUUID(),
    trigger: 'manual',
    status: 'finished',
    startedAt: new Date(now.getTime() - 2500),
    finishedAt: now,
    endpoints: 1,
    ok: 0,
    warning: 1,
    failing: 0,
    report: null,
  });
  const notAfter = new Date(now.getTime() + 10 * 86_400_000);
  const older = { at: new Date(now.getTime() - 60_000), status: 'failing' as const, reason: 'Unreachable' };
  for (const r of [older, { at: now, status: 'warning' as const, reason: 'CertificateNearingExpiry' }]) {
    em.create(MonitoringHistoryEntity, {
      id: crypto.randomUUID(),
      definitionId,
      certificateId: null,
      endpoint: 'metrics.test:8443',
      status: r.status,
      reason: r.reason,
      message: null,
      at: r.at,
      runId: run.id,
      endpointId: endpoint.id,
      leafSha256: 'ab'.repeat(32),
      leafSha1: 'cd'.repeat(20),
      leafNotAfter: notAfter,
      probedBy: 'controller',
      checks: [],
    });
  }
  await em.flush();

  const anonymous = await tc.request('GET', '/metrics');
  t.is(anonymous.status, 401);
  const res = await api('GET', '/metrics');
  t.is(res.status, 200);
  t.regex(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const text = String(res.json);
  const lbl = 'endpoint="metrics.test:8443",definition="metrics \\"site\\""';
  const expiry = new RegExp(
    `^certfleet_endpoint_certificate_expiry_seconds\\{${lbl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\} (\\d+)$`,
    'm'
  ).exec(text);
  t.truthy(expiry, text);
  t.true(Math.abs(Number(expiry![1]) - 10 * 86_400) < 120);
  t.true(
    text.includes(`certfleet_endpoint_check_status{${lbl},reason="CertificateNearingExpiry"} 1`),
    'the latest result wins'
  );
  t.false(text.includes('reason="Unreachable"'));
  t.regex(text, /^certfleet_monitor_last_run_duration_seconds 2\.5\d*$/m);
  t.regex(text, /^certfleet_monitor_last_run_endpoints\{status="warning"\} 1$/m);
  t.regex(text, /^# TYPE certfleet_agents gauge$/m);
});
