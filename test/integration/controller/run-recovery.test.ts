/**
 * Monitoring run recovery (SPEC M1): runs a controller left `running` — it was killed, or it stopped mid-run — are
 * `interrupted` with how far they got, at the next start and by the periodic check, without touching the runs of a
 * live replica; stale requests are cancelled; the next run proceeds normally. Real controllers on real databases:
 * restarted in this process on the same CERTFLEET_HOME and DATABASE_URL, and once a `certfleet start` child
 * process killed with SIGKILL in the middle of a run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import { Client } from 'pg';
import pino from 'pino';
import { generateBundleKeyPair } from '@certfleet/shared';
import { generateAgentKeyAndCsr } from '../../../agent/src/client/csr';
import { loadConfig } from '../../../controller/src/config/config';
import { startController, type RunningController, type StartOptions } from '../../../controller/src/controller';
import { loadOrCreateAgentPki } from '../../../controller/src/services/agents/agent-pki';
import { enrollAgent } from '../../../controller/src/services/agents/enrollment';
import { runMonitor } from '../../../controller/src/services/monitoring/monitor-service';
import { RUN_OWNER } from '../../../controller/src/services/monitoring/run-recovery';
import { startTestController, type TestController } from '../../_helpers/controller';
import { dropDatabase } from '../../_helpers/db';

const test = anyTest as TestFn;
const root = path.resolve(__dirname, '../../..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RunRow {
  id: string;
  status: string;
  done: number;
  endpoints: number;
  owner: string | null;
  finished_at: Date | null;
  report: { error?: string } | null;
}

async function sql<T>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, params)).rows as T[];
  } finally {
    await c.end();
  }
}

async function runRow(url: string, id: string): Promise<RunRow> {
  const [row] = await sql<RunRow>(url, `select * from monitor_runs where id = $1`, [id]);
  if (!row) throw new Error(`run ${id} not found`);
  return row;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Starts a controller on an existing repository (same home, same database), like a restart. */
function restart(tc: TestController, monitorRuns?: StartOptions['monitorRuns']): Promise<RunningController> {
  return startController(
    loadConfig({
      CERTFLEET_HOME: tc.home,
      DATABASE_URL: tc.databaseUrl,
      CERTFLEET_HTTPS_PORT: '0',
      CERTFLEET_HTTPS_HOST: '127.0.0.1',
      CERTFLEET_AGENT_PORT: '0',
      CERTFLEET_AGENT_HOST: '127.0.0.1',
      CERTFLEET_LOG_LEVEL: 'silent',
    }),
    { log: pino({ level: 'silent' }), ...(monitorRuns ? { monitorRuns } : {}) }
  );
}

async function cleanup(tc: TestController, ...running: Array<RunningController | undefined>): Promise<void> {
  for (const r of running) await r?.stop().catch(() => undefined);
  await tc.controller.stop().catch(() => undefined);
  await dropDatabase(tc.databaseUrl).catch(() => undefined);
  fs.rmSync(tc.home, { recursive: true, force: true });
}

/** A definition with one controller endpoint (a closed loopback port: quick) and one endpoint of an agent that
 * is enrolled but never connects (the run waits for it until the agent deadline). */
async function slowDefinition(tc: TestController): Promise<{ definitionId: string; agentId: string }> {
  const token = await tc.adminToken();
  const api = (m: string, u: string, b?: unknown) => tc.request(m, u, b, token);
  const def = await api('POST', '/api/v1/definitions', {
    name: `slow-${crypto.randomBytes(3).toString('hex')}`,
    subject: { commonName: 'slow.recovery.test' },
    sans: [{ type: 'dns', value: 'slow.recovery.test' }],
    issuerType: 'internal-ca',
    processMode: 'unattended',
  });
  if (def.status !== 201) throw new Error(JSON.stringify(def.json));
  const definitionId = (def.json as { id: string }).id;
  // an agent row that never connects (enrolled through the service, as the CLI tests do)
  const joined = (await api('POST', '/api/v1/agents/join-tokens', { label: 'offline' })).json as { token: string };
  const { csrPem } = await generateAgentKeyAndCsr('offline-agent');
  const { recipient } = await generateBundleKeyPair();
  const ctx = tc.controller.ctx;
  const { agentId } = await enrollAgent(ctx, await loadOrCreateAgentPki(ctx), {
    joinToken: joined.token,
    csrPem,
    hostname: 'offline-agent',
    agentVersion: '0.1.0',
    bundlePublicKey: recipient,
  });
  for (const body of [
    { host: '127.0.0.1', port: 1, prober: { kind: 'controller' } },
    { host: '127.0.0.1', port: 1, prober: { kind: 'agent', agentId } },
  ]) {
    const r = await api('POST', `/api/v1/definitions/${definitionId}/endpoints`, body);
    if (r.status !== 201) throw new Error(JSON.stringify(r.json));
  }
  return { definitionId, agentId };
}

