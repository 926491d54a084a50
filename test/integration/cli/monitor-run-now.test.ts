/**
 * `certfleet monitor run-now` (SPEC M1, M4) as a real child process next to a RUNNING controller (this test
 * process): the CLI writes a run request, the controller claims it and executes it with its agent streams (a site
 * endpoint probed by an in-process agent runtime), the CLI prints progress (done/total) on stderr and the summary;
 * `--no-wait` returns the run id at once; with no controller the request is cancelled and the CLI says so
 * (CF_CONTROLLER_NOT_RUNNING); `--local` runs the controller-probed endpoints only and says what it skipped.
 * The CLI is spawned and awaited asynchronously: the controller and the TLS servers live in this process.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';
import anyTest, { type TestFn } from 'ava';
import { Client } from 'pg';
import { generateBundleKeyPair } from '@certfleet/shared';
import type { AgentRuntime } from '../../../agent/src/agent';
import { generateAgentKeyAndCsr } from '../../../agent/src/client/csr';
import { loadOrCreateAgentPki } from '../../../controller/src/services/agents/agent-pki';
import { enrollAgent } from '../../../controller/src/services/agents/enrollment';
import { RUN_OWNER } from '../../../controller/src/services/monitoring/run-recovery';
import { MonitorRunEntity } from '../../../controller/src/storage/entities';
import { startTestController, type TestController } from '../../_helpers/controller';
import { dropDatabase, freshDatabaseUrl } from '../../_helpers/db';
import {
  enrollLoopbackAgent,
  issueCurrentCertificate,
  serveOnLoopback,
  startAgentRuntime,
} from '../../_helpers/loopback-agent';
import { tempRoot } from '../agent/_servers';

const CN = 'runnow.cli.test';
const root = path.resolve(__dirname, '../../..');

interface Ctx {
  tc: TestController;
  dir: string;
  server: tls.Server;
  port: number;
  definitionId: string;
  siteAgentId: string;
  runtime: AgentRuntime;
}
const test = anyTest as TestFn<Ctx>;

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function cli(args: string[], env: Record<string, string>): Promise<CliRun> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/certfleet.js', ...args], {
      cwd: root,
      env: { ...process.env, CERTFLEET_LOG_LEVEL: 'silent', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - t0 }));
  });
}

const repo = (tc: TestController) => ({ DATABASE_URL: tc.databaseUrl, CERTFLEET_HOME: tc.home });

test.before(async (t) => {
  const dir = tempRoot('certfleet-cli-runnow-');
  const tc = await startTestController({ monitorRuns: { pollMs: 200 } });
  const token = await tc.adminToken();
  const api = (m: string, u: string, b?: unknown) => tc.request(m, u, b, token);
  const { definitionId, cert, key } = await issueCurrentCertificate(tc, token, 'run-now', CN);
  const server = await serveOnLoopback(cert, key);
  const port = (server.address() as { port: number }).port;

  // A connected agent of site dc1 (in-process runtime) and an enrolled agent that never connects.
  const { agentId: siteAgentId, store } = await enrollLoopbackAgent(tc, token, dir, 'dc1', {
    site: 'dc1',
    hostname: 'dc1-agent',
  });
  const runtime = await startAgentRuntime(store, dir);
  const offlineToken = (await api('POST', '/api/v1/agents/join-tokens', { label: 'offline' })).json as {
    token: string;
  };
  const { csrPem } = await generateAgentKeyAndCsr('offline-agent');
  const ctx = tc.controller.ctx;
  const { agentId: offlineId } = await enrollAgent(ctx, await loadOrCreateAgentPki(ctx), {
    joinToken: offlineToken.token,
    csrPem,
    hostname: 'offline-agent',
    agentVersion: '0.1.0',
    bundlePublicKey: (await generateBundleKeyPair()).recipient,
  });
  for (const body of [
    { host: '127.0.0.1', port, serverName: CN, prober: { kind: 'controller' } },
    { host: '127.0.0.1', port, serverName: CN, prober: { kind: 'site', site: 'dc1' } },
    { host: '127.0.0.1', port: 1, prober: { kind: 'agent', agentId: offlineId } },
  ]) {
    const r = await api('POST', `/api/v1/definitions/${definitionId}/endpoints`, body);
    if (r.status !== 201) throw new Error(JSON.stringify(r.json));
  }
  t.context = { tc, dir, server, port, definitionId, siteAgentId, runtime };
});

test.after.always(async (t) => {
  await t.context.runtime?.stop();
  await t.context.tc?.close();
  t.context.server?.close();
  if (t.context.dir) fs.rmSync(t.context.dir, { recursive: true, force: true });
});

test.serial(
  'M1 M4 run-now from the CLI is executed by the running controller (site agent included); progress on stderr, the summary on stdout',
  async (t) => {
    const { tc, siteAgentId, port } = t.context;
    const run = await cli(['monitor', 'run-now', '--agent-deadline-ms', '2500', '--json'], repo(tc));
    t.is(run.code, 1, `exit 1: one endpoint fails\n${run.stderr}`);
    const out = JSON.parse(run.stdout) as {
      id: string;
      status: string;
      endpoints: number;
      ok: number;
      failing: number;
      done: number;
      owner: string;
      requestedBy: string;
      report: { results: Array<{ endpoint: string; status: string; reason: string; probedBy: string; site?: string }> };
    };
    t.deepEqual([out.status, out.endpoints, out.ok, out.failing, out.done], ['finished', 3, 2, 1, 3]);
    t.is(out.owner, RUN_OWNER, 'executed by the controller in this test process, not by the CLI');
    t.is(out.requestedBy, `cli:${os.userInfo().username}`);
    const site = out.report.results.find((r) => r.site === 'dc1');
    t.deepEqual([site?.status, site?.probedBy], ['ok', `agent:${siteAgentId}`], 'probed over the agent stream');
    const offline = out.report.results.find((r) => r.endpoint === '127.0.0.1:1');
    t.deepEqual([offline?.status, offline?.reason], ['failing', 'AgentDidNotReport']);
    t.regex(run.stderr, new RegExp(`run ${out.id} requested; waiting for the controller`));
    t.true(run.stderr.includes(`run ${out.id} is executed by the controller ${RUN_OWNER}`), run.stderr);
    t.regex(run.stderr, /monitor run-now: 2\/3 endpoints done/, 'progress while the offline agent is awaited');
    t.true(run.ms >= 2500, `waited for the run (${run.ms} ms)`);

    const human = await cli(['monitor', 'run-now', '--agent-deadline-ms', '500'], repo(tc));
    t.is(human.code, 1, human.stderr);
    const lines = human.stdout.trim().split('\n');
    t.regex(lines[0] ?? '', /^run [0-9a-f-]{36} finished: 3 endpoint\(s\), 2 ok, 0 warning, 1 failing$/);
    t.true(
      lines.some((l) => l.includes('failing 127.0.0.1:1 (run-now) AgentDidNotReport:')),
      human.stdout
    );
    t.false(
      lines.some((l) => l.includes(`127.0.0.1:${port}`)),
      'ok endpoints are not listed'
    );
  }
);

test.serial('M1 run-now --no-wait prints the run id at once; the controller executes it', async (t) => {
  const { tc, definitionId } = t.context;
  const run = await cli(
    ['monitor', 'run-now', '--no-wait', '--definition', definitionId, '--agent-deadline-ms', '4000'],
    repo(tc)
  );
  t.is(run.code, 0, run.stderr);
  const id = run.stdout.trim();
  t.regex(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  const em = tc.controller.ctx.db.em().fork();
  const early = await em.findOneOrFail(MonitorRunEntity, { id });
  t.not(early.status, 'finished', 'the CLI returned before the run could finish (4 s agent deadline)');
  let row = early;
  for (let i = 0; i < 150 && row.status !== 'finished'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    row = await tc.controller.ctx.db.em().fork().findOneOrFail(MonitorRunEntity, { id });
  }
  t.deepEqual([row.status, row.endpoints, row.ok, row.failing, row.owner], ['finished', 3, 2, 1, RUN_OWNER]);
});

test.serial(
  'M1 run-now without a running controller fails clearly (CF_CONTROLLER_NOT_RUNNING) and cancels its request',
  async (t) => {
    const databaseUrl = await freshDatabaseUrl();
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-home-nocontroller-'));
    try {
      const run = await cli(['monitor', 'run-now', '--claim-timeout-s', '2', '--json'], {
        DATABASE_URL: databaseUrl,
        CERTFLEET_HOME: home,
      });
      t.is(run.code, 2, run.stderr);
      const err = JSON.parse(run.stdout) as { error: { code: string; message: string; details: { runId: string } } };
      t.is(err.error.code, 'CF_CONTROLLER_NOT_RUNNING');
      t.regex(err.error.message, /no running controller claimed the run request within 2 s.*--local/);
      const human = await cli(['monitor', 'run-now', '--claim-timeout-s', '1'], {
        DATABASE_URL: databaseUrl,
        CERTFLEET_HOME: home,
      });
      t.is(human.code, 2);
      t.regex(human.stderr, /^certfleet monitor run-now: CF_CONTROLLER_NOT_RUNNING: /m);
      const c = new Client({ connectionString: databaseUrl });
      await c.connect();
      try {
        const rows = (await c.query(`select id, status from monitor_runs order by started_at`)).rows as Array<{
          id: string;
          status: string;
        }>;
        t.deepEqual(
          rows.map((r) => r.status),
          ['cancelled', 'cancelled']
        );
        t.is(rows[0]?.id, err.error.details.runId);
      } finally {
        await c.end();
      }
    } finally {
      await dropDatabase(databaseUrl).catch(() => undefined);
      fs.rmSync(home, { recursive: true, force: true });
    }
  }
);

test.serial(
  'M1 run-now --local probes the controller endpoints here and warns about the skipped agent ones',
  async (t) => {
    const { tc } = t.context;
    const run = await cli(['monitor', 'run-now', '--local', '--json'], repo(tc));
    t.is(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { status: string; endpoints: number; ok: number; owner: string };
    t.deepEqual([out.status, out.endpoints, out.ok], ['finished', 1, 1]);
    t.not(out.owner, RUN_OWNER, 'run by the CLI process itself');
    t.regex(run.stderr, /WARNING: 2 agent\/site endpoint\(s\) skipped/);
  }
);

test.serial(
  'M4 `agents token --site` labels the enrolled agent; `agents set-site` changes it; `agents list` shows it',
  async (t) => {
    const { tc, siteAgentId } = t.context;
    const list = await cli(['agents', 'list'], repo(tc));
    t.is(list.code, 0, list.stderr);
    const header = list.stdout.split('\n')[0] ?? '';
    t.regex(header, /^ID\s+STATUS\s+NAME\s+SITE\s+VERSION/);
    t.regex(list.stdout, new RegExp(`^${siteAgentId}\\s+active\\s+dc1-agent\\s+dc1\\s`, 'm'));

    const token = await cli(['agents', 'token', '--site', 'dc7', '--json'], repo(tc));
    t.is(token.code, 0, token.stderr);
    t.is((JSON.parse(token.stdout) as { site: string }).site, 'dc7');
    const badToken = await cli(['agents', 'token', '--site', 'not a site'], repo(tc));
    t.is(badToken.code, 2);
    t.regex(badToken.stderr, /CF_VALIDATION/);

    const moved = await cli(['agents', 'set-site', siteAgentId, 'dc2', '--json'], repo(tc));
    t.is(moved.code, 0, moved.stderr);
    t.is((JSON.parse(moved.stdout) as { site: string }).site, 'dc2');
    const both = await cli(['agents', 'set-site', siteAgentId, 'dc3', '--clear'], repo(tc));
    t.is(both.code, 2, 'a site and --clear together are refused');
    const cleared = await cli(['agents', 'set-site', siteAgentId, '--clear'], repo(tc));
    t.is(cleared.code, 0, cleared.stderr);
    t.regex(cleared.stdout, /site \(none\)/);
    const back = await cli(['agents', 'set-site', siteAgentId, 'dc1'], repo(tc));
    t.is(back.code, 0, back.stderr);
    const listed = (await tc.request('GET', `/api/v1/agents/${siteAgentId}`, undefined, await tc.adminToken()))
      .json as { site: string };
    t.is(listed.site, 'dc1');
  }
);
