/**
 * Probe jobs over the agent stream (SPEC M4, G4): the controller asks an agent to probe an endpoint; the agent uses
 * the shared probe engine and reports what was served; the controller keeps the observation on the job. An agent
 * reporting endpoints it was not assigned (or for another agent's job) is refused and nothing is written.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import anyTest, { type TestFn } from 'ava';
import { JobStatus, type ControllerMessage } from '@certfleet/proto';
import type { AgentRuntime } from '../../../agent/src/agent';
import { agentClient } from '../../../agent/src/client/controller-client';
import { type StateStore } from '../../../agent/src/state/state-store';
import { enqueueProbeJob } from '../../../controller/src/services/agents/probe-jobs';
import { AgentJobEntity } from '../../../controller/src/storage/entities';
import { startTestController, type TestController } from '../../_helpers/controller';
import { issueLeaf } from '../../_helpers/install-bundles';
import { enrollLoopbackAgent, startAgentRuntime } from '../../_helpers/loopback-agent';
import { FAKE_DIALOGUES, fakeStartTlsServer } from '../../_helpers/probe-pki';
import { tempRoot } from '../agent/_servers';

interface Ctx {
  tc: TestController;
  dir: string;
  server: tls.Server;
  port: number;
  leafSha256: string;
  runtime: AgentRuntime;
  agentId: string;
  rogue: { agentId: string; store: StateStore };
}
const test = anyTest as TestFn<Ctx>;

async function jobRow(tc: TestController, id: string) {
  return tc.controller.ctx.db.em().fork().findOneOrFail(AgentJobEntity, { id });
}

test.before(async (t) => {
  const dir = tempRoot('certfleet-agent-probes-');
  const leaf = await issueLeaf('probe.test');
  const server = tls.createServer({ key: leaf.keyPem, cert: leaf.fullchainPem }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const tc = await startTestController();
  const token = await tc.adminToken();
  const main = await enrollLoopbackAgent(tc, token, dir, 'prober');
  const rogue = await enrollLoopbackAgent(tc, token, dir, 'rogue');
  const runtime = await startAgentRuntime(main.store, dir);
  t.context = {
    tc,
    dir,
    server,
    port: (server.address() as { port: number }).port,
    leafSha256: leaf.leafSha256,
    runtime,
    agentId: main.agentId,
    rogue,
  };
});

test.after.always(async (t) => {
  await t.context.runtime?.stop();
  await t.context.tc?.close();
  t.context.server?.close();
  if (t.context.dir) fs.rmSync(t.context.dir, { recursive: true, force: true });
});

test.serial('M4 an agent probes an endpoint for the controller and reports the served leaf', async (t) => {
  const { tc, agentId, port } = t.context;
  const job = await enqueueProbeJob(tc.controller.ctx, agentId, [
    { host: '127.0.0.1', port, serverName: 'probe.test' },
    { host: '127.0.0.1', port: 1 },
  ]);
  let row = await jobRow(tc, job.id);
  for (let i = 0; i < 100 && row.status !== 'done'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    row = await jobRow(tc, job.id);
  }
  t.is(row.status, 'done');
  const obs = (row.result as { observations: Array<{ leafSha256: string; error: string; port: number }> }).observations;
  t.is(obs.length, 2);
  t.is(obs[0]!.leafSha256, t.context.leafSha256);
  t.is(obs[0]!.error, '');
  t.is(obs[1]!.leafSha256, '');
  t.regex(obs[1]!.error, /ConnectRefused|Refused|ECONNREFUSED/i);
});

test.serial('M4 an agent probes through a STARTTLS (SMTP) dialogue', async (t) => {
  const { tc, agentId } = t.context;
  const leaf = await issueLeaf('mail.probe.test');
  const smtp = fakeStartTlsServer(
    FAKE_DIALOGUES.smtp,
    tls.createSecureContext({ key: leaf.keyPem, cert: leaf.fullchainPem })
  );
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  t.teardown(() => smtp.close());
  const port = (smtp.address() as { port: number }).port;
  const job = await enqueueProbeJob(tc.controller.ctx, agentId, [{ host: '127.0.0.1', port, starttls: 'smtp' }]);
  let row = await jobRow(tc, job.id);
  for (let i = 0; i < 100 && row.status !== 'done'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    row = await jobRow(tc, job.id);
  }
  const [obs] = (row.result as { observations: Array<{ leafSha256: string; error: string }> }).observations;
  t.is(obs?.error, '');
  t.is(obs?.leafSha256, leaf.leafSha256);
});

test.serial(
  'M4 G2 a report for endpoints not assigned to the agent (or another agent’s job) is refused: nothing written',
  async (t) => {
    const { tc, rogue, agentId, port } = t.context;
    // a job for the rogue agent, and one for the honest agent that the rogue tries to answer
    const own = await enqueueProbeJob(tc.controller.ctx, rogue.agentId, [{ host: '127.0.0.1', port }]);
    await t.context.runtime.stop(); // keep the honest agent from answering its job first
    const foreign = await enqueueProbeJob(tc.controller.ctx, agentId, [{ host: '127.0.0.1', port }]);
    const client = agentClient(`127.0.0.1:${tc.controller.agentServer.port}`, rogue.store.readIdentity());
    t.teardown(() => client.close());
    const call = client.connect();
    const gotJob = new Promise<string>((resolve) =>
      call.on('data', (m: ControllerMessage) => {
        if (m.payload?.$case === 'job') resolve(m.payload.value.jobId);
      })
    );
    call.on('error', () => undefined);
    t.is(await gotJob, own.id);
    const forged = (jobId: string, host: string) => ({
      payload: {
        $case: 'jobResult' as const,
        value: {
          jobId,
          status: JobStatus.JOB_STATUS_SUCCEEDED,
          reason: 'Probed',
          message: 'forged',
          finishedAt: undefined,
          servedSha256: '',
          stderrTail: '',
          idempotent: false,
          rolledBack: false,
          observations: [
            {
              endpoint: { host, port, serverName: '', starttls: '' },
              error: '',
              certificateChain: [crypto.randomBytes(64)],
              protocol: 'TLSv1.3',
              cipher: 'x',
              handshakeMs: 1,
            },
          ],
        },
      },
    });
    call.write(forged(own.id, '203.0.113.9')); // an endpoint it was not asked about
    call.write(forged(foreign.id, '127.0.0.1')); // another agent's job
    await new Promise((r) => setTimeout(r, 1500));
    for (const id of [own.id, foreign.id]) {
      const row = await jobRow(tc, id);
      t.not(row.status, 'done');
      t.is(row.result, null);
    }
    call.cancel();
  }
);
