/**
 * "Any agent of a site" (SPEC M4, M1, D6) on loopback against a live controller: agents get a site label (join
 * token, PATCH), monitored endpoints name a prober `{kind: 'site', site}`, and a run hands each site endpoint to a
 * connected agent of the site — spread over them, re-assigned once when the chosen agent does not answer in time
 * or disconnects, an explicit `NoSiteAgentConnected` verdict when none is connected. Only the agent an endpoint is
 * assigned to in that run may report for it: another agent of the same site is refused and nothing is written.
 *
 * Real agent runtimes (in-process) probe; two hand-driven agent streams (real enrolled identities, real mTLS)
 * stand in for agents that stay silent, disconnect, or forge reports.
 */
import crypto, { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import type tls from 'node:tls';
import anyTest, { type TestFn } from 'ava';
import { JobStatus, type ControllerMessage, type EndpointObservation, type Job } from '@certfleet/proto';
import type { AgentRuntime } from '../../../agent/src/agent';
import { agentClient } from '../../../agent/src/client/controller-client';
import { deployCheck } from '../../../controller/src/services/monitoring/deploy-check-service';
import { runMonitor } from '../../../controller/src/services/monitoring/monitor-service';
import {
  AgentEntity,
  AgentJobEntity,
  DeploymentEntity,
  MonitoringHistoryEntity,
} from '../../../controller/src/storage/entities';
import { startTestController, type TestController } from '../../_helpers/controller';
import {
  type EnrolledAgent,
  enrollLoopbackAgent,
  issueCurrentCertificate,
  serveOnLoopback,
  startAgentRuntime,
} from '../../_helpers/loopback-agent';
import { tempRoot } from '../agent/_servers';

const CN = 'site.m4.test';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Enrolled = EnrolledAgent;

/** A hand-driven agent stream: sees its jobs, answers only when told, can disconnect. */
interface FakeAgent extends Enrolled {
  jobs: Job[];
  connect(): Promise<void>;
  answer(job: Job, chain: Buffer[]): void;
  forge(jobId: string, host: string, port: number, serverName: string, chain: Buffer[]): void;
  disconnect(): void;
  close(): void;
}

interface Ctx {
  tc: TestController;
  token: string;
  dir: string;
  server: tls.Server;
  port: number;
  leafDer: Buffer;
  currentSha256: string;
  definitionId: string;
  certificateId: string;
  a: Enrolled & { runtime: AgentRuntime };
  b: Enrolled & { runtime: AgentRuntime };
  s1: FakeAgent;
  s2: FakeAgent;
  dc2: Enrolled;
}
const test = anyTest as TestFn<Ctx>;

async function api(t: { context: Ctx }, method: string, url: string, body?: unknown) {
  return t.context.tc.request(method, url, body, t.context.token);
}

function fakeAgent(tc: TestController, e: Enrolled): FakeAgent {
  const client = agentClient(`127.0.0.1:${tc.controller.agentServer.port}`, e.store.readIdentity());
  let call: ReturnType<typeof client.connect> | undefined;
  const result = (jobId: string, observations: EndpointObservation[]) => ({
    payload: {
      $case: 'jobResult' as const,
      value: {
        jobId,
        status: JobStatus.JOB_STATUS_SUCCEEDED,
        reason: 'Probed',
        message: 'probed',
        finishedAt: undefined,
        servedSha256: '',
        stderrTail: '',
        idempotent: false,
        rolledBack: false,
        observations,
      },
    },
  });
  const fake: FakeAgent = {
    ...e,
    jobs: [],
    connect: async () => {
      call = client.connect();
      call.on('error', () => undefined);
      call.on('data', (m: ControllerMessage) => {
        if (m.payload?.$case === 'job') fake.jobs.push(m.payload.value);
      });
      for (let i = 0; i < 100 && !tc.controller.agentServer.hub.isConnected(e.agentId); i++) await sleep(50);
      if (!tc.controller.agentServer.hub.isConnected(e.agentId)) throw new Error(`${e.agentId} did not connect`);
    },
    answer: (job, chain) => {
      if (job.kind?.$case !== 'probeEndpoints') throw new Error('not a probe job');
      call?.write(
        result(
          job.jobId,
          job.kind.value.endpoints.map((endpoint) => ({
            endpoint,
            error: '',
            certificateChain: chain,
            protocol: 'TLSv1.3',
            cipher: 'TLS_AES_128_GCM_SHA256',
            handshakeMs: 3,
          }))
        )
      );
    },
    forge: (jobId, host, port, serverName, chain) =>
      call?.write(
        result(jobId, [
          {
            endpoint: { host, port, serverName, starttls: '' },
            error: '',
            certificateChain: chain,
            protocol: 'TLSv1.3',
            cipher: 'x',
            handshakeMs: 1,
          },
        ])
      ),
    disconnect: () => call?.cancel(),
    close: () => {
      call?.cancel();
      client.close();
    },
  };
  return fake;
}

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function siteEndpoint(t: { context: Ctx }, site: string): Promise<string> {
  const r = await api(t, 'POST', `/api/v1/definitions/${t.context.definitionId}/endpoints`, {
    host: '127.0.0.1',
    port: t.context.port,
    serverName: CN,
    prober: { kind: 'site', site },
    enabled: false, // only the runs of this test (by endpoint id) probe it
  });
  if (r.status !== 201) throw new Error(JSON.stringify(r.json));
  return (r.json as { id: string }).id;
}

async function historyOf(tc: TestController, runId: string) {
  return tc.controller.ctx.db
    .em()
    .fork()
    .find(MonitoringHistoryEntity, { runId }, { orderBy: { endpointId: 'asc' } });
}

async function jobsOf(tc: TestController, agentId: string) {
  return tc.controller.ctx.db.em().fork().find(AgentJobEntity, { agentId, kind: 'probe' });
}

test.before(async (t) => {
  const dir = tempRoot('certfleet-site-probes-');
  const tc = await startTestController();
  const token = await tc.adminToken();

  // A Lifecycle-Managed definition whose current certificate (internal CA) a loopback TLS server serves.
  const { definitionId, certificateId, cert, key } = await issueCurrentCertificate(tc, token, 'site-probes', CN);
  const server = await serveOnLoopback(cert, key);

  const a = await enrollLoopbackAgent(tc, token, dir, 'dc1-a', { site: 'dc1' });
  const b = await enrollLoopbackAgent(tc, token, dir, 'dc1-b', { site: 'dc1' });
  const s1 = await enrollLoopbackAgent(tc, token, dir, 'dc1-s1', { site: 'dc1' });
  const s2 = await enrollLoopbackAgent(tc, token, dir, 'dc1-s2', { site: 'dc1' });
  const dc2 = await enrollLoopbackAgent(tc, token, dir, 'dc2-x');
  t.context = {
    tc,
    token,
    dir,
    server,
    port: (server.address() as { port: number }).port,
    leafDer: Buffer.from(new X509Certificate(cert.pem).raw),
    currentSha256: cert.sha256,
    definitionId,
    certificateId,
    a: { ...a, runtime: await startAgentRuntime(a.store, dir) },
    b: { ...b, runtime: await startAgentRuntime(b.store, dir) },
    s1: fakeAgent(tc, s1),
    s2: fakeAgent(tc, s2),
    dc2,
  };
});

test.after.always(async (t) => {
  await t.context.a?.runtime.stop();
  await t.context.b?.runtime.stop();
  t.context.s1?.close();
  t.context.s2?.close();
  await t.context.tc?.close();
  t.context.server?.close();
  if (t.context.dir) fs.rmSync(t.context.dir, { recursive: true, force: true });
});

test.serial('M4 agents carry a site label: from the join token, changed by PATCH (admin), listed', async (t) => {
  const { a, dc2 } = t.context;
  const listed = (await api(t, 'GET', '/api/v1/agents')).json as Array<{ id: string; site: string | null }>;
  t.is(listed.find((x) => x.id === a.agentId)?.site, 'dc1', 'site from the join token');
  t.is(listed.find((x) => x.id === dc2.agentId)?.site, null);

  const patched = await api(t, 'PATCH', `/api/v1/agents/${dc2.agentId}`, { site: 'dc2' });
  t.is(patched.status, 200, JSON.stringify(patched.json));
  t.is((patched.json as { site: string }).site, 'dc2');
  const bad = await api(t, 'PATCH', `/api/v1/agents/${dc2.agentId}`, { site: 'no spaces/allowed' });
  t.is(bad.status, 400);
  t.is((bad.json as { error: { code: string } }).error.code, 'CF_VALIDATION');
  const extra = await api(t, 'PATCH', `/api/v1/agents/${dc2.agentId}`, { site: 'dc2', name: 'x' });
  t.is(extra.status, 400, 'unknown fields are refused');
  t.is((await api(t, 'PATCH', `/api/v1/agents/${crypto.randomUUID()}`, { site: 'dc2' })).status, 404);
  const anonymous = await t.context.tc.request('PATCH', `/api/v1/agents/${dc2.agentId}`, { site: 'dc3' });
  t.is(anonymous.status, 401);
  const row = await t.context.tc.controller.ctx.db.em().fork().findOneOrFail(AgentEntity, { id: dc2.agentId });
  t.is(row.site, 'dc2', 'refused changes wrote nothing');
  const badToken = await api(t, 'POST', '/api/v1/agents/join-tokens', { site: '-dc' });
  t.is(badToken.status, 400);
});

test.serial('M4 endpoint prober: {kind} values, the older probeFrom spelling, and no mixing of both', async (t) => {
  const { definitionId, a } = t.context;
  const url = `/api/v1/definitions/${definitionId}/endpoints`;
  const made = await api(t, 'POST', url, { host: '127.0.0.1', port: 9, prober: { kind: 'site', site: 'dc1' } });
  t.is(made.status, 201, JSON.stringify(made.json));
  const e = made.json as { id: string; probeFrom: string; site: string; agentId: string | null; prober: unknown };
  t.deepEqual([e.probeFrom, e.site, e.agentId], ['site', 'dc1', null]);
  t.deepEqual(e.prober, { kind: 'site', site: 'dc1' });

  const legacy = await api(t, 'POST', url, { host: '127.0.0.1', port: 9, probeFrom: 'agent', agentId: a.agentId });
  t.is(legacy.status, 201);
  t.deepEqual((legacy.json as { prober: unknown }).prober, { kind: 'agent', agentId: a.agentId });
  const mixed = await api(t, 'POST', url, { port: 9, host: 'x.test', prober: { kind: 'controller' }, site: 'dc1' });
  t.is(mixed.status, 400);
  const noSite = await api(t, 'POST', url, { host: '127.0.0.1', port: 9, probeFrom: 'site' });
  t.is(noSite.status, 400);
  t.regex((noSite.json as { error: { message: string } }).error.message, /needs a site/);
  const badSite = await api(t, 'POST', url, { host: '127.0.0.1', port: 9, prober: { kind: 'site', site: 'a b' } });
  t.is(badSite.status, 400);

  const toController = await api(t, 'PATCH', `${url}/${e.id}`, { prober: { kind: 'controller' } });
  t.is(toController.status, 200);
  t.deepEqual(
    [(toController.json as { probeFrom: string }).probeFrom, (toController.json as { site: unknown }).site],
    ['controller', null],
    'switching kind clears the site'
  );
  for (const id of [e.id, (legacy.json as { id: string }).id]) {
    t.is((await api(t, 'DELETE', `${url}/${id}`)).status, 204);
  }
});

test.serial(
  'M4 M1 site endpoints are spread over the connected dc1 agents; every verdict is stored for the definition',
  async (t) => {
    const { tc, a, b, definitionId, currentSha256 } = t.context;
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await siteEndpoint(t, 'dc1'));
    const run = await runMonitor(
      tc.controller.ctx,
      { trigger: 'manual', endpointIds: ids },
      { agentDeadlineMs: 20_000, pollMs: 50 }
    );
    t.is(run.status, 'finished');
    t.deepEqual([run.endpoints, run.ok, run.failing], [4, 4, 0]);
    const rows = await historyOf(tc, run.id);
    t.is(rows.length, 4);
    t.true(rows.every((r) => r.definitionId === definitionId && r.status === 'ok' && r.leafSha256 === currentSha256));
    const by = rows.map((r) => r.probedBy).sort();
    t.deepEqual(
      by,
      [`agent:${a.agentId}`, `agent:${a.agentId}`, `agent:${b.agentId}`, `agent:${b.agentId}`].sort(),
      'two each'
    );
    const report = run.report as { results: Array<{ site?: string }> };
    t.true(report.results.every((r) => r.site === 'dc1'));
  }
);

