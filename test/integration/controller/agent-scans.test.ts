/**
 * Discovery scans run by an agent over its stream (SPEC S1, S2, G4), on loopback listeners this test starts (ports
 * nothing else listens on, checked with `ss -ltn`): the agent runs the shared sweep, streams progress and the
 * endpoints it found, the controller judges and stores them. An agent may only report for a scan job assigned to
 * it and only hosts and ports of that scan: anything else is refused and nothing is written. A cancelled agent scan
 * stops on the agent.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { JobStatus, type AgentMessage, type ControllerMessage } from '@certfleet/proto';
import { AgentRuntime } from '../../../agent/src/agent';
import { agentClient } from '../../../agent/src/client/controller-client';
import { parseAgentConfig } from '../../../agent/src/config';
import { StateStore } from '../../../agent/src/state/state-store';
import {
  AgentJobEntity,
  DiscoveryFindingEntity,
  DiscoveryScanEntity,
  MonitoredEndpointEntity,
} from '../../../controller/src/storage/entities';
import { startTestController, type TestController } from '../../_helpers/controller';
import { issueLeaf } from '../../_helpers/install-bundles';
import { enrollLoopbackAgent, quietLog, startAgentRuntime } from '../../_helpers/loopback-agent';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { FAKE_DIALOGUES, closeAll, fakeStartTlsServer } from '../../_helpers/probe-pki';
import { tempRoot } from '../agent/_servers';
import { assertOnlyOurListeners, listenAt, silentServer, unusedPorts } from '../discovery/_ports';

interface Ctx {
  tc: TestController;
  token: string;
  dir: string;
  servers: net.Server[];
  held: net.Socket[];
  ports: [number, number];
  /** host:port → served leaf SHA-256. */
  expected: Map<string, string>;
  runtime: AgentRuntime;
  agentId: string;
  rogue: { agentId: string; store: StateStore };
  honestScanId?: string;
}
const NEEDS = ['ss'];
const test = testNeeding<Ctx>(NEEDS);
const NET = `127.62.${process.pid % 250}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async (t) => {
  if (isCI) assertCommands(NEEDS);
  const dir = tempRoot('certfleet-agent-scans-');
  const ports = (await unusedPorts(2)) as [number, number];
  const [P1, P2] = ports;
  const servers: net.Server[] = [];
  const held: net.Socket[] = [];
  const web = await issueLeaf('web.scan.test');
  const mail = await issueLeaf('mail.scan.test');
  await listenAt(
    servers,
    tls.createServer({ key: web.keyPem, cert: web.fullchainPem }, (s) => s.end()),
    `${NET}.1`,
    P1
  );
  await listenAt(
    servers,
    fakeStartTlsServer(FAKE_DIALOGUES.smtp, tls.createSecureContext({ key: mail.keyPem, cert: mail.fullchainPem })),
    `${NET}.2`,
    P2
  );
  // .3 and .4: silent listeners (accept, never answer) for a long scan.
  for (const host of [`${NET}.3`, `${NET}.4`])
    for (const port of ports) await listenAt(servers, silentServer(held), host, port);
  await assertOnlyOurListeners(ports, new Set([1, 2, 3, 4].map((i) => `${NET}.${i}`)));
  const tc = await startTestController();
  const token = await tc.adminToken();
  const main = await enrollLoopbackAgent(tc, token, dir, 'scanner');
  const rogue = await enrollLoopbackAgent(tc, token, dir, 'rogue');
  const runtime = await startAgentRuntime(main.store, dir);
  t.context = {
    tc,
    token,
    dir,
    servers,
    held,
    ports,
    expected: new Map([
      [`${NET}.1:${P1}`, web.leafSha256],
      [`${NET}.2:${P2}`, mail.leafSha256],
    ]),
    runtime,
    agentId: main.agentId,
    rogue,
  };
});

test.after.always(async (t) => {
  await t.context.runtime?.stop();
  await t.context.tc?.close();
  for (const s of t.context.held ?? []) s.destroy();
  closeAll(t.context.servers ?? []);
  if (t.context.dir) fs.rmSync(t.context.dir, { recursive: true, force: true });
});

interface ScanJson {
  id: string;
  status: string;
  total: number;
  done: number;
  findings: number;
  agentJobId: string | null;
  runBy: { kind: string; agentId?: string };
  stats: Record<string, unknown> | null;
  error: string | null;
}

async function waitFor(t: { context: Ctx }, id: string, until: (s: ScanJson) => boolean, timeoutMs = 20_000) {
  const { tc, token } = t.context;
  const deadline = Date.now() + timeoutMs;
  let scan = (await tc.request('GET', `/api/v1/discovery/scans/${id}`, undefined, token)).json as ScanJson;
  while (!until(scan) && Date.now() < deadline) {
    await sleep(100);
    scan = (await tc.request('GET', `/api/v1/discovery/scans/${id}`, undefined, token)).json as ScanJson;
  }
  return scan;
}

test.serial(
  'S1 S2 an agent runs a scan job and streams what it finds; the controller judges and stores it',
  async (t) => {
    const { tc, token, agentId, ports } = t.context;
    const [P1, P2] = ports;
    const res = await tc.request(
      'POST',
      '/api/v1/discovery/scans',
      {
        targets: [`${NET}.1-2`],
        ports: [P1],
        starttlsPorts: [{ port: P2, protocol: 'smtp' }],
        timeoutMs: 1_000,
        handshakeTimeoutMs: 3_000,
        runBy: { kind: 'agent', agentId },
      },
      token
    );
    t.is(res.status, 202, JSON.stringify(res.json));
    const accepted = res.json as ScanJson;
    t.deepEqual(accepted.runBy, { kind: 'agent', agentId });
    t.truthy(accepted.agentJobId);
    t.context.honestScanId = accepted.id;
    const scan = await waitFor(t, accepted.id, (s) => s.status === 'done' || s.status === 'failed');
    t.is(scan.status, 'done', JSON.stringify(scan));
    t.deepEqual([scan.done, scan.total, scan.findings], [4, 4, 2]);
    t.is(scan.stats?.open, 2);
    t.is(scan.stats?.closed, 2);

    const rows = await tc.controller.ctx.db.em().fork().find(DiscoveryFindingEntity, { scanId: accepted.id });
    t.deepEqual(
      rows.map((r) => `${r.host}:${r.port} ${r.sha256}`).sort(),
      [...t.context.expected].map(([k, v]) => `${k} ${v}`).sort()
    );
    for (const r of rows) {
      t.is(r.probedBy, `agent:${agentId}`);
      t.is(r.validity, 'valid');
      t.false(r.selfSigned);
      t.false(r.trusted, 'the test CA is in no trust set');
      t.regex(r.pem, /^-----BEGIN CERTIFICATE-----/);
    }
    t.is(rows.find((r) => r.port === P2)?.starttls, 'smtp');
    t.is(rows.find((r) => r.port === P2)?.commonName, 'mail.scan.test');
    const job = await tc.controller.ctx.db
      .em()
      .fork()
      .findOneOrFail(AgentJobEntity, { id: accepted.agentJobId as string });
    t.is(job.status, 'done');
    t.is(job.kind, 'scan');

    // Imported from an agent's scan, the endpoints are probed by that agent.
    const imported = await tc.request(
      'POST',
      `/api/v1/discovery/scans/${accepted.id}/import`,
      { findingIds: 'all', mode: 'monitored' },
      token
    );
    t.is(imported.status, 200, JSON.stringify(imported.json));
    const result = imported.json as { imported: Array<{ endpoints: Array<{ id: string }> }> };
    t.is(result.imported.length, 2);
    const endpoints = await tc.controller.ctx.db
      .em()
      .fork()
      .find(MonitoredEndpointEntity, { id: { $in: result.imported.flatMap((i) => i.endpoints.map((e) => e.id)) } });
    t.is(endpoints.length, 2);
    t.true(
      endpoints.every((e) => e.probeFrom === 'agent' && e.agentId === agentId),
      'probed by the agent that found them'
    );
  }
);

test.serial(
  'S1 G2 findings for a scan not assigned to the agent, or outside its scan, are refused: nothing written',
  async (t) => {
    const { tc, token, rogue, ports } = t.context;
    const em = () => tc.controller.ctx.db.em().fork();
    // A scan for the rogue agent (its own job) of one host and port.
    const own = await tc.request(
      'POST',
      '/api/v1/discovery/scans',
      { targets: [`${NET}.1`], ports: [ports[0]], runBy: { kind: 'agent', agentId: rogue.agentId } },
      token
    );
    t.is(own.status, 202, JSON.stringify(own.json));
    const ownScan = own.json as ScanJson;
    // And one for the honest agent, which the honest agent must not answer first.
    await t.context.runtime.stop();
    const foreign = await tc.request(
      'POST',
      '/api/v1/discovery/scans',
      { targets: [`${NET}.1`], ports: [ports[0]], runBy: { kind: 'agent', agentId: t.context.agentId } },
      token
    );
    t.is(foreign.status, 202);
    const foreignScan = foreign.json as ScanJson;

    const client = agentClient(`127.0.0.1:${tc.controller.agentServer.port}`, rogue.store.readIdentity());
    t.teardown(() => client.close());
    const call = client.connect();
    const cancels: string[] = [];
    const gotJob = new Promise<string>((resolve) =>
      call.on('data', (m: ControllerMessage) => {
        if (m.payload?.$case === 'job') resolve(m.payload.value.jobId);
        if (m.payload?.$case === 'cancelJob') cancels.push(m.payload.value.jobId);
      })
    );
    call.on('error', () => undefined);
    t.is(await gotJob, ownScan.agentJobId as string);
    const chain = [new crypto.X509Certificate((await issueLeaf('forged.test')).certPem).raw];
    const progress = (jobId: string, host: string, port: number): AgentMessage => ({
      payload: {
        $case: 'scanProgress',
        value: {
          jobId,
          done: 1,
          total: 1,
          found: 1,
          endpoints: [
            {
              host,
              port,
              address: host,
              serverName: '',
              starttls: '',
              certificateChain: chain,
              protocol: 'TLSv1.3',
              cipher: 'TLS_AES_128_GCM_SHA256',
              handshakeMs: 1,
            },
          ],
          summary: undefined,
        },
      },
    });
    call.write(progress(foreignScan.agentJobId as string, `${NET}.1`, ports[0])); // another agent's scan job
    call.write(progress(ownScan.agentJobId as string, '198.18.99.9', ports[0])); // a host outside its own scan
    call.write(progress(ownScan.agentJobId as string, `${NET}.1`, ports[1])); // a port outside its own scan
    call.write({
      payload: {
        $case: 'jobResult',
        value: {
          jobId: foreignScan.agentJobId as string,
          status: JobStatus.JOB_STATUS_SUCCEEDED,
          reason: 'Scanned',
          message: 'forged',
          finishedAt: undefined,
          servedSha256: '',
          stderrTail: '',
          idempotent: false,
          rolledBack: false,
          observations: [],
        },
      },
    });
    await sleep(1_500);
    for (const scan of [ownScan, foreignScan]) {
      t.is(await em().count(DiscoveryFindingEntity, { scanId: scan.id }), 0, 'no finding stored');
      const row = await em().findOneOrFail(DiscoveryScanEntity, { id: scan.id });
      t.deepEqual([row.status, row.done, row.findings], ['queued', 0, 0], 'counters untouched');
      const job = await em().findOneOrFail(AgentJobEntity, { id: scan.agentJobId as string });
      t.not(job.status, 'done');
      t.is(job.result, null);
    }

    // Its own job, its own host and port: accepted.
    call.write(progress(ownScan.agentJobId as string, `${NET}.1`, ports[0]));
    let row = await em().findOneOrFail(DiscoveryScanEntity, { id: ownScan.id });
    for (let i = 0; i < 50 && row.findings === 0; i++) {
      await sleep(100);
      row = await em().findOneOrFail(DiscoveryScanEntity, { id: ownScan.id });
    }
    t.deepEqual([row.status, row.done, row.findings], ['running', 1, 1]);
    // Cancelled: later messages are refused and the agent is told to stop the job.
    t.is((await tc.request('POST', `/api/v1/discovery/scans/${ownScan.id}/cancel`, undefined, token)).status, 200);
    call.write(progress(ownScan.agentJobId as string, `${NET}.1`, ports[0]));
    for (let i = 0; i < 50 && !cancels.includes(ownScan.agentJobId as string); i++) await sleep(100);
    t.true(cancels.includes(ownScan.agentJobId as string), 'CancelJob sent to the agent');
    t.is((await em().findOneOrFail(DiscoveryScanEntity, { id: ownScan.id })).status, 'cancelled');
    call.cancel();
  }
);

test.serial('S1 a cancelled agent scan stops on the agent', async (t) => {
  const { tc, token, ports } = t.context;
  // The honest agent again (the previous test stopped it); it also takes the job queued for it there.
  const runtime = new AgentRuntime({
    store: new StateStore(path.join(t.context.dir, 'scanner')),
    config: parseAgentConfig({ stateDir: path.join(t.context.dir, 'scanner'), allowedRoots: [t.context.dir] }),
    log: quietLog,
  });
  // ava gives each test a copy of the context: the after.always hook would not see this runtime, so it stops here.
  t.teardown(() => runtime.stop());
  const finished = new Map<string, number>();
  runtime.on('job-finished', (jobId: string) => finished.set(jobId, Date.now()));
  const connected = new Promise<void>((r) => runtime.once('connected', r));
  void runtime.start().catch(() => undefined);
  await connected;
  // 2 silent hosts × 2 ports at concurrency 1: each pair waits its 2 s handshake budget (8 s in all).
  const res = await tc.request(
    'POST',
    '/api/v1/discovery/scans',
    {
      targets: [`${NET}.3-4`],
      ports,
      concurrency: 1,
      handshakeTimeoutMs: 2_000,
      runBy: { kind: 'agent', agentId: t.context.agentId },
    },
    token
  );
  t.is(res.status, 202);
  const scan = res.json as ScanJson;
  const running = await waitFor(t, scan.id, (s) => s.status === 'running');
  t.is(running.status, 'running');
  const cancelledAt = Date.now();
  t.is((await tc.request('POST', `/api/v1/discovery/scans/${scan.id}/cancel`, undefined, token)).status, 200);
  for (let i = 0; i < 60 && !finished.has(scan.agentJobId as string); i++) await sleep(100);
  const ended = finished.get(scan.agentJobId as string);
  t.truthy(ended, 'the agent ended the scan job');
  t.true((ended as number) - cancelledAt < 3_000, `ended ${(ended as number) - cancelledAt} ms after the cancel`);
  const row = await tc.controller.ctx.db.em().fork().findOneOrFail(DiscoveryScanEntity, { id: scan.id });
  t.is(row.status, 'cancelled');
  t.true(row.done < row.total);
});
