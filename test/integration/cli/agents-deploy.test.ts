/**
 * `certfleet agents …` and `certfleet deploy …` (SPEC G1, G3, D2, D3) in real processes against a test controller's
 * repository (DATABASE_URL + CERTFLEET_HOME): a join token printed by the CLI enrolls once, `agents list` shows the
 * agent, `agents ban` bans it, `deploy now` opens a pending deployment without sealing it (the controller's
 * materializer does), `deploy list` shows it, and `deploy offline` needs the agent executable and writes a tar.gz.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import * as tar from 'tar';
import { generateBundleKeyPair, isCertFleetError } from '@certfleet/shared';
import { generateAgentKeyAndCsr } from '../../../agent/src/client/csr';
import { loadOrCreateAgentPki } from '../../../controller/src/services/agents/agent-pki';
import { enrollAgent } from '../../../controller/src/services/agents/enrollment';
import { buildCli } from '../../../controller/src/cli/main';
import { createJoinToken } from '../../../controller/src/services/agents/join-tokens';
import { materializeDeployments } from '../../../controller/src/services/deployment/deployment-service';
import { startTestController, type TestController } from '../../_helpers/controller';

interface Ctx {
  tc: TestController;
  token: string;
  dir: string;
}
const test = anyTest as TestFn<Ctx>;
const root = path.resolve(__dirname, '../../..');

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(t: ExecutionContext<Ctx>, args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/certfleet.js', ...args], {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: t.context.tc.databaseUrl,
        CERTFLEET_HOME: t.context.tc.home,
        CERTFLEET_LOG_LEVEL: 'silent',
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const json = <T>(run: CliRun): T => JSON.parse(run.stdout) as T;

async function sql<T>(tc: TestController, query: string, params: unknown[] = []): Promise<T[]> {
  return tc.controller.ctx.db.em().fork().getConnection().execute<T[]>(query, params);
}

async function enrollWith(tc: TestController, token: string, hostname: string) {
  const ctx = tc.controller.ctx;
  const { csrPem } = await generateAgentKeyAndCsr(hostname);
  const { recipient } = await generateBundleKeyPair();
  return enrollAgent(ctx, await loadOrCreateAgentPki(ctx), {
    joinToken: token,
    csrPem,
    hostname,
    agentVersion: '0.1.0',
    bundlePublicKey: recipient,
  });
}

/** A definition with one agent target and a current internal-CA certificate (with its key) for it. */
async function certificateFor(t: ExecutionContext<Ctx>, name: string, agentId: string): Promise<string> {
  const { tc, token } = t.context;
  const def = await tc.request(
    'POST',
    '/api/v1/definitions',
    {
      name,
      subject: { commonName: `${name}.cli.test` },
      sans: [{ type: 'dns', value: `${name}.cli.test` }],
      issuerType: 'internal-ca',
      processMode: 'unattended',
      deployTargets: [
        {
          serverName: `${name}.cli.test`,
          serverType: 'nginx',
          method: 'agent',
          agentId,
          directory: `/etc/certfleet/live/${name}`,
        },
      ],
    },
    token
  );
  if (def.status !== 201) throw new Error(JSON.stringify(def.json));
  const run = await tc.request('POST', '/api/v1/requests', { definitionId: (def.json as { id: string }).id }, token);
  const request = (run.json as { request: { status: string; certificateId: string | null } }).request;
  if (request.status !== 'completed' || !request.certificateId) throw new Error(JSON.stringify(run.json));
  return request.certificateId;
}