test.serial(
  'M4 a dc1 agent that does not answer within the attempt deadline loses its endpoint to another dc1 agent',
  async (t) => {
    const { tc, a, b, s1 } = t.context;
    await b.runtime.stop(); // dc1 now: runtime a (answers) and s1 (silent)
    await s1.connect();
    const ids = [await siteEndpoint(t, 'dc1'), await siteEndpoint(t, 'dc1')]; // one each
    const started = Date.now();
    const run = await runMonitor(
      tc.controller.ctx,
      { trigger: 'manual', endpointIds: ids },
      { agentDeadlineMs: 20_000, siteAttemptMs: 1500, pollMs: 50 }
    );
    const took = Date.now() - started;
    t.true(took >= 1500 && took < 15_000, `took ${took} ms`);
    t.deepEqual([run.endpoints, run.ok], [2, 2], JSON.stringify(run.report));
    const rows = await historyOf(tc, run.id);
    t.deepEqual(
      rows.map((r) => [r.status, r.probedBy]),
      [
        ['ok', `agent:${a.agentId}`],
        ['ok', `agent:${a.agentId}`],
      ],
      'both answered by the agent that answers'
    );
    t.is(s1.jobs.length, 1, 's1 got one job');
    const s1Jobs = await jobsOf(tc, s1.agentId);
    t.deepEqual(
      s1Jobs.map((j) => [j.id, j.status]),
      [[s1.jobs[0]?.jobId, 'superseded']]
    );

    // Its late answer for the withdrawn job is refused: nothing written.
    s1.answer(s1.jobs[0] as Job, [t.context.leafDer]);
    await sleep(800);
    const after = await jobsOf(tc, s1.agentId);
    t.deepEqual(
      after.map((j) => [j.status, j.result]),
      [['superseded', null]]
    );
  }
);