/** The pid of a process that has exited (a dead owner on this host). */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => p.once('exit', r));
  return p.pid as number;
}

test.serial(
  'M1 runs left running are interrupted at the next start (dead owner, no owner, stale heartbeat) with their progress; a live replica’s run is not; a stale request is cancelled; the next run proceeds',
  async (t) => {
    const tc = await startTestController();
    let next: RunningController | undefined;
    try {
      const url = tc.databaseUrl;
      await tc.controller.stop(); // the rows below are what a previous life of the repository left behind
      const now = Date.now();
      const at = (ms: number) => new Date(now + ms);
      const dead = `${os.hostname()}:${await deadPid()}`;
      const rows: Array<[string, string, string | null, Date | null, Date, number, number]> = [
        // key, status, owner, heartbeat, started, done, endpoints
        ['noOwner', 'running', null, null, at(-1000), 2, 5],
        ['deadOwner', 'running', dead, at(0), at(-2000), 3, 7],
        ['staleReplica', 'running', 'replica-b.example:4242', at(-10 * 60_000), at(-11 * 60_000), 1, 4],
        ['liveReplica', 'running', 'replica-c.example:4343', at(0), at(-3000), 0, 9],
        ['oldRequest', 'requested', null, null, at(-20 * 60_000), 0, 0],
        ['freshRequest', 'requested', null, null, at(0), 0, 0],
      ];
      const ids: Record<string, string> = {};
      for (const [key, status, owner, heartbeat, started, done, endpoints] of rows) {
        ids[key] = crypto.randomUUID();
        await sql(
          url,
          `insert into monitor_runs (id, trigger, status, started_at, endpoints, ok, warning, failing, done, owner,
             heartbeat_at, requested_by, request)
           values ($1, 'manual', $2, $3, $4, 0, 0, 0, $5, $6, $7, $8, $9)`,
          [
            ids[key],
            status,
            started,
            endpoints,
            done,
            owner,
            heartbeat,
            status === 'requested' ? 'cli:test' : null,
            status === 'requested' ? {} : null,
          ]
        );
      }
      next = await restart(tc, { pollMs: 200, recoveryMs: 300 });

      const noOwner = await runRow(url, ids.noOwner as string);
      t.is(noOwner.status, 'interrupted');
      t.regex(noOwner.report?.error ?? '', /^interrupted: no process owns it; 2 of 5 endpoint\(s\) observed$/);
      t.truthy(noOwner.finished_at);
      const deadOwner = await runRow(url, ids.deadOwner as string);
      t.is(deadOwner.status, 'interrupted');
      t.is(deadOwner.report?.error, `interrupted: its process ${dead} is gone; 3 of 7 endpoint(s) observed`);
      t.is(deadOwner.done, 3, 'the progress is kept');
      const stale = await runRow(url, ids.staleReplica as string);
      t.is(stale.status, 'interrupted');
      t.regex(stale.report?.error ?? '', /no heartbeat from replica-b\.example:4242 since/);
      t.is((await runRow(url, ids.liveReplica as string)).status, 'running', 'a live replica’s run is left alone');
      const oldRequest = await runRow(url, ids.oldRequest as string);
      t.is(oldRequest.status, 'cancelled');
      t.regex(oldRequest.report?.error ?? '', /no running controller claimed the request within 10 min/);

      // The fresh request is claimed and executed by the restarted controller: runs proceed normally.
      const fresh = await waitFor('the fresh request to finish', async () => {
        const r = await runRow(url, ids.freshRequest as string);
        return r.status === 'finished' ? r : undefined;
      });
      t.is(fresh.owner, RUN_OWNER);
      const after = await runMonitor(next.ctx, { trigger: 'manual' });
      t.is(after.status, 'finished');

      // The periodic check: once the live replica stops beating, its run is interrupted too.
      await sql(url, `update monitor_runs set heartbeat_at = $2 where id = $1`, [ids.liveReplica, at(-5 * 60_000)]);
      const gone = await waitFor('the periodic check', async () => {
        const r = await runRow(url, ids.liveReplica as string);
        return r.status === 'interrupted' ? r : undefined;
      });
      t.regex(gone.report?.error ?? '', /no heartbeat from replica-c\.example:4343 since .*; 0 of 9 endpoint\(s\)/);
    } finally {
      await cleanup(tc, next);
    }
  }
);

