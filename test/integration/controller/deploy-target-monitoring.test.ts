/**
 * Deploy targets are monitored (SPEC D1 "check/monitor host:port", D6 "disable periodic monitoring", M2, M4)
 * against a live controller on its own database and the test's own loopback TLS servers: one serves the managed
 * definition's current certificate (issued by the controller's built-in CA), one another certificate for the same
 * name. Every definition change goes through the HTTPS API; runs are scheduled-style `runMonitor` calls.
 */
import crypto, { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import anyTest, { type TestFn } from 'ava';
import { enroll } from '../../../agent/src/enroll';
import { StateStore } from '../../../agent/src/state/state-store';
import { openPrivateKey } from '../../../controller/src/secrets/key-vault';
import { insertDefinition } from '../../../controller/src/services/definition-service';
import { runMonitor } from '../../../controller/src/services/monitoring/monitor-service';
import { backfillDeployTargetEndpoints } from '../../../controller/src/services/monitoring/deploy-target-endpoints';
import {
  AuditEventEntity,
  CertificateEntity,
  MonitoredEndpointEntity,
  MonitoringHistoryEntity,
  SettingEntity,
} from '../../../controller/src/storage/entities';
import { startTestController, type TestController } from '../../_helpers/controller';
import { issueLeaf } from '../../_helpers/install-bundles';
import { tempRoot } from '../agent/_servers';

interface Served {
  server: tls.Server;
  port: number;
  sha256: string;
}

interface Ctx {
  tc: TestController;
  token: string;
  dir: string;
  defId: string;
  certSha256: string;
  current: Served;
  other: Served;
}
const test = anyTest as TestFn<Ctx>;

interface EndpointJson {
  id: string;
  host: string;
  port: number;
  serverName: string | null;
  starttls: string | null;
  probeFrom: string;
  agentId: string | null;
  enabled: boolean;
  source: string;
  deployTargetIndex: number | null;
}

async function serve(keyPem: string | Buffer, certPem: string): Promise<Served> {
  const server = tls.createServer({ key: keyPem, cert: certPem }, (s) => {
    s.on('error', () => undefined);
    s.end();
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const leaf = new X509Certificate(certPem);
  return {
    server,
    port: (server.address() as { port: number }).port,
    sha256: crypto.createHash('sha256').update(leaf.raw).digest('hex'),
  };
}

const api = async (t: { context: Ctx }, method: string, url: string, body?: unknown) =>
  t.context.tc.request(method, url, body, t.context.token);

async function endpointsOf(t: { context: Ctx }, defId: string): Promise<EndpointJson[]> {
  const r = await api(t, 'GET', `/api/v1/definitions/${defId}/endpoints`);
  if (r.status !== 200) throw new Error(`endpoints: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json as EndpointJson[];
}

const web = (port: number, serverName = 'web-1') => ({
  serverName,
  serverType: 'nginx',
  checkHost: '127.0.0.1',
  checkPort: port,
});

async function patchTargets(t: { context: Ctx }, targets: unknown[]): Promise<void> {
  const r = await api(t, 'PATCH', `/api/v1/definitions/${t.context.defId}`, { deployTargets: targets });
  if (r.status !== 200) throw new Error(`patch: ${r.status} ${JSON.stringify(r.json)}`);
}

/** A scheduled-style run (all enabled endpoints) and its history rows keyed by endpoint id. */
async function scheduledRun(t: { context: Ctx }) {
  const ctx = t.context.tc.controller.ctx;
  const run = await runMonitor(ctx, { trigger: 'schedule' }, { workers: 0, checkRevocation: false });
  const rows = await ctx.db.em().fork().find(MonitoringHistoryEntity, { runId: run.id });
  return { run, byEndpoint: new Map(rows.map((r) => [r.endpointId ?? '', r])) };
}

test.before(async (t) => {
  const tc = await startTestController();
  const token = await tc.adminToken();
  const dir = tempRoot('certfleet-dt-monitoring-');
  const def = await tc.request(
    'POST',
    '/api/v1/definitions',
    {
      name: 'dt-managed',
      subject: { commonName: 'dt.test' },
      sans: [{ type: 'dns', value: 'dt.test' }],
      issuerType: 'internal-ca',
      processMode: 'unattended',
    },
    token
  );
  if (def.status !== 201) throw new Error(`definition: ${JSON.stringify(def.json)}`);
  const defId = (def.json as { id: string }).id;
  const req = await tc.request('POST', '/api/v1/requests', { definitionId: defId }, token);
  if (req.status !== 201) throw new Error(`request: ${JSON.stringify(req.json)}`);
  const certificateId = (req.json as { request: { certificateId: string } }).request.certificateId;
  const em = tc.controller.ctx.db.em().fork();
  const cert = await em.findOneOrFail(CertificateEntity, { id: certificateId });
  const key = await openPrivateKey(em, tc.controller.ctx.masterKey, cert.privateKeyId as string);
  const otherLeaf = await issueLeaf('dt.test');
  const [current, other] = await Promise.all([
    serve(key.export({ type: 'pkcs8', format: 'pem' }).toString(), [cert.pem, ...cert.chainPem].join('\n')),
    serve(otherLeaf.keyPem, otherLeaf.fullchainPem.toString()),
  ]);
  t.context = { tc, token, dir, defId, certSha256: cert.sha256, current, other };
});

test.after.always(async (t) => {
  const c = t.context;
  c.current?.server.close();
  c.other?.server.close();
  await c.tc?.close();
  if (c.dir) fs.rmSync(c.dir, { recursive: true, force: true });
});

test.serial(
  'D1 M2 a deploy target is a monitored endpoint: a scheduled run reports the served current certificate ok',
  async (t) => {
    const { defId, current, certSha256 } = t.context;
    t.deepEqual(await endpointsOf(t, defId), [], 'no targets, no derived endpoints');
    await patchTargets(t, [web(current.port)]);
    const [e, ...rest] = await endpointsOf(t, defId);
    t.is(rest.length, 0);
    t.like(e, {
      host: '127.0.0.1',
      port: current.port,
      serverName: 'dt.test',
      starttls: null,
      probeFrom: 'controller',
      agentId: null,
      enabled: true,
      source: 'deploy-target',
      deployTargetIndex: 0,
    });

    const { run, byEndpoint } = await scheduledRun(t);
    t.is(run.status, 'finished');
    const row = byEndpoint.get(e?.id ?? '');
    t.truthy(row, 'the scheduled run includes the deploy target');
    t.is(row?.status, 'ok', row?.message ?? '');
    t.is(row?.leafSha256, certSha256);
    t.is(row?.checks?.find((c) => c.code === 'ServedCertMatchesCurrent')?.status, 'ok');
    // the built-in CA issues from its root: no intermediate is required, none may be missing
    t.not(row?.checks?.find((c) => c.code === 'IntermediatesServed')?.status, 'failing');
  }
);

test.serial('M2 a deploy target serving another certificate fails with ServedCertMismatch', async (t) => {
  const { defId, current, other } = t.context;
  const before = await endpointsOf(t, defId);
  await patchTargets(t, [web(current.port), web(other.port, 'web-2')]);
  const after = await endpointsOf(t, defId);
  t.is(after.length, 2);
  t.is(after.find((e) => e.deployTargetIndex === 0)?.id, before[0]?.id, 'the unchanged target keeps its endpoint');
  const wrong = after.find((e) => e.deployTargetIndex === 1);
  t.is(wrong?.port, other.port);

  const { byEndpoint } = await scheduledRun(t);
  t.is(byEndpoint.get(before[0]?.id ?? '')?.status, 'ok');
  const row = byEndpoint.get(wrong?.id ?? '');
  t.is(row?.status, 'failing');
  t.is(row?.reason, 'ServedCertMismatch');
  t.is(row?.leafSha256, other.sha256);
});

test.serial(
  'D6 a disabled derived endpoint stays out of scheduled runs across unrelated and target edits',
  async (t) => {
    const { defId, current, other } = t.context;
    const wrong = (await endpointsOf(t, defId)).find((e) => e.deployTargetIndex === 1);
    const off = await api(t, 'PATCH', `/api/v1/definitions/${defId}/endpoints/${wrong?.id}`, { enabled: false });
    t.is(off.status, 200, JSON.stringify(off.json));
    t.is((off.json as EndpointJson).enabled, false);

    const first = await scheduledRun(t);
    t.false(first.byEndpoint.has(wrong?.id ?? ''), 'disabled: not probed');
    t.is(first.run.endpoints, first.byEndpoint.size);

    // an unrelated edit of the definition, then a rename of the target, then moving it to the front of the list
    const unrelated = await api(t, 'PATCH', `/api/v1/definitions/${defId}`, { renewalLeadDays: 30 });
    t.is(unrelated.status, 200);
    await patchTargets(t, [web(current.port), web(other.port, 'web-2-renamed')]);
    await patchTargets(t, [web(other.port, 'web-2-renamed'), web(current.port)]);
    const list = await endpointsOf(t, defId);
    t.is(list.length, 2);
    const moved = list.find((e) => e.id === wrong?.id);
    t.like(moved, { enabled: false, deployTargetIndex: 0, port: other.port }, 'same row, still disabled');
    t.like(
      list.find((e) => e.id !== wrong?.id),
      { enabled: true, deployTargetIndex: 1, port: current.port }
    );

    const second = await scheduledRun(t);
    t.false(second.byEndpoint.has(wrong?.id ?? ''));
    t.is(second.byEndpoint.get(list.find((e) => e.id !== wrong?.id)?.id ?? '')?.status, 'ok');
  }
);

test.serial(
  'D6 a derived endpoint cannot be deleted or re-pointed through the endpoints API (CF_ENDPOINT_DERIVED)',
  async (t) => {
    const { defId, current } = t.context;
    const before = await endpointsOf(t, defId);
    const target = before.find((e) => e.port === current.port);
    const del = await api(t, 'DELETE', `/api/v1/definitions/${defId}/endpoints/${target?.id}`);
    t.is(del.status, 409);
    const error = (
      del.json as { error: { code: string; message: string; details?: { deployTargetIndex?: number | null } } }
    ).error;
    t.is(error.code, 'CF_ENDPOINT_DERIVED');
    t.regex(error.message, /deploy target/);
    t.is(error.details?.deployTargetIndex, target?.deployTargetIndex);
    const repoint = await api(t, 'PATCH', `/api/v1/definitions/${defId}/endpoints/${target?.id}`, { port: 1 });
    t.is(repoint.status, 409);
    t.is((repoint.json as { error: { code: string } }).error.code, 'CF_ENDPOINT_DERIVED');
    t.deepEqual(await endpointsOf(t, defId), before, 'nothing changed');
  }
);

test.serial(
  'D1 removing or re-pointing a target removes or recreates its endpoint; manual endpoints are untouched',
  async (t) => {
    const { defId, current, other } = t.context;
    const manual = await api(t, 'POST', `/api/v1/definitions/${defId}/endpoints`, {
      host: '127.0.0.1',
      port: other.port,
      serverName: 'dt.test',
      enabled: false,
    });
    t.is(manual.status, 201, JSON.stringify(manual.json));
    t.is((manual.json as EndpointJson).source, 'manual');
    const before = await endpointsOf(t, defId);
    const kept = before.find((e) => e.source === 'deploy-target' && e.port === current.port);

    await patchTargets(t, [web(current.port)]);
    const after = await endpointsOf(t, defId);
    t.deepEqual(
      after.map((e) => [e.id, e.source, e.deployTargetIndex]),
      [
        [kept?.id, 'deploy-target', 0],
        [(manual.json as EndpointJson).id, 'manual', null],
      ]
    );

    // a new check port is a new endpoint (enabled); the old one goes
    await patchTargets(t, [{ ...web(current.port), checkPort: other.port }]);
    const repointed = (await endpointsOf(t, defId)).filter((e) => e.source === 'deploy-target');
    t.is(repointed.length, 1);
    t.not(repointed[0]?.id, kept?.id);
    t.like(repointed[0], { port: other.port, enabled: true });

    // Monitored-Only: deploy targets are not monitored endpoints; the manual endpoint stays
    const mode = await api(t, 'PATCH', `/api/v1/definitions/${defId}`, { operationMode: 'monitored' });
    t.is(mode.status, 200);
    t.deepEqual(
      (await endpointsOf(t, defId)).map((e) => e.source),
      ['manual']
    );
    await api(t, 'PATCH', `/api/v1/definitions/${defId}`, { operationMode: 'managed', deployTargets: [] });
    const audit = await t.context.tc.controller.ctx.db
      .em()
      .fork()
      .count(AuditEventEntity, { action: 'monitoring.endpoint.synced', targetId: defId });
    t.true(audit >= 5, `every sync that changed rows is audited (${audit})`);
  }
);

test.serial(
  'M4 D1 an agent target is probed from its agent; create and clone derive endpoints, delete removes them',
  async (t) => {
    const { tc, dir } = t.context;
    const joined = (await api(t, 'POST', '/api/v1/agents/join-tokens', { label: 'dt-agent' })).json as {
      token: string;
      controllerCaSha256: string;
    };
    const store = new StateStore(path.join(dir, 'agent'));
    const { agentId } = await enroll(store, {
      controller: `127.0.0.1:${tc.controller.agentServer.port}`,
      token: joined.token,
      caSha256: joined.controllerCaSha256,
      hostname: 'dt-agent',
    });
    const made = await api(t, 'POST', '/api/v1/definitions', {
      name: 'dt-agent-def',
      subject: { commonName: 'mail.dt.test' },
      sans: [{ type: 'dns', value: 'mail.dt.test' }],
      deployTargets: [
        { serverName: 'web', serverType: 'nginx', method: 'agent', agentId, directory: '/etc/certfleet/live/web' },
        { serverName: 'mx', serverType: 'postfix' },
        { serverName: 'imap', serverType: 'dovecot', checkHost: 'imap.dt.test' },
      ],
    });
    t.is(made.status, 201, JSON.stringify(made.json));
    const id = (made.json as { id: string }).id;
    const rows = await endpointsOf(t, id);
    t.deepEqual(
      rows
        .sort((a, b) => (a.deployTargetIndex ?? 0) - (b.deployTargetIndex ?? 0))
        .map((e) => [e.host, e.port, e.serverName, e.starttls, e.probeFrom, e.agentId, e.source]),
      [
        ['mail.dt.test', 443, 'mail.dt.test', null, 'agent', agentId, 'deploy-target'],
        ['mail.dt.test', 25, 'mail.dt.test', 'smtp', 'controller', null, 'deploy-target'],
        ['imap.dt.test', 993, 'mail.dt.test', null, 'controller', null, 'deploy-target'],
      ]
    );

    const clone = await api(t, 'POST', `/api/v1/definitions/${id}/clone`, { name: 'dt-agent-def-test' });
    t.is(clone.status, 201, JSON.stringify(clone.json));
    const cloneId = (clone.json as { id: string }).id;
    const cloned = await endpointsOf(t, cloneId);
    t.is(cloned.length, 3);
    t.false(
      cloned.some((e) => rows.some((r) => r.id === e.id)),
      'the clone has its own endpoints'
    );

    t.is((await api(t, 'DELETE', `/api/v1/definitions/${id}`)).status, 204);
    const em = tc.controller.ctx.db.em().fork();
    t.is(await em.count(MonitoredEndpointEntity, { definitionId: id }), 0);
    t.is(await em.count(MonitoredEndpointEntity, { definitionId: cloneId }), 3);
  }
);

test.serial('D1 definitions made before derived endpoints existed get theirs once (startup backfill)', async (t) => {
  const ctx = t.context.tc.controller.ctx;
  const def = await ctx.db.em().transactional((em) =>
    insertDefinition(
      em,
      {
        name: 'dt-legacy',
        subject: { commonName: 'legacy.dt.test' },
        sans: [],
        keySpec: 'EC-P256',
        productId: null,
        requirements: null,
        issuerType: 'internal-ca',
        issuerConfig: {},
        providerAccountId: null,
        deployTargets: [{ serverName: 'tomcat', serverType: 'java-keystore' }],
        operationMode: 'managed',
        processMode: 'unattended',
        renewalLeadDays: 60,
        trustedCaSetId: null,
      },
      new Date(),
      'system'
    )
  );
  t.is(await ctx.db.em().fork().count(MonitoredEndpointEntity, { definitionId: def.id }), 0);
  t.is(await backfillDeployTargetEndpoints(ctx), 0, 'the marker from the first start: nothing to do');
  await ctx.db.em().fork().nativeDelete(SettingEntity, { key: 'monitoring.deployTargetEndpointsBackfilled' });
  const created = await backfillDeployTargetEndpoints(ctx);
  t.true(created >= 1);
  const rows = await ctx.db.em().fork().find(MonitoredEndpointEntity, { definitionId: def.id });
  t.deepEqual(
    rows.map((r) => [r.host, r.port, r.source, r.deployTargetIndex]),
    [['legacy.dt.test', 443, 'deploy-target', 0]]
  );
  t.is(await backfillDeployTargetEndpoints(ctx), 0, 'idempotent');
});