test.serial('M4 a chosen dc1 agent that disconnects is replaced at once by another dc1 agent', async (t) => {
  const { tc, a, s1 } = t.context;
  s1.jobs.length = 0;
  const ids = [await siteEndpoint(t, 'dc1'), await siteEndpoint(t, 'dc1')];
  const started = Date.now();
  const running = runMonitor(
    tc.controller.ctx,
    { trigger: 'manual', endpointIds: ids },
    { agentDeadlineMs: 40_000, siteAttemptMs: 30_000, pollMs: 50 }
  );
  running.catch(() => undefined); // awaited below; no unhandled rejection if the test fails first
  await waitFor('s1 receiving its job', () => (s1.jobs.length > 0 ? true : undefined));
  s1.disconnect();
  const run = await running;
  const took = Date.now() - started;
  t.true(took < 10_000, `re-assigned on disconnect, not after the 30 s attempt deadline (took ${took} ms)`);
  t.deepEqual([run.endpoints, run.ok], [2, 2], JSON.stringify(run.report));
  const rows = await historyOf(tc, run.id);
  t.true(rows.every((r) => r.probedBy === `agent:${a.agentId}` && r.status === 'ok'));
  const s1Job = (await jobsOf(tc, s1.agentId)).find((j) => j.id === s1.jobs[0]?.jobId);
  t.is(s1Job?.status, 'superseded');
});