test.serial(
  'M1 a run in flight when the controller stops closes as interrupted with its progress; its agent job is withdrawn',
  async (t) => {
    const tc = await startTestController();
    try {
      const { definitionId, agentId } = await slowDefinition(tc);
      const running = runMonitor(
        tc.controller.ctx,
        { trigger: 'manual', definitionId },
        { agentDeadlineMs: 120_000, heartbeatMs: 100, pollMs: 50, workers: 0 }
      );
      running.catch(() => undefined);
      const url = tc.databaseUrl;
      const [run] = await waitFor('the run to observe its controller endpoint', async () => {
        const r = await sql<RunRow>(url, `select * from monitor_runs where status = 'running' and done = 1`);
        return r.length ? r : undefined;
      });
      t.is(run?.endpoints, 2);
      t.is(run?.owner, RUN_OWNER);
      const stopped = Date.now();
      await tc.controller.stop();
      t.true(Date.now() - stopped < 15_000, 'stopping does not wait for the agent deadline');
      const err = await t.throwsAsync(running);
      t.is((err as { code?: string }).code, 'CF_MONITOR_RUN_INTERRUPTED');
      const closed = await runRow(url, run?.id as string);
      t.is(closed.status, 'interrupted');
      t.is(closed.done, 1);
      t.is(
        closed.report?.error,
        'monitoring: the run was interrupted: the controller is stopping; 1 of 2 endpoint(s) observed'
      );
      const history = await sql(url, `select id from monitoring_history where run_id = $1`, [run?.id]);
      t.is(history.length, 0, 'an interrupted run writes no verdicts');
      const jobs = await sql<{ status: string }>(url, `select status from agent_jobs where agent_id = $1`, [agentId]);
      t.deepEqual(
        jobs.map((j) => j.status),
        ['superseded']
      );
    } finally {
      await cleanup(tc);
    }
  }
);

test.serial(
  'M1 a `certfleet start` controller killed (SIGKILL) during a requested run: the next start marks it interrupted; the next run-now proceeds',
  async (t) => {
    const tc = await startTestController();
    let child: ChildProcess | undefined;
    let next: RunningController | undefined;
    const env = {
      ...process.env,
      DATABASE_URL: tc.databaseUrl,
      CERTFLEET_HOME: tc.home,
      CERTFLEET_HTTPS_PORT: '0',
      CERTFLEET_HTTPS_HOST: '127.0.0.1',
      CERTFLEET_AGENT_PORT: '0',
      CERTFLEET_AGENT_HOST: '127.0.0.1',
      CERTFLEET_LOG_LEVEL: 'silent',
    };
    const cli = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
        const p = spawn(process.execPath, ['bin/certfleet.js', ...args], { cwd: root, env });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        p.on('error', reject);
        p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      });
    try {
      const { definitionId } = await slowDefinition(tc);
      await tc.controller.stop(); // the child is now the only controller on this repository

      child = spawn(process.execPath, ['bin/certfleet.js', 'start'], {
        cwd: root,
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let childLog = '';
      child.stderr?.on('data', (c: Buffer) => (childLog += c.toString()));
      await waitFor(
        'the child controller',
        async () => (childLog.includes('controller ready') ? true : undefined),
        60_000
      );

      const requested = await cli(['monitor', 'run-now', '--no-wait', '--definition', definitionId]);
      t.is(requested.code, 0, requested.stderr);
      const runId = requested.stdout.trim();
      t.regex(runId, /^[0-9a-f-]{36}$/);
      const url = tc.databaseUrl;
      const inFlight = await waitFor('the child to run it and report progress', async () => {
        const r = await runRow(url, runId);
        return r.status === 'running' && r.done === 1 ? r : undefined;
      });
      t.is(inFlight.owner, `${os.hostname()}:${child.pid}`);
      child.kill('SIGKILL');
      await new Promise((r) => child?.once('exit', r));
      t.is((await runRow(url, runId)).status, 'running', 'nobody closed it');

      next = await restart(tc, { pollMs: 200 });
      const recovered = await runRow(url, runId);
      t.is(recovered.status, 'interrupted');
      t.is(recovered.done, 1);
      t.is(recovered.endpoints, 2);
      t.is(
        recovered.report?.error,
        `interrupted: its process ${os.hostname()}:${child.pid} is gone; 1 of 2 endpoint(s) observed`
      );

      // The next run-now is executed by the restarted controller (this process) and finishes.
      const again = await cli([
        'monitor',
        'run-now',
        '--definition',
        definitionId,
        '--agent-deadline-ms',
        '500',
        '--json',
      ]);
      t.is(again.code, 1, again.stderr); // the offline agent's endpoint fails (AgentDidNotReport)
      const run = JSON.parse(again.stdout) as { status: string; owner: string; endpoints: number; failing: number };
      t.deepEqual([run.status, run.owner, run.endpoints, run.failing], ['finished', RUN_OWNER, 2, 2]);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await cleanup(tc, next);
    }
  }
);