test.before(async (t) => {
  // The periodic materializer is slowed down so the test can see what the CLI itself did (and did not) do.
  const tc = await startTestController({ agentServer: { materializeMs: 600_000 } });
  t.context = { tc, token: await tc.adminToken(), dir: fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-cli-ad-')) };
});
test.after.always(async (t) => {
  await t.context.tc?.close();
  if (t.context.dir) fs.rmSync(t.context.dir, { recursive: true, force: true });
});

test('G1 G3 `agents token` prints a single-use token that enrolls; `agents list` shows the agent; `agents ban` bans it', async (t) => {
  const { tc } = t.context;
  const [created, human] = await Promise.all([
    cli(t, ['agents', 'token', '--label', 'web-1', '--ttl-minutes', '15', '--json']),
    cli(t, ['agents', 'token']),
  ]);
  t.is(created.code, 0, created.stderr);
  const out = json<{
    id: string;
    token: string;
    label: string;
    expiresAt: string;
    controllerCaSha256: string;
    enrollCommand: string;
  }>(created);
  t.regex(out.token, /^cfjt_/);
  t.is(out.label, 'web-1');
  t.is(out.controllerCaSha256, tc.controller.agentCaSha256);
  t.true(out.enrollCommand.includes(`--token ${out.token} --ca-sha256 ${out.controllerCaSha256}`));
  const ttl = Date.parse(out.expiresAt) - Date.now();
  t.true(ttl > 13 * 60_000 && ttl <= 15 * 60_000, `expires in ${ttl} ms`);
  const stored = await sql<{ token_hash: string; created_by: string }>(
    tc,
    `select token_hash, created_by from agent_join_tokens where id = ?`,
    [out.id]
  );
  t.not(stored[0]?.token_hash, out.token, 'only the hash is stored');
  t.is(stored[0]?.created_by, `cli:${os.userInfo().username}`);

  t.is(human.code, 0, human.stderr);
  t.regex(human.stdout, /token: +cfjt_\S+\n/);
  t.true(human.stdout.includes(`CA SHA-256: ${tc.controller.agentCaSha256}`));
  t.regex(human.stdout, /certfleet-agent enroll --controller \S+:\d+ --token cfjt_\S+ --ca-sha256 [0-9a-f]{64}/);

  const enrolled = await enrollWith(tc, out.token, 'web-1.cli.test');
  const again = await t.throwsAsync(enrollWith(tc, out.token, 'web-2.cli.test'));
  t.true(isCertFleetError(again) && again.code === 'CF_AGENT_TOKEN_INVALID', 'a join token is single-use');

  const listed = await cli(t, ['agents', 'list', '--json']);
  t.is(listed.code, 0, listed.stderr);
  const agent = json<{ items: { id: string; name: string; status: string }[] }>(listed).items.find(
    (a) => a.id === enrolled.agentId
  );
  t.like(agent, { name: 'web-1.cli.test', status: 'active' });

  const [banned, unknown] = await Promise.all([
    cli(t, ['agents', 'ban', enrolled.agentId]),
    cli(t, ['agents', 'ban', '00000000-0000-4000-8000-000000000000', '--json']),
  ]);
  t.is(banned.code, 0, banned.stderr);
  t.regex(
    banned.stdout,
    new RegExp(`^agent ${enrolled.agentId} \\(web-1\\.cli\\.test\\) is banned since .*within 2 s`)
  );
  t.is(
    (await sql<{ status: string }>(tc, `select status from agents where id = ?`, [enrolled.agentId]))[0]?.status,
    'banned'
  );
  t.is(unknown.code, 2);
  t.is(json<{ error: { code: string } }>(unknown).error.code, 'CF_NOT_FOUND');
  const audits = await sql<{ actor: string }>(
    tc,
    `select actor from audit_log where action = 'agents.banned' and target_id = ?`,
    [enrolled.agentId]
  );
  t.deepEqual(
    audits.map((a) => a.actor),
    [`cli:${os.userInfo().username}`],
    'audited once'
  );
});

test('D2 D3 `deploy now` opens a pending deployment for the controller to seal; `deploy list`; `deploy offline`', async (t) => {
  const { tc } = t.context;
  const ctx = tc.controller.ctx;
  const { token } = await createJoinToken(ctx, { label: 'app' }, 'user:test');
  const { agentId } = await enrollWith(tc, token, 'app.cli.test');
  const certificateId = await certificateFor(t, 'app', agentId);

  const now = await cli(t, ['deploy', 'now', certificateId, '--target', '0', '--json']);
  t.is(now.code, 0, now.stderr);
  const opened = json<{
    items: { id: string; slot: string; version: number; status: string; agentId: string; method: string }[];
  }>(now).items;
  t.is(opened.length, 1);
  const d = opened[0] as (typeof opened)[number];
  t.like(d, { status: 'pending', agentId, method: 'agent' });
  t.true(d.version >= 1);
  const jobs = async () =>
    Number(
      (await sql<{ n: string }>(tc, `select count(*) as n from agent_jobs where deployment_id = ?`, [d.id]))[0]?.n
    );
  t.is(await jobs(), 0, 'the CLI does not seal or queue');
  const row = (
    await sql<{ status: string; created_by: string; slot: string; version: number }>(
      tc,
      `select status, created_by, slot, version from deployments where id = ?`,
      [d.id]
    )
  )[0];
  t.like(row, { status: 'pending', created_by: `cli:${os.userInfo().username}`, slot: d.slot, version: d.version });
  const audit = await sql<{ details: { deployments: string[] } }>(
    tc,
    `select details from audit_log where action = 'deployment.requested' and target_id = ?`,
    [certificateId]
  );
  t.deepEqual(audit[0]?.details.deployments, [d.id]);
  // What the running controller's materializer does within seconds:
  t.true((await materializeDeployments(ctx, await loadOrCreateAgentPki(ctx))) >= 1);
  t.is(await jobs(), 1);

  const [badTarget, list] = await Promise.all([
    cli(t, ['deploy', 'now', certificateId, '--target', '7', '--json']),
    cli(t, ['deploy', 'list', '--certificate', certificateId, '--json']),
  ]);
  t.is(badTarget.code, 2);
  t.is(json<{ error: { code: string } }>(badTarget).error.code, 'CF_NOT_FOUND');
  t.is(list.code, 0, list.stderr);
  const items = json<{ items: { id: string; certificateId: string; target: string }[] }>(list).items;
  t.true(items.some((i) => i.id === d.id && i.target === 'nginx:app.cli.test'));
  t.true(items.every((i) => i.certificateId === certificateId));

  // D3 offline: the agent executable is needed.
  const out = path.join(t.context.dir, 'offline.tar.gz');
  const missing = await cli(t, ['deploy', 'offline', certificateId, '--out', out, '--json'], {
    CERTFLEET_AGENT_EXECUTABLE: path.join(t.context.dir, 'no-such-agent'),
  });
  t.is(missing.code, 2);
  const error = json<{ error: { code: string; message: string } }>(missing).error;
  t.is(error.code, 'CF_CONFIG_INVALID');
  t.regex(error.message, /agent executable .*no-such-agent is missing/);
  t.false(fs.existsSync(out));

  const exe = path.join(t.context.dir, 'stand-in-agent');
  fs.writeFileSync(exe, '#!/bin/sh\necho stand-in\n', { mode: 0o755 });
  const offline = await cli(t, ['deploy', 'offline', certificateId, '--out', out], { CERTFLEET_AGENT_EXECUTABLE: exe });
  t.is(offline.code, 0, offline.stderr);
  t.is(fs.statSync(out).mode & 0o777, 0o600);
  const passphrase = /passphrase: +(\S+)\n/.exec(offline.stdout)?.[1];
  t.truthy(passphrase);
  t.is(offline.stdout.split(passphrase as string).length, 2, 'the passphrase is printed once');
  const deploymentId = /deployment: +([0-9a-f-]{36})\n/.exec(offline.stdout)?.[1];
  t.regex(offline.stdout, /signing key SHA-256: [0-9a-f]{64}\n/);
  const offlineRow = (
    await sql<{ method: string; status: string }>(tc, `select method, status from deployments where id = ?`, [
      deploymentId,
    ])
  )[0];
  t.like(offlineRow, { method: 'offline', status: 'pending' });
  const entries: string[] = [];
  await tar.list({ file: out, onReadEntry: (e) => entries.push(e.path) });
  t.deepEqual(
    entries
      .map((p) => p.split('/').slice(1).join('/'))
      .filter(Boolean)
      .sort(),
    ['README.txt', 'bundle-signing.pub', 'bundle.age', 'certfleet-agent']
  );

  // D3 receipt: a file that is not a signed receipt is refused with the typed error.
  const bogus = path.join(t.context.dir, 'receipt.json');
  fs.writeFileSync(bogus, JSON.stringify({ receipt: 'x' }));
  const receipt = await cli(t, ['deploy', 'receipt', deploymentId as string, bogus, '--json']);
  t.is(receipt.code, 2);
  t.is(json<{ error: { code: string } }>(receipt).error.code, 'CF_RECEIPT_INVALID');
});

test('X3 `agents` and `deploy` subcommands have --help and are listed by `certfleet --help`', (t) => {
  const program = buildCli();
  t.regex(program.helpInformation(), /^\s+agents\b/m);
  t.regex(program.helpInformation(), /^\s+deploy\b/m);
  const group = (name: string) => program.commands.find((c) => c.name() === name);
  const names = (name: string) => group(name)?.commands.map((c) => c.name()) ?? [];
  t.deepEqual(names('agents'), ['token', 'list', 'set-site', 'ban']);
  t.deepEqual(names('deploy'), ['now', 'list', 'offline', 'receipt']);
  for (const g of ['agents', 'deploy'])
    for (const c of group(g)?.commands ?? [])
      t.regex(c.helpInformation(), new RegExp(`Usage: certfleet ${g} ${c.name()}`), `${g} ${c.name()} --help`);
  const ban = group('agents')?.commands.find((c) => c.name() === 'ban');
  t.regex(ban?.helpInformation().replace(/\s+/g, ' ') ?? '', /within 2 s \(its periodic ban check\)/);
});