test.serial(
  'M4 G2 a dc1 agent reporting for an endpoint assigned to another dc1 agent in the run is refused; nothing written',
  async (t) => {
    const { tc, a, s1, s2, leafDer, port } = t.context;
    await a.runtime.stop(); // dc1 now: s1 and s2 only, both hand-driven
    s1.jobs.length = 0;
    await s1.connect();
    await s2.connect();
    const id = await siteEndpoint(t, 'dc1');
    const running = runMonitor(
      tc.controller.ctx,
      { trigger: 'manual', endpointIds: [id] },
      { agentDeadlineMs: 30_000, siteAttemptMs: 25_000, pollMs: 50 }
    );
    running.catch(() => undefined); // awaited below; no unhandled rejection if the test fails first
    const [chosen, other] = await waitFor('the chosen agent receiving the job', () =>
      s1.jobs.length ? [s1, s2] : s2.jobs.length ? [s2, s1] : undefined
    );
    const job = chosen.jobs[0] as Job;
    // The other agent of the same site answers the chosen one's job — with the right endpoint and a real leaf.
    other.forge(job.jobId, '127.0.0.1', port, CN, [leafDer]);
    await sleep(800);
    const row = await tc.controller.ctx.db.em().fork().findOneOrFail(AgentJobEntity, { id: job.jobId });
    t.is(row.status, 'delivered', 'the forged report did not answer the job');
    t.is(row.result, null);
    t.is(row.agentId, chosen.agentId);
    t.deepEqual(
      (await jobsOf(tc, other.agentId)).filter((j) => j.status !== 'superseded').map((j) => j.id),
      [],
      'no job of the other agent took part'
    );

    chosen.answer(job, [leafDer]);
    const run = await running;
    t.deepEqual([run.endpoints, run.ok], [1, 1], JSON.stringify(run.report));
    const rows = await historyOf(tc, run.id);
    t.deepEqual(
      rows.map((r) => [r.status, r.probedBy]),
      [['ok', `agent:${chosen.agentId}`]]
    );
    // After the run, the same forged report is still refused (the job is answered).
    other.forge(job.jobId, '127.0.0.1', port, CN, [leafDer]);
    await sleep(500);
    const again = await tc.controller.ctx.db.em().fork().findOneOrFail(AgentJobEntity, { id: job.jobId });
    t.is(again.agentId, chosen.agentId);
    t.is((await historyOf(tc, run.id)).length, 1, 'no history row was added');
  }
);

test.serial('M4 with no connected agent of the site the verdict is NoSiteAgentConnected, at once', async (t) => {
  const { tc, s1, s2 } = t.context;
  s1.disconnect();
  s2.disconnect();
  await waitFor('dc1 streams closed', () =>
    [s1, s2].some((s) => tc.controller.agentServer.hub.isConnected(s.agentId)) ? undefined : true
  );
  const ids = [await siteEndpoint(t, 'dc1'), await siteEndpoint(t, 'dc2')]; // dc2: enrolled, never connected
  const started = Date.now();
  const run = await runMonitor(
    tc.controller.ctx,
    { trigger: 'manual', endpointIds: ids },
    { agentDeadlineMs: 20_000, pollMs: 50 }
  );
  t.true(Date.now() - started < 5000, 'no waiting for agents that are not there');
  t.deepEqual([run.endpoints, run.failing], [2, 2]);
  const rows = await historyOf(tc, run.id);
  t.deepEqual(rows.map((r) => [r.status, r.reason, r.probedBy]).sort(), [
    ['failing', 'NoSiteAgentConnected', 'site:dc1'],
    ['failing', 'NoSiteAgentConnected', 'site:dc2'],
  ]);
  t.deepEqual(rows.map((r) => r.message).sort(), [
    `127.0.0.1:${t.context.port}: no agent of site dc1 is connected`,
    `127.0.0.1:${t.context.port}: no agent of site dc2 is connected`,
  ]);
});

test.serial('D6 M4 the deploy check runs from an agent of the deployment agent’s site', async (t) => {
  const { tc, a, s1, definitionId, certificateId, port, leafDer } = t.context;
  // The deployment was made for s1 (dc1), which is offline now; a, also dc1, runs the check.
  a.runtime = await startAgentRuntime(a.store, t.context.dir);
  const now = new Date();
  const id = crypto.randomUUID();
  const em = tc.controller.ctx.db.em().fork();
  em.persist(
    em.create(DeploymentEntity, {
      id,
      certificateId,
      definitionId,
      slot: `${definitionId}.site`,
      version: 1,
      target: {
        serverName: 'web-site',
        serverType: 'nginx',
        method: 'manual',
        checkHost: '127.0.0.1',
        checkPort: port,
      },
      method: 'manual',
      agentId: s1.agentId,
      bundleId: crypto.randomUUID(),
      status: 'installed',
      reason: null,
      message: null,
      servedSha256: null,
      receiptPublicKey: null,
      receiptAt: null,
      createdBy: 'test',
      createdAt: now,
      updatedAt: now,
    })
  );
  await em.flush();
  const viaApi = await api(t, 'POST', `/api/v1/deployments/${id}/check`, { from: 'site' });
  t.is(viaApi.status, 200, JSON.stringify(viaApi.json));
  const checked = viaApi.json as { deployment: { status: string; servedSha256: string }; result: { probedBy: string } };
  t.is(checked.deployment.status, 'verified');
  t.is(checked.result.probedBy, `agent:${a.agentId}`);
  t.is(checked.deployment.servedSha256, crypto.createHash('sha256').update(leafDer).digest('hex'));

  const nobody = await deployCheck(tc.controller.ctx, id, { from: 'site', site: 'dc2' });
  t.is(nobody.deployment.status, 'failed');
  t.is(nobody.result.reason, 'NoSiteAgentConnected');
  const refused = await api(t, 'POST', `/api/v1/deployments/${id}/check`, { from: 'site', site: 'bad site' });
  t.is(refused.status, 400);
});
